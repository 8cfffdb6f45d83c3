//! The host's side of a qcow2 disk: walking its backing chain by path and
//! opening every backing file read-only, for the VMM (which opens no
//! paths) to serve.
//!
//! Formats follow the same rule as in the VMM ([`disk::backing_format`]):
//! the backing-format extension of the image above, raw without one.
//!
//! Where a chain may lead is the caller's to say: an image header is data,
//! and one naming `/etc/shadow` as its backing file must not hand that file
//! to a guest. Every backing file must resolve (symbolic links followed)
//! inside one of the allowed directories, and be a regular file or a block
//! device.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use imago::StorageOpenOptions;
use imago::qcow2::Qcow2;

use super::disk;
use crate::control::protocol::DiskFormat;

/// Longest chain followed: well past real use, short enough to stop a chain
/// that loops back on itself (and the recursion that serves it).
pub const MAX_CHAIN_DEPTH: usize = 256;

/// Why a backing chain cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A file of the chain cannot be opened.
    #[error("cannot open {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A qcow2 image's header cannot be read.
    #[error("cannot read the qcow2 header of {}", path.display())]
    Header {
        /// The image.
        path: PathBuf,
        /// imago's reason.
        #[source]
        source: std::io::Error,
    },
    /// A header names a backing format wirt cannot serve.
    #[error("{} names backing format '{format}' (only raw and qcow2 are supported)", path.display())]
    BackingFormat {
        /// The image whose header names it.
        path: PathBuf,
        /// The name.
        format: String,
    },
    /// A backing file lies outside the directories the chain may reach.
    #[error(
        "backing file {} (named by {}) is outside the directories the chain may use ({})",
        path.display(),
        named_by.display(),
        allowed
    )]
    Outside {
        /// The backing file, resolved.
        path: PathBuf,
        /// The image whose header names it.
        named_by: PathBuf,
        /// The allowed directories, listed.
        allowed: String,
    },
    /// A backing file is neither a regular file nor a block device.
    #[error("backing file {} is not a regular file or block device", path.display())]
    NotAnImage {
        /// The file.
        path: PathBuf,
    },
    /// The chain is longer than [`MAX_CHAIN_DEPTH`].
    #[error("the backing chain of {} is longer than {MAX_CHAIN_DEPTH} images", path.display())]
    TooDeep {
        /// The top image.
        path: PathBuf,
    },
    /// The chain comes back to an image already in it.
    #[error("the backing chain of {} loops back to {}", path.display(), again.display())]
    Loop {
        /// The top image.
        path: PathBuf,
        /// The image named a second time, resolved.
        again: PathBuf,
    },
}

/// One backing file, opened read-only.
#[derive(Debug)]
pub struct BackingFile {
    /// Where it was found (resolved like qemu does: relative names are
    /// relative to the directory of the image that names them).
    pub path: PathBuf,
    /// Its format, from the header above it.
    pub format: DiskFormat,
    /// The open file.
    pub file: File,
}

/// Opens the backing files of the image at `top` (of `format`), nearest
/// first; each must lie inside one of `allowed` (directories, compared
/// after resolving symbolic links). A raw image has none.
pub fn open_backing_chain(
    top: &Path,
    format: DiskFormat,
    allowed: &[PathBuf],
) -> Result<Vec<BackingFile>, ChainError> {
    let allowed: Vec<PathBuf> = allowed
        .iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .collect();
    let mut chain: Vec<BackingFile> = Vec::new();
    // (device, inode) of every image so far.
    let mut seen: Vec<(u64, u64)> = std::fs::metadata(top)
        .map(|m| vec![(m.dev(), m.ino())])
        .unwrap_or_default();
    let mut current = top.to_path_buf();
    let mut current_format = format;
    while current_format == DiskFormat::Qcow2 {
        if chain.len() == MAX_CHAIN_DEPTH {
            return Err(ChainError::TooDeep {
                path: top.to_path_buf(),
            });
        }
        let file = open_read_only(&current)?;
        let header = |source| ChainError::Header {
            path: current.clone(),
            source,
        };
        let storage =
            imago::file::File::from_open_file(file, StorageOpenOptions::new()).map_err(header)?;
        let qcow2 = Qcow2::<imago::file::File>::open_image(storage, false).map_err(header)?;
        let Some(name) = qcow2.implicit_backing_file() else {
            break;
        };
        let next_format = disk::backing_format(qcow2.implicit_backing_format().map(String::as_str))
            .map_err(|format| ChainError::BackingFormat {
                path: current.clone(),
                format,
            })?;
        let next = resolve(&current, name);
        let next = confine(&next, &current, &allowed)?;
        let file = open_image(&next)?;
        // A loop would otherwise be walked MAX_CHAIN_DEPTH times, opening
        // (and loading the tables of) the same images again each time.
        // Files, not names: a hard link is the same image.
        let this = file.metadata().ok().map(|m| (m.dev(), m.ino()));
        if this.is_some_and(|id| seen.contains(&id)) {
            return Err(ChainError::Loop {
                path: top.to_path_buf(),
                again: next,
            });
        }
        seen.extend(this);
        chain.push(BackingFile {
            file,
            path: next.clone(),
            format: next_format,
        });
        current = next;
        current_format = next_format;
    }
    Ok(chain)
}

fn open_read_only(path: &Path) -> Result<File, ChainError> {
    OpenOptions::new()
        .read(true)
        // A FIFO named as a backing file must not block the host.
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|source| ChainError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// `path` resolved, if it lies inside one of `allowed`.
fn confine(path: &Path, named_by: &Path, allowed: &[PathBuf]) -> Result<PathBuf, ChainError> {
    let resolved = std::fs::canonicalize(path).map_err(|source| ChainError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if allowed.iter().any(|dir| resolved.starts_with(dir)) {
        return Ok(resolved);
    }
    Err(ChainError::Outside {
        path: resolved,
        named_by: named_by.to_path_buf(),
        allowed: allowed
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Opens a backing file read-only, refusing what is not an image.
fn open_image(path: &Path) -> Result<File, ChainError> {
    use std::os::unix::fs::FileTypeExt;
    let file = open_read_only(path)?;
    let kind = file
        .metadata()
        .map_err(|source| ChainError::Open {
            path: path.to_path_buf(),
            source,
        })?
        .file_type();
    if !(kind.is_file() || kind.is_block_device()) {
        return Err(ChainError::NotAnImage {
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

/// A backing file name from `image`'s header, as a path.
fn resolve(image: &Path, name: &str) -> PathBuf {
    let name = Path::new(name);
    if name.is_absolute() {
        return name.to_path_buf();
    }
    image
        .parent()
        .map_or_else(|| name.to_path_buf(), |dir| dir.join(name))
}
