//! qcow2 internal snapshots: list, create, revert to and delete entries of
//! an image's snapshot table, with the refcount and COPIED-flag bookkeeping
//! they need (imago, which serves the image, has no writer for them).
//!
//! The caller guarantees nobody else has the file open for writing. The
//! `&File` functions use only pread/pwrite, ftruncate (to grow the file
//! over new clusters), fdatasync and fstat: the VMM runs them under
//! seccomp on files it already holds.
//!
//! # Crash ordering
//!
//! Each operation has one commit point, a single write inside the header's
//! first sector (`nb_snapshots` + `snapshots_offset`, or `size` +
//! `l1_size` + `l1_table_offset`). Before it, refcounts only go up and new
//! metadata goes to newly allocated clusters (the old stays intact); after
//! it, refcounts only go down. Every step is synced before the next, so a
//! crash leaves an image QEMU opens with, at worst, leaked clusters: a
//! cluster is never referenced with a refcount lower than its references,
//! and COPIED is never set on a cluster another tree references.
//!
//! COPIED flags are cleared before refcounts rise (create) and set only
//! once refcounts have fallen (delete); a crash between the two leaves
//! flags missing on clusters of refcount 1, which `qemu-img check`
//! reports and `-r all` repairs (writers merely copy where they could
//! have written in place).
//!
//! A grown refcount table has a switch of its own
//! (`refcount_table_offset` + `refcount_table_clusters`), ordered the same
//! way: new table written and synced, switch synced, old table freed. New
//! clusters at the end lie inside the file (ftruncate) before they are
//! counted: `qemu-img check` sees only refcounts inside the file, and a
//! leak it cannot see it cannot repair.
//!
//! `crash_tests` stops each operation at each of its syncs and checks the
//! image with QEMU's tools.
//!
//! # Unsupported (refused with an error)
//!
//! Encryption, external data files, persistent bitmaps, unknown
//! incompatible or autoclear feature bits, the dirty or corrupt bit set, a
//! refcount that would overflow the image's refcount width (1-bit
//! refcounts cannot share a cluster at all), and a refcount table that
//! would outgrow QEMU's 8 MiB limit. Everything else QEMU makes is handled:
//! versions 2 and 3, 512-byte to 2 MiB clusters, refcounts of 1 to 64
//! bits, extended L2 entries, compressed clusters, preallocated zero
//! clusters, backing files.
//!
//! A refusal (of the image, a name, a refcount overflow, a full refcount
//! table) comes before the first write: every change before the commit
//! point is computed in memory first. Only metadata found inconsistent
//! while dropping references after the commit can fail later, and that
//! leaves leaks, as a crash there would.

#[cfg(test)]
mod crash_tests;
mod refcount;
mod table;
mod tree;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use self::refcount::Refcounts;
use self::table::Entry;
use self::tree::Tree;

/// One internal snapshot, as the snapshot table records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalSnapshot {
    /// Unique id (QEMU numbers them "1", "2", ...).
    pub id: String,
    /// Name.
    pub name: String,
    /// Bytes of saved VM state (0: disk only; ours are).
    pub vm_state_size: u64,
    /// When it was taken: seconds since the epoch.
    pub date_sec: u32,
    /// and nanoseconds.
    pub date_nsec: u32,
    /// Guest time run until it was taken.
    pub vm_clock_nsec: u64,
    /// The guest-visible disk size it holds.
    pub disk_size: u64,
}

/// Why an internal snapshot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InternalSnapshotError {
    /// The image file could not be opened or synced (the `_path` variants).
    #[error("cannot open or sync {}", path.display())]
    File {
        /// The image.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Reading or writing the image failed.
    #[error("{what} at offset {offset:#x}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where in the file.
        offset: u64,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file does not start with the qcow2 magic.
    #[error("not a qcow2 image (magic {magic:#010x})")]
    NotQcow2 {
        /// What the first four bytes hold.
        magic: u32,
    },
    /// A qcow2 version other than 2 and 3.
    #[error("qcow2 version {0} is not supported (2 and 3 are)")]
    Version(u32),
    /// cluster_bits outside what QEMU allows (9 to 21).
    #[error("cluster_bits {0} is out of range (9 to 21)")]
    ClusterBits(u32),
    /// refcount_order above 6.
    #[error("refcount_order {0} is out of range (0 to 6)")]
    RefcountOrder(u32),
    /// The image is encrypted.
    #[error(
        "the image is encrypted (crypt_method {0}); internal snapshots of encrypted images are not supported"
    )]
    Encrypted(u32),
    /// The image keeps its data in an external file.
    #[error("the image has an external data file, which cannot hold internal snapshots")]
    ExternalDataFile,
    /// The dirty bit is set: refcounts may be stale.
    #[error(
        "the image's dirty bit is set (refcounts may be stale); run `qemu-img check -r all` first"
    )]
    Dirty,
    /// The corrupt bit is set.
    #[error("the image is marked corrupt; run `qemu-img check -r all` first")]
    MarkedCorrupt,
    /// Incompatible feature bits this module does not know.
    #[error("unknown incompatible feature bits {0:#x}")]
    IncompatibleFeatures(u64),
    /// The image has persistent dirty bitmaps, which a revert would make
    /// wrong and whose clusters this module does not account.
    #[error("the image has persistent dirty bitmaps, which internal snapshots here do not support")]
    Bitmaps,
    /// Autoclear feature bits this module does not know.
    #[error("unknown autoclear feature bits {0:#x}")]
    AutoclearFeatures(u64),
    /// Metadata that breaks the spec (or QEMU's limits).
    #[error("invalid image: {what} (offset {offset:#x})")]
    Invalid {
        /// What is wrong.
        what: String,
        /// Where.
        offset: u64,
    },
    /// No snapshot has this name (nor this id).
    #[error("no snapshot named '{name}'")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// A snapshot of this name exists already.
    #[error("a snapshot named '{name}' exists already")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A snapshot with this id exists already.
    #[error("a snapshot with id '{id}' exists already")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// The name cannot be stored.
    #[error("invalid snapshot name '{name}': {reason}")]
    BadName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The image holds the most snapshots QEMU allows.
    #[error("the image has {0} snapshots, the most QEMU allows")]
    TooMany(u32),
    /// A refcount would exceed the image's refcount width.
    #[error(
        "the refcount of the cluster at {offset:#x} would exceed the image's {bits}-bit refcounts"
    )]
    RefcountOverflow {
        /// The cluster.
        offset: u64,
        /// refcount_bits.
        bits: u32,
    },
    /// A new cluster lies beyond what the refcount table can cover.
    #[error(
        "the refcount table cannot cover a cluster at {offset:#x} (growing it is not supported)"
    )]
    RefcountTableFull {
        /// The cluster.
        offset: u64,
    },
}

type Error = InternalSnapshotError;

fn io_error(what: &'static str, offset: u64) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io {
        what,
        offset,
        source,
    }
}

/// Syncs the file: every ordering point goes through here. In unit tests
/// it can stop the operation instead, as if the machine died there.
fn sync_data(file: &File, what: &'static str) -> Result<(), Error> {
    #[cfg(test)]
    let armed = crash_tests::at_sync()
        .map_err(|()| io_error(what, 0)(io::Error::other("simulated crash")))?;
    file.sync_data().map_err(io_error(what, 0))?;
    #[cfg(test)]
    if armed {
        crash_tests::synced(file);
    }
    Ok(())
}

/// Cluster and L2 entry sizes.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    cluster_bits: u32,
    /// 8, or 16 with extended L2 entries.
    l2_entry_bytes: u64,
}

impl Geometry {
    fn cluster_size(self) -> u64 {
        1 << self.cluster_bits
    }

    fn l2_entries(self) -> u64 {
        self.cluster_size() / self.l2_entry_bytes
    }

    fn clusters(self, bytes: u64) -> u64 {
        bytes.div_ceil(self.cluster_size())
    }

    /// L1 entries a disk of `size` bytes needs.
    fn l1_entries(self, size: u64) -> u64 {
        size.div_ceil(self.cluster_size() * self.l2_entries())
    }

    /// `at` must be a cluster inside a file of `file_len` bytes.
    fn check_cluster(self, at: u64, file_len: u64, what: &str) -> Result<(), Error> {
        self.check_range(at, 1, file_len, what)
    }

    /// `bytes` at `at` must start on a cluster and end inside the file
    /// (its last cluster may be partly written).
    fn check_range(self, at: u64, bytes: u64, file_len: u64, what: &str) -> Result<(), Error> {
        if !at.is_multiple_of(self.cluster_size()) {
            return Err(Error::Invalid {
                what: format!("{what} not aligned to a cluster"),
                offset: at,
            });
        }
        if at == 0 || at.saturating_add(bytes) > file_len.next_multiple_of(self.cluster_size()) {
            return Err(Error::Invalid {
                what: format!("{what} outside the file ({file_len} bytes)"),
                offset: at,
            });
        }
        Ok(())
    }
}

/// Header offsets (qcow2.txt, "Header").
const H_SIZE: u64 = 24;
const H_NB_SNAPSHOTS: u64 = 60;
const MAGIC: u32 = 0x5146_49fb;
/// Incompatible features: dirty, corrupt, external data file, compression
/// type (only how compressed clusters decompress), extended L2 entries.
const INCOMPAT_DIRTY: u64 = 1 << 0;
const INCOMPAT_CORRUPT: u64 = 1 << 1;
const INCOMPAT_DATA_FILE: u64 = 1 << 2;
const INCOMPAT_EXTL2: u64 = 1 << 4;
const INCOMPAT_KNOWN: u64 = 0b1_1111;
const AUTOCLEAR_BITMAPS: u64 = 1 << 0;

/// The header fields this module reads.
#[derive(Debug, Clone)]
struct Header {
    size: u64,
    crypt_method: u32,
    l1_size: u32,
    l1_table_offset: u64,
    refcount_table_offset: u64,
    refcount_table_clusters: u32,
    nb_snapshots: u32,
    snapshots_offset: u64,
    refcount_order: u32,
    geo: Geometry,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// An open image: its header and length.
struct Image<'f> {
    file: &'f File,
    h: Header,
    len: u64,
}

impl<'f> Image<'f> {
    /// Reads the header; for `writing`, refuses what this module cannot
    /// change safely.
    fn open(file: &'f File, writing: bool) -> Result<Self, Error> {
        let len = file
            .metadata()
            .map_err(io_error("examining the image", 0))?
            .len();
        let mut b = [0u8; 104];
        let got = (len as usize).min(b.len());
        file.read_exact_at(&mut b[..got], 0)
            .map_err(io_error("reading the header", 0))?;
        let magic = be32(&b, 0);
        if got < 72 || magic != MAGIC {
            return Err(Error::NotQcow2 { magic });
        }
        let version = be32(&b, 4);
        let (incompat, autoclear, refcount_order) = match version {
            2 => (0, 0, 4),
            3 if got == 104 => (be64(&b, 72), be64(&b, 88), be32(&b, 96)),
            v => return Err(Error::Version(v)),
        };
        let cluster_bits = be32(&b, 20);
        if !(9..=21).contains(&cluster_bits) {
            return Err(Error::ClusterBits(cluster_bits));
        }
        if refcount_order > 6 {
            return Err(Error::RefcountOrder(refcount_order));
        }
        let geo = Geometry {
            cluster_bits,
            l2_entry_bytes: if incompat & INCOMPAT_EXTL2 != 0 {
                16
            } else {
                8
            },
        };
        let h = Header {
            size: be64(&b, 24),
            crypt_method: be32(&b, 32),
            l1_size: be32(&b, 36),
            l1_table_offset: be64(&b, 40),
            refcount_table_offset: be64(&b, 48),
            refcount_table_clusters: be32(&b, 56),
            nb_snapshots: be32(&b, 60),
            snapshots_offset: be64(&b, 64),
            refcount_order,
            geo,
        };
        if writing {
            if h.crypt_method != 0 {
                return Err(Error::Encrypted(h.crypt_method));
            }
            if incompat & INCOMPAT_DIRTY != 0 {
                return Err(Error::Dirty);
            }
            if incompat & INCOMPAT_CORRUPT != 0 {
                return Err(Error::MarkedCorrupt);
            }
            if incompat & INCOMPAT_DATA_FILE != 0 {
                return Err(Error::ExternalDataFile);
            }
            if incompat & !INCOMPAT_KNOWN != 0 {
                return Err(Error::IncompatibleFeatures(incompat & !INCOMPAT_KNOWN));
            }
            if autoclear & AUTOCLEAR_BITMAPS != 0 {
                return Err(Error::Bitmaps);
            }
            if autoclear != 0 {
                return Err(Error::AutoclearFeatures(autoclear));
            }
            geo.check_cluster(h.refcount_table_offset, len, "refcount table")?;
            if geo.l1_entries(h.size) > u64::from(h.l1_size) {
                return Err(Error::Invalid {
                    what: format!("an L1 table of {} entries for {} bytes", h.l1_size, h.size),
                    offset: 36,
                });
            }
        }
        Ok(Image { file, h, len })
    }

    fn geo(&self) -> Geometry {
        self.h.geo
    }

    fn snapshots(&self) -> Result<Vec<Entry>, Error> {
        if self.h.nb_snapshots == 0 {
            return Ok(Vec::new());
        }
        self.geo()
            .check_cluster(self.h.snapshots_offset, self.len, "snapshot table")?;
        table::read(self.file, self.h.snapshots_offset, self.h.nb_snapshots)
    }

    fn refcounts(&self) -> Result<Refcounts, Error> {
        Refcounts::load(
            self.file,
            self.geo(),
            self.h.refcount_order,
            self.h.refcount_table_offset,
            self.h.refcount_table_clusters,
            self.len,
        )
    }

    fn tree(&self, l1_offset: u64, l1_size: u32) -> Result<Tree, Error> {
        Tree::read(self.file, self.geo(), l1_offset, l1_size, self.len)
    }

    fn sync(&self, what: &'static str) -> Result<(), Error> {
        sync_data(self.file, what)
    }

    /// Writes `bytes` at `offset` padded with zeros to whole clusters (a
    /// reused free cluster holds stale bytes), without syncing.
    fn write_clusters(&self, bytes: &[u8], offset: u64, what: &'static str) -> Result<(), Error> {
        let mut padded = bytes.to_vec();
        padded.resize(
            (self.geo().clusters(bytes.len() as u64) * self.geo().cluster_size()) as usize,
            0,
        );
        self.file
            .write_all_at(&padded, offset)
            .map_err(io_error(what, offset))
    }

    /// The commit point: one write inside the header's first sector (so it
    /// lands whole or not at all), then a sync.
    fn commit(&self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        self.file
            .write_all_at(bytes, offset)
            .map_err(io_error("writing the header", offset))?;
        self.sync("syncing the header")
    }

    /// Points the header at a new snapshot table.
    fn commit_table(&self, count: usize, offset: u64) -> Result<(), Error> {
        let mut b = Vec::with_capacity(12);
        b.extend_from_slice(&(count as u32).to_be_bytes());
        b.extend_from_slice(&offset.to_be_bytes());
        self.commit(H_NB_SNAPSHOTS, &b)
    }

    /// Allocates clusters for a table of `entries` (in `rc`, in memory) and
    /// returns the table and where it goes (0 if empty).
    fn new_table(&self, rc: &mut Refcounts, entries: &[Entry]) -> Result<(Vec<u8>, u64), Error> {
        let bytes = table::serialize(entries);
        let offset = if entries.is_empty() {
            0
        } else {
            rc.alloc(self.geo().clusters(bytes.len() as u64))?
        };
        Ok((bytes, offset))
    }

    /// Writes `rc` (whose increments make the new table's clusters used),
    /// then the table of `count` entries at `offset`, then switches the
    /// header to it: the commit point.
    fn install_table(
        &self,
        rc: &mut Refcounts,
        (bytes, offset): (Vec<u8>, u64),
        count: usize,
    ) -> Result<(), Error> {
        rc.write(self.file)?;
        if count > 0 {
            self.write_clusters(&bytes, offset, "writing the snapshot table")?;
            self.sync("syncing the snapshot table")?;
        }
        self.commit_table(count, offset)
    }

    /// Frees the clusters of the snapshot table the header pointed to when
    /// this image was opened.
    fn free_old_table(&self, rc: &mut Refcounts, old: &[Entry]) -> Result<(), Error> {
        if old.is_empty() {
            return Ok(());
        }
        rc.free(
            self.h.snapshots_offset,
            self.geo().clusters(table::size(old)),
        )
    }
}

fn public(e: &Entry, image_size: u64) -> InternalSnapshot {
    InternalSnapshot {
        id: String::from_utf8_lossy(&e.id).into_owned(),
        name: String::from_utf8_lossy(&e.name).into_owned(),
        vm_state_size: e.vm_state_size,
        date_sec: e.date_sec,
        date_nsec: e.date_nsec,
        vm_clock_nsec: e.vm_clock_nsec,
        // QEMU takes the image's size for entries that do not record one.
        disk_size: e.disk_size.unwrap_or(image_size),
    }
}

/// The entry named `name`, or else the one with id `name` (as
/// `qemu-img snapshot` finds them).
fn find(entries: &[Entry], name: &str) -> Result<usize, Error> {
    entries
        .iter()
        .position(|e| e.name == name.as_bytes())
        .or_else(|| entries.iter().position(|e| e.id == name.as_bytes()))
        .ok_or_else(|| Error::NotFound {
            name: name.to_string(),
        })
}

/// The snapshots of the image on `file`, in table order.
pub fn list(file: &File) -> Result<Vec<InternalSnapshot>, InternalSnapshotError> {
    let image = Image::open(file, false)?;
    Ok(image
        .snapshots()?
        .iter()
        .map(|e| public(e, image.h.size))
        .collect())
}

/// Takes a snapshot named `name` of the image's current disk state (no VM
/// state). Refuses a name (or id) in use.
pub fn create(file: &File, name: &str) -> Result<InternalSnapshot, InternalSnapshotError> {
    let image = Image::open(file, true)?;
    let geo = image.geo();
    if name.is_empty() {
        return Err(Error::BadName {
            name: name.into(),
            reason: "it is empty",
        });
    }
    if name.len() > usize::from(u16::MAX) {
        return Err(Error::BadName {
            name: name.into(),
            reason: "it is longer than 65535 bytes",
        });
    }
    let old = image.snapshots()?;
    if old.iter().any(|e| e.name == name.as_bytes()) {
        return Err(Error::DuplicateName { name: name.into() });
    }
    if old.len() as u32 >= table::MAX_SNAPSHOTS {
        return Err(Error::TooMany(old.len() as u32));
    }
    // The next free number, as QEMU numbers ids.
    let next = old
        .iter()
        .filter_map(|e| std::str::from_utf8(&e.id).ok()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let id = next.to_string();
    if old.iter().any(|e| e.id == id.as_bytes()) {
        return Err(Error::DuplicateId { id });
    }
    let mut rc = image.refcounts()?;
    let mut active = image.tree(image.h.l1_table_offset, image.h.l1_size)?;

    // 1. Count the snapshot's references and allocate its L1 copy and the
    // new table, in memory: a refusal (a refcount overflow, a full
    // refcount table) must come before any write.
    active.count(geo, &mut rc, 1)?;
    let l1_len = tree::l1_bytes(image.h.l1_size, image.h.l1_table_offset)?;
    let l1_offset = if l1_len == 0 {
        0
    } else {
        rc.alloc(geo.clusters(l1_len))?
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let entry = Entry::new(
        l1_offset,
        image.h.l1_size,
        id.as_bytes(),
        name.as_bytes(),
        now.as_secs() as u32,
        now.subsec_nanos(),
        image.h.size,
    );
    let snapshot = public(&entry, image.h.size);
    let mut entries = old.clone();
    entries.push(entry);
    let table = image.new_table(&mut rc, &entries)?;

    // 2. Everything active is about to be shared: clear COPIED before any
    // refcount rises, so no writer writes in place from here on.
    active.set_copied(file, geo, None)?;
    image.sync("syncing cleared COPIED flags")?;

    // 3. Refcounts up, the L1 copy and the new table written to new
    // clusters (the old table stays intact), then the header switch.
    rc.write(file)?;
    if l1_len > 0 {
        image.write_clusters(
            &active.l1_raw(),
            l1_offset,
            "writing the snapshot's L1 table",
        )?;
    }
    image.install_table(&mut rc, table, entries.len())?;

    // 4. Committed: the old table's clusters are free.
    image.free_old_table(&mut rc, &old)?;
    rc.write(file)?;
    Ok(snapshot)
}

/// Makes the image's disk state (and virtual size) the snapshot `name`'s.
pub fn revert(file: &File, name: &str) -> Result<(), InternalSnapshotError> {
    let image = Image::open(file, true)?;
    let geo = image.geo();
    let entries = image.snapshots()?;
    let sn = &entries[find(&entries, name)?];
    let size = sn.disk_size.unwrap_or(image.h.size);
    let mut rc = image.refcounts()?;
    let old = image.tree(image.h.l1_table_offset, image.h.l1_size)?;
    let mut new = image.tree(sn.l1_offset, sn.l1_size)?;
    let l1_size = u64::from(sn.l1_size).max(geo.l1_entries(size));
    let l1_size = u32::try_from(l1_size).map_err(|_| Error::Invalid {
        what: format!("a snapshot of {size} bytes"),
        offset: sn.l1_offset,
    })?;
    let l1_bytes = tree::l1_bytes(l1_size, sn.l1_offset)?;

    // 1. The snapshot's tree gains the active image's references; the new
    // active L1 goes to new clusters (the old one stays until the switch).
    new.count(geo, &mut rc, 1)?;
    let l1_offset = rc.alloc(geo.clusters(l1_bytes).max(1))?;
    rc.write(file)?;

    // 2. Its tables become active with COPIED clear (safe whatever the
    // refcounts; the exact flags follow once they are final).
    new.l1.resize(l1_size as usize, 0);
    new.l1_offset = l1_offset;
    for e in &mut new.l1 {
        *e &= !tree::COPIED;
    }
    new.set_copied(file, geo, None)?;
    image.write_clusters(&new.l1_raw(), l1_offset, "writing the new active L1 table")?;
    image.sync("syncing the new active L1 table")?;

    // 3. Commit: size, crypt_method (unchanged), l1_size, l1_table_offset.
    let mut b = Vec::with_capacity(24);
    b.extend_from_slice(&size.to_be_bytes());
    b.extend_from_slice(&image.h.crypt_method.to_be_bytes());
    b.extend_from_slice(&l1_size.to_be_bytes());
    b.extend_from_slice(&l1_offset.to_be_bytes());
    image.commit(H_SIZE, &b)?;

    // 4. The old active tree and its L1 lose their references.
    old.count(geo, &mut rc, -1)?;
    let old_l1 = tree::l1_bytes(image.h.l1_size, image.h.l1_table_offset)?;
    if old_l1 > 0 {
        rc.free(image.h.l1_table_offset, geo.clusters(old_l1))?;
    }
    rc.write(file)?;

    // 5. Exact COPIED flags on the new active tree.
    new.set_copied(file, geo, Some(&rc))?;
    image.sync("syncing COPIED flags")
}

/// Deletes the snapshot `name`, freeing what only it referenced.
pub fn delete(file: &File, name: &str) -> Result<(), InternalSnapshotError> {
    let image = Image::open(file, true)?;
    let geo = image.geo();
    let old = image.snapshots()?;
    let index = find(&old, name)?;
    let sn = &old[index];
    let mut rc = image.refcounts()?;
    let gone = image.tree(sn.l1_offset, sn.l1_size)?;
    let mut active = image.tree(image.h.l1_table_offset, image.h.l1_size)?;

    // 1. A table without it, then the header switch (the commit point).
    let mut entries = old.clone();
    entries.remove(index);
    let table = image.new_table(&mut rc, &entries)?;
    image.install_table(&mut rc, table, entries.len())?;

    // 2. Its tree, its L1 and the old table lose their references.
    gone.count(geo, &mut rc, -1)?;
    let l1 = tree::l1_bytes(sn.l1_size, sn.l1_offset)?;
    if l1 > 0 {
        rc.free(sn.l1_offset, geo.clusters(l1))?;
    }
    image.free_old_table(&mut rc, &old)?;
    rc.write(file)?;

    // 3. What the active image now holds alone may be written in place.
    active.set_copied(file, geo, Some(&rc))?;
    image.sync("syncing COPIED flags")
}

fn open(path: &Path, write: bool) -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| Error::File {
            path: path.to_path_buf(),
            source,
        })
}

fn sync_path(file: &File, path: &Path) -> Result<(), Error> {
    file.sync_all().map_err(|source| Error::File {
        path: path.to_path_buf(),
        source,
    })
}

/// [`list`] of the image at `path` (opened read-only: listing writes
/// nothing).
pub fn list_path(path: &Path) -> Result<Vec<InternalSnapshot>, InternalSnapshotError> {
    list(&open(path, false)?)
}

/// [`create`] on the image at `path`.
pub fn create_path(path: &Path, name: &str) -> Result<InternalSnapshot, InternalSnapshotError> {
    let file = open(path, true)?;
    let snapshot = create(&file, name)?;
    sync_path(&file, path)?;
    Ok(snapshot)
}

/// [`revert`] on the image at `path`.
pub fn revert_path(path: &Path, name: &str) -> Result<(), InternalSnapshotError> {
    let file = open(path, true)?;
    revert(&file, name)?;
    sync_path(&file, path)
}

/// [`delete`] on the image at `path`.
pub fn delete_path(path: &Path, name: &str) -> Result<(), InternalSnapshotError> {
    let file = open(path, true)?;
    delete(&file, name)?;
    sync_path(&file, path)
}
