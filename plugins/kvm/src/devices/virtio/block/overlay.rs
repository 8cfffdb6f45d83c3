//! The host's image operations behind external snapshots: a new qcow2
//! overlay over an image, and committing an overlay's data down into the
//! image below it (what deleting an external snapshot does, so nothing the
//! guest wrote is lost). Both run on images no VMM is serving.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use imago::qcow2::Qcow2;
use imago::raw::Raw;
use imago::{FormatAccess, FormatCreateBuilder, Mapping, StorageOpenOptions};

use super::chain::{self, ChainError};
use super::disk::{self, DiskError, Image, ImageFile};
use crate::control::protocol::DiskFormat;

/// What one commit copies at a time.
const CHUNK: u64 = 1 << 20;

/// Why an overlay could not be made or committed.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// The overlay file exists already (never overwritten).
    #[error("{} exists already", .0.display())]
    Exists(PathBuf),
    /// A file could not be opened, created or examined.
    #[error("cannot access {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// imago refused to read or write an image.
    #[error("{what} of {}", path.display())]
    Image {
        /// What was being done.
        what: &'static str,
        /// The image.
        path: PathBuf,
        /// imago's reason.
        #[source]
        source: std::io::Error,
    },
    /// The image cannot be opened as its format says.
    #[error("cannot open {}", path.display())]
    Open {
        /// The image.
        path: PathBuf,
        /// Why.
        #[source]
        source: DiskError,
    },
    /// The backing chain below an image cannot be opened.
    #[error("backing chain")]
    Chain(#[from] ChainError),
    /// The overlay is not a qcow2 image over the image it is committed to.
    #[error("{} is not an overlay of {}", top.display(), base.display())]
    NotAnOverlay {
        /// The overlay.
        top: PathBuf,
        /// The image it should name as its backing file.
        base: PathBuf,
    },
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> OverlayError + '_ {
    move |source| OverlayError::File {
        path: path.to_path_buf(),
        source,
    }
}

fn image_error<'p>(
    what: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> OverlayError + 'p {
    move |source| OverlayError::Image {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The size the guest sees of the image at `path` (of `format`).
pub fn virtual_size(path: &Path, format: DiskFormat) -> Result<u64, OverlayError> {
    let file = File::open(path).map_err(file_error(path))?;
    match format {
        DiskFormat::Raw => {
            use std::io::Seek;
            // A block device's size is where its end is, not its metadata.
            (&file)
                .seek(std::io::SeekFrom::End(0))
                .map_err(file_error(path))
        }
        DiskFormat::Qcow2 => {
            let storage = ImageFile::from_open_file(file, StorageOpenOptions::new())
                .map_err(file_error(path))?;
            let qcow2 = Qcow2::<ImageFile>::open_image(storage, false)
                .map_err(image_error("cannot read the qcow2 header", path))?;
            Ok(FormatAccess::new(qcow2).size())
        }
    }
}

/// Creates an empty qcow2 image at `path` over `backing` (of
/// `backing_format`), the guest's view unchanged: it reads through to the
/// backing file until written. The backing file is named by its absolute
/// path with its format recorded (never probed later). `path` must not
/// exist; it is created for its owner only, as libvirt's images are.
pub fn create_overlay(
    path: &Path,
    backing: &Path,
    backing_format: DiskFormat,
) -> Result<(), OverlayError> {
    let backing = std::fs::canonicalize(backing).map_err(file_error(backing))?;
    let size = virtual_size(&backing, backing_format)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => OverlayError::Exists(path.to_path_buf()),
            _ => OverlayError::File {
                path: path.to_path_buf(),
                source: e,
            },
        })?;
    let made = (|| {
        let storage = ImageFile::from_open_file(
            file.try_clone().map_err(file_error(path))?,
            StorageOpenOptions::new().write(true),
        )
        .map_err(file_error(path))?;
        Qcow2::<ImageFile>::create_builder(storage)
            .size(size)
            .backing(
                backing.to_string_lossy().into_owned(),
                backing_format.name().to_string(),
            )
            .create()
            .map_err(image_error("cannot write a qcow2 image", path))?;
        file.sync_all().map_err(file_error(path))
    })();
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// Creates an empty image of `size` bytes at `path` (which must not
/// exist): a sparse raw file, or a qcow2 image without a backing file.
pub fn create_image(path: &Path, format: DiskFormat, size: u64) -> Result<(), OverlayError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => OverlayError::Exists(path.to_path_buf()),
            _ => OverlayError::File {
                path: path.to_path_buf(),
                source: e,
            },
        })?;
    let made = match format {
        DiskFormat::Raw => file.set_len(size).map_err(file_error(path)),
        DiskFormat::Qcow2 => (|| {
            let storage = ImageFile::from_open_file(
                file.try_clone().map_err(file_error(path))?,
                StorageOpenOptions::new().write(true),
            )
            .map_err(file_error(path))?;
            Qcow2::<ImageFile>::create_builder(storage)
                .size(size)
                .create()
                .map_err(image_error("cannot write a qcow2 image", path))
        })(),
    }
    .and_then(|()| file.sync_all().map_err(file_error(path)));
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// The backing file `top`'s header names (resolved against its
/// directory), if any.
pub fn backing_of(top: &Path) -> Result<Option<PathBuf>, OverlayError> {
    let file = File::open(top).map_err(file_error(top))?;
    let storage =
        ImageFile::from_open_file(file, StorageOpenOptions::new()).map_err(file_error(top))?;
    let qcow2 = Qcow2::<ImageFile>::open_image(storage, false)
        .map_err(image_error("cannot read the qcow2 header", top))?;
    Ok(qcow2.implicit_backing_file().map(|name| {
        let name = Path::new(name);
        top.parent()
            .filter(|_| name.is_relative())
            .map_or_else(|| name.to_path_buf(), |dir| dir.join(name))
    }))
}

/// Copies what the qcow2 overlays `layers` hold (top first, each over
/// the next; allocated data and explicit zeroes, not what reads through)
/// into `into`, lowest layer first, and makes `into` durable. `into` is
/// the image right below the last layer (a commit: it then reads as the
/// top layer did, and the layers can go) or a fresh overlay over that
/// image (it then holds what the layers held: a partial pull). `into` is
/// of `into_format`; `allowed` confines its own chain as for a disk
/// ([`chain::open_backing_chain`]).
pub fn commit(
    layers: &[PathBuf],
    into: &Path,
    into_format: DiskFormat,
    allowed: &[PathBuf],
) -> Result<(), OverlayError> {
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let not_over = |top: &Path, base: &Path| OverlayError::NotAnOverlay {
        top: top.to_path_buf(),
        base: base.to_path_buf(),
    };
    let Some(last) = layers.last() else {
        return Ok(());
    };
    for pair in layers.windows(2) {
        if !backing_of(&pair[0])?.is_some_and(|b| same(&b, &pair[1])) {
            return Err(not_over(&pair[0], &pair[1]));
        }
    }
    let below = backing_of(last)?.ok_or_else(|| not_over(last, into))?;
    let into_is_below = same(&below, into);
    // Not the image below: then a qcow2 overlay over it, or refused.
    let over_below = || {
        backing_of(into)
            .ok()
            .flatten()
            .is_some_and(|b| same(&b, &below))
    };
    if !into_is_below && !over_below() {
        return Err(not_over(last, into));
    }
    let opened = layers
        .iter()
        .map(|l| open_alone(l))
        .collect::<Result<Vec<_>, _>>()?;
    let chain_below = chain::open_backing_chain(into, into_format, allowed)?;
    let base_file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(into)
        .map_err(file_error(into))?;
    let open = |source| OverlayError::Open {
        path: into.to_path_buf(),
        source,
    };
    let base_image: Image = match into_format {
        DiskFormat::Raw => FormatAccess::new(
            Raw::open_image(
                disk::storage(base_file, true, "the base").map_err(open)?,
                true,
            )
            .map_err(image_error("cannot open", into))?,
        ),
        DiskFormat::Qcow2 => {
            let given = chain_below.len();
            let mut files: VecDeque<File> = chain_below.into_iter().map(|b| b.file).collect();
            disk::open_qcow2(base_file, true, "the base".into(), &mut files, given).map_err(open)?
        }
    };
    // Lowest first: what a higher layer holds overwrites what is below it.
    for (layer, image) in layers.iter().zip(&opened).rev() {
        let size = image.size().min(base_image.size());
        for_each_piece(image, size, |offset, piece| match piece {
            Piece::Data(data) => base_image.write(data, offset),
            Piece::Zeroes(len) => base_image.write_zeroes(offset, len),
        })
        .map_err(image_error("cannot copy the overlay's data", layer))?;
    }
    base_image
        .flush()
        .and_then(|()| base_image.sync())
        .map_err(image_error("cannot flush", into))
}

/// What an overlay holds at an offset.
pub(super) enum Piece<'a> {
    /// Data, as the guest reads it.
    Data(&'a [u8]),
    /// This many bytes of explicit zeroes.
    Zeroes(u64),
}

/// Calls `put` for every range of `top` (opened by [`open_alone`]) below
/// `size` that the overlay itself holds, in order; ranges that read
/// through to the backing file are skipped.
pub(super) fn for_each_piece(
    top: &Image,
    size: u64,
    mut put: impl FnMut(u64, Piece<'_>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK as usize];
    let mut offset = 0;
    while offset < size {
        let (mapping, len) = top.get_mapping(offset, (size - offset).min(CHUNK))?;
        let len = len.min(size - offset);
        if len == 0 {
            break;
        }
        match mapping {
            // Unallocated in the overlay: the image below shows through.
            Mapping::Zero {
                explicit: false, ..
            } => {}
            Mapping::Zero { explicit: true, .. } => put(offset, Piece::Zeroes(len))?,
            Mapping::Eof { .. } => break,
            // Data (compressed clusters included), as the guest sees it.
            _ => {
                let chunk = &mut buf[..len as usize];
                top.read(&mut *chunk, offset)?;
                put(offset, Piece::Data(chunk))?;
            }
        }
        offset += len;
    }
    Ok(())
}

/// `path` as a qcow2 image without its backing file: unallocated ranges map
/// to non-explicit zeroes, which is how [`commit`] tells them apart.
fn open_alone(path: &Path) -> Result<Image, OverlayError> {
    let file = File::open(path).map_err(file_error(path))?;
    open_file_alone(file).map_err(image_error("cannot read the qcow2 header", path))
}

/// [`open_alone`] on an open file.
pub(super) fn open_file_alone(file: File) -> std::io::Result<Image> {
    let storage = ImageFile::from_open_file(file, StorageOpenOptions::new())?;
    let mut qcow2 = Qcow2::<ImageFile>::open_image(storage, false)?;
    qcow2.set_backing(None);
    Ok(FormatAccess::new(qcow2))
}
