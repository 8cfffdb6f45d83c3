//! I/O counters of one disk: what libvirt's `virDomainBlockStatsFlags`
//! reports (`domblkstat`). They live with the [`Disk`](super::Disk), so they
//! carry over guest reboots (the machines of one VMM share it) and start
//! from zero in a new VMM, as QEMU's do.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::control::protocol::DiskStatus;

/// Which counters a request moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A read (`VIRTIO_BLK_T_IN`).
    Read,
    /// A write, discard or write-zeroes: what changes the disk.
    Write,
    /// A flush.
    Flush,
    /// Anything else (GET_ID, unknown types): only failures count.
    Other,
}

/// The counters, updated by whichever thread serves the queue.
#[derive(Debug, Default)]
pub struct BlockStats {
    rd_req: AtomicU64,
    rd_bytes: AtomicU64,
    rd_ns: AtomicU64,
    wr_req: AtomicU64,
    wr_bytes: AtomicU64,
    wr_ns: AtomicU64,
    flush_req: AtomicU64,
    flush_ns: AtomicU64,
    errors: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl BlockStats {
    /// Counts one completed request of `bytes` that took `took`. A failed
    /// request counts as an error only, as QEMU's `failed_*` do not move
    /// the operation counters.
    pub fn record(&self, op: Op, bytes: u64, took: Duration, ok: bool) {
        if !ok {
            add(&self.errors, 1);
            return;
        }
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        match op {
            Op::Read => {
                add(&self.rd_req, 1);
                add(&self.rd_bytes, bytes);
                add(&self.rd_ns, ns);
            }
            Op::Write => {
                add(&self.wr_req, 1);
                add(&self.wr_bytes, bytes);
                add(&self.wr_ns, ns);
            }
            Op::Flush => {
                add(&self.flush_req, 1);
                add(&self.flush_ns, ns);
            }
            Op::Other => {}
        }
    }

    /// Counts a descriptor chain too malformed to be a request.
    pub fn record_error(&self) {
        add(&self.errors, 1);
    }

    /// The counters as the `status` reply carries them.
    pub fn snapshot(&self) -> DiskStatus {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DiskStatus {
            rd_req: get(&self.rd_req),
            rd_bytes: get(&self.rd_bytes),
            rd_total_ns: get(&self.rd_ns),
            wr_req: get(&self.wr_req),
            wr_bytes: get(&self.wr_bytes),
            wr_total_ns: get(&self.wr_ns),
            flush_req: get(&self.flush_req),
            flush_total_ns: get(&self.flush_ns),
            errors: get(&self.errors),
        }
    }
}
