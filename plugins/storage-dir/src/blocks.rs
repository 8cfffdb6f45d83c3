//! Bounded-chunk I/O over volume files: zero filling, and the scan behind the
//! sparse-aware copy and wipe. Memory use is one or two `CHUNK` buffers,
//! whatever the volume's size.
//!
//! WASI p2 has neither `SEEK_DATA`/`SEEK_HOLE` nor block counts, so holes
//! cannot be found without reading: a scan reads every byte (holes read as
//! zeros, cheaply, in the kernel) and writes only the `BLOCK`s that are not
//! all zero. A hole therefore never becomes data; a block of written zeros
//! is treated like a hole (not copied, not rewritten).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Which side of a scan failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("read: {0}")]
    Read(#[source] io::Error),
    #[error("write: {0}")]
    Write(#[source] io::Error),
}

impl ScanError {
    /// The I/O error, whichever side it came from.
    pub fn into_io(self) -> io::Error {
        match self {
            ScanError::Read(e) | ScanError::Write(e) => e,
        }
    }
}

/// Bytes read or written per system call.
pub const CHUNK: usize = 1 << 20;
/// Granularity of the zero detection: the usual file system block.
pub const BLOCK: usize = 4096;

/// Whether `buf` holds only zero bytes.
pub fn is_zero(buf: &[u8]) -> bool {
    let (words, rest) = buf.as_chunks::<16>();
    words
        .iter()
        .fold(0u128, |acc, w| acc | u128::from_ne_bytes(*w))
        == 0
        && rest.iter().all(|&b| b == 0)
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
pub fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes zeros over `[start, end)` (allocating that range), in chunks.
pub fn fill_zeros(file: &mut File, start: u64, end: u64) -> io::Result<()> {
    let zeros = vec![0u8; CHUNK];
    file.seek(SeekFrom::Start(start))?;
    let mut pos = start;
    while pos < end {
        let n = (end - pos).min(CHUNK as u64) as usize;
        file.write_all(&zeros[..n])?;
        pos += n as u64;
    }
    Ok(())
}

/// Reads `[0, len)` of `file` (less if it ends first) and calls `f(file,
/// offset, data)` for every run of consecutive blocks holding a non-zero
/// byte. With `ranges` (where the file holds data, from the host) only
/// those are read: holes are skipped without reading them. `f` may move the
/// file's position; its errors are `Write` errors. Returns the bytes scanned.
pub fn scan_data(
    file: &mut File,
    len: u64,
    ranges: Option<&[(u64, u64)]>,
    mut f: impl FnMut(&mut File, u64, &[u8]) -> io::Result<()>,
) -> Result<u64, ScanError> {
    let whole = [(0, len)];
    let windows = ranges.unwrap_or(&whole);
    let mut buf = vec![0u8; CHUNK];
    let mut scanned = 0u64;
    for &(start, length) in windows {
        let end = start.saturating_add(length).min(len);
        // Whole blocks, so a run never splits a block between two windows.
        let mut pos = start / BLOCK as u64 * BLOCK as u64;
        while pos < end {
            file.seek(SeekFrom::Start(pos)).map_err(ScanError::Read)?;
            let want = (end - pos).min(CHUNK as u64) as usize;
            let n = read_full(file, &mut buf[..want]).map_err(ScanError::Read)?;
            if n == 0 {
                break;
            }
            let data = &buf[..n];
            let mut run: Option<usize> = None;
            for at in (0..n).step_by(BLOCK) {
                let block = &data[at..(at + BLOCK).min(n)];
                match (is_zero(block), run) {
                    (false, None) => run = Some(at),
                    (true, Some(from)) => {
                        f(file, pos + from as u64, &data[from..at]).map_err(ScanError::Write)?;
                        run = None;
                    }
                    _ => {}
                }
            }
            if let Some(from) = run {
                f(file, pos + from as u64, &data[from..n]).map_err(ScanError::Write)?;
            }
            pos += n as u64;
            scanned += n as u64;
        }
    }
    Ok(scanned)
}

/// Copies `[0, len)` of `src` into `dst` at the same offsets, writing only
/// blocks that hold data (only inside `ranges` when given). `dst` keeps
/// whatever length it had: the caller sets it. Returns the bytes written.
pub fn copy_sparse(
    src: &mut File,
    dst: &mut File,
    len: u64,
    ranges: Option<&[(u64, u64)]>,
) -> Result<u64, ScanError> {
    let mut written = 0u64;
    scan_data(src, len, ranges, |_, offset, data| {
        dst.seek(SeekFrom::Start(offset))?;
        dst.write_all(data)?;
        written += data.len() as u64;
        Ok(())
    })?;
    Ok(written)
}

/// Overwrites with zeros every block of `[0, len)` that holds data (only
/// inside `ranges` when given); holes and zero blocks are left as they are.
/// Returns the bytes overwritten.
pub fn wipe_data(
    file: &mut File,
    len: u64,
    ranges: Option<&[(u64, u64)]>,
) -> Result<u64, ScanError> {
    let zeros = vec![0u8; CHUNK];
    let mut wiped = 0u64;
    scan_data(file, len, ranges, |file, offset, data| {
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(&zeros[..data.len()])?;
        wiped += data.len() as u64;
        Ok(())
    })?;
    Ok(wiped)
}

// Native only: they need a temporary directory, which the WASI sandbox lacks.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[]));
        assert!(is_zero(&[0; 4096]));
        assert!(is_zero(&[0; 17]));
        let mut buf = [0u8; 4099];
        for at in [0, 15, 16, 4095, 4098] {
            buf[at] = 1;
            assert!(!is_zero(&buf), "{at}");
            buf[at] = 0;
        }
    }

    #[test]
    fn scan_reports_runs_of_data_blocks() {
        let mut file = tempfile::tempfile().unwrap();
        let mut content = vec![0u8; CHUNK + 3 * BLOCK + 10];
        content[BLOCK + 1] = 7; // block 1
        content[2 * BLOCK] = 7; // block 2: same run
        content[CHUNK - 1] = 9; // last block of the first chunk
        content[CHUNK] = 9; // first block of the second: a new run (chunk boundary)
        content[CHUNK + 3 * BLOCK + 9] = 5; // the short last block
        file.write_all(&content).unwrap();
        let mut runs = Vec::new();
        let scanned = scan_data(&mut file, u64::MAX, None, |_, off, data| {
            runs.push((off, data.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(scanned, content.len() as u64);
        let c = CHUNK as u64;
        assert_eq!(
            runs,
            vec![
                (BLOCK as u64, 2 * BLOCK),
                (c - BLOCK as u64, BLOCK),
                (c, BLOCK),
                (c + 3 * BLOCK as u64, 10)
            ]
        );
    }
}
