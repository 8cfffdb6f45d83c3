//! The VMM's box: seccomp refusals, the descriptors it keeps, its
//! privileges.

use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use wirt_kvm::control::protocol::Request;
use wirt_kvm::guest::READY;
use wirt_kvm::seccomp::{self, Mode, Profile};

use crate::common::{TIMEOUT, Vmm, require_kvm};

#[test]
fn opening_a_file_is_refused_in_control_and_vcpu_threads() {
    require_kvm!();
    let mut vmm = Vmm::spawn_with(&[], Mode::Errno, None);
    vmm.boot(|_| {});
    vmm.wait_console(READY);
    let r = vmm.req(Request::SandboxCheck);
    for thread in ["control_thread", "vcpu_thread"] {
        assert_eq!(r[thread]["refused"], true, "{r}");
        assert_eq!(r[thread]["errno"], libc::EPERM, "{r}");
    }
    // The guest keeps running afterwards.
    vmm.input("p");
    vmm.wait_console("guest: pong 0000000000000001");
    vmm.quit();
}

#[test]
fn without_seccomp_the_same_check_succeeds() {
    require_kvm!();
    let mut vmm = Vmm::spawn_with(&[], Mode::Off, None);
    let r = vmm.req(Request::SandboxCheck);
    assert_eq!(r["control_thread"]["refused"], false, "{r}");
    vmm.quit();
}

#[test]
fn by_default_a_forbidden_call_kills_the_vmm_with_sigsys() {
    require_kvm!();
    let mut vmm = Vmm::spawn(&[]);
    vmm.boot(|_| {});
    vmm.wait_console(READY);
    assert!(
        vmm.client.request(Request::SandboxCheck).is_err(),
        "the VMM answered after opening a file"
    );
    let deadline = std::time::Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = vmm.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the VMM lives on");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert_eq!(status.signal(), Some(libc::SIGSYS), "{status:?}");
}

fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

#[test]
fn the_vmm_keeps_no_stray_descriptor_and_no_privilege() {
    require_kvm!();
    // A descriptor a careless host leaked (not close-on-exec).
    let dir = tempfile::tempdir().unwrap();
    let stray_path = dir.path().join("host-secret");
    std::fs::write(&stray_path, "not for guests").unwrap();
    let stray = std::fs::File::open(&stray_path).unwrap();
    // SAFETY: fcntl on a descriptor this test owns.
    assert!(unsafe { libc::fcntl(stray.as_raw_fd(), libc::F_SETFD, 0) } == 0);
    let mut vmm = Vmm::spawn(&[]);
    drop(stray);
    vmm.boot(|_| {});
    vmm.wait_console(READY);
    let pid = vmm.child.id();
    let held: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .collect();
    assert!(
        !held.iter().any(|p| p == &stray_path),
        "the VMM holds the host's stray descriptor: {held:?}"
    );
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    assert_eq!(status_field(pid, "Seccomp"), "2");
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(status_field(pid, set), "0000000000000000", "{set}");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(status_field(pid, "CapBnd"), "0000000000000000");
        let (uid, gid) = wirt_kvm::launch::UNPRIVILEGED;
        assert!(status_field(pid, "Uid").starts_with(&format!("{uid}\t{uid}\t{uid}")));
        assert!(status_field(pid, "Gid").starts_with(&format!("{gid}\t{gid}\t{gid}")));
        assert_eq!(status_field(pid, "Groups"), "");
    }
    // Confined, it still runs the guest.
    vmm.input("p");
    vmm.wait_console("guest: pong 0000000000000001");
    vmm.quit();
}

/// Runs in a child process (see [`probe`]): installs the VMM's process
/// filter in kill mode on this thread, then makes the call named by
/// `WIRT_SECCOMP_PROBE` and exits with its errno (0: it succeeded).
#[test]
fn seccomp_probe_child() {
    let Ok(call) = std::env::var("WIRT_SECCOMP_PROBE") else {
        return;
    };
    seccomp::apply(Profile::Process, Mode::Kill).unwrap();
    let pid = std::process::id() as libc::c_long;
    let mut limit = [0u64; 2];
    let limit_ptr = limit.as_mut_ptr();
    // SAFETY: raw system calls with valid (or deliberately null, with zero
    // size) pointers; signal 0 only checks permission.
    let r = unsafe {
        match call.as_str() {
            "thread" => std::thread::spawn(|| 7_i64).join().map_or(-1, |v| v - 7),
            "tgkill-self" => libc::syscall(libc::SYS_tgkill, pid, pid, 0),
            "tgkill-other" => libc::syscall(libc::SYS_tgkill, 1, 1, 0),
            "prlimit-self" => {
                libc::syscall(libc::SYS_prlimit64, 0, libc::RLIMIT_STACK, 0, limit_ptr)
            }
            "prlimit-other" => {
                libc::syscall(libc::SYS_prlimit64, 1, libc::RLIMIT_STACK, 0, limit_ptr)
            }
            "clone3" => libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0),
            "fork" => libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0),
            "kill" => libc::syscall(libc::SYS_kill, 1, 0),
            other => panic!("unknown probe {other}"),
        }
    };
    let errno = if r < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap()
    } else {
        0
    };
    std::process::exit(errno);
}

/// How the child running `call` under the filter ended: `Ok(errno)` if it
/// exited, `Err(signal)` if it was killed.
fn probe(call: &str) -> Result<i32, i32> {
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sandbox::seccomp_probe_child",
            "--test-threads=1",
        ])
        .env("WIRT_SECCOMP_PROBE", call)
        .output()
        .unwrap()
        .status;
    match (status.code(), status.signal()) {
        (Some(code), _) => Ok(code),
        (None, Some(sig)) => Err(sig),
        _ => panic!("{call}: {status:?}"),
    }
}

#[test]
fn thread_directed_calls_reach_only_the_vmm_itself() {
    // Allowed: what std and the VMM need on themselves.
    assert_eq!(probe("thread"), Ok(0), "threads start (clone3 falls back)");
    assert_eq!(probe("tgkill-self"), Ok(0));
    assert_eq!(probe("prlimit-self"), Ok(0));
    // clone3's flags are out of a filter's reach: ENOSYS, so libc uses clone.
    assert_eq!(probe("clone3"), Ok(libc::ENOSYS));
    // Forbidden: anything that names another process, or makes one.
    for call in ["tgkill-other", "prlimit-other", "fork", "kill"] {
        assert_eq!(probe(call), Err(libc::SIGSYS), "{call}");
    }
}
