//! The qcow2 snapshot table: a contiguous run of variable-length entries
//! (40 fixed bytes, extra data, id, name, padding to 8 bytes). Entries read
//! from an image are kept as their raw bytes, so rewriting the table keeps
//! what QEMU wrote (extra data we do not interpret included) bit for bit.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{Error, io_error};

/// QEMU's limits (`QCOW_MAX_SNAPSHOTS`, `QCOW_MAX_SNAPSHOT_EXTRA_DATA`,
/// `QCOW_MAX_SNAPSHOTS_SIZE`): a table beyond them is corrupt, and reading
/// it must stay bounded.
pub(super) const MAX_SNAPSHOTS: u32 = 65536;
const MAX_EXTRA: u32 = 1024;
const MAX_TABLE_BYTES: u64 = 64 << 20;
const FIXED: usize = 40;
/// Extra data we write: vm_state_size_large and disk_size (what version 3
/// requires at least).
const OUR_EXTRA: usize = 16;

/// One snapshot table entry.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub l1_offset: u64,
    pub l1_size: u32,
    pub id: Vec<u8>,
    pub name: Vec<u8>,
    pub date_sec: u32,
    pub date_nsec: u32,
    pub vm_clock_nsec: u64,
    pub vm_state_size: u64,
    /// Absent in old version 2 entries: QEMU then takes the image's size.
    pub disk_size: Option<u64>,
    /// The entry as stored, padding included.
    raw: Vec<u8>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

impl Entry {
    /// A new entry of ours (no VM state).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        l1_offset: u64,
        l1_size: u32,
        id: &[u8],
        name: &[u8],
        date_sec: u32,
        date_nsec: u32,
        disk_size: u64,
    ) -> Self {
        let mut raw = Vec::with_capacity(FIXED + OUR_EXTRA + id.len() + name.len() + 8);
        raw.extend_from_slice(&l1_offset.to_be_bytes());
        raw.extend_from_slice(&l1_size.to_be_bytes());
        // Lengths were checked against u16 by the caller.
        raw.extend_from_slice(&(id.len() as u16).to_be_bytes());
        raw.extend_from_slice(&(name.len() as u16).to_be_bytes());
        raw.extend_from_slice(&date_sec.to_be_bytes());
        raw.extend_from_slice(&date_nsec.to_be_bytes());
        raw.extend_from_slice(&0u64.to_be_bytes()); // vm_clock_nsec
        raw.extend_from_slice(&0u32.to_be_bytes()); // vm_state_size
        raw.extend_from_slice(&(OUR_EXTRA as u32).to_be_bytes());
        raw.extend_from_slice(&0u64.to_be_bytes()); // vm_state_size_large
        raw.extend_from_slice(&disk_size.to_be_bytes());
        raw.extend_from_slice(id);
        raw.extend_from_slice(name);
        raw.resize(raw.len().next_multiple_of(8), 0);
        Entry {
            l1_offset,
            l1_size,
            id: id.to_vec(),
            name: name.to_vec(),
            date_sec,
            date_nsec,
            vm_clock_nsec: 0,
            vm_state_size: 0,
            disk_size: Some(disk_size),
            raw,
        }
    }

    /// Bytes this entry takes in the table.
    pub fn len(&self) -> usize {
        self.raw.len()
    }
}

/// Reads the `count` entries at `offset`.
pub(super) fn read(file: &File, offset: u64, count: u32) -> Result<Vec<Entry>, Error> {
    if count > MAX_SNAPSHOTS {
        return Err(Error::Invalid {
            what: format!("{count} snapshots (QEMU allows at most {MAX_SNAPSHOTS})"),
            offset: 60,
        });
    }
    let mut entries = Vec::with_capacity(count as usize);
    let mut at = offset;
    for _ in 0..count {
        if at - offset > MAX_TABLE_BYTES {
            return Err(Error::Invalid {
                what: "a snapshot table larger than 64 MiB".into(),
                offset,
            });
        }
        let mut fixed = [0u8; FIXED];
        file.read_exact_at(&mut fixed, at)
            .map_err(io_error("reading a snapshot table entry", at))?;
        let extra = be32(&fixed, 36);
        if extra > MAX_EXTRA {
            return Err(Error::Invalid {
                what: format!("{extra} bytes of snapshot extra data"),
                offset: at,
            });
        }
        let id_len = be16(&fixed, 12) as usize;
        let name_len = be16(&fixed, 14) as usize;
        let len = (FIXED + extra as usize + id_len + name_len).next_multiple_of(8);
        let mut raw = vec![0u8; len];
        raw[..FIXED].copy_from_slice(&fixed);
        // The padding may be missing at the very end of the file.
        let body = FIXED + extra as usize + id_len + name_len;
        file.read_exact_at(&mut raw[FIXED..body], at + FIXED as u64)
            .map_err(io_error("reading a snapshot table entry", at))?;
        let extra = extra as usize;
        let l1_offset = be64(&raw, 0);
        let vm_state_size = if extra >= 8 {
            be64(&raw, FIXED)
        } else {
            u64::from(be32(&raw, 32))
        };
        let disk_size = (extra >= 16).then(|| be64(&raw, FIXED + 8));
        let id_at = FIXED + extra;
        entries.push(Entry {
            l1_offset,
            l1_size: be32(&raw, 8),
            id: raw[id_at..id_at + id_len].to_vec(),
            name: raw[id_at + id_len..id_at + id_len + name_len].to_vec(),
            date_sec: be32(&raw, 16),
            date_nsec: be32(&raw, 20),
            vm_clock_nsec: be64(&raw, 24),
            vm_state_size,
            disk_size,
            raw,
        });
        at += len as u64;
    }
    Ok(entries)
}

/// The table holding `entries`, in order.
pub(super) fn serialize(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(Entry::len).sum());
    for e in entries {
        out.extend_from_slice(&e.raw);
    }
    out
}

/// Bytes the table of `entries` takes (what QEMU's check counts).
pub(super) fn size(entries: &[Entry]) -> u64 {
    entries.iter().map(|e| e.len() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_entry_is_padded_and_parses_back() {
        let e = Entry::new(0x30000, 3, b"1", b"snap", 7, 9, 1 << 20);
        assert_eq!(e.len() % 8, 0);
        assert_eq!(e.len(), (40 + 16 + 1 + 4usize).next_multiple_of(8));
        let file = tempfile::tempfile().unwrap();
        let mut bytes = serialize(&[e.clone(), e.clone()]);
        bytes.splice(0..0, [0u8; 512]);
        file.write_all_at(&bytes, 0).unwrap();
        let back = read(&file, 512, 2).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].name, b"snap");
        assert_eq!(back[1].id, b"1");
        assert_eq!(back[1].l1_offset, 0x30000);
        assert_eq!(back[1].l1_size, 3);
        assert_eq!(back[1].disk_size, Some(1 << 20));
        assert_eq!((back[1].date_sec, back[1].date_nsec), (7, 9));
        assert_eq!(serialize(&back), serialize(&[e.clone(), e]));
    }
}
