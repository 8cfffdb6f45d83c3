//! The VMM's seccomp allowlists (with no-new-privs, via seccompiler).
//!
//! The process filter goes on before any guest code runs and is inherited by
//! every thread; vCPU threads and the virtio workers then stack a tighter one.
//! Nothing on any list opens a path, creates a socket or executes a
//! program: the VMM works only with the descriptors it was handed. `ioctl`
//! is limited to KVM's ioctl type (0xAE), the few the standard library
//! issues on sockets, and three tap ioctls by exact number: `TUNGETIFF`
//! (the control thread checks a tap it is given) and `TUNSETVNETHDRSZ` /
//! `TUNSETOFFLOAD` (a network card's worker applies what the guest
//! negotiated). Filters stack, so the process filter must allow what the
//! network workers do; the vCPU and disk worker filters refuse all three.
//!
//! System calls that name another process or thread are limited to this
//! one (`tgkill`, `prlimit64`), and `clone` to new
//! threads of it. `clone3` passes its flags in memory a filter cannot read,
//! so a second filter answers it ENOSYS and the C library falls back to
//! `clone` (as Firecracker does). Refusals kill the process by default:
//! a VMM that makes a call it never makes is no longer ours.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// Building the BPF program failed.
    #[error("cannot build the seccomp filter")]
    Build(#[source] seccompiler::BackendError),
    /// Installing it failed.
    #[error("cannot install the seccomp filter")]
    Apply(#[source] seccompiler::Error),
}

/// Which thread a filter is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// The whole process (control thread, machine construction).
    Process,
    /// vCPU threads: KVM_RUN and device emulation.
    Vcpu,
    /// The disks' virtio worker: ioeventfds, disk I/O.
    Worker,
    /// A network card's worker: ioeventfds, tap reads and writes, the two
    /// tap ioctls that apply negotiated features, epoll interest changes.
    Net,
}

/// What a refused system call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Fails with EPERM (debugging: the VMM reports the error and lives).
    Errno,
    /// Raises SIGSYS; [`install_sigsys_reporter`] prints the call and exits.
    Trap,
    /// Kills the process with SIGSYS (the default).
    #[default]
    Kill,
    /// No filter (debugging only).
    Off,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "errno" | "on" => Ok(Mode::Errno),
            "trap" => Ok(Mode::Trap),
            "kill" => Ok(Mode::Kill),
            "off" => Ok(Mode::Off),
            _ => Err(format!(
                "unknown seccomp mode {s:?} (errno, trap, kill, off)"
            )),
        }
    }
}

const KVMIO: u64 = 0xae;

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).expect("valid condition")
}

fn rule(conds: Vec<SeccompCondition>) -> SeccompRule {
    SeccompRule::new(conds).expect("non-empty rule")
}

fn kvm_ioctls_only() -> Vec<SeccompRule> {
    // The ioctl "type" is bits 8..16 of the request number.
    vec![rule(vec![cond(
        1,
        SeccompCmpOp::MaskedEq(0xff00),
        KVMIO << 8,
    )])]
}

/// Tap ioctls a network worker issues on a tap it was given.
const TAP_CONFIG_IOCTLS: [libc::Ioctl; 2] = [libc::TUNSETVNETHDRSZ, libc::TUNSETOFFLOAD];

fn exact_ioctls(reqs: &[libc::Ioctl]) -> Vec<SeccompRule> {
    reqs.iter()
        .map(|req| rule(vec![cond(1, SeccompCmpOp::Eq, *req)]))
        .collect()
}

fn no_exec(prot_arg: u8) -> Vec<SeccompRule> {
    vec![rule(vec![cond(
        prot_arg,
        SeccompCmpOp::MaskedEq(libc::PROT_EXEC as u64),
        0,
    )])]
}

/// A rule matching when argument `arg` is this process's id.
fn this_process(arg: u8, pid: u32) -> SeccompRule {
    rule(vec![cond(arg, SeccompCmpOp::Eq, pid.into())])
}

fn rules(profile: Profile, pid: u32) -> BTreeMap<i64, Vec<SeccompRule>> {
    let mut r: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    // Every thread: memory allocation, locks, signals, time, exit.
    for nr in [
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_readv,
        libc::SYS_writev,
        libc::SYS_close,
        libc::SYS_futex,
        libc::SYS_rt_sigreturn,
        libc::SYS_rt_sigprocmask,
        libc::SYS_sigaltstack,
        libc::SYS_munmap,
        libc::SYS_madvise,
        libc::SYS_mremap,
        libc::SYS_brk,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_clock_gettime,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_sched_yield,
        libc::SYS_getpid,
        libc::SYS_gettid,
        libc::SYS_restart_syscall,
        libc::SYS_getrandom,
        // The panic handler asks for it when printing a location.
        libc::SYS_getcwd,
    ] {
        r.insert(nr, vec![]);
    }
    // Signals only to this process's threads (kicks, abort).
    r.insert(libc::SYS_tgkill, vec![this_process(0, pid)]);
    // Debug builds of std check that a descriptor is open before closing it.
    r.insert(
        libc::SYS_fcntl,
        vec![rule(vec![cond(1, SeccompCmpOp::Eq, libc::F_GETFD as u64)])],
    );
    r.insert(libc::SYS_mmap, no_exec(2));
    r.insert(libc::SYS_mprotect, no_exec(2));
    match profile {
        Profile::Vcpu => {
            r.insert(libc::SYS_ioctl, kvm_ioctls_only());
            // Console output to attached clients (std sends with MSG_NOSIGNAL).
            r.insert(libc::SYS_sendto, vec![]);
        }
        Profile::Worker => {
            for nr in [
                libc::SYS_epoll_wait,
                libc::SYS_epoll_pwait,
                libc::SYS_pread64,
                libc::SYS_pwrite64,
                libc::SYS_preadv,
                libc::SYS_pwritev,
                libc::SYS_fdatasync,
                libc::SYS_fsync,
                // Discard and write-zeroes: punching holes or zeroing
                // ranges of the image (raw directly, qcow2 through imago).
                libc::SYS_fallocate,
                // imago grows a qcow2 image's file to the end of a cluster
                // it allocates there (a guest's first write to a fresh
                // volume; without it the VMM was killed).
                libc::SYS_ftruncate,
                // A disk plugged into or out of a running guest joins or
                // leaves the worker's epoll set.
                libc::SYS_epoll_ctl,
            ] {
                r.insert(nr, vec![]);
            }
        }
        Profile::Net => {
            for nr in [
                libc::SYS_epoll_wait,
                libc::SYS_epoll_pwait,
                libc::SYS_epoll_ctl,
                // A passt stream whose peer is slow to read: the frame
                // being written waits for room (StreamBackend).
                libc::SYS_poll,
                libc::SYS_ppoll,
            ] {
                r.insert(nr, vec![]);
            }
            r.insert(libc::SYS_ioctl, exact_ioctls(&TAP_CONFIG_IOCTLS));
        }
        Profile::Process => {
            for nr in [
                libc::SYS_epoll_wait,
                libc::SYS_epoll_pwait,
                libc::SYS_epoll_create1,
                libc::SYS_epoll_ctl,
                libc::SYS_pread64,
                libc::SYS_pwrite64,
                libc::SYS_preadv,
                libc::SYS_pwritev,
                libc::SYS_fdatasync,
                libc::SYS_fsync,
                // The disk workers' filter stacks on this one.
                libc::SYS_fallocate,
                libc::SYS_ftruncate,
                // imago reads the file system's block size when it opens a
                // writable qcow2 image (the alignment of zeroing and holes).
                libc::SYS_fstatfs,
                // Also how a live migration waits on its connection
                // (migrate::stream::Conn), made non-blocking with fcntl below.
                libc::SYS_poll,
                libc::SYS_ppoll,
                libc::SYS_eventfd2,
                libc::SYS_accept4,
                libc::SYS_recvmsg,
                libc::SYS_sendmsg,
                libc::SYS_recvfrom,
                libc::SYS_sendto,
                libc::SYS_shutdown,
                libc::SYS_getsockopt,
                libc::SYS_lseek,
                libc::SYS_fstat,
                libc::SYS_newfstatat,
                libc::SYS_statx,
                libc::SYS_fcntl,
                libc::SYS_dup,
                // Refused with ENOSYS by the second filter; see the top.
                libc::SYS_clone3,
                libc::SYS_set_robust_list,
                libc::SYS_rseq,
                libc::SYS_seccomp,
                // Thread start-up in the C library may (re)install handlers.
                libc::SYS_rt_sigaction,
            ] {
                r.insert(nr, vec![]);
            }
            // Threads of this process, never a new process.
            r.insert(
                libc::SYS_clone,
                vec![rule(vec![cond(
                    0,
                    SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
                    libc::CLONE_THREAD as u64,
                )])],
            );
            // Thread stack sizing asks for this process's limits (pid 0).
            r.insert(
                libc::SYS_prlimit64,
                vec![
                    rule(vec![cond(0, SeccompCmpOp::Eq, 0)]),
                    this_process(0, pid),
                ],
            );
            // Any thread id: the C library reads a new thread's own
            // affinity by its tid. Reading is all it can do.
            r.insert(libc::SYS_sched_getaffinity, vec![]);
            // Thread names, and no-new-privs before a thread's own filter.
            r.insert(
                libc::SYS_prctl,
                vec![
                    rule(vec![cond(0, SeccompCmpOp::Eq, libc::PR_SET_NAME as u64)]),
                    rule(vec![cond(
                        0,
                        SeccompCmpOp::Eq,
                        libc::PR_SET_NO_NEW_PRIVS as u64,
                    )]),
                ],
            );
            let mut ioctl = kvm_ioctls_only();
            ioctl.extend(exact_ioctls(&[
                libc::FIONBIO,
                libc::FIOCLEX,
                libc::TCGETS,
                libc::TUNGETIFF,
            ]));
            ioctl.extend(exact_ioctls(&TAP_CONFIG_IOCTLS));
            r.insert(libc::SYS_ioctl, ioctl);
        }
    }
    r
}

/// The BPF program for `profile`, refusing with `mode`, for the process
/// whose id is `pid` (the filter only lets it signal its own threads).
pub fn program(profile: Profile, mode: Mode, pid: u32) -> Result<BpfProgram, SeccompError> {
    let mismatch = match mode {
        Mode::Errno | Mode::Off => SeccompAction::Errno(libc::EPERM as u32),
        Mode::Trap => SeccompAction::Trap,
        Mode::Kill => SeccompAction::KillProcess,
    };
    let filter = SeccompFilter::new(
        rules(profile, pid),
        mismatch,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(SeccompError::Build)?;
    filter.try_into().map_err(SeccompError::Build)
}

/// The filter stacked on [`Profile::Process`]: `clone3` fails with ENOSYS.
/// Stacked filters take the strictest answer, so this wins over the main
/// filter's allow and loses to nothing else.
pub fn clone3_fallback() -> Result<BpfProgram, SeccompError> {
    let filter = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, vec![])]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        TargetArch::x86_64,
    )
    .map_err(SeccompError::Build)?;
    filter.try_into().map_err(SeccompError::Build)
}

/// glibc's malloc opens `/proc/sys/vm/overcommit_memory` the first time it
/// would shrink a thread arena's heap: a path the filter refuses, so in
/// kill mode an unlucky `free` (a disk moving to a new image drops its
/// caches) killed the VMM. Heaps shrink only past `M_TRIM_THRESHOLD`; with
/// a threshold no heap reaches, malloc never asks. Large buffers are
/// mmapped and still go back to the system when freed.
pub fn keep_allocator_from_opening_files() {
    // SAFETY: mallopt only sets a tunable of the C allocator; it is called
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}

/// Installs the filter for `profile` on the calling thread (and, for
/// [`Profile::Process`], on every thread it creates afterwards).
pub fn apply(profile: Profile, mode: Mode) -> Result<(), SeccompError> {
    if mode == Mode::Off {
        return Ok(());
    }
    let prog = program(profile, mode, std::process::id())?;
    if profile == Profile::Process {
        seccompiler::apply_filter(&clone3_fallback()?).map_err(SeccompError::Apply)?;
    }
    seccompiler::apply_filter(&prog).map_err(SeccompError::Apply)
}

extern "C" fn sigsys_handler(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: for SIGSYS the kernel fills siginfo's _sigsys member; its
    // syscall number sits 24 bytes in (after signo, errno, code, call_addr).
    let nr = unsafe { *(info as *const u8).add(24).cast::<libc::c_int>() };
    let mut buf = *b"wirt-vmm: seccomp refused system call          \n";
    let mut n = nr.unsigned_abs();
    let mut i = buf.len() - 2;
    loop {
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        i -= 1;
        if n == 0 {
            break;
        }
    }
    // SAFETY: write and _exit are async-signal-safe and allowed by every filter.
    unsafe {
        libc::write(2, buf.as_ptr().cast(), buf.len());
        libc::_exit(159);
    }
}

/// In [`Mode::Trap`], report the refused system call on stderr and exit 159.
pub fn install_sigsys_reporter() -> Result<(), vmm_sys_util::errno::Error> {
    vmm_sys_util::signal::register_signal_handler(libc::SIGSYS, sigsys_handler)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_build() {
        for p in [
            Profile::Process,
            Profile::Vcpu,
            Profile::Worker,
            Profile::Net,
        ] {
            assert!(!program(p, Mode::Errno, 1).unwrap().is_empty());
        }
        assert!(!rules(Profile::Process, 1).contains_key(&libc::SYS_openat));
        assert!(!clone3_fallback().unwrap().is_empty());
        // Discard and write-zeroes run on the disk worker, under both filters.
        for p in [Profile::Process, Profile::Worker] {
            assert!(rules(p, 1).contains_key(&libc::SYS_fallocate));
            assert!(rules(p, 1).contains_key(&libc::SYS_ftruncate));
        }
        assert_eq!("trap".parse::<Mode>().unwrap(), Mode::Trap);
    }
}
