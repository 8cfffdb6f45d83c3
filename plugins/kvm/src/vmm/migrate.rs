//! `migrate-send` and `migrate-receive`: the controller's side of a live
//! migration ([`crate::migrate`] moves the bytes).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Vmm, VmmError, error_chain};
use crate::control::protocol::{
    DiskFormat, IncomingStats, MigrateReply, MigrateSendRequest, RestoreRequest, StatusReply,
    reason, state, state_name,
};
use crate::migrate::{MigrateError, receive, send, stream};

/// How long the source waits, paused, for the destination to build the VM
/// and answer once the stream is out.
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// How long either side waits for the other to send or take the next
/// bytes: a peer that hangs (or a network that is gone) fails the migration
/// after this, and the source resumes.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the destination waits for the source's go-ahead after its
/// acknowledgement (the source answers at once, unless it gave up).
const GO_TIMEOUT: Duration = Duration::from_secs(60);

/// The control connection the request being handled came on (-1: none).
/// The control loop is single-threaded and sets it before each request.
static REQUESTER: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Records the connection of the request about to be handled.
pub(crate) fn set_requester(fd: std::os::fd::RawFd) {
    REQUESTER.store(fd, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the connection that asked for the current request has hung up:
/// a destination whose host died must not take the guest over, since no
/// one would then answer for it; the source keeps it instead.
fn requester_gone() -> bool {
    let fd = REQUESTER.load(std::sync::atomic::Ordering::Relaxed);
    if fd < 0 {
        return false;
    }
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one pollfd, valid for the call; a 0 timeout never blocks.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    // POLLNVAL: the control loop already closed that connection.
    n > 0 && p.revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

impl Vmm {
    fn reply(
        &self,
        sent: Option<crate::control::protocol::MigrationStats>,
        received: Option<IncomingStats>,
    ) -> Value {
        let status: StatusReply =
            serde_json::from_value(self.status()).expect("status() builds a StatusReply");
        serde_json::to_value(MigrateReply {
            status,
            sent,
            received,
        })
        .expect("a migration reply is plain data")
    }

    /// Migrates the VM out. On success it is stopped here (shutoff,
    /// migrated); on failure it goes on as before.
    pub(super) fn migrate_send(
        &mut self,
        m: MigrateSendRequest,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Value, VmmError> {
        if self.state != state::RUNNING && self.state != state::PAUSED {
            return Err(VmmError::InvalidState(state_name(self.state)));
        }
        if !self.mirrors.is_empty() {
            return Err(VmmError::InvalidRequest(
                "a block job is running: finish or cancel it before migrating".into(),
            ));
        }
        if m.bandwidth_mib_s == Some(0) {
            return Err(VmmError::InvalidRequest(
                "bandwidth_mib_s must not be 0".into(),
            ));
        }
        // The destination opens its images before the source stops writing:
        // a qcow2 image's metadata would be read stale there. Raw only until
        // the destination opens images at the switch-over; with the storage
        // copied, the destination's images are its own.
        if let Some(setup) = &self.setup
            && !m.copy_storage
            && setup
                .disks
                .iter()
                .any(|d| d.disk.format() != DiskFormat::Raw)
        {
            return Err(VmmError::InvalidRequest(
                "live migration of a guest with a qcow2 disk is not supported yet".into(),
            ));
        }
        let conn = stream::Conn::new(self.take_fd(m.to, passed)?, STALL_TIMEOUT)
            .map_err(MigrateError::Connection)?;
        let converge = m.converge.map(|r| self.take_fd(r, passed)).transpose()?;
        let progress = m.progress.map(|r| self.take_fd(r, passed)).transpose()?;
        let disks: Vec<_> = match (&self.setup, m.copy_storage) {
            (Some(setup), true) => setup.disks.iter().map(|d| d.disk.clone()).collect(),
            _ => Vec::new(),
        };
        if let Some(fd) = &progress {
            // A host that reads slowly must never hold the migration up.
            // SAFETY: F_GETFL/F_SETFL on a descriptor this request owns.
            unsafe {
                let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        let opts = send::Options {
            max_downtime: Duration::from_millis(m.max_downtime_ms),
            bandwidth: m.bandwidth_mib_s.map(|b| b.saturating_mul(1 << 20)),
            max_rounds: m.max_rounds.max(1),
            ack_timeout: ACK_TIMEOUT,
            converge: converge.as_ref().map(|fd| fd.as_fd()),
            progress: progress.as_ref().map(|fd| fd.as_fd()),
            disks: &disks,
        };
        let machine = self.machine()?;
        match send::send(&self.kvm, machine, conn, &opts) {
            Ok(stats) => {
                self.stop_machine();
                self.set(state::SHUTOFF, reason::SHUTOFF_MIGRATED);
                Ok(self.reply(Some(stats), None))
            }
            Err(e) => {
                // The guest never left: it goes on here as it was.
                if self.state == state::RUNNING {
                    machine.resume();
                }
                Err(e.into())
            }
        }
    }

    /// Takes over a VM migrating in. On failure no VM is left.
    pub(super) fn migrate_receive(
        &mut self,
        r: RestoreRequest,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Value, VmmError> {
        self.require_off()?;
        if !r.copy_storage && r.disks.iter().any(|d| d.format != DiskFormat::Raw) {
            return Err(VmmError::InvalidRequest(
                "live migration of a guest with a qcow2 disk is not supported yet".into(),
            ));
        }
        let started = Instant::now();
        let conn = stream::Conn::new(self.take_fd(r.from, passed)?, STALL_TIMEOUT)
            .map_err(MigrateError::Connection)?;
        let mut stats = IncomingStats::default();
        let built = self.claim_incoming(&r, passed).and_then(|inc| {
            let disks: Vec<_> = inc.disks.iter().map(|d| d.disk.clone()).collect();
            let copied = r.copy_storage.then_some(&disks[..]);
            let (saved, base) = receive::receive(&self.kvm, &conn, copied, &mut stats)?;
            let end = Instant::now();
            // Built parked: the guest runs here only once the source knows.
            let machine = self.rebuild(&r, inc, &saved, base, true)?;
            stats.restore_ms = end.elapsed().as_secs_f64() * 1000.0;
            Ok(machine)
        });
        let built = built.and_then(|m| {
            if requester_gone() {
                self.retired.push(m);
                return Err(VmmError::InvalidRequest(
                    "the host that asked for this migration went away".into(),
                ));
            }
            Ok(m)
        });
        let machine = match built {
            Ok(m) => m,
            Err(e) => {
                // Tell the source why, if it still listens; it resumes.
                let _ = stream::write_ack(&mut &conn, Err(&error_chain(&e)));
                self.setup = None;
                if requester_gone() {
                    // Nobody is left to answer to: go rather than linger.
                    self.quit = true;
                }
                return Err(e);
            }
        };
        // The guest runs here only after the source's go-ahead: without it
        // (the source gone, or given up waiting) the source keeps it.
        let go = stream::write_ack(&mut &conn, Ok(()))
            .map_err(MigrateError::Send)
            .and_then(|()| {
                conn.wait_readable(GO_TIMEOUT)
                    .map_err(MigrateError::Receive)?;
                stream::read_mark(&mut &conn, stream::TAG_GO)
            });
        if let Err(e) = go {
            self.setup = None;
            self.retired.push(machine);
            return Err(e.into());
        }
        if !r.paused {
            machine.resume();
        }
        self.machine = Some(machine);
        if r.paused {
            self.set(state::PAUSED, reason::PAUSED_USER);
        } else {
            self.set(state::RUNNING, reason::RUNNING_MIGRATED);
        }
        stats.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(self.reply(None, Some(stats)))
    }
}
