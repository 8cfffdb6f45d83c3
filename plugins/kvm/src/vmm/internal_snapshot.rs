//! `internal-snapshot`: a snapshot kept inside the qcow2 images of a live
//! VM. imago caches an image's tables and refcounts, so the image is never
//! changed under the handle serving it: each disk is flushed, changed
//! through a descriptor of its own, and served from a handle opened
//! afterwards, all while the guest is held.

use std::fs::File;
use std::os::fd::OwnedFd;

use serde_json::Value;

use super::{Vmm, VmmError};
use crate::control::protocol::{FdRef, InternalDisk, InternalOp, state};
use crate::devices::virtio::block::internal::{self, InternalSnapshotError};
use crate::devices::virtio::block::{Disk, ReplaceError};

impl Vmm {
    pub(super) fn internal_snapshot(
        &mut self,
        op: InternalOp,
        name: &str,
        memory: Option<FdRef>,
        disks: &[InternalDisk],
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Value, VmmError> {
        self.machine()?;
        self.check_disk_set(disks.iter().map(|d| d.index))?;
        if op == InternalOp::Delete && memory.is_some() {
            return Err(VmmError::InvalidRequest(
                "deleting a snapshot writes no machine state".into(),
            ));
        }
        let mut out = memory.map(|m| self.take_fd(m, passed)).transpose()?;
        let mut taken = Vec::with_capacity(disks.len());
        for d in disks {
            // The snapshot table changes through the image's own descriptor,
            // which then serves the disk: it must be open for writing.
            if d.disk.readonly {
                return Err(VmmError::InvalidRequest(format!(
                    "disk {} is read-only: it takes no internal snapshot",
                    d.index
                )));
            }
            let top = self.take_fd(d.disk.fd, passed)?;
            let backing = d
                .disk
                .backing
                .iter()
                .map(|b| self.take_fd(*b, passed))
                .collect::<Result<Vec<_>, _>>()?;
            taken.push((d, top, backing));
        }
        let machine = self.machine.as_ref().expect("checked above");
        let setup = self.setup.as_ref().expect("a machine has a setup");
        let running = self.state != state::PAUSED;
        machine.pause();
        let result = (|| {
            let frozen = machine.freeze();
            if let Some(out) = out.as_mut() {
                machine.save_frozen(&self.kvm, &frozen, out)?;
            }
            let mut done: Vec<(usize, &File)> = Vec::new();
            for (d, image, _) in &taken {
                let outcome = setup.disks[d.index]
                    .disk
                    .flush()
                    .map_err(|e| VmmError::Replace {
                        index: d.index,
                        source: ReplaceError::Flush(e),
                    })
                    .and_then(|()| {
                        apply(op, image, name).map_err(|source| VmmError::Internal {
                            index: d.index,
                            name: name.to_string(),
                            source,
                        })
                    });
                if let Err(e) = outcome {
                    // A create is all disks or none: the ones done drop it
                    // again (their handles still match the files as they
                    // were: nothing is reopened before every image changed).
                    if op == InternalOp::Create {
                        for (index, image) in &done {
                            if let Err(undo) = internal::delete(image, name) {
                                eprintln!(
                                    "wirt-vmm: cannot drop snapshot '{name}' from disk {index} again: {undo}"
                                );
                            }
                        }
                    }
                    return Err(e);
                }
                done.push((d.index, image));
            }
            // Still held: no request may reach a handle whose cached tables
            // no longer match its file.
            for (d, top, backing) in taken {
                let next = Disk::open(d.disk.format, top, backing, d.disk.readonly, &d.disk.serial)
                    .map_err(|e| VmmError::Disk {
                        index: d.index,
                        format: d.disk.format.name(),
                        source: e,
                    })?;
                let replace = |source| VmmError::Replace {
                    index: d.index,
                    source,
                };
                let disk = &setup.disks[d.index].disk;
                disk.can_replace(&next).map_err(replace)?;
                disk.replace(next).map_err(replace)?;
            }
            drop(frozen);
            Ok(())
        })();
        if running {
            machine.resume();
        }
        result.map(|()| self.status())
    }
}

fn apply(op: InternalOp, image: &File, name: &str) -> Result<(), InternalSnapshotError> {
    match op {
        InternalOp::Create => internal::create(image, name).map(drop),
        InternalOp::Delete => match internal::delete(image, name) {
            // Deleting again after a partial failure finishes the job.
            Err(InternalSnapshotError::NotFound { .. }) => Ok(()),
            other => other,
        },
    }
}
