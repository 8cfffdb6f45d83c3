//! `--copy-storage-all` (`VIR_MIGRATE_NON_SHARED_DISK`): the source's
//! cookie names each disk it copies with its size and format; the
//! destination makes the images it lacks (empty, of that size) before its
//! VMM opens them, and removes them again if the guest does not arrive.
//! The data itself goes with the RAM, between the two VMMs.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::connect::{Error, Result};
use crate::driver::{DiskConfig, DomainConfig, HypervisorDriver};
use crate::error::ErrorCode;

/// A disk the source copies, as its cookie describes it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(in crate::local) struct CopiedDisk {
    /// `<target dev>`.
    pub target: String,
    /// The size the guest sees, bytes.
    pub size: u64,
    /// The source image's device and inode: a destination that finds the
    /// same file (shared storage) must not write into it.
    pub dev: u64,
    pub ino: u64,
}

/// The disks a storage migration copies: the writable ones (read-only
/// media are shared, as libvirt leaves them).
fn copied(config: &DomainConfig) -> impl Iterator<Item = (&DiskConfig, &str)> {
    config
        .disks
        .iter()
        .filter(|d| d.device == "disk" && !d.read_only)
        .filter_map(|d| Some((d, d.source.as_deref()?)))
}

/// The source's side: what its cookie says of each copied disk.
pub(in crate::local) fn source_disks(config: &DomainConfig) -> Result<Vec<CopiedDisk>> {
    copied(config)
        .map(|(d, path)| {
            let meta = std::fs::metadata(path).map_err(|e| {
                Error::api(
                    ErrorCode::OPERATION_FAILED,
                    format!("disk '{}': cannot read {path}: {e}", d.target_dev),
                )
            })?;
            Ok(CopiedDisk {
                target: d.target_dev.clone(),
                size: super::super::backing::virtual_size(path, d.format.as_deref()),
                dev: meta.dev(),
                ino: meta.ino(),
            })
        })
        .collect()
}

/// The destination's side: every copied disk of `config` gets an image of
/// the source's size, made here unless it exists (then its size must be
/// the source's). Returns the images it made, all removed again on error.
pub(in crate::local) fn prepare_images(
    hv: &dyn HypervisorDriver,
    config: &DomainConfig,
    source: &[CopiedDisk],
) -> Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    let result = (|| {
        let ours: Vec<_> = copied(config).collect();
        for theirs in source {
            if !ours.iter().any(|(d, _)| d.target_dev == theirs.target) {
                return Err(invalid(format!(
                    "disk '{}' of the source has no writable disk here to be copied into",
                    theirs.target
                )));
            }
        }
        for (d, path) in ours {
            let theirs = source
                .iter()
                .find(|s| s.target == d.target_dev)
                .ok_or_else(|| {
                    invalid(format!(
                        "disk '{}' is not among the disks the source copies",
                        d.target_dev
                    ))
                })?;
            match std::fs::metadata(path) {
                Ok(meta) => {
                    if (meta.dev(), meta.ino()) == (theirs.dev, theirs.ino) {
                        return Err(invalid(format!(
                            "disk '{}': {path} is the source's own image (shared storage): \
                             migrate without --copy-storage-all",
                            d.target_dev
                        )));
                    }
                    let size = super::super::backing::virtual_size(path, d.format.as_deref());
                    if size != theirs.size {
                        return Err(invalid(format!(
                            "disk '{}': {path} has {size} bytes, the source's image {}",
                            d.target_dev, theirs.size
                        )));
                    }
                }
                Err(_) => {
                    let format = d.format.as_deref().unwrap_or("raw");
                    hv.create_image(path, format, theirs.size)?;
                    made.push(PathBuf::from(path));
                }
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(made),
        Err(e) => {
            remove(&made);
            Err(e)
        }
    }
}

/// Removes images [`prepare_images`] made for a guest that did not come.
pub(in crate::local) fn remove(made: &[PathBuf]) {
    for path in made {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a migration's image");
        }
    }
}

fn invalid(message: String) -> Error {
    Error::api(ErrorCode::OPERATION_INVALID, message)
}
