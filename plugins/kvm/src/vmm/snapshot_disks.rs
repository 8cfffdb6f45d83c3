//! `snapshot`: an external snapshot of a live VM. The host has made a new
//! overlay per disk over the image served so far; the VMM writes the
//! machine state (if asked) and moves the disks onto the overlays at one
//! instant, so the memory image and the old images agree with each other.

use std::fs::File;
use std::os::fd::OwnedFd;

use serde_json::Value;

use super::{Vmm, VmmError};
use crate::control::protocol::{DiskRef, DiskSwitch, FdRef, state};
use crate::devices::virtio::block::{Disk, ReplaceError};

impl Vmm {
    pub(super) fn snapshot(
        &mut self,
        memory: Option<FdRef>,
        switches: &[DiskSwitch],
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Value, VmmError> {
        self.machine()?;
        self.check_disk_set(switches.iter().map(|s| s.index))?;
        // Everything is opened and checked before the VM stops: a bad image
        // or descriptor changes nothing.
        let mut out = memory.map(|m| self.take_fd(m, passed)).transpose()?;
        let mut next = Vec::with_capacity(switches.len());
        for s in switches {
            next.push((s.index, self.open_disk(s.index, &s.disk, passed)?));
        }
        let setup = self.setup.as_ref().expect("a machine has a setup");
        for (index, disk) in &next {
            setup.disks[*index]
                .disk
                .can_replace(disk)
                .map_err(|source| VmmError::Replace {
                    index: *index,
                    source,
                })?;
        }
        let machine = self.machine.as_ref().expect("checked above");
        let running = self.state != state::PAUSED;
        machine.pause();
        let result = (|| {
            let frozen = machine.freeze();
            if let Some(out) = out.as_mut() {
                machine.save_frozen(&self.kvm, &frozen, out)?;
            }
            // Every old image durable before any disk moves: a flush that
            // fails leaves all disks where they were.
            for (index, _) in &next {
                setup.disks[*index]
                    .disk
                    .flush()
                    .map_err(|e| VmmError::Replace {
                        index: *index,
                        source: ReplaceError::Flush(e),
                    })?;
            }
            for (index, disk) in next {
                setup.disks[index]
                    .disk
                    .replace(disk)
                    .map_err(|source| VmmError::Replace { index, source })?;
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

/// What a disk request does with the guest held.
enum Move {
    /// Copy the overlay on this file into the new image, then serve it.
    Commit(File),
    /// Copy the guest's view (or, with a top image, what it holds) into
    /// the new image; serve it if `pivot`.
    Copy { top: Option<File>, pivot: bool },
}

impl Vmm {
    pub(super) fn commit(
        &mut self,
        index: usize,
        top: FdRef,
        base: &DiskRef,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Value, VmmError> {
        self.check_disk(index)?;
        let top = self.take_fd(top, passed)?;
        let base = self.open_disk(index, base, passed)?;
        self.move_disk(index, base, Move::Commit(top))
    }

    pub(super) fn copy(
        &mut self,
        index: usize,
        dest: &DiskRef,
        top: Option<FdRef>,
        pivot: bool,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Value, VmmError> {
        self.check_disk(index)?;
        let top = top.map(|t| self.take_fd(t, passed)).transpose()?;
        let dest = self.open_disk(index, dest, passed)?;
        self.move_disk(index, dest, Move::Copy { top, pivot })
    }

    /// Each of `indexes` names a disk the machine serves, once.
    pub(super) fn check_disk_set(
        &self,
        indexes: impl IntoIterator<Item = usize>,
    ) -> Result<(), VmmError> {
        let served = self.setup.as_ref().map_or(0, |s| s.disks.len());
        let mut seen = std::collections::HashSet::new();
        for index in indexes {
            if index >= served || !seen.insert(index) {
                return Err(VmmError::InvalidRequest(format!(
                    "disk {index} is not served or named twice ({served} disks)"
                )));
            }
        }
        Ok(())
    }

    /// A running or paused machine serves disk `index`.
    fn check_disk(&self, index: usize) -> Result<(), VmmError> {
        self.machine()?;
        let served = self.setup.as_ref().map_or(0, |s| s.disks.len());
        if index >= served {
            return Err(VmmError::InvalidRequest(format!(
                "disk {index} is not served ({served} disks)"
            )));
        }
        Ok(())
    }

    /// With the vCPUs parked and the device workers held: disk `index` is
    /// flushed, its data moved into `next` as `how` says, `next` flushed,
    /// and (commit, or copy with pivot) served from then on.
    fn move_disk(&self, index: usize, next: Disk, how: Move) -> Result<Value, VmmError> {
        let setup = self.setup.as_ref().expect("a machine has a setup");
        let disk = &setup.disks[index].disk;
        let replace = |source| VmmError::Replace { index, source };
        disk.can_replace(&next).map_err(replace)?;
        let machine = self.machine.as_ref().expect("checked by check_disk");
        let running = self.state != state::PAUSED;
        machine.pause();
        let result = (|| {
            let _frozen = machine.freeze();
            let copy = |e| replace(ReplaceError::Commit(e));
            disk.flush().map_err(|e| replace(ReplaceError::Flush(e)))?;
            let serve = match how {
                Move::Commit(top) => {
                    next.commit_from(top).map_err(copy)?;
                    true
                }
                Move::Copy { top, pivot } => {
                    disk.copy_to(&next, top).map_err(copy)?;
                    pivot
                }
            };
            next.flush().map_err(copy)?;
            if serve {
                disk.replace(next).map_err(replace)?;
            }
            Ok(())
        })();
        if running {
            machine.resume();
        }
        result.map(|()| self.status())
    }
}

impl Vmm {
    pub(super) fn resize(&mut self, index: usize, bytes: u64) -> Result<Value, VmmError> {
        let machine = self.machine()?;
        let disk = self
            .setup
            .as_ref()
            .and_then(|s| s.disks.get(index))
            .ok_or_else(|| VmmError::InvalidRequest(format!("disk {index} is not served")))?;
        disk.disk
            .resize(bytes)
            .map_err(|source| VmmError::Resize { index, source })?;
        machine.disk_config_changed(index);
        Ok(self.status())
    }
}
