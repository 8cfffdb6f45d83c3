//! Internal snapshots under the KVM driver: kept inside the disks' qcow2
//! images (their snapshot tables), with the machine state, when there is
//! one, in the driver's snapshot state file. An image a running VMM serves
//! is changed by that VMM with the guest held (it caches the image's
//! tables); any other image is changed here directly.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use wirt_kvm::control::protocol::{self, FdRef, Request};
use wirt_kvm::devices::virtio::block::internal::{self, InternalSnapshotError};

use super::disks::open_disk;
use super::snapshot::create_state_file;
use super::{
    DomainConfig, Error, ErrorCode, InternalImage, InternalOp, KvmDriver, Result, io_error,
    vmm_error,
};

fn image_error(path: &str, name: &str, e: InternalSnapshotError) -> Error {
    let code = match e {
        InternalSnapshotError::NotFound { .. } => ErrorCode::NO_DOMAIN_SNAPSHOT,
        InternalSnapshotError::DuplicateName { .. } | InternalSnapshotError::BadName { .. } => {
            ErrorCode::INVALID_DOMAIN_SNAPSHOT
        }
        InternalSnapshotError::File { .. } | InternalSnapshotError::Io { .. } => {
            ErrorCode::OPERATION_FAILED
        }
        _ => ErrorCode::CONFIG_UNSUPPORTED,
    };
    Error::driver(
        code,
        format!(
            "internal snapshot '{name}' of {path}: {}",
            crate::plugin::catalog::error_chain(&e)
        ),
    )
}

/// `op` on an image no VMM serves. A delete of a snapshot the image no
/// longer has is done already (a retry after a partial failure).
fn offline(path: &str, name: &str, op: InternalOp) -> Result<()> {
    let image = Path::new(path);
    let result = match op {
        InternalOp::Create => internal::create_path(image, name).map(drop),
        InternalOp::Revert => internal::revert_path(image, name),
        InternalOp::Delete => match internal::delete_path(image, name) {
            Err(InternalSnapshotError::NotFound { .. }) => Ok(()),
            other => other,
        },
    };
    result.map_err(|e| image_error(path, name, e))
}

impl KvmDriver {
    pub(super) fn internal_snapshot(
        &self,
        config: &DomainConfig,
        name: &str,
        op: InternalOp,
        images: &[InternalImage],
        memory: bool,
    ) -> Result<()> {
        let uuid = config.uuid.as_str();
        let vm = self.attached(uuid);
        let (live, apart): (Vec<&InternalImage>, Vec<&InternalImage>) = images
            .iter()
            .partition(|i| vm.is_some() && i.serving.is_some());
        match op {
            InternalOp::Revert => {
                if vm.is_some() {
                    return Err(Error::driver(
                        ErrorCode::OPERATION_INVALID,
                        "the domain must be stopped before its disks revert",
                    ));
                }
                for image in &apart {
                    offline(&image.path, name, op)?;
                }
                Ok(())
            }
            InternalOp::Create => {
                if memory && vm.is_none() {
                    return Err(Error::driver(
                        ErrorCode::CONFIG_UNSUPPORTED,
                        "a snapshot of an inactive domain has no memory state",
                    ));
                }
                let mut done = Vec::new();
                let undo = |done: &[&InternalImage]| {
                    for image in done {
                        let _ = offline(&image.path, name, InternalOp::Delete);
                    }
                };
                for image in &apart {
                    if let Err(e) = offline(&image.path, name, op) {
                        undo(&done);
                        return Err(e);
                    }
                    done.push(*image);
                }
                if let Some(vm) = &vm
                    && (memory || !live.is_empty())
                    && let Err(e) = self.internal_live(vm, config, name, op, &live, memory)
                {
                    undo(&done);
                    return Err(e);
                }
                Ok(())
            }
            InternalOp::Delete => {
                for image in &apart {
                    offline(&image.path, name, op)?;
                }
                match &vm {
                    Some(vm) if !live.is_empty() => {
                        self.internal_live(vm, config, name, op, &live, false)
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// The running domain's VMM applies `op` to the images it serves, with
    /// the machine state written to the driver's snapshot file if `memory`.
    fn internal_live(
        &self,
        vm: &super::Vm,
        config: &DomainConfig,
        name: &str,
        op: InternalOp,
        live: &[&InternalImage],
        memory: bool,
    ) -> Result<()> {
        let mut fds: Vec<OwnedFd> = Vec::new();
        let state = match memory {
            true => {
                let path = self.snapshot_path(&config.uuid, name)?;
                let file = create_state_file(&path, false)?;
                fds.push(
                    file.try_clone()
                        .map_err(|e| io_error("memory file", e))?
                        .into(),
                );
                Some((path, file))
            }
            false => None,
        };
        let remove_state = || {
            if let Some((path, _)) = &state {
                let _ = std::fs::remove_file(path);
            }
        };
        let mut disks = Vec::with_capacity(live.len());
        for image in live {
            let index = image.serving.expect("partitioned on serving");
            let opened = config
                .disks
                .get(index)
                .ok_or_else(|| {
                    Error::driver(
                        ErrorCode::INTERNAL_ERROR,
                        format!("no disk #{index} to snapshot"),
                    )
                })
                .and_then(|disk| open_disk(config, disk, &mut fds));
            match opened {
                Ok(opened) => disks.push(protocol::InternalDisk {
                    index,
                    disk: opened.disk_ref_passed(),
                }),
                Err(e) => {
                    remove_state();
                    return Err(e);
                }
            }
        }
        let raw: Vec<i32> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        let request = Request::InternalSnapshot {
            action: match op {
                InternalOp::Delete => protocol::InternalOp::Delete,
                _ => protocol::InternalOp::Create,
            },
            name: name.to_string(),
            memory: state.as_ref().map(|_| FdRef::Passed(0)),
            disks,
        };
        if let Err(e) = vm.call(request, &raw) {
            remove_state();
            return Err(vmm_error("internal snapshot", e));
        }
        if let Some((path, file)) = &state {
            file.sync_all()
                .map_err(|e| io_error(format!("cannot write {}", path.display()), e))?;
        }
        Ok(())
    }
}
