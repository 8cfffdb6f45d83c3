//! One L1 table and the L2 tables it points to: what a snapshot (or the
//! active image) references, counted into the refcounts and flagged COPIED
//! where it is the only reference.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::refcount::Refcounts;
use super::{Error, Geometry, io_error};

/// Bits 9-55: an L2 table's (or a standard cluster's) host offset.
pub(super) const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Bit 63: the cluster's refcount is exactly one (only meaningful in the
/// active tree; writers such as imago write in place where it is set).
pub(super) const COPIED: u64 = 1 << 63;
/// Bit 62 of an L2 entry: a compressed cluster.
const COMPRESSED: u64 = 1 << 62;
/// QEMU's limit on an L1 table: 32 MiB.
const MAX_L1_BYTES: u64 = 32 << 20;

/// An L2 table as stored (one cluster).
pub(super) struct L2 {
    pub offset: u64,
    pub data: Vec<u8>,
}

/// An L1 table at `l1_offset` and its L2 tables.
pub(super) struct Tree {
    pub l1_offset: u64,
    pub l1: Vec<u64>,
    pub l2: Vec<L2>,
}

/// What one L2 entry references.
enum Target {
    None,
    /// A standard (or preallocated zero) cluster.
    Cluster(u64),
    /// A compressed cluster: the host clusters its bytes touch.
    Compressed {
        first: u64,
        last: u64,
    },
}

/// Bytes an L1 table of `entries` entries takes, checked against QEMU's
/// limit.
pub(super) fn l1_bytes(entries: u32, offset: u64) -> Result<u64, Error> {
    let bytes = u64::from(entries) * 8;
    if bytes > MAX_L1_BYTES {
        return Err(Error::Invalid {
            what: format!("an L1 table of {entries} entries"),
            offset,
        });
    }
    Ok(bytes)
}

impl Tree {
    /// Reads the L1 table of `l1_size` entries at `l1_offset` and its L2
    /// tables.
    pub fn read(
        file: &File,
        geo: Geometry,
        l1_offset: u64,
        l1_size: u32,
        file_len: u64,
    ) -> Result<Self, Error> {
        let bytes = l1_bytes(l1_size, l1_offset)?;
        let mut raw = vec![0u8; bytes as usize];
        if bytes > 0 {
            geo.check_range(l1_offset, bytes, file_len, "L1 table")?;
            file.read_exact_at(&mut raw, l1_offset)
                .map_err(io_error("reading an L1 table", l1_offset))?;
        }
        let l1: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let mut l2 = Vec::new();
        for entry in &l1 {
            let offset = entry & OFFSET_MASK;
            if offset == 0 {
                continue;
            }
            geo.check_cluster(offset, file_len, "L2 table")?;
            let mut data = vec![0u8; geo.cluster_size() as usize];
            file.read_exact_at(&mut data, offset)
                .map_err(io_error("reading an L2 table", offset))?;
            let table = L2 { offset, data };
            // Validate every entry now, before anything is written.
            for i in 0..geo.l2_entries() {
                target(geo, table.entry(geo, i), Some(file_len), offset)?;
            }
            l2.push(table);
        }
        Ok(Tree { l1_offset, l1, l2 })
    }

    /// Adds `delta` to the refcount of every L2 table and data cluster this
    /// tree references (not the L1 table's own clusters). A cluster reached
    /// through several tables counts once per table, as QEMU counts it.
    pub fn count(&self, geo: Geometry, rc: &mut Refcounts, delta: i64) -> Result<(), Error> {
        for table in &self.l2 {
            rc.change(table.offset, delta)?;
            for i in 0..geo.l2_entries() {
                match target(geo, table.entry(geo, i), None, table.offset)? {
                    Target::None => {}
                    Target::Cluster(at) => rc.change(at, delta)?,
                    Target::Compressed { first, last } => {
                        for c in first..=last {
                            rc.change(c << geo.cluster_bits, delta)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Sets each COPIED flag of this tree to whether its cluster's refcount
    /// is exactly one (`rc` given) or clears them all (`None`: the safe
    /// direction, a writer then copies instead of writing in place), and
    /// writes the tables that changed, the L1 table in place.
    pub fn set_copied(
        &mut self,
        file: &File,
        geo: Geometry,
        rc: Option<&Refcounts>,
    ) -> Result<(), Error> {
        let sole = |at: u64| rc.is_some_and(|rc| rc.get(at >> geo.cluster_bits) == 1);
        for table in &mut self.l2 {
            let mut changed = false;
            for i in 0..geo.l2_entries() {
                let entry = table.entry(geo, i);
                let want = match target(geo, entry, None, table.offset)? {
                    Target::Cluster(at) => sole(at),
                    // A compressed cluster is always copied on write.
                    Target::None | Target::Compressed { .. } => false,
                };
                let new = if want {
                    entry | COPIED
                } else {
                    entry & !COPIED
                };
                if new != entry {
                    table.set_entry(geo, i, new);
                    changed = true;
                }
            }
            if changed {
                file.write_all_at(&table.data, table.offset)
                    .map_err(io_error("writing an L2 table", table.offset))?;
            }
        }
        let mut changed = false;
        for entry in &mut self.l1 {
            let at = *entry & OFFSET_MASK;
            let new = if at != 0 && sole(at) {
                *entry | COPIED
            } else {
                *entry & !COPIED
            };
            changed |= new != *entry;
            *entry = new;
        }
        if changed {
            file.write_all_at(&self.l1_raw(), self.l1_offset)
                .map_err(io_error("writing an L1 table", self.l1_offset))?;
        }
        Ok(())
    }

    /// The L1 table as stored.
    pub fn l1_raw(&self) -> Vec<u8> {
        self.l1.iter().flat_map(|e| e.to_be_bytes()).collect()
    }
}

impl L2 {
    fn entry(&self, geo: Geometry, i: u64) -> u64 {
        // With extended L2 entries the first 8 of 16 bytes are the entry;
        // the subcluster bitmap after it holds no references.
        let at = (i * geo.l2_entry_bytes) as usize;
        u64::from_be_bytes(self.data[at..at + 8].try_into().expect("8 bytes"))
    }

    fn set_entry(&mut self, geo: Geometry, i: u64, value: u64) {
        let at = (i * geo.l2_entry_bytes) as usize;
        self.data[at..at + 8].copy_from_slice(&value.to_be_bytes());
    }
}

/// What `entry` (in the L2 table at `table`) references, checked against
/// a file of `file_len` bytes when given (entries are checked once, when
/// read).
fn target(geo: Geometry, entry: u64, file_len: Option<u64>, table: u64) -> Result<Target, Error> {
    if entry & COMPRESSED != 0 {
        // Compressed descriptor: x = 62 - (cluster_bits - 8) offset bits,
        // then the count of 512-byte sectors beyond the first.
        let x = 62 - (geo.cluster_bits - 8);
        let offset = entry & ((1 << x) - 1);
        let sectors = ((entry >> x) & ((1 << (geo.cluster_bits - 8)) - 1)) + 1;
        let size = sectors * 512 - (offset & 511);
        let end = offset + size;
        if file_len.is_some_and(|len| end > len.next_multiple_of(geo.cluster_size())) {
            return Err(Error::Invalid {
                what: format!(
                    "a compressed cluster at {offset:#x} past the end of the file (L2 table at {table:#x})"
                ),
                offset,
            });
        }
        return Ok(Target::Compressed {
            first: offset >> geo.cluster_bits,
            last: (end - 1) >> geo.cluster_bits,
        });
    }
    let at = entry & OFFSET_MASK;
    if at == 0 {
        return Ok(Target::None);
    }
    if let Some(len) = file_len {
        geo.check_cluster(at, len, "data cluster")?;
    }
    Ok(Target::Cluster(at))
}
