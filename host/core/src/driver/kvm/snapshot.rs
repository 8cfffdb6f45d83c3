//! Snapshots under the KVM driver: the machine state a VMM saves, and the
//! disk side of external snapshots (qcow2 overlays made, switched to while
//! the guest runs, and merged back down when a snapshot goes).

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use wirt_kvm::control::protocol::{DiskFormat, DiskSwitch, FdRef, Request};
use wirt_kvm::devices::virtio::block::overlay::{self, OverlayError};

use super::disks::{allowed_dirs, open_disk};
use super::{
    DomainConfig, DomainStatus, Error, ErrorCode, ExternalSnapshot, HypervisorDriver, KvmDriver,
    Result, SAVE_PAUSED, io_error, shutoff, vmm_error,
};

fn format_of(name: &str) -> Result<DiskFormat> {
    match name {
        "raw" => Ok(DiskFormat::Raw),
        "qcow2" => Ok(DiskFormat::Qcow2),
        other => Err(Error::driver(
            ErrorCode::CONFIG_UNSUPPORTED,
            format!("format '{other}' is not supported, only raw and qcow2"),
        )),
    }
}

fn overlay_error(e: OverlayError) -> Error {
    let code = match e {
        // libvirt's words and class for a snapshot file in the way.
        OverlayError::Exists(_) => ErrorCode::CONFIG_UNSUPPORTED,
        _ => ErrorCode::OPERATION_FAILED,
    };
    Error::driver(code, crate::plugin::catalog::error_chain(&e))
}

/// A new qcow2 overlay at `overlay` over `backing`.
pub(super) fn create_overlay(overlay: &str, backing: &str, format: &str) -> Result<()> {
    overlay::create_overlay(Path::new(overlay), Path::new(backing), format_of(format)?).map_err(
        |e| match e {
            OverlayError::Exists(path) => Error::driver(
                ErrorCode::CONFIG_UNSUPPORTED,
                format!(
                    "external snapshot file {} already exists and is not a block device",
                    path.display()
                ),
            ),
            e => overlay_error(e),
        },
    )
}

/// An empty image for a block copy.
pub(super) fn create_image(path: &str, format: &str, size: u64) -> Result<()> {
    overlay::create_image(Path::new(path), format_of(format)?, size).map_err(overlay_error)
}

impl KvmDriver {
    /// Merges the overlays `layers` (top first) into `base` (see
    /// [`overlay::commit`]) with no guest writing them, in a `wirt-vmm
    /// --commit` process: imago can overflow its stack on a corrupt image,
    /// which must end that process, not this one.
    pub(super) fn commit_offline(
        &self,
        config: &DomainConfig,
        layers: &[String],
        base: &str,
        base_format: &str,
    ) -> Result<()> {
        format_of(base_format)?;
        let top = layers.first().map(String::as_str).unwrap_or_default();
        let out = std::process::Command::new(&self.paths.vmm)
            .arg("--commit")
            .args([base, base_format])
            .args(layers)
            .arg("--")
            .args(allowed_dirs(config))
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| io_error(format!("cannot run {}", self.paths.vmm.display()), e))?;
        if out.status.success() {
            return Ok(());
        }
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let why = match (out.status.code(), why.is_empty()) {
            (Some(_), false) => why,
            _ => format!(
                "the merging process ended with {} (is one of the images corrupt?)",
                out.status
            ),
        };
        Err(Error::driver(
            ErrorCode::OPERATION_FAILED,
            format!("cannot merge {top} into {base}: {why}"),
        ))
    }
}

/// Creates a file for guest memory: the owner's only, as libvirt's images
/// are; a path the user chose must not exist yet.
pub(super) fn create_state_file(path: &Path, user_chosen: bool) -> Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).mode(0o600);
    if user_chosen {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    options
        .open(path)
        .and_then(|f| {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map(|()| f)
        })
        .map_err(|e| io_error(format!("cannot create {}", path.display()), e))
}

impl KvmDriver {
    /// A snapshot of the machine's memory and device state alone. Its
    /// disks are not in it, so a domain with a writable disk is refused
    /// (the host takes those as external snapshots).
    pub(super) fn snapshot_memory(&self, uuid: &str, name: &str) -> Result<()> {
        let vm = self.attached(uuid).ok_or_else(|| {
            Error::driver(
                ErrorCode::CONFIG_UNSUPPORTED,
                "a snapshot of an inactive domain holds its disks only",
            )
        })?;
        if let Some(disk) = vm.config.disks.iter().find(|d| !d.read_only) {
            return Err(Error::driver(
                ErrorCode::CONFIG_UNSUPPORTED,
                format!(
                    "internal snapshot for disk {} unsupported for storage type {}",
                    disk.target_dev,
                    disk.format.as_deref().unwrap_or("raw")
                ),
            ));
        }
        let path = self.snapshot_path(uuid, name)?;
        let file = create_state_file(&path, false)?;
        let answer = vm.call(
            Request::Save {
                to: FdRef::Passed(0),
                stop: false,
            },
            &[file.as_raw_fd()],
        );
        if let Err(e) = answer {
            let _ = std::fs::remove_file(&path);
            return Err(vmm_error("snapshot", e));
        }
        file.sync_all()
            .map_err(|e| io_error(format!("cannot write {}", path.display()), e))
    }

    /// Back to the state a snapshot's machine state file holds (`state` 5:
    /// shut off, nothing to restore).
    pub(super) fn revert_memory(
        &self,
        config: &DomainConfig,
        name: &str,
        state: u32,
    ) -> Result<DomainStatus> {
        if let Some(vm) = self.attached(&config.uuid) {
            self.stop(&config.uuid, &vm);
        }
        if state == 5 {
            return Ok(shutoff(crate::lifecycle::reason::SHUTOFF_FROM_SNAPSHOT));
        }
        let path = self.snapshot_path(&config.uuid, name)?;
        let mut file = File::open(&path)
            .map_err(|e| io_error(format!("cannot read snapshot state {}", path.display()), e))?;
        let size = file
            .metadata()
            .map_err(|e| io_error("snapshot state", e))?
            .len();
        let paused = if state == 3 { SAVE_PAUSED } else { 0 };
        let mut status = self.restore(config, &mut file, size, paused)?;
        status.reason = if status.state == 3 {
            crate::lifecycle::reason::PAUSED_FROM_SNAPSHOT
        } else {
            crate::lifecycle::reason::RUNNING_FROM_SNAPSHOT
        };
        Ok(status)
    }

    pub(super) fn delete_memory(&self, uuid: &str, name: &str) -> Result<()> {
        let path = self.snapshot_path(uuid, name)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io_error(format!("cannot remove {}", path.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// The running domain's external snapshot: its VMM writes the machine
    /// state and moves the disks onto their overlays at one instant.
    pub(super) fn snapshot_live(
        &self,
        config: &DomainConfig,
        snap: &ExternalSnapshot<'_>,
    ) -> Result<Option<String>> {
        let vm = self.vm(&config.uuid)?;
        let memory: Option<(PathBuf, bool)> = match snap.memory {
            None => None,
            Some(Some(path)) => Some((PathBuf::from(path), true)),
            Some(None) => Some((self.snapshot_path(&config.uuid, snap.name)?, false)),
        };
        let mut fds: Vec<OwnedFd> = Vec::new();
        let state_file = match &memory {
            Some((path, chosen)) => {
                let file = create_state_file(path, *chosen)?;
                fds.push(
                    file.try_clone()
                        .map_err(|e| io_error("memory file", e))?
                        .into(),
                );
                Some(file)
            }
            None => None,
        };
        let remove_state = || {
            if let Some((path, _)) = &memory {
                let _ = std::fs::remove_file(path);
            }
        };
        let mut switches = Vec::with_capacity(snap.disks.len());
        for &index in snap.disks {
            let Some(disk) = config.disks.get(index) else {
                remove_state();
                return Err(Error::driver(
                    ErrorCode::INTERNAL_ERROR,
                    format!("no disk #{index} to snapshot"),
                ));
            };
            match open_disk(config, disk, &mut fds) {
                Ok(opened) => switches.push(DiskSwitch {
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
        let request = Request::Snapshot {
            memory: state_file.as_ref().map(|_| FdRef::Passed(0)),
            disks: switches,
        };
        if let Err(e) = vm.call(request, &raw) {
            remove_state();
            return Err(vmm_error("snapshot", e));
        }
        if let Some(file) = &state_file {
            file.sync_all()
                .map_err(|e| io_error("cannot write the memory state", e))?;
        }
        Ok(memory.map(|(path, _)| path.display().to_string()))
    }

    /// Disk `index` of the running domain copied into the image `dest`
    /// names for it (and moved there with `pivot`).
    pub(super) fn copy_live(
        &self,
        config: &DomainConfig,
        index: usize,
        dest: &DomainConfig,
        shallow: bool,
        pivot: bool,
    ) -> Result<()> {
        let vm = self.vm(&config.uuid)?;
        let (Some(disk), Some(target)) = (config.disks.get(index), dest.disks.get(index)) else {
            return Err(Error::driver(
                ErrorCode::INTERNAL_ERROR,
                format!("no disk #{index} to copy"),
            ));
        };
        let mut fds: Vec<OwnedFd> = Vec::new();
        let top = match (shallow, disk.source.as_deref()) {
            (true, Some(path)) => {
                let file = File::open(path)
                    .map_err(|e| io_error(format!("cannot open disk {path}"), e))?;
                fds.push(file.into());
                Some(FdRef::Passed(0))
            }
            _ => None,
        };
        // The copy's chain may reach the source's directories too (a
        // shallow copy stands on the source's backing files).
        let mut reach = dest.clone();
        reach.disks.extend(config.disks.iter().cloned());
        let opened = open_disk(&reach, target, &mut fds)?;
        let raw: Vec<i32> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        vm.call(
            Request::Copy {
                index,
                dest: opened.disk_ref_passed(),
                top,
                pivot,
            },
            &raw,
        )
        .map(|_| ())
        .map_err(|e| vmm_error("block copy", e))
    }

    /// Disk `index` of the running domain merges its overlay `top` down
    /// into the image `config` names for it now.
    pub(super) fn commit_live(&self, config: &DomainConfig, index: usize, top: &str) -> Result<()> {
        let vm = self.vm(&config.uuid)?;
        let disk = config.disks.get(index).ok_or_else(|| {
            Error::driver(
                ErrorCode::INTERNAL_ERROR,
                format!("no disk #{index} to merge"),
            )
        })?;
        let top_file =
            File::open(top).map_err(|e| io_error(format!("cannot open overlay {top}"), e))?;
        let mut fds: Vec<OwnedFd> = vec![top_file.into()];
        let base = open_disk(config, disk, &mut fds)?;
        let raw: Vec<i32> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        vm.call(
            Request::Commit {
                index,
                top: FdRef::Passed(0),
                base: base.disk_ref_passed(),
            },
            &raw,
        )
        .map(|_| ())
        .map_err(|e| vmm_error("merging the overlay", e))
    }
}

impl KvmDriver {
    /// Starts a mirror of disk `index` into the image `dest` names for it
    /// (see [`HypervisorDriver::mirror_start`]).
    pub(super) fn mirror_begin(
        &self,
        config: &DomainConfig,
        index: usize,
        dest: &DomainConfig,
        top: Option<&str>,
        bandwidth: u64,
    ) -> Result<()> {
        let vm = self.vm(&config.uuid)?;
        let target = dest.disks.get(index).ok_or_else(|| {
            Error::driver(
                ErrorCode::INTERNAL_ERROR,
                format!("no disk #{index} to copy"),
            )
        })?;
        let mut fds: Vec<OwnedFd> = Vec::new();
        let top = match top {
            Some(path) => {
                let file = File::open(path)
                    .map_err(|e| io_error(format!("cannot open disk {path}"), e))?;
                fds.push(file.into());
                Some(FdRef::Passed(0))
            }
            None => None,
        };
        // The copy's chain may reach the source's directories (a shallow
        // copy or a commit stands on the source's backing files).
        let mut reach = dest.clone();
        reach.disks.extend(config.disks.iter().cloned());
        let opened = open_disk(&reach, target, &mut fds)?;
        let raw: Vec<i32> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        vm.call(
            Request::MirrorStart {
                index,
                dest: opened.disk_ref_passed(),
                top,
                bandwidth: (bandwidth > 0).then_some(bandwidth),
            },
            &raw,
        )
        .map(drop)
        .map_err(|e| vmm_error("starting the block job", e))
    }

    pub(super) fn mirror_progress(
        &self,
        uuid: &str,
        index: usize,
    ) -> Result<crate::driver::MirrorStatus> {
        let vm = self.vm(uuid)?;
        let v = self.request(&vm, "block job status", Request::MirrorStatus { index })?;
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Ok(crate::driver::MirrorStatus {
            done: n("done"),
            total: n("total"),
            ready: v["ready"] == true,
            error: v["error"].as_str().map(str::to_string),
        })
    }

    pub(super) fn mirror_end(&self, uuid: &str, index: usize, pivot: Option<bool>) -> Result<()> {
        let vm = self.vm(uuid)?;
        let request = match pivot {
            Some(pivot) => Request::MirrorFinish { index, pivot },
            None => Request::MirrorCancel { index },
        };
        self.request(&vm, "ending the block job", request).map(drop)
    }
}
