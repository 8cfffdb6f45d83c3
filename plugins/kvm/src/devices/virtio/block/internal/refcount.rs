//! qcow2 refcounts, held in memory for one operation: the refcount table
//! and every refcount block are read once, changed here, and written back
//! by [`Refcounts::write`] (blocks first and synced, then the table entries
//! that point to new blocks, synced), so a block is never referenced before
//! its contents are on disk.
//!
//! Every width the spec allows (1 to 64 bits) is supported. A cluster past
//! what the refcount table covers (8 MiB of file with 512-byte clusters,
//! 16 TiB with 64 KiB ones) grows the table: a larger copy goes to new
//! clusters, the header switches to it (one write, synced), and only then
//! is the old one freed. Past QEMU's limit of 8 MiB of table,
//! [`Error::RefcountTableFull`].

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{Error, Geometry, io_error, sync_data};

/// Bits 9-63 of a refcount table entry: the block's offset.
const TABLE_OFFSET_MASK: u64 = !0x1ff;
/// Header fields refcount_table_offset (8 bytes) and
/// refcount_table_clusters (4), adjacent.
const H_REFCOUNT_TABLE: u64 = 48;
/// QEMU's limit on the refcount table.
const MAX_TABLE_BYTES: u64 = 8 << 20;

pub(super) struct Refcounts {
    geo: Geometry,
    order: u32,
    table_offset: u64,
    table_clusters: u64,
    /// Where the table was when loaded, while a grown copy waits to be
    /// written and switched to.
    moved_from: Option<(u64, u64)>,
    table: Vec<u64>,
    blocks: Vec<Option<Vec<u8>>>,
    dirty_blocks: BTreeSet<usize>,
    dirty_table: BTreeSet<usize>,
    /// The first cluster index past both the file and every cluster with a
    /// refcount: where allocation at the end starts.
    end: u64,
    /// The file's length as this operation has made it.
    file_len: u64,
    /// Clusters allocated or freed by this operation: never handed out
    /// again by it, so a cluster freed after a commit point cannot be
    /// reused before that commit is durable.
    touched: HashSet<u64>,
}

impl Refcounts {
    /// Reads the table at `table_offset` (`table_clusters` long) and its
    /// blocks.
    pub fn load(
        file: &File,
        geo: Geometry,
        order: u32,
        table_offset: u64,
        table_clusters: u32,
        file_len: u64,
    ) -> Result<Self, Error> {
        let cs = geo.cluster_size();
        let bytes = u64::from(table_clusters) * cs;
        // QEMU's limit on the refcount table: 8 MiB.
        if bytes > MAX_TABLE_BYTES || bytes == 0 {
            return Err(Error::Invalid {
                what: format!("a refcount table of {table_clusters} clusters"),
                offset: table_offset,
            });
        }
        let mut raw = vec![0u8; bytes as usize];
        file.read_exact_at(&mut raw, table_offset)
            .map_err(io_error("reading the refcount table", table_offset))?;
        let table: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let mut blocks = Vec::with_capacity(table.len());
        for entry in &table {
            let at = entry & TABLE_OFFSET_MASK;
            if at == 0 {
                blocks.push(None);
                continue;
            }
            geo.check_cluster(at, file_len, "refcount block")?;
            let mut block = vec![0u8; cs as usize];
            file.read_exact_at(&mut block, at)
                .map_err(io_error("reading a refcount block", at))?;
            blocks.push(Some(block));
        }
        let mut rc = Refcounts {
            geo,
            order,
            table_offset,
            table_clusters: u64::from(table_clusters),
            moved_from: None,
            table,
            blocks,
            dirty_blocks: BTreeSet::new(),
            dirty_table: BTreeSet::new(),
            end: file_len.div_ceil(cs),
            file_len,
            touched: HashSet::new(),
        };
        // A cluster past the end of the file may still be counted (a file
        // cut short); allocation must start past it too.
        let per_block = rc.per_block();
        let mut last = 0;
        for i in 0..rc.blocks.len() {
            if rc.blocks[i].is_none() {
                continue;
            }
            let base = i as u64 * per_block;
            if let Some(j) = (0..per_block).rev().find(|j| rc.get(base + j) != 0) {
                last = last.max(base + j + 1);
            }
        }
        rc.end = rc.end.max(last);
        Ok(rc)
    }

    fn bits(&self) -> u64 {
        1 << self.order
    }

    /// Refcount entries per block.
    fn per_block(&self) -> u64 {
        self.geo.cluster_size() * 8 / self.bits()
    }

    fn max(&self) -> u64 {
        if self.bits() == 64 {
            u64::MAX
        } else {
            (1 << self.bits()) - 1
        }
    }

    /// The refcount of cluster `index`.
    pub fn get(&self, index: u64) -> u64 {
        let per = self.per_block();
        let Some(Some(block)) = self.blocks.get((index / per) as usize) else {
            return 0;
        };
        let i = index % per;
        let bits = self.bits();
        if bits < 8 {
            // Sub-byte widths: bit 0 is the least significant bit.
            let bit = i * bits;
            let byte = block[(bit / 8) as usize];
            u64::from(byte >> (bit % 8)) & self.max()
        } else {
            let width = (bits / 8) as usize;
            let at = i as usize * width;
            block[at..at + width]
                .iter()
                .fold(0u64, |v, b| (v << 8) | u64::from(*b))
        }
    }

    fn set(&mut self, index: u64, value: u64) -> Result<(), Error> {
        let per = self.per_block();
        let ti = (index / per) as usize;
        self.ensure_block(ti, index)?;
        let i = index % per;
        let bits = self.bits();
        let max = self.max();
        let block = self.blocks[ti].as_mut().expect("ensured");
        if bits < 8 {
            let bit = i * bits;
            let byte = &mut block[(bit / 8) as usize];
            let shift = bit % 8;
            *byte = (*byte & !((max as u8) << shift)) | ((value as u8) << shift);
        } else {
            let width = (bits / 8) as usize;
            let at = i as usize * width;
            block[at..at + width].copy_from_slice(&value.to_be_bytes()[8 - width..]);
        }
        self.dirty_blocks.insert(ti);
        Ok(())
    }

    /// Makes sure refcount block `ti` exists, allocating it at the end of
    /// the file (where it may well count itself) if not.
    fn ensure_block(&mut self, ti: usize, for_cluster: u64) -> Result<(), Error> {
        if self.blocks.get(ti).is_some_and(Option::is_some) {
            return Ok(());
        }
        if ti >= self.table.len() {
            self.grow(ti, for_cluster)?;
            // Counting the grown table's own clusters may have made the
            // block already; a second one would lose those counts.
            if self.blocks[ti].is_some() {
                return Ok(());
            }
        }
        let at = self.end;
        self.end += 1;
        self.blocks[ti] = Some(vec![0u8; self.geo.cluster_size() as usize]);
        self.table[ti] = at << self.geo.cluster_bits;
        self.dirty_blocks.insert(ti);
        self.dirty_table.insert(ti);
        self.touched.insert(at);
        // Terminates: each new block lies past the previous one, and the
        // first block covering the end covers the next ones too.
        self.set(at, 1)
    }

    /// Makes the table (in memory) large enough for block `ti`, half again
    /// for what follows, at new clusters at the end of the file.
    fn grow(&mut self, ti: usize, for_cluster: u64) -> Result<(), Error> {
        let cs = self.geo.cluster_size();
        let per_cluster = (cs / 8) as usize;
        let entries = ((ti + 1) * 3 / 2).next_multiple_of(per_cluster);
        let clusters = (entries / per_cluster) as u64;
        if clusters * cs > MAX_TABLE_BYTES {
            return Err(Error::RefcountTableFull {
                offset: for_cluster << self.geo.cluster_bits,
            });
        }
        match self.moved_from {
            // Grown twice before a write: the first copy was never used.
            Some(_) => {
                let first = self.table_offset >> self.geo.cluster_bits;
                for c in first..first + self.table_clusters {
                    self.set(c, 0)?;
                }
            }
            None => self.moved_from = Some((self.table_offset, self.table_clusters)),
        }
        self.table.resize(entries, 0);
        self.blocks.resize(entries, None);
        let at = self.end;
        self.end += clusters;
        self.table_offset = at << self.geo.cluster_bits;
        self.table_clusters = clusters;
        for c in at..at + clusters {
            self.touched.insert(c);
            self.set(c, 1)?;
        }
        Ok(())
    }

    /// Adds `delta` to the refcount of the cluster at byte `offset`.
    pub fn change(&mut self, offset: u64, delta: i64) -> Result<(), Error> {
        let index = offset >> self.geo.cluster_bits;
        let old = self.get(index);
        let new = if delta >= 0 {
            old.checked_add(delta.unsigned_abs())
                .filter(|n| *n <= self.max())
                .ok_or(Error::RefcountOverflow {
                    offset,
                    bits: self.bits() as u32,
                })?
        } else {
            old.checked_sub(delta.unsigned_abs())
                .ok_or(Error::Invalid {
                    what: "a cluster referenced more often than its refcount says".into(),
                    offset,
                })?
        };
        if new == 0 {
            self.touched.insert(index);
        }
        self.set(index, new)
    }

    /// Drops one reference to each of the `clusters` clusters at `offset`.
    pub fn free(&mut self, offset: u64, clusters: u64) -> Result<(), Error> {
        for i in 0..clusters {
            self.change(offset + (i << self.geo.cluster_bits), -1)?;
        }
        Ok(())
    }

    /// Allocates `n` contiguous clusters (refcount 1): the first run of
    /// clusters that were free when this operation began, else at the end
    /// of the file. Returns the byte offset of the first.
    pub fn alloc(&mut self, n: u64) -> Result<u64, Error> {
        assert!(n > 0);
        let mut start = None;
        let mut run = 0;
        // Cluster 0 is the header, never free.
        for index in 1..self.end {
            if self.get(index) == 0 && !self.touched.contains(&index) {
                run += 1;
                if run == n {
                    start = Some(index + 1 - n);
                    break;
                }
            } else {
                run = 0;
            }
        }
        let start = match start {
            Some(s) => s,
            None => {
                let s = self.end;
                self.end += n;
                s
            }
        };
        for index in start..start + n {
            self.touched.insert(index);
            self.set(index, 1)?;
        }
        Ok(start << self.geo.cluster_bits)
    }

    /// Writes every changed block, syncs, then every changed table entry
    /// (new blocks), and syncs again. The file first grows over clusters
    /// allocated at its end: `qemu-img check` only sees refcounts inside the
    /// file, so a crash must not leave counted clusters past its end that
    /// no repair would find.
    pub fn write(&mut self, file: &File) -> Result<(), Error> {
        let end = self.end << self.geo.cluster_bits;
        if end > self.file_len {
            file.set_len(end)
                .map_err(io_error("growing the image", self.file_len))?;
            self.file_len = end;
        }
        for &ti in &self.dirty_blocks {
            let at = self.table[ti] & TABLE_OFFSET_MASK;
            let block = self.blocks[ti].as_ref().expect("dirty blocks exist");
            file.write_all_at(block, at)
                .map_err(io_error("writing a refcount block", at))?;
        }
        if !self.dirty_blocks.is_empty() {
            sync_data(file, "syncing refcounts")?;
        }
        if let Some((old_offset, old_clusters)) = self.moved_from.take() {
            // A grown table: written whole to its new clusters, then the
            // header switches to it, then the old one is freed.
            let raw: Vec<u8> = self.table.iter().flat_map(|e| e.to_be_bytes()).collect();
            file.write_all_at(&raw, self.table_offset)
                .map_err(io_error("writing the refcount table", self.table_offset))?;
            sync_data(file, "syncing the refcount table")?;
            let mut header = self.table_offset.to_be_bytes().to_vec();
            header.extend_from_slice(&(self.table_clusters as u32).to_be_bytes());
            file.write_all_at(&header, H_REFCOUNT_TABLE)
                .map_err(io_error("writing the header", H_REFCOUNT_TABLE))?;
            sync_data(file, "syncing the header")?;
            self.dirty_blocks.clear();
            self.dirty_table.clear();
            self.free(old_offset, old_clusters)?;
            return self.write(file);
        }
        for &ti in &self.dirty_table {
            let at = self.table_offset + ti as u64 * 8;
            file.write_all_at(&self.table[ti].to_be_bytes(), at)
                .map_err(io_error("writing a refcount table entry", at))?;
        }
        if !self.dirty_table.is_empty() {
            sync_data(file, "syncing the refcount table")?;
        }
        self.dirty_blocks.clear();
        self.dirty_table.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(order: u32) -> Refcounts {
        let geo = Geometry {
            cluster_bits: 9,
            l2_entry_bytes: 8,
        };
        Refcounts {
            geo,
            order,
            table_offset: 512,
            table_clusters: 1,
            moved_from: None,
            table: vec![1024, 0],
            blocks: vec![Some(vec![0; 512]), None],
            dirty_blocks: BTreeSet::new(),
            dirty_table: BTreeSet::new(),
            end: 3,
            file_len: 3 << 9,
            touched: HashSet::new(),
        }
    }

    #[test]
    fn every_width_round_trips_next_to_its_neighbours() {
        for order in 0..=6 {
            let mut rc = model(order);
            let max = rc.max();
            for i in 0..20 {
                rc.set(i, (i * 7) & max).unwrap();
            }
            rc.set(5, max).unwrap();
            for i in 0..20 {
                let want = if i == 5 { max } else { (i * 7) & max };
                assert_eq!(rc.get(i), want, "order {order} index {i}");
            }
            rc.set(5, 0).unwrap();
            assert_eq!(rc.get(4), (4 * 7) & max);
            assert_eq!(rc.get(6), (6 * 7) & max);
            assert!(
                matches!(
                    rc.change(5 << 9, (max as i64).saturating_add(1).max(1)),
                    Err(Error::RefcountOverflow { .. })
                ) || max == u64::MAX
            );
        }
    }

    #[test]
    fn allocation_past_a_block_makes_a_new_block_that_counts_itself() {
        let mut rc = model(4);
        // Block 0 covers 256 clusters of 512 bytes; start past it.
        rc.end = 256;
        let at = rc.alloc(1).unwrap();
        // The run inside the file was free, so it is used first.
        assert_eq!(at, 512);
        for i in 1..256 {
            rc.set(i, 1).unwrap();
        }
        let at = rc.alloc(2).unwrap();
        assert_eq!(at, 256 << 9);
        // The new block went after the run and counts itself.
        assert_eq!(rc.table[1], 258 << 9);
        assert_eq!(rc.get(258), 1);
        assert_eq!(rc.get(256), 1);
        assert_eq!(rc.get(257), 1);
        assert!(rc.dirty_table.contains(&1));
    }
}
