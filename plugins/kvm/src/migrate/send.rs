//! The source side: pre-copy rounds, then the paused last round, the state
//! and the wait for the destination's acknowledgement.

use std::io::Write;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use kvm_ioctls::Kvm;
use vm_memory::{Bytes, GuestAddress};

use super::stream::{
    Conn, Header, MAX_RUN, Record, TAG_END, TAG_GO, TAG_PAGES, TAG_READY, TAG_ROUND, TAG_STATE,
    TAG_ZERO, read_ack, read_mark, write_mark,
};
use super::{MigrateError, count, runs};
use crate::control::protocol::{MigrationProgress, MigrationStats};
use crate::machine::Machine;
use crate::memory::{self, GuestMemoryMmap, PAGE};

/// How to migrate.
#[derive(Clone, Copy, Debug)]
pub struct Options<'a> {
    /// Pause for the last round once what is left would go within this.
    pub max_downtime: Duration,
    /// Bytes per second at most; none: as fast as the connection goes.
    pub bandwidth: Option<u64>,
    /// Pause after this many rounds whatever is left.
    pub max_rounds: u32,
    /// How long to wait for the destination's acknowledgement.
    pub ack_timeout: Duration,
    /// Pause after the current round once this is readable (the host's
    /// "converge now": virsh's `--timeout-suspend`).
    pub converge: Option<BorrowedFd<'a>>,
    /// Where progress lines go (the host's `domjobinfo` during the job).
    pub progress: Option<BorrowedFd<'a>>,
    /// The disks whose contents go too (a storage migration); empty when
    /// the storage is shared.
    pub disks: &'a [std::sync::Arc<crate::devices::virtio::block::Disk>],
}

/// Writes progress lines: at each round, and within one at most every
/// [`REPORT_EVERY`].
struct Reporter<'a> {
    fd: Option<BorrowedFd<'a>>,
    last: Option<Instant>,
    /// Pages the current round goes through, and the pages sent (or
    /// skipped) before it began.
    round_pages: u64,
    round_base: u64,
}

const REPORT_EVERY: Duration = Duration::from_millis(100);

impl Reporter<'_> {
    fn round(&mut self, pages: u64, stats: &MigrationStats, sent: u64) {
        self.round_pages = pages;
        self.round_base = stats.pages_sent + stats.zero_pages;
        self.last = None;
        self.tick(stats, sent);
    }

    fn tick(&mut self, stats: &MigrationStats, sent: u64) {
        let Some(fd) = self.fd else { return };
        if self.last.is_some_and(|t| t.elapsed() < REPORT_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        let done = stats.pages_sent + stats.zero_pages - self.round_base;
        let line = MigrationProgress {
            memory_bytes: stats.memory_bytes,
            bytes_sent: sent,
            remaining_bytes: self.round_pages.saturating_sub(done) * PAGE,
            rounds: stats.rounds,
            dirty_rate_pages_s: stats.dirty_rate_pages_s,
            expected_downtime_ms: stats.expected_downtime_ms,
        };
        let Ok(mut bytes) = serde_json::to_vec(&line) else {
            return;
        };
        bytes.push(b'\n');
        // SAFETY: writes from a live buffer to a descriptor the request
        // owns; non-blocking, and a line under PIPE_BUF goes whole or not
        // at all (then it is dropped).
        let _ = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
    }
}

/// Whether `fd` is readable now (the host asked to converge).
fn readable(fd: BorrowedFd<'_>) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call; a 0 timeout
    // never blocks.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && pfd.revents & libc::POLLIN != 0
}

/// Written to the connection in batches this big: few system calls, and
/// the VMM's own memory stays flat whatever the guest's size.
const BATCH: usize = 1 << 20;

/// The connection, buffered, counted and throttled.
pub(super) struct Out {
    conn: Conn,
    buf: Vec<u8>,
    sent: u64,
    start: Instant,
    limit: Option<u64>,
}

impl Out {
    pub(super) fn put(&mut self, bytes: &[u8]) -> Result<(), MigrateError> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    pub(super) fn record(&mut self, tag: u32, count: u32, arg: u64) -> Result<(), MigrateError> {
        self.put(&Record { tag, count, arg }.encode())
    }

    fn flush(&mut self) -> Result<(), MigrateError> {
        (&self.conn)
            .write_all(&self.buf)
            .map_err(MigrateError::Send)?;
        self.sent += self.buf.len() as u64;
        self.buf.clear();
        if let Some(limit) = self.limit {
            let due = Duration::from_secs_f64(self.sent as f64 / limit as f64);
            if let Some(wait) = due.checked_sub(self.start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        Ok(())
    }
}

/// Sends the pages set in `maps` (one bitmap per region of `mem`). Zero
/// pages become ZERO records, or nothing with `skip_zero` (the first round:
/// the destination's RAM starts out zero).
fn send_pages(
    out: &mut Out,
    mem: &GuestMemoryMmap,
    maps: &[Vec<u64>],
    skip_zero: bool,
    stats: &mut MigrationStats,
    scratch: &mut [u8],
    report: &mut Reporter<'_>,
) -> Result<(), MigrateError> {
    for ((start, len), map) in memory::regions(mem).into_iter().zip(maps) {
        let base = start / PAGE;
        for (first, n) in runs(map, len / PAGE, u64::from(MAX_RUN)) {
            let addr = |i: u64| GuestAddress((base + first + i) * PAGE);
            // Zero pages are found in place; only pages with data are copied.
            let mut at = 0u64;
            while at < n {
                let zero = memory::guest_page_is_zero(mem, addr(at));
                let mut end = at + 1;
                while end < n && memory::guest_page_is_zero(mem, addr(end)) == zero {
                    end += 1;
                }
                let pages = (end - at) as u32;
                if zero {
                    stats.zero_pages += end - at;
                    if !skip_zero {
                        out.record(TAG_ZERO, pages, base + first + at)?;
                    }
                } else {
                    stats.pages_sent += end - at;
                    let buf = &mut scratch[..((end - at) * PAGE) as usize];
                    mem.read_slice(buf, addr(at))
                        .map_err(MigrateError::GuestMemory)?;
                    out.record(TAG_PAGES, pages, base + first + at)?;
                    out.put(buf)?;
                }
                at = end;
            }
            report.tick(stats, out.sent);
        }
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Migrates `machine` over `conn`. Turns dirty logging on, and off again on
/// failure. On success the vCPUs are parked and the destination runs the
/// guest: the caller stops the machine. On failure the vCPUs may be parked
/// and the caller resumes them if the guest was running.
pub fn send(
    kvm: &Kvm,
    machine: &Machine,
    conn: Conn,
    opts: &Options,
) -> Result<MigrationStats, MigrateError> {
    memory::set_dirty_logging(machine.vm(), machine.mem(), true)?;
    let result = run(kvm, machine, conn, opts);
    if result.is_err() {
        // Logging write-protects the guest's pages: a guest that stays
        // here should not pay for it.
        let _ = memory::set_dirty_logging(machine.vm(), machine.mem(), false);
    }
    result
}

fn run(
    kvm: &Kvm,
    machine: &Machine,
    conn: Conn,
    opts: &Options,
) -> Result<MigrationStats, MigrateError> {
    let started = Instant::now();
    let (vm, mem) = (machine.vm(), machine.mem());
    // What was written before logging began is in round 1 anyway.
    drop(take_dirty(machine)?);
    let mut out = Out {
        conn,
        buf: Vec::with_capacity(BATCH + 2 * PAGE as usize),
        sent: 0,
        start: started,
        limit: opts.bandwidth,
    };
    let mut scratch = vec![0u8; (u64::from(MAX_RUN) * PAGE) as usize];
    let mut report = Reporter {
        fd: opts.progress,
        last: None,
        round_pages: 0,
        round_base: 0,
    };
    let memory_bytes = memory::size(mem);
    let mut stats = MigrationStats {
        memory_bytes,
        ..Default::default()
    };
    out.put(&Header { memory_bytes }.encode())?;
    // The disks first, while the guest runs: what it writes meanwhile is
    // tracked and goes with the rounds below.
    let mut disks = (!opts.disks.is_empty()).then(|| super::disks::Sender::new(opts.disks));
    if let Some(d) = disks.as_mut() {
        d.announce(&mut out)?;
        stats.disk_bytes += d.send_all(&mut out)?;
    }

    // Round 1: everything.
    let all: Vec<Vec<u64>> = memory::regions(mem)
        .iter()
        .map(|(_, len)| vec![u64::MAX; (len / PAGE).div_ceil(64) as usize])
        .collect();
    stats.rounds = 1;
    out.record(TAG_ROUND, 1, memory_bytes / PAGE)?;
    let mut round_start = Instant::now();
    let mut round_from = out.sent + out.buf.len() as u64;
    report.round(memory_bytes / PAGE, &stats, out.sent);
    send_pages(
        &mut out,
        mem,
        &all,
        true,
        &mut stats,
        &mut scratch,
        &mut report,
    )?;
    out.flush()?;

    // Later rounds: what was written meanwhile, until it fits the downtime.
    let left = loop {
        let elapsed = round_start.elapsed().max(Duration::from_micros(100));
        let dirty = take_dirty(machine)?;
        let pages: u64 = dirty
            .iter()
            .zip(memory::regions(mem))
            .map(|(m, (_, len))| count(m, len / PAGE))
            .sum();
        stats.dirty_pages.push(pages);
        stats.rate_bytes_s = ((out.sent - round_from) as f64 / elapsed.as_secs_f64()) as u64;
        stats.dirty_rate_pages_s = (pages as f64 / elapsed.as_secs_f64()) as u64;
        // What the paused round would carry: dirty pages and disk chunks.
        let left_bytes = pages * PAGE + disks.as_ref().map_or(0, |d| d.pending_bytes());
        let expected = if stats.rate_bytes_s == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(left_bytes as f64 / stats.rate_bytes_s as f64)
        };
        stats.expected_downtime_ms = ms(expected);
        if expected <= opts.max_downtime
            || stats.rounds >= opts.max_rounds
            || opts.converge.is_some_and(readable)
        {
            break dirty;
        }
        stats.rounds += 1;
        out.record(TAG_ROUND, stats.rounds, pages)?;
        round_start = Instant::now();
        round_from = out.sent + out.buf.len() as u64;
        report.round(pages, &stats, out.sent);
        if let Some(d) = disks.as_mut() {
            let (bytes, chunks) = d.send_written(&mut out)?;
            stats.disk_bytes += bytes;
            stats.disk_chunks_resent += chunks;
        }
        send_pages(
            &mut out,
            mem,
            &dirty,
            false,
            &mut stats,
            &mut scratch,
            &mut report,
        )?;
        out.flush()?;
    };

    // Not before the destination's VM exists: creating it is no downtime.
    out.conn
        .wait_readable(opts.ack_timeout)
        .map_err(MigrateError::NoAck)?;
    read_mark(&mut &out.conn, TAG_READY)?;

    // The last round, paused; the workers are held until the destination
    // has answered, so no device touches RAM or queues after the capture.
    machine.pause();
    let paused_at = Instant::now();
    let frozen = machine.freeze();
    let mut last = memory::take_dirty(vm, mem)?;
    for (m, l) in last.iter_mut().zip(&left) {
        for (w, v) in m.iter_mut().zip(l) {
            *w |= v;
        }
    }
    let pages: u64 = last
        .iter()
        .zip(memory::regions(mem))
        .map(|(m, (_, len))| count(m, len / PAGE))
        .sum();
    stats.remaining_bytes = pages * PAGE;
    report.round(pages, &stats, out.sent);
    // The workers are held: no guest write is in flight or can follow.
    if let Some(d) = disks.as_mut() {
        stats.remaining_bytes += d.pending_bytes();
        let (bytes, chunks) = d.send_written(&mut out)?;
        stats.disk_bytes += bytes;
        stats.disk_chunks_resent += chunks;
    }
    send_pages(
        &mut out,
        mem,
        &last,
        false,
        &mut stats,
        &mut scratch,
        &mut report,
    )?;
    let state = machine.capture(kvm, &frozen)?;
    let json = serde_json::to_vec(&state).map_err(MigrateError::Json)?;
    out.record(TAG_STATE, 0, json.len() as u64)?;
    out.put(&json)?;
    out.record(TAG_END, 0, 0)?;
    out.flush()?;
    out.conn
        .wait_readable(opts.ack_timeout)
        .map_err(MigrateError::NoAck)?;
    read_ack(&mut &out.conn)?;
    // From here on the guest is the destination's, once this is out.
    write_mark(&mut &out.conn, TAG_GO).map_err(MigrateError::Send)?;
    stats.downtime_ms = ms(paused_at.elapsed());
    drop(frozen);
    stats.bytes_sent = out.sent;
    stats.total_ms = ms(started.elapsed());
    Ok(stats)
}

/// Dirty pages so far, collected with the transports held (see
/// [`memory::take_dirty`]).
fn take_dirty(machine: &Machine) -> Result<Vec<Vec<u64>>, MigrateError> {
    let _frozen = machine.freeze();
    Ok(memory::take_dirty(machine.vm(), machine.mem())?)
}
