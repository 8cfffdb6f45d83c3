//! Spawning `wirt-vmm` with exactly the descriptors it may use.
//!
//! The host opens `/dev/kvm`, the disks, the taps, the kernel and the
//! console log; each is inherited by number (everything else the host has
//! open is close-on-exec, and the VMM closes whatever else it finds open
//! before it runs guest code). The VMM gets one end of a socketpair as its
//! control connection and, optionally, a path to listen on for re-attaching.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};

use crate::seccomp;

/// How to start a VMM.
#[derive(Debug)]
pub struct Launch {
    /// Path of the `wirt-vmm` binary.
    pub program: PathBuf,
    /// An open `/dev/kvm` (never a VM descriptor).
    pub kvm: File,
    /// Console log, opened for appending.
    pub console_log: Option<File>,
    /// Disks, taps, kernel, initrd...: inherited under the same numbers,
    /// which the boot request then names as `{"fd": n}`.
    pub fds: Vec<OwnedFd>,
    /// Unix socket path the VMM binds for later re-attaching.
    pub listen_path: Option<PathBuf>,
    /// seccomp mode (default: kill).
    pub seccomp: seccomp::Mode,
    /// uid and gid the VMM switches to when started as root.
    pub run_as: Option<(u32, u32)>,
    /// Domain name, for the process's own messages.
    pub name: Option<String>,
    /// Where the VMM's own diagnostics go (default: inherited stderr).
    pub stderr: Option<File>,
    /// The locked state file the VMM publishes its state in
    /// ([`crate::control::published`]); it holds the lock until it exits.
    pub state_file: Option<File>,
}

/// The uid and gid a VMM runs as when its host is root: the overflow id
/// ("nobody" on Debian, Fedora and most others), which owns no files. A VMM
/// holds only the descriptors it was handed, so it needs no identity of
/// its own; VMMs of one host share this one, and their seccomp filters
/// forbid signalling or tracing anything but themselves.
pub const UNPRIVILEGED: (u32, u32) = (65534, 65534);

/// What [`Launch::run_as`] should be for a host with this process's
/// credentials: [`UNPRIVILEGED`] for root, nothing otherwise (an ordinary
/// user's VMM keeps that user's id and drops its capabilities).
pub fn default_run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    (unsafe { libc::geteuid() } == 0).then_some(UNPRIVILEGED)
}

/// A started VMM.
#[derive(Debug)]
pub struct Launched {
    /// The process.
    pub child: Child,
    /// Our end of the control connection.
    pub control: UnixStream,
    /// The numbers under which `Launch::fds` are open in the VMM, in order.
    pub fds: Vec<RawFd>,
    /// The descriptors themselves (kept open until the caller drops them).
    pub owned: Vec<OwnedFd>,
}

impl Launch {
    /// A launch of `program` with `kvm` and nothing else.
    pub fn new(program: impl Into<PathBuf>, kvm: File) -> Self {
        Launch {
            program: program.into(),
            kvm,
            console_log: None,
            fds: Vec::new(),
            listen_path: None,
            seccomp: seccomp::Mode::default(),
            run_as: None,
            name: None,
            stderr: None,
            state_file: None,
        }
    }

    /// Spawns the VMM.
    pub fn spawn(self) -> std::io::Result<Launched> {
        let (ours, theirs) = UnixStream::pair()?;
        let mut inherit: Vec<RawFd> = vec![self.kvm.as_raw_fd(), theirs.as_raw_fd()];
        let mut cmd = Command::new(&self.program);
        cmd.arg("--kvm-fd")
            .arg(self.kvm.as_raw_fd().to_string())
            .arg("--control-fd")
            .arg(theirs.as_raw_fd().to_string());
        if let Some(log) = &self.console_log {
            inherit.push(log.as_raw_fd());
            cmd.arg("--console-log-fd").arg(log.as_raw_fd().to_string());
        }
        if let Some(state) = &self.state_file {
            inherit.push(state.as_raw_fd());
            cmd.arg("--state-fd").arg(state.as_raw_fd().to_string());
        }
        if let Some(p) = &self.listen_path {
            cmd.arg("--listen-path").arg(p);
        }
        let mode = match self.seccomp {
            seccomp::Mode::Errno => "errno",
            seccomp::Mode::Trap => "trap",
            seccomp::Mode::Kill => "kill",
            seccomp::Mode::Off => "off",
        };
        cmd.arg("--seccomp").arg(mode);
        if let Some(n) = &self.name {
            cmd.arg("--name").arg(n);
        }
        if let Some((uid, gid)) = self.run_as {
            cmd.arg("--run-as").arg(format!("{uid}:{gid}"));
        }
        // The VMM must not hold the caller's stdio open: a CLI whose output
        // is piped would otherwise never see end-of-file.
        cmd.stdin(std::process::Stdio::null());
        cmd.stdout(std::process::Stdio::null());
        if let Some(err) = self.stderr {
            cmd.stderr(err);
        }
        let numbers: Vec<RawFd> = self.fds.iter().map(|f| f.as_raw_fd()).collect();
        for n in &numbers {
            cmd.arg("--keep-fd").arg(n.to_string());
        }
        inherit.extend(&numbers);
        // SAFETY: the closure runs in the forked child before exec and only
        // calls fcntl, which is async-signal-safe; it touches no Rust state
        // but a Vec captured by value and already allocated.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &inherit {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        drop(theirs);
        Ok(Launched {
            child,
            control: ours,
            fds: numbers,
            owned: self.fds,
        })
    }
}
