//! Just enough qcow2 for a dir pool: recognise an image and read its virtual
//! size, write a new empty image, and grow an image's virtual size in place.
//!
//! A new image is laid out as `qemu-img create -f qcow2` lays it out: 64 KiB
//! clusters, 16-bit refcounts, version 3; cluster 0 the header, cluster 1
//! the refcount table, cluster 2 the one refcount block, then the L1 table;
//! the file ends where the L1 table's entries end. No data clusters, no L2
//! tables: every guest block reads as zeros.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

use crate::blocks::{fill_zeros, read_full};

/// `QFI\xfb`: the first bytes of every qcow (1 and 2) image.
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
const CLUSTER_BITS: u32 = 16;
const CLUSTER: u64 = 1 << CLUSTER_BITS;
const HEADER_V3_LEN: u32 = 104;
/// 2^4 = 16-bit refcounts, qemu's default.
const REFCOUNT_ORDER: u32 = 4;
/// qemu's `QCOW_MAX_L1_SIZE`: an L1 table may not exceed 32 MiB.
const MAX_L1_BYTES: u64 = 32 << 20;
/// Incompatible feature bit 3 (compression type): harmless for resizing.
const INCOMPAT_COMPRESSION_TYPE: u64 = 1 << 3;
/// Incompatible feature bit 0: the image was not closed cleanly.
const INCOMPAT_DIRTY: u64 = 1;
/// Autoclear feature bit 0: persistent bitmaps, sized by the virtual size.
const AUTOCLEAR_BITMAPS: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Qcow2Error {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("virtual size {0} is too large for a qcow2 image")]
    TooLarge(u64),
    #[error("{0}")]
    Unsupported(String),
    #[error("not a usable qcow2 image: {0}")]
    Corrupt(String),
}

/// What the first bytes of a file say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// "qcow2", or "qcow" for a version 1 image.
    pub format: &'static str,
    /// The virtual size, in bytes.
    pub size: u64,
}

/// Reads the start of `file`: `Some` when it is a qcow image.
pub fn probe(file: &mut File) -> io::Result<Option<Probe>> {
    file.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 32];
    if read_full(file, &mut head)? < head.len() || head[..4] != MAGIC {
        return Ok(None);
    }
    let format = if be32(&head, 4) == 1 { "qcow" } else { "qcow2" };
    Ok(Some(Probe {
        format,
        size: be64(&head, 24),
    }))
}

/// Rounds a virtual size up to whole 512-byte sectors, as qemu-img does.
pub fn round_size(size: u64) -> Result<u64, Qcow2Error> {
    size.checked_next_multiple_of(512)
        .ok_or(Qcow2Error::TooLarge(size))
}

/// L1 entries needed for `size` bytes: each maps one L2 table's worth.
fn l1_entries(size: u64, cluster_bits: u32) -> u64 {
    let per_entry = 1u64 << (2 * cluster_bits - 3);
    size.div_ceil(per_entry)
}

/// Writes an empty qcow2 v3 image of virtual size `size` (rounded up to a
/// multiple of 512) into `file`, replacing its content. Returns the size.
pub fn create(file: &mut File, size: u64) -> Result<u64, Qcow2Error> {
    create_overlay(file, size, None)
}

/// [`create`], with `backing` (path, format) written into the header: the
/// backing format as a header extension (so no reader ever probes it) and
/// the path after the extensions, both in cluster 0.
pub fn create_overlay(
    file: &mut File,
    size: u64,
    backing: Option<(&str, &str)>,
) -> Result<u64, Qcow2Error> {
    let size = round_size(size)?;
    // At least one entry, so that even a 0-byte image can grow in place.
    let l1 = l1_entries(size, CLUSTER_BITS).max(1);
    if l1 * 8 > MAX_L1_BYTES {
        return Err(Qcow2Error::TooLarge(size));
    }
    let l1_clusters = (l1 * 8).div_ceil(CLUSTER);
    let clusters = 3 + l1_clusters;

    let mut header = vec![0u8; HEADER_V3_LEN as usize];
    header[..4].copy_from_slice(&MAGIC);
    put32(&mut header, 4, 3); // version
    // 8: backing file offset, 16: backing file size: none
    put32(&mut header, 20, CLUSTER_BITS);
    put64(&mut header, 24, size);
    // 32: crypt method: none
    put32(&mut header, 36, l1 as u32);
    put64(&mut header, 40, 3 * CLUSTER); // L1 table offset
    put64(&mut header, 48, CLUSTER); // refcount table offset
    put32(&mut header, 56, 1); // refcount table clusters
    // 60: snapshots, 64: snapshots offset, 72..96: feature bits: none
    put32(&mut header, 96, REFCOUNT_ORDER);
    put32(&mut header, 100, HEADER_V3_LEN);
    if let Some((path, format)) = backing {
        if path.is_empty() || path.len() > 1023 || format.is_empty() || format.len() > 16 {
            return Err(Qcow2Error::Unsupported(format!(
                "backing store '{path}' ({format}) cannot be written into a qcow2 header"
            )));
        }
        // Backing format extension, padded to 8 bytes, then the end marker.
        header.extend_from_slice(&0xE279_2ACAu32.to_be_bytes());
        header.extend_from_slice(&(format.len() as u32).to_be_bytes());
        header.extend_from_slice(format.as_bytes());
        header.resize(header.len().next_multiple_of(8), 0);
        header.extend_from_slice(&[0; 8]);
        let at = header.len() as u64;
        header.extend_from_slice(path.as_bytes());
        put64(&mut header, 8, at);
        put32(&mut header, 16, path.len() as u32);
    }
    // The rest of cluster 0 reads as zeros: the header extensions' end marker.

    let mut refcounts = Vec::with_capacity(clusters as usize * 2);
    for _ in 0..clusters {
        refcounts.extend_from_slice(&1u16.to_be_bytes());
    }

    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&header)?;
    file.seek(SeekFrom::Start(CLUSTER))?;
    file.write_all(&(2 * CLUSTER).to_be_bytes())?;
    file.seek(SeekFrom::Start(2 * CLUSTER))?;
    file.write_all(&refcounts)?;
    // The L1 table is all zeros: unallocated.
    file.set_len(3 * CLUSTER + l1 * 8)?;
    Ok(size)
}

/// The header fields a resize depends on.
struct Header {
    cluster_bits: u32,
    size: u64,
    crypt: u32,
    l1_size: u32,
    l1_offset: u64,
    snapshots: u32,
    incompatible: u64,
    autoclear: u64,
}

fn read_header(file: &mut File) -> Result<Header, Qcow2Error> {
    file.seek(SeekFrom::Start(0))?;
    let mut raw = [0u8; HEADER_V3_LEN as usize];
    let n = read_full(file, &mut raw)?;
    if n < 72 || raw[..4] != MAGIC {
        return Err(Qcow2Error::Corrupt("header too short or bad magic".into()));
    }
    let version = be32(&raw, 4);
    if version != 2 && version != 3 {
        return Err(Qcow2Error::Unsupported(format!(
            "qcow version {version} images are not supported"
        )));
    }
    if version == 3 && n < HEADER_V3_LEN as usize {
        return Err(Qcow2Error::Corrupt("version 3 header too short".into()));
    }
    let v3 = |at| if version == 3 { be64(&raw, at) } else { 0 };
    let header = Header {
        cluster_bits: be32(&raw, 20),
        size: be64(&raw, 24),
        crypt: be32(&raw, 32),
        l1_size: be32(&raw, 36),
        l1_offset: be64(&raw, 40),
        snapshots: be32(&raw, 60),
        incompatible: v3(72),
        autoclear: v3(88),
    };
    if !(9..=21).contains(&header.cluster_bits) {
        return Err(Qcow2Error::Corrupt(format!(
            "cluster bits {} out of range",
            header.cluster_bits
        )));
    }
    Ok(header)
}

/// Grows the virtual size of the image in `file` to `new_size` (rounded up
/// to 512), in place: the header's size and, when needed, more L1 entries
/// within the clusters the L1 table already owns. Returns the new size.
///
/// Refused (`Unsupported`): shrinking; images with internal snapshots,
/// persistent bitmaps, encryption, an external data file, extended L2
/// entries, a dirty or corrupt flag; growth that needs the L1 table moved.
pub fn grow(file: &mut File, new_size: u64) -> Result<u64, Qcow2Error> {
    let h = read_header(file)?;
    let size = round_size(new_size)?;
    if size < h.size {
        return Err(Qcow2Error::Unsupported(
            "shrinking a qcow2 volume is not supported".into(),
        ));
    }
    let refuse = |why: &str| {
        Err(Qcow2Error::Unsupported(format!(
            "cannot resize this qcow2 image: {why}"
        )))
    };
    if h.incompatible & INCOMPAT_DIRTY != 0 {
        return refuse("it is marked dirty (in use, or not closed cleanly)");
    }
    if h.incompatible & !INCOMPAT_COMPRESSION_TYPE != 0 {
        return refuse(&format!("incompatible features 0x{:x}", h.incompatible));
    }
    if h.snapshots != 0 {
        return refuse("it has internal snapshots");
    }
    if h.autoclear & AUTOCLEAR_BITMAPS != 0 {
        return refuse("it has persistent bitmaps");
    }
    if h.crypt != 0 {
        return refuse("it is encrypted");
    }
    if size == h.size {
        return Ok(size);
    }
    let cluster = 1u64 << h.cluster_bits;
    let needed = l1_entries(size, h.cluster_bits);
    if needed * 8 > MAX_L1_BYTES {
        return Err(Qcow2Error::TooLarge(size));
    }
    let old_l1 = u64::from(h.l1_size);
    let l1 = old_l1.max(needed);
    if l1 > old_l1 {
        // The L1 table owns whole clusters; entries past l1_size in its last
        // cluster are free for it to grow into.
        let room = (old_l1 * 8).div_ceil(cluster) * cluster / 8;
        if h.l1_offset == 0 || h.l1_offset % cluster != 0 || l1 > room {
            let limit = room << (2 * h.cluster_bits - 3);
            return refuse(&format!(
                "growing it beyond {limit} bytes needs its L1 table moved (use qemu-img resize)"
            ));
        }
        fill_zeros(file, h.l1_offset + old_l1 * 8, h.l1_offset + l1 * 8)?;
    }
    // Size (24..32), crypt method (32..36), L1 size (36..40): one write.
    let mut fields = [0u8; 16];
    put64(&mut fields, 0, size);
    put32(&mut fields, 8, h.crypt);
    put32(&mut fields, 12, l1 as u32);
    file.seek(SeekFrom::Start(24))?;
    file.write_all(&fields)?;
    Ok(size)
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn be64(buf: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

fn put32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

fn put64(buf: &mut [u8], at: usize, value: u64) {
    buf[at..at + 8].copy_from_slice(&value.to_be_bytes());
}

// Native only: they need a temporary directory, which the WASI sandbox lacks.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_qemu_img() {
        // `qemu-img create -f qcow2 x 1G`: L1 of 2 entries at 0x30000, file 196624 bytes.
        let mut file = tempfile::tempfile().unwrap();
        assert_eq!(create(&mut file, 1 << 30).unwrap(), 1 << 30);
        assert_eq!(file.metadata().unwrap().len(), 3 * CLUSTER + 16);
        let h = read_header(&mut file).unwrap();
        assert_eq!((h.cluster_bits, h.l1_size, h.l1_offset), (16, 2, 0x30000));
        assert_eq!(
            probe(&mut file).unwrap(),
            Some(Probe {
                format: "qcow2",
                size: 1 << 30
            })
        );
    }

    #[test]
    fn sizes_round_up_to_sectors_and_have_limits() {
        let mut file = tempfile::tempfile().unwrap();
        assert_eq!(create(&mut file, 1000).unwrap(), 1024);
        assert_eq!(create(&mut file, 0).unwrap(), 0);
        assert_eq!(read_header(&mut file).unwrap().l1_size, 1);
        // 32 MiB of L1 entries of 512 MiB each: 2 PiB, qemu's limit too.
        assert!(matches!(
            create(&mut file, (1 << 51) + 1),
            Err(Qcow2Error::TooLarge(_))
        ));
        assert!(matches!(
            create(&mut file, u64::MAX),
            Err(Qcow2Error::TooLarge(_))
        ));
    }

    #[test]
    fn grows_within_the_l1_cluster_only() {
        let mut file = tempfile::tempfile().unwrap();
        create(&mut file, 1 << 30).unwrap();
        assert_eq!(grow(&mut file, 3 << 30).unwrap(), 3 << 30);
        let h = read_header(&mut file).unwrap();
        assert_eq!((h.size, h.l1_size), (3 << 30, 6));
        // One 64 KiB L1 cluster maps 8192 * 512 MiB = 4 TiB.
        assert_eq!(grow(&mut file, 4 << 40).unwrap(), 4 << 40);
        assert!(matches!(
            grow(&mut file, (4 << 40) + 512),
            Err(Qcow2Error::Unsupported(_))
        ));
        assert!(matches!(
            grow(&mut file, 1 << 30),
            Err(Qcow2Error::Unsupported(_))
        ));
    }

    #[test]
    fn raw_files_are_not_qcow() {
        let mut file = tempfile::tempfile().unwrap();
        assert_eq!(probe(&mut file).unwrap(), None);
        file.write_all(b"QFI\xfb but far too short").unwrap();
        assert_eq!(probe(&mut file).unwrap(), None);
        assert!(matches!(
            grow(&mut file, 1 << 20),
            Err(Qcow2Error::Corrupt(_))
        ));
    }
}
