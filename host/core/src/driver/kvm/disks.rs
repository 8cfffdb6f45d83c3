//! A domain's disks as the VMM gets them: each image opened by the host
//! (the VMM opens no paths), with its backing chain confined to the
//! directories of the domain's disks.

use std::fs::OpenOptions;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use wirt_kvm::control::protocol::{DiskFormat, DiskRef, FdRef};
use wirt_kvm::devices::virtio::block::chain::open_backing_chain;

use super::{DiskConfig, DomainConfig, Error, ErrorCode, KvmDriver, Result, io_error};

/// One disk's files, as indexes into the descriptors passed with a request.
pub(super) struct OpenedDisk {
    pub(super) image: usize,
    pub(super) format: DiskFormat,
    /// Nearest first.
    pub(super) backing: Vec<usize>,
    pub(super) readonly: bool,
    pub(super) serial: String,
}

impl OpenedDisk {
    /// The disk in a request, `numbers` being the descriptor numbers (or
    /// passed indexes) the VMM sees for the opened files.
    pub(super) fn disk_ref(&self, numbers: &[i32]) -> DiskRef {
        self.disk_ref_with(|i| FdRef::Fd(numbers[i]))
    }

    /// The disk in a request whose files are passed with it.
    pub(super) fn disk_ref_passed(&self) -> DiskRef {
        self.disk_ref_with(FdRef::Passed)
    }

    fn disk_ref_with(&self, fd: impl Fn(usize) -> FdRef) -> DiskRef {
        DiskRef {
            fd: fd(self.image),
            format: self.format,
            backing: self.backing.iter().map(|i| fd(*i)).collect(),
            readonly: self.readonly,
            serial: self.serial.clone(),
        }
    }
}

/// The format of `disk`, as its definer gave it (never guessed from the
/// content: no `<driver type>` means raw, as it does for libvirt's qemu).
pub(super) fn disk_format(disk: &DiskConfig) -> Result<DiskFormat> {
    match disk.format.as_deref() {
        None | Some("raw") => Ok(DiskFormat::Raw),
        Some("qcow2") => Ok(DiskFormat::Qcow2),
        Some(other) => Err(Error::driver(
            ErrorCode::CONFIG_UNSUPPORTED,
            format!(
                "disk '{}': format '{other}' is not supported, only raw and qcow2",
                disk.target_dev
            ),
        )),
    }
}

/// Where the backing files of `config`'s disks may come from: the
/// directories of its disks (a pool's directory for pool volumes), never
/// wherever a header says.
pub(super) fn allowed_dirs(config: &DomainConfig) -> Vec<PathBuf> {
    config
        .disks
        .iter()
        .filter_map(|d| d.source.as_deref())
        .filter_map(|p| Path::new(p).parent().map(Path::to_path_buf))
        .collect()
}

/// Opens `disk` of `config` and its backing chain, appending the files to
/// `fds`.
pub(super) fn open_disk(
    config: &DomainConfig,
    disk: &DiskConfig,
    fds: &mut Vec<OwnedFd>,
) -> Result<OpenedDisk> {
    if disk.device != "disk" {
        return Err(Error::driver(
            ErrorCode::CONFIG_UNSUPPORTED,
            format!(
                "disk '{}': only device='disk' is supported by the KVM driver",
                disk.target_dev
            ),
        ));
    }
    // virtio-blk is the only bus wirt-vmm has: a disk asked for on another
    // (explicitly, or by libvirt's rule for a target name without a bus)
    // would reach the guest as something it did not ask for.
    let bus =
        disk.target_bus
            .as_deref()
            .unwrap_or(match disk.target_dev.get(..2).unwrap_or_default() {
                "hd" => "ide",
                "sd" => "scsi",
                "fd" => "fdc",
                _ => "virtio",
            });
    if bus != "virtio" {
        return Err(Error::driver(
            ErrorCode::CONFIG_UNSUPPORTED,
            format!(
                "disk '{}': bus '{bus}' is not supported by the KVM driver, only 'virtio' \
                 (virsh domcapabilities lists what it supports)",
                disk.target_dev
            ),
        ));
    }
    let format = disk_format(disk)?;
    let path = disk.source.as_deref().ok_or_else(|| {
        Error::driver(
            ErrorCode(19),
            format!("disk '{}' has no source", disk.target_dev),
        )
    })?;
    let file = OpenOptions::new()
        .read(true)
        .write(!disk.read_only)
        .open(path)
        .map_err(|e| io_error(format!("cannot open disk {path}"), e))?;
    // The VMM opens no paths: a qcow2 disk's backing files go with it,
    // opened read-only here.
    let chain =
        open_backing_chain(Path::new(path), format, &allowed_dirs(config)).map_err(|e| {
            Error::driver(
                ErrorCode::OPERATION_FAILED,
                format!(
                    "disk '{}': backing chain of {path}: {}",
                    disk.target_dev,
                    crate::plugin::catalog::error_chain(&e)
                ),
            )
        })?;
    let image = fds.len();
    fds.push(file.into());
    let mut backing = Vec::with_capacity(chain.len());
    for b in chain {
        backing.push(fds.len());
        fds.push(b.file.into());
    }
    Ok(OpenedDisk {
        image,
        format,
        backing,
        readonly: disk.read_only,
        serial: disk.target_dev.clone(),
    })
}

impl KvmDriver {
    /// Plugs disk `index` of `config` (the running domain's live
    /// definition, the new disk last) into its VMM, the image and its
    /// backing chain opened here as for a start.
    pub(super) fn plug_disk(&self, config: &DomainConfig, index: usize) -> Result<()> {
        let vm = self.vm(&config.uuid)?;
        let disk = config.disks.get(index).ok_or_else(|| {
            Error::driver(
                ErrorCode::INTERNAL_ERROR,
                format!("no disk {index} to plug in"),
            )
        })?;
        let mut fds = Vec::new();
        let opened = open_disk(config, disk, &mut fds)?;
        let raw: Vec<i32> = fds.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
        let request = wirt_kvm::control::protocol::Request::AttachDisk {
            disk: opened.disk_ref_passed(),
        };
        vm.call(request, &raw)
            .map_err(|e| super::vmm_error("attach-disk", e))?;
        Ok(())
    }
}
