//! Which parts of a disk the guest wrote since the last look: a storage
//! migration sends each disk once while the guest runs, then, round after
//! round, the chunks written meanwhile (as guest RAM's dirty log does for
//! pages). Off, it costs a guest write one relaxed load.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The unit of tracking and of a storage migration's records.
pub const CHUNK: u64 = 64 << 10;

/// A bitmap of written chunks, on while a migration copies the disk.
#[derive(Debug, Default)]
pub struct WriteLog {
    on: AtomicBool,
    /// The disk's chunk count, and one bit per chunk.
    map: RwLock<(u64, Vec<AtomicU64>)>,
}

impl WriteLog {
    /// Starts tracking a disk of `bytes`, nothing written yet.
    pub fn start(&self, bytes: u64) {
        let chunks = bytes.div_ceil(CHUNK);
        let words = chunks.div_ceil(64) as usize;
        let mut map = self.map.write().expect("write log");
        *map = (chunks, (0..words).map(|_| AtomicU64::new(0)).collect());
        self.on.store(true, Ordering::Release);
    }

    /// Stops tracking and frees the bitmap.
    pub fn stop(&self) {
        self.on.store(false, Ordering::Release);
        *self.map.write().expect("write log") = (0, Vec::new());
    }

    /// Records a completed write of `[offset, offset + len)`. Called after
    /// the data is in the image: a chunk read by the migration before the
    /// write landed is then always marked again after it.
    pub fn mark(&self, offset: u64, len: u64) {
        if len == 0 || !self.on.load(Ordering::Acquire) {
            return;
        }
        let map = self.map.read().expect("write log");
        let (chunks, bits) = &*map;
        let first = offset / CHUNK;
        let last = ((offset + len - 1) / CHUNK).min(chunks.saturating_sub(1));
        for chunk in first..=last {
            if chunk < *chunks {
                bits[(chunk / 64) as usize].fetch_or(1 << (chunk % 64), Ordering::AcqRel);
            }
        }
    }

    /// The chunks written since the last call (or [`WriteLog::start`]),
    /// in order; they are cleared.
    pub fn take(&self) -> Vec<u64> {
        let map = self.map.read().expect("write log");
        let mut chunks = Vec::new();
        for (i, word) in map.1.iter().enumerate() {
            let mut bits = word.swap(0, Ordering::AcqRel);
            while bits != 0 {
                let b = bits.trailing_zeros() as u64;
                chunks.push(i as u64 * 64 + b);
                bits &= bits - 1;
            }
        }
        chunks
    }

    /// How many chunks are marked now.
    pub fn pending(&self) -> u64 {
        let map = self.map.read().expect("write log");
        map.1
            .iter()
            .map(|w| u64::from(w.load(Ordering::Acquire).count_ones()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_mark_the_chunks_they_touch_and_only_while_on() {
        let log = WriteLog::default();
        log.mark(0, 512);
        assert!(log.take().is_empty(), "off: nothing recorded");
        log.start(10 * CHUNK + 1);
        log.mark(CHUNK - 1, 2);
        log.mark(10 * CHUNK, 1);
        log.mark(20 * CHUNK, 512);
        assert_eq!(log.pending(), 3, "beyond the end is ignored");
        assert_eq!(log.take(), vec![0, 1, 10]);
        assert!(log.take().is_empty(), "taken once");
        log.mark(65 * 512, 0);
        assert!(log.take().is_empty(), "an empty write marks nothing");
        log.stop();
        log.mark(0, 1);
        assert!(log.take().is_empty());
    }
}
