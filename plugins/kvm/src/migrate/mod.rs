//! Live migration between two wirt-vmm processes: pre-copy over a stream
//! socket the host connected and passed to both ([`send`] on the source,
//! [`receive`] on the destination, framing in [`stream`]).
//!
//! The source sends all RAM while the guest runs, then, round after round,
//! the pages written meanwhile (KVM's dirty log for the guest's writes, the
//! memory's bitmap for the VMM's own: virtio buffers and rings) until what is
//! left would go within the allowed downtime; then it pauses, sends the rest
//! with the machine state and waits for the destination to say its copy is
//! built. Only then does it stop; on any failure before, it resumes.

mod disks;
pub mod receive;
pub mod send;
pub mod stream;

/// Errors of a migration.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Writing to the migration connection failed (the peer went away?).
    #[error("cannot send to the migration peer")]
    Send(#[source] std::io::Error),
    /// Reading from the migration connection failed or it ended early.
    #[error("cannot read from the migration peer")]
    Receive(#[source] std::io::Error),
    /// The destination did not acknowledge the end of the stream.
    #[error("the destination did not acknowledge the migration")]
    NoAck(#[source] std::io::Error),
    /// The destination failed to take the guest over.
    #[error("the destination refused the migration: {0}")]
    Refused(String),
    /// The migration connection cannot be set up.
    #[error("cannot use the migration connection")]
    Connection(#[source] std::io::Error),
    /// The stream is not what this VMM writes.
    #[error("malformed migration stream: {0}")]
    Format(String),
    /// The machine state could not be encoded or decoded.
    #[error("invalid machine state in the migration stream")]
    Json(#[source] serde_json::Error),
    /// Dirty logging or guest memory.
    #[error(transparent)]
    Memory(#[from] crate::memory::MemoryError),
    /// Copying guest memory failed.
    #[error("cannot copy guest memory")]
    GuestMemory(#[source] vm_memory::GuestMemoryError),
    /// Capturing the machine's state failed.
    #[error("cannot capture the machine state")]
    Machine(#[source] Box<crate::machine::MachineError>),
    /// Reading or writing a disk of a storage migration failed.
    #[error("disk {index}: cannot copy its data")]
    Disk {
        /// The disk's index.
        index: usize,
        /// Why.
        #[source]
        source: crate::devices::virtio::block::disk::IoError,
    },
}

impl From<crate::machine::MachineError> for MigrateError {
    fn from(e: crate::machine::MachineError) -> Self {
        MigrateError::Machine(Box::new(e))
    }
}

/// Iterates over the runs of set bits of a dirty bitmap: `(first, count)` in
/// pages, at most `max` pages each.
pub fn runs(map: &[u64], pages: u64, max: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
    let bit = move |i: u64| map[(i / 64) as usize] & (1 << (i % 64)) != 0;
    let mut i = 0u64;
    std::iter::from_fn(move || {
        // Whole clear words at a time: most of a late round's map is empty.
        while i < pages {
            if i.is_multiple_of(64) && map[(i / 64) as usize] == 0 {
                i += 64;
            } else if !bit(i) {
                i += 1;
            } else {
                break;
            }
        }
        if i >= pages {
            return None;
        }
        let first = i;
        while i < pages && i - first < max && bit(i) {
            i += 1;
        }
        Some((first, i - first))
    })
}

/// Set bits in the first `pages` bits of `map`.
pub fn count(map: &[u64], pages: u64) -> u64 {
    runs(map, pages, u64::MAX).map(|(_, n)| n).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_split_at_gaps_words_and_the_maximum() {
        let mut map = vec![0u64; 3];
        // Pages 1-2, 63-66 (across a word), 130..=139 (split by max 4).
        for p in [1u64, 2, 63, 64, 65, 66] {
            map[(p / 64) as usize] |= 1 << (p % 64);
        }
        for p in 130..140u64 {
            map[(p / 64) as usize] |= 1 << (p % 64);
        }
        let got: Vec<_> = runs(&map, 192, 4).collect();
        assert_eq!(
            got,
            vec![(1, 2), (63, 4), (130, 4), (134, 4), (138, 2)],
            "runs"
        );
        assert_eq!(count(&map, 192), 16);
        // Bits past `pages` (a bitmap's rounding) are ignored.
        assert_eq!(count(&map, 135), 11);
        assert_eq!(runs(&[0, 0], 128, 8).count(), 0);
    }
}
