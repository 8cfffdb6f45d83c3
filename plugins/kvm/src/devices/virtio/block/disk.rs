//! The image behind a virtio-blk device: a raw file served with plain
//! `pread`/`pwrite` (the fast path), or a qcow2 chain served by `imago`.
//!
//! The VMM opens no paths: the host hands over the top image and, for
//! qcow2, every backing file (read-only, nearest first). Which format each
//! backing file has is read from the header of the image above it (the
//! backing-format extension), never probed from content.

use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard};

use imago::io_buffers::{IoVector, IoVectorMut};
use imago::qcow2::Qcow2;
use imago::raw::Raw;
use imago::{FormatAccess, Mapping, StorageOpenOptions};
use vm_memory::bitmap::BS;
use vm_memory::{GuestAddress, GuestMemory, Permissions, VolatileSlice};

use super::stats::BlockStats;
use super::{ID_BYTES, SECTOR};
use crate::control::protocol::DiskFormat;

pub(super) type ImageFile = imago::file::File;
pub(super) type Image = FormatAccess<ImageFile>;

/// Why a disk could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The image file could not be examined.
    #[error("cannot read the size of the image")]
    Size(#[source] std::io::Error),
    /// imago refused the image or one of its backing files.
    #[error("cannot open {what} as {format}")]
    Open {
        /// Which file of the chain: "the image" or "backing file N".
        what: String,
        /// The format it was opened as.
        format: &'static str,
        /// imago's reason.
        #[source]
        source: std::io::Error,
    },
    /// A raw image was given backing files.
    #[error("a raw image has no backing files, {0} given")]
    RawWithBacking(usize),
    /// The chain names a backing file the host did not pass.
    #[error("backing file '{name}' of {what} was not passed (only {given} backing files given)")]
    MissingBacking {
        /// The file that names it.
        what: String,
        /// The name in its header.
        name: String,
        /// How many were passed.
        given: usize,
    },
    /// More backing files were passed than the chain has.
    #[error("{unused} backing files passed beyond the end of the chain")]
    ExtraBacking {
        /// How many were left over.
        unused: usize,
    },
    /// A qcow2 header names a backing format the VMM does not serve.
    #[error("{what} names backing format '{format}' (only raw and qcow2 are supported)")]
    BackingFormat {
        /// The file whose header names it.
        what: String,
        /// The name.
        format: String,
    },
    /// A descriptor of the chain could not be duplicated.
    #[error("cannot duplicate a descriptor of the image chain")]
    Dup(#[source] std::io::Error),
    /// An external data file (the VMM is not given one).
    #[error("{0} needs an external data file, which is not supported")]
    ExternalDataFile(String),
}

/// Why a disk could not move to another image.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// The new image has another size than the one served.
    #[error("the new image has {next} sectors, the disk {now}")]
    Size {
        /// Sectors of the disk served now.
        now: u64,
        /// Sectors of the new image.
        next: u64,
    },
    /// One is read-only, the other not.
    #[error("the new image must be writable exactly when the disk is")]
    Mode,
    /// The old image could not be made durable; the disk stays on it.
    #[error("cannot flush the image served so far")]
    Flush(#[source] IoError),
    /// The data could not be copied into the other image (the image below
    /// an overlay, or a block copy's); the disk stays where it was.
    #[error("cannot copy the disk's data into the other image")]
    Commit(#[source] IoError),
}

/// Why a disk could not be resized.
#[derive(Debug, thiserror::Error)]
pub enum ResizeError {
    /// The size is not a whole number of sectors.
    #[error("{0} bytes is not a whole number of 512-byte sectors")]
    NotSectors(u64),
    /// The size is below the current one.
    #[error("shrinking the disk from {now} to {bytes} bytes is not supported")]
    Shrink {
        /// The current size.
        now: u64,
        /// The size asked for.
        bytes: u64,
    },
    /// The disk is read-only.
    #[error("the disk is read-only")]
    ReadOnly,
    /// The image could not grow.
    #[error("cannot grow the image")]
    Io(#[source] std::io::Error),
}

/// Why an I/O request on a disk failed.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// Guest memory could not be accessed.
    #[error("guest memory access failed")]
    Memory,
    /// The file (or imago) failed.
    #[error("disk I/O failed")]
    Io(#[source] std::io::Error),
    /// The file shrank under the VMM.
    #[error("disk file ended early")]
    ShortFile,
}

/// The format a qcow2 header gives for its backing file. Without the
/// backing-format extension the backing file is taken as raw, never probed:
/// probing is the known security bug class where a guest writes a qcow2
/// header into its raw disk and makes the host open any file it names.
pub fn backing_format(named: Option<&str>) -> Result<DiskFormat, String> {
    match named {
        None | Some("raw") | Some("file") => Ok(DiskFormat::Raw),
        Some("qcow2") => Ok(DiskFormat::Qcow2),
        Some(other) => Err(other.to_string()),
    }
}

enum Backend {
    Raw(File),
    Image(ImageChain),
}

/// A qcow2 image and its backing chain.
struct ImageChain {
    /// A mutex because discards need exclusive access (they may free
    /// clusters a concurrent request maps), and one disk may be served by
    /// the machines of successive reboots.
    image: Mutex<Image>,
    /// Each file of the chain: the address of imago's storage object for
    /// it and our own descriptor of the same file. Where imago maps a
    /// request to one stretch of one file, the request is served like a
    /// raw one, straight between that file and guest memory; imago's vector
    /// path costs a 4 KiB request about half as much again as raw.
    files: Vec<(usize, File)>,
}

impl ImageChain {
    /// The file and offset where `[offset, offset + len)` lies in one
    /// piece, if it does (allocated clusters; for `write`, ones that may be
    /// overwritten in place). imago documents such a mapping as safe to
    /// read and, when writable, to write directly.
    fn direct(
        &self,
        image: &Image,
        offset: u64,
        len: u64,
        write: bool,
    ) -> Result<Option<(&File, u64)>, IoError> {
        let (mapping, mapped) = image.get_mapping(offset, len).map_err(IoError::Io)?;
        if mapped < len {
            return Ok(None);
        }
        let Mapping::Raw {
            storage,
            offset: at,
            writable,
            ..
        } = mapping
        else {
            return Ok(None);
        };
        if write && !writable {
            return Ok(None);
        }
        let address = std::ptr::from_ref(storage) as usize;
        Ok(self
            .files
            .iter()
            .find(|(a, _)| *a == address)
            .map(|(_, file)| (file, at)))
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Raw(file) => f.debug_tuple("Raw").field(file).finish(),
            Backend::Image(chain) => f.debug_tuple("Qcow2").field(&chain.files).finish(),
        }
    }
}

/// A disk image, opened once and shared by the machines of one domain.
#[derive(Debug)]
pub struct Disk {
    /// Behind a lock only so an external snapshot can move the disk onto a
    /// new overlay while the VM lives ([`Disk::replace`]); requests take it
    /// shared and uncontended.
    backend: RwLock<Backend>,
    /// Atomic: a live resize changes it while requests read it.
    sectors: AtomicU64,
    readonly: bool,
    id: [u8; ID_BYTES],
    stats: BlockStats,
    /// What the guest wrote, while a storage migration copies the disk.
    written: super::written::WriteLog,
}

impl Disk {
    /// A raw disk on `file`; its size is read once, rounded down to sectors.
    pub fn raw(file: File, readonly: bool, id: &str) -> Result<Self, DiskError> {
        let len = file.metadata().map_err(DiskError::Size)?.len();
        Ok(Disk {
            backend: RwLock::new(Backend::Raw(file)),
            sectors: AtomicU64::new(len / SECTOR),
            readonly,
            id: id_bytes(id),
            stats: BlockStats::default(),
            written: Default::default(),
        })
    }

    /// A disk of `format` on `file` with its `backing` files (nearest
    /// first; only qcow2 has any).
    pub fn open(
        format: DiskFormat,
        file: File,
        backing: Vec<File>,
        readonly: bool,
        id: &str,
    ) -> Result<Self, DiskError> {
        match format {
            DiskFormat::Raw if backing.is_empty() => Disk::raw(file, readonly, id),
            DiskFormat::Raw => Err(DiskError::RawWithBacking(backing.len())),
            DiskFormat::Qcow2 => {
                let given = backing.len();
                // Top first, as the chain is passed.
                let own = std::iter::once(&file)
                    .chain(&backing)
                    .map(File::try_clone)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(DiskError::Dup)?;
                let mut backing: VecDeque<File> = backing.into();
                let image = open_qcow2(file, !readonly, "the image".into(), &mut backing, given)?;
                if !backing.is_empty() {
                    return Err(DiskError::ExtraBacking {
                        unused: backing.len(),
                    });
                }
                // imago lists one storage object per layer (external data
                // files are refused), the bottom first. Should that ever
                // change, every request takes imago's own path.
                let storages = image.inner().collect_storage_dependencies();
                let files = if storages.len() == own.len() {
                    storages
                        .iter()
                        .rev()
                        .map(|s| std::ptr::from_ref(*s) as usize)
                        .zip(own)
                        .collect()
                } else {
                    Vec::new()
                };
                Ok(Disk {
                    sectors: AtomicU64::new(image.size() / SECTOR),
                    backend: RwLock::new(Backend::Image(ImageChain {
                        image: Mutex::new(image),
                        files,
                    })),
                    readonly,
                    id: id_bytes(id),
                    stats: BlockStats::default(),
                    written: Default::default(),
                })
            }
        }
    }

    fn backend(&self) -> RwLockReadGuard<'_, Backend> {
        // A request that panicked left no backend half-replaced: `replace`
        // swaps it in one assignment.
        self.backend.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves the guest from `next` from now on (an external snapshot: a new
    /// overlay whose backing file is the image served so far). What was
    /// written to the old image is made durable first, since it becomes a
    /// read-only backing file. Requests in flight finish on the old image.
    pub fn replace(&self, next: Disk) -> Result<(), ReplaceError> {
        self.can_replace(&next)?;
        let next = next.backend.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut backend = self.backend.write().unwrap_or_else(|p| p.into_inner());
        match &*backend {
            Backend::Raw(file) => file.sync_data(),
            Backend::Image(chain) => {
                let image = lock(&chain.image);
                image.flush().and_then(|()| image.sync())
            }
        }
        .map_err(|e| ReplaceError::Flush(IoError::Io(e)))?;
        *backend = next;
        Ok(())
    }

    /// Copies what the qcow2 overlay on `top` holds (not what reads through
    /// it) into this disk, the image below it: the first half of merging
    /// an overlay down. The caller keeps the guest off both meanwhile.
    pub fn commit_from(&self, top: File) -> Result<(), IoError> {
        let top = super::overlay::open_file_alone(top).map_err(IoError::Io)?;
        let size = (self.sectors() * SECTOR).min(top.size());
        let backend = self.backend();
        super::overlay::for_each_piece(&top, size, |offset, piece| {
            use super::overlay::Piece;
            use std::os::unix::fs::FileExt;
            match (&*backend, piece) {
                (Backend::Raw(file), Piece::Data(data)) => file.write_all_at(data, offset),
                (Backend::Raw(file), Piece::Zeroes(len)) => {
                    raw_write_zeroes(file, offset, len, false).map_err(std::io::Error::other)
                }
                (Backend::Image(chain), Piece::Data(data)) => {
                    lock(&chain.image).write(data, offset)
                }
                (Backend::Image(chain), Piece::Zeroes(len)) => {
                    lock(&chain.image).write_zeroes(offset, len)
                }
            }
        })
        .map_err(IoError::Io)
    }

    /// Copies what the guest sees of this disk into `dest` (a new image of
    /// the same size, reading as zeroes): block copy. With `shallow_top`
    /// (this disk's top image, opened again), only what the top holds is
    /// copied, `dest` being an overlay over the same backing files. The
    /// caller keeps the guest off this disk meanwhile.
    pub fn copy_to(&self, dest: &Disk, shallow_top: Option<File>) -> Result<(), IoError> {
        self.copy_to_reporting(dest, shallow_top, &mut |_, _| true)
    }

    /// [`Disk::copy_to`], telling `progress` how far it is (bytes done of
    /// the total) after each piece; it stops (interrupted) when `progress`
    /// answers false. Also the first pass of a mirror running beside the
    /// guest: what the guest writes meanwhile is tracked and copied again.
    pub fn copy_to_reporting(
        &self,
        dest: &Disk,
        shallow_top: Option<File>,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<(), IoError> {
        use super::overlay::Piece;
        let size = self.sectors() * SECTOR;
        let stopped = || IoError::Io(std::io::Error::from(std::io::ErrorKind::Interrupted));
        if let Some(top) = shallow_top {
            let top = super::overlay::open_file_alone(top).map_err(IoError::Io)?;
            let size = size.min(top.size());
            return super::overlay::for_each_piece(&top, size, |at, piece| {
                let len = match piece {
                    Piece::Data(data) => {
                        dest.write_bytes(data, at).map_err(std::io::Error::other)?;
                        data.len() as u64
                    }
                    Piece::Zeroes(len) => {
                        dest.zero_bytes(at, len).map_err(std::io::Error::other)?;
                        len
                    }
                };
                if progress(at + len, size) {
                    Ok(())
                } else {
                    Err(std::io::Error::from(std::io::ErrorKind::Interrupted))
                }
            })
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::Interrupted => stopped(),
                _ => IoError::Io(e),
            });
        }
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0;
        while at < size {
            let n = (size - at).min(buf.len() as u64) as usize;
            self.read_bytes(&mut buf[..n], at)?;
            // The new image reads as zeroes already: holes stay holes.
            if buf[..n].iter().any(|b| *b != 0) {
                dest.write_bytes(&buf[..n], at)?;
            }
            at += n as u64;
            if !progress(at, size) {
                return Err(stopped());
            }
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at `offset` into host memory.
    pub fn read_bytes(&self, buf: &mut [u8], offset: u64) -> Result<(), IoError> {
        use std::os::unix::fs::FileExt;
        match &*self.backend() {
            Backend::Raw(file) => file.read_exact_at(buf, offset).map_err(IoError::Io),
            Backend::Image(chain) => lock(&chain.image).read(buf, offset).map_err(IoError::Io),
        }
    }

    /// Writes `buf` at `offset` from host memory.
    pub fn write_bytes(&self, buf: &[u8], offset: u64) -> Result<(), IoError> {
        use std::os::unix::fs::FileExt;
        match &*self.backend() {
            Backend::Raw(file) => file.write_all_at(buf, offset).map_err(IoError::Io),
            Backend::Image(chain) => lock(&chain.image).write(buf, offset).map_err(IoError::Io),
        }
    }

    fn zero_bytes(&self, offset: u64, len: u64) -> Result<(), IoError> {
        self.write_zeroes(offset, len, false)
    }

    /// Whether [`Disk::replace`] would take `next`: same size, same mode.
    pub fn can_replace(&self, next: &Disk) -> Result<(), ReplaceError> {
        if next.sectors() != self.sectors() {
            return Err(ReplaceError::Size {
                now: self.sectors(),
                next: next.sectors(),
            });
        }
        if next.readonly != self.readonly {
            return Err(ReplaceError::Mode);
        }
        Ok(())
    }

    /// Grows the disk to `bytes` (whole sectors), as the guest will see it
    /// after a configuration change: a raw file is extended (a hole), a
    /// qcow2 image gets a larger virtual size. Shrinking is refused: data
    /// the guest may still use would go.
    pub fn resize(&self, bytes: u64) -> Result<(), ResizeError> {
        if !bytes.is_multiple_of(SECTOR) {
            return Err(ResizeError::NotSectors(bytes));
        }
        let now = self.sectors() * SECTOR;
        if bytes < now {
            return Err(ResizeError::Shrink { now, bytes });
        }
        if self.readonly {
            return Err(ResizeError::ReadOnly);
        }
        if bytes == now {
            return Ok(());
        }
        match &*self.backend() {
            Backend::Raw(file) => file.set_len(bytes),
            Backend::Image(chain) => {
                lock(&chain.image).resize_grow(bytes, imago::format::PreallocateMode::None)
            }
        }
        .map_err(ResizeError::Io)?;
        self.sectors.store(bytes / SECTOR, Ordering::Release);
        Ok(())
    }

    /// Starts recording which chunks ([`super::written::CHUNK`]) the guest
    /// writes, nothing recorded yet (a storage migration's first round).
    pub fn track_writes(&self) {
        self.written.start(self.sectors() * SECTOR);
    }

    /// Stops recording writes.
    pub fn stop_tracking_writes(&self) {
        self.written.stop();
    }

    /// The chunks the guest wrote since the last call, cleared.
    pub fn take_written(&self) -> Vec<u64> {
        self.written.take()
    }

    /// How many chunks are written and not yet taken.
    pub fn written_pending(&self) -> u64 {
        self.written.pending()
    }

    /// Capacity in sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors.load(Ordering::Acquire)
    }

    /// Whether writes are refused.
    pub fn readonly(&self) -> bool {
        self.readonly
    }

    /// The device id (GET_ID), zero padded.
    pub fn id(&self) -> &[u8; ID_BYTES] {
        &self.id
    }

    /// The I/O counters.
    pub fn stats(&self) -> &BlockStats {
        &self.stats
    }

    /// The format served.
    pub fn format(&self) -> DiskFormat {
        match *self.backend() {
            Backend::Raw(_) => DiskFormat::Raw,
            Backend::Image(_) => DiskFormat::Qcow2,
        }
    }

    /// Preferred granularity of discards, in bytes (the cluster size for
    /// qcow2: smaller discards only write zeroes).
    pub fn discard_granularity(&self) -> u64 {
        match &*self.backend() {
            Backend::Raw(_) => 4096,
            Backend::Image(chain) => lock(&chain.image)
                .inner()
                .zero_granularity()
                .unwrap_or(4096)
                .max(SECTOR),
        }
    }

    /// Reads `buffers` (guest memory, in order) from the disk at `offset`.
    pub fn read<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        buffers: &[(GuestAddress, u32)],
        offset: u64,
    ) -> Result<(), IoError> {
        match &*self.backend() {
            Backend::Raw(file) => raw_io(file, mem, buffers, offset, false),
            Backend::Image(chain) => {
                let image = lock(&chain.image);
                let len = buffers.iter().map(|(_, l)| u64::from(*l)).sum();
                if let Some((file, at)) = chain.direct(&image, offset, len, false)? {
                    return raw_io(file, mem, buffers, at, false);
                }
                if let Some(slice) = single_slice(mem, buffers, Permissions::Write)? {
                    let (vector, _guard) = IoVectorMut::from_volatile_slice_one(&slice);
                    return image.readv(vector, offset).map_err(IoError::Io);
                }
                let slices = guest_slices(mem, buffers, Permissions::Write)?;
                let (vector, _guard) = IoVectorMut::from_volatile_slice(&slices);
                image.readv(vector, offset).map_err(IoError::Io)
            }
        }
    }

    /// Writes `buffers` (guest memory, in order) to the disk at `offset`.
    pub fn write<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        buffers: &[(GuestAddress, u32)],
        offset: u64,
    ) -> Result<(), IoError> {
        let r = self.write_guest(mem, buffers, offset);
        let len = buffers.iter().map(|(_, l)| u64::from(*l)).sum();
        self.written.mark(offset, len);
        r
    }

    fn write_guest<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        buffers: &[(GuestAddress, u32)],
        offset: u64,
    ) -> Result<(), IoError> {
        match &*self.backend() {
            Backend::Raw(file) => raw_io(file, mem, buffers, offset, true),
            Backend::Image(chain) => {
                let image = lock(&chain.image);
                let len = buffers.iter().map(|(_, l)| u64::from(*l)).sum();
                if let Some((file, at)) = chain.direct(&image, offset, len, true)? {
                    return raw_io(file, mem, buffers, at, true);
                }
                if let Some(slice) = single_slice(mem, buffers, Permissions::Read)? {
                    let (vector, _guard) = IoVector::from_volatile_slice_one(&slice);
                    return image.writev(vector, offset).map_err(IoError::Io);
                }
                let slices = guest_slices(mem, buffers, Permissions::Read)?;
                let (vector, _guard) = IoVector::from_volatile_slice(&slices);
                image.writev(vector, offset).map_err(IoError::Io)
            }
        }
    }

    /// Makes everything written so far durable: imago's cached metadata
    /// goes to the file, then the file to stable storage.
    pub fn flush(&self) -> Result<(), IoError> {
        match &*self.backend() {
            Backend::Raw(file) => file.sync_data().map_err(IoError::Io),
            Backend::Image(chain) => {
                let image = lock(&chain.image);
                image.flush().map_err(IoError::Io)?;
                image.sync().map_err(IoError::Io)
            }
        }
    }

    /// Writes imago's cached metadata to the file (no sync): what a
    /// stopping machine does so the image is consistent for whoever opens
    /// it next.
    pub fn flush_metadata(&self) -> Result<(), IoError> {
        match &*self.backend() {
            Backend::Raw(_) => Ok(()),
            Backend::Image(chain) => lock(&chain.image).flush().map_err(IoError::Io),
        }
    }

    /// The guest no longer needs `[offset, offset + len)`. A qcow2 range
    /// reads back as zeroes afterwards, never as the backing file's older
    /// data; a raw one as the file system leaves it.
    pub fn discard(&self, offset: u64, len: u64) -> Result<(), IoError> {
        let r = self.discard_range(offset, len);
        self.written.mark(offset, len);
        r
    }

    fn discard_range(&self, offset: u64, len: u64) -> Result<(), IoError> {
        match &*self.backend() {
            // A hint: a file system that cannot punch holes keeps the data.
            Backend::Raw(file) => match punch_hole(file, offset, len) {
                Err(e) if unsupported(&e) => Ok(()),
                r => r.map_err(IoError::Io),
            },
            Backend::Image(chain) => lock(&chain.image)
                .discard_to_zero(offset, len)
                .map_err(IoError::Io),
        }
    }

    /// `[offset, offset + len)` reads back as zeroes; with `unmap` the space
    /// may be freed.
    pub fn write_zeroes(&self, offset: u64, len: u64, unmap: bool) -> Result<(), IoError> {
        let r = self.zero_range(offset, len, unmap);
        self.written.mark(offset, len);
        r
    }

    fn zero_range(&self, offset: u64, len: u64, unmap: bool) -> Result<(), IoError> {
        match &*self.backend() {
            Backend::Raw(file) => raw_write_zeroes(file, offset, len, unmap),
            Backend::Image(chain) if unmap => lock(&chain.image)
                .discard_to_zero(offset, len)
                .map_err(IoError::Io),
            Backend::Image(chain) => lock(&chain.image)
                .write_zeroes(offset, len)
                .map_err(IoError::Io),
        }
    }
}

fn id_bytes(id: &str) -> [u8; ID_BYTES] {
    let mut bytes = [0u8; ID_BYTES];
    let n = id.len().min(ID_BYTES);
    bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
    bytes
}

fn lock(image: &Mutex<Image>) -> MutexGuard<'_, Image> {
    // A panic mid-request leaves imago's own state consistent (it orders
    // its metadata updates); serving on is better than wedging the disk.
    image.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn storage(file: File, writable: bool, what: &str) -> Result<ImageFile, DiskError> {
    ImageFile::from_open_file(file, StorageOpenOptions::new().write(writable)).map_err(|source| {
        DiskError::Open {
            what: what.to_string(),
            format: "a file",
            source,
        }
    })
}

/// Opens the qcow2 image on `file` and, recursively, its backing chain from
/// `backing` (read-only).
pub(super) fn open_qcow2(
    file: File,
    writable: bool,
    what: String,
    backing: &mut VecDeque<File>,
    given: usize,
) -> Result<Image, DiskError> {
    let open_error = |what: &str, format: &'static str| {
        let what = what.to_string();
        move |source| DiskError::Open {
            what,
            format,
            source,
        }
    };
    let mut qcow2 = Qcow2::<ImageFile>::open_image(storage(file, writable, &what)?, writable)
        .map_err(open_error(&what, "qcow2"))?;
    if qcow2.requires_external_data_file() {
        return Err(DiskError::ExternalDataFile(what));
    }
    let Some(name) = qcow2.implicit_backing_file().cloned() else {
        qcow2.set_backing(None);
        return Ok(FormatAccess::new(qcow2));
    };
    let format =
        backing_format(qcow2.implicit_backing_format().map(String::as_str)).map_err(|format| {
            DiskError::BackingFormat {
                what: what.clone(),
                format,
            }
        })?;
    let Some(file) = backing.pop_front() else {
        return Err(DiskError::MissingBacking { what, name, given });
    };
    let below = format!("backing file {} ('{name}')", given - backing.len());
    let image = match format {
        DiskFormat::Raw => {
            let raw = Raw::open_image(storage(file, false, &below)?, false)
                .map_err(open_error(&below, "raw"))?;
            FormatAccess::new(raw)
        }
        DiskFormat::Qcow2 => open_qcow2(file, false, below, backing, given)?,
    };
    qcow2.set_backing(Some(image));
    Ok(FormatAccess::new(qcow2))
}

/// The guest memory of a request with one data buffer inside one memory
/// region (the common case), without collecting it into a vector: that
/// allocation is a measurable part of a 4 KiB qcow2 request.
fn single_slice<'m, M: GuestMemory + ?Sized>(
    mem: &'m M,
    buffers: &[(GuestAddress, u32)],
    access: Permissions,
) -> Result<Option<VolatileSlice<'m, BS<'m, M::Bitmap>>>, IoError> {
    let [(addr, len)] = buffers else {
        return Ok(None);
    };
    let mut slices = mem
        .get_slices(*addr, *len as usize, access)
        .map_err(|_| IoError::Memory)?;
    let first = slices.next().transpose().map_err(|_| IoError::Memory)?;
    Ok(first.filter(|_| slices.next().is_none()))
}

fn guest_slices<'m, M: GuestMemory + ?Sized>(
    mem: &'m M,
    buffers: &[(GuestAddress, u32)],
    access: Permissions,
) -> Result<Vec<VolatileSlice<'m, BS<'m, M::Bitmap>>>, IoError> {
    let mut slices = Vec::with_capacity(buffers.len());
    for (addr, len) in buffers {
        for slice in mem
            .get_slices(*addr, *len as usize, access)
            .map_err(|_| IoError::Memory)?
        {
            slices.push(slice.map_err(|_| IoError::Memory)?);
        }
    }
    Ok(slices)
}

/// The raw fast path: one `pread`/`pwrite` per guest memory slice, straight
/// between the file and guest memory.
fn raw_io<M: GuestMemory + ?Sized>(
    file: &File,
    mem: &M,
    buffers: &[(GuestAddress, u32)],
    mut offset: u64,
    write_to_disk: bool,
) -> Result<(), IoError> {
    let access = if write_to_disk {
        Permissions::Read
    } else {
        Permissions::Write
    };
    for (addr, len) in buffers {
        let slices = mem
            .get_slices(*addr, *len as usize, access)
            .map_err(|_| IoError::Memory)?;
        for slice in slices {
            let slice = slice.map_err(|_| IoError::Memory)?;
            let mut done = 0usize;
            while done < slice.len() {
                let guard = slice.ptr_guard_mut();
                // SAFETY: `guard` points into a live guest memory mapping of
                // `slice.len()` bytes (vm-memory checked the range); the
                // kernel copies to or from it and never keeps the pointer.
                let n = unsafe {
                    let p = guard.as_ptr().add(done) as *mut libc::c_void;
                    let count = slice.len() - done;
                    if write_to_disk {
                        libc::pwrite(file.as_raw_fd(), p, count, offset as libc::off_t)
                    } else {
                        libc::pread(file.as_raw_fd(), p, count, offset as libc::off_t)
                    }
                };
                if n < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(IoError::Io(e));
                }
                if n == 0 {
                    return Err(IoError::ShortFile);
                }
                done += n as usize;
                offset += n as u64;
            }
        }
    }
    Ok(())
}

fn fallocate(file: &File, mode: libc::c_int, offset: u64, len: u64) -> std::io::Result<()> {
    loop {
        // SAFETY: fallocate only reads its integer arguments; the descriptor
        // is owned by `file` and open for the duration of the call.
        let r = unsafe {
            libc::fallocate(
                file.as_raw_fd(),
                mode,
                offset as libc::off_t,
                len as libc::off_t,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn punch_hole(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    fallocate(
        file,
        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
        offset,
        len,
    )
}

fn unsupported(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::ENODEV)
    )
}

fn raw_write_zeroes(file: &File, offset: u64, len: u64, unmap: bool) -> Result<(), IoError> {
    let fast = if unmap {
        punch_hole(file, offset, len)
    } else {
        fallocate(
            file,
            libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
            offset,
            len,
        )
    };
    match fast {
        Ok(()) => return Ok(()),
        Err(e) if !unsupported(&e) => return Err(IoError::Io(e)),
        Err(_) => {}
    }
    // The file system zeroes no ranges: write the zeroes.
    use std::os::unix::fs::FileExt;
    let zeroes = vec![0u8; len.min(1 << 20) as usize];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(zeroes.len() as u64) as usize;
        file.write_all_at(&zeroes[..n], offset + done)
            .map_err(IoError::Io)?;
        done += n as u64;
    }
    Ok(())
}
