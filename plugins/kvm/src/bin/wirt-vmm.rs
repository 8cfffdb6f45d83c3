//! `wirt-vmm`: one domain's VMM process. See PROTOCOL.md.
//!
//! ```text
//! wirt-vmm --kvm-fd N --control-fd N [--listen-fd N | --listen-path PATH]
//!          [--console-log-fd N] [--state-fd N] [--keep-fd N]... [--run-as UID:GID]
//!          [--seccomp kill|trap|errno|off] [--name NAME]
//! ```
//! Everything it may touch comes as an inherited descriptor (those named
//! here; any other is closed at once). Before the control loop starts, so
//! before any guest code, it leaves root for `--run-as`, empties its
//! capability sets and installs its seccomp filter.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ExitCode;
use std::sync::Arc;

use kvm_ioctls::Kvm;
use wirt_kvm::confine;
use wirt_kvm::control::published::Publisher;
use wirt_kvm::control::server;
use wirt_kvm::devices::EventSink;
use wirt_kvm::devices::console::Console;
use wirt_kvm::machine::{MachineContext, ThreadHooks};
use wirt_kvm::seccomp::{self, Mode, Profile};
use wirt_kvm::vcpu;
use wirt_kvm::vmm::{Vmm, error_chain};

#[derive(Default)]
struct Args {
    kvm_fd: Option<RawFd>,
    control_fd: Option<RawFd>,
    listen_fd: Option<RawFd>,
    listen_path: Option<String>,
    console_log_fd: Option<RawFd>,
    state_fd: Option<RawFd>,
    keep_fds: Vec<RawFd>,
    run_as: Option<(u32, u32)>,
    seccomp: Mode,
    name: Option<String>,
}

fn parse_ids(v: &str) -> Result<(u32, u32), String> {
    let bad = || format!("bad --run-as {v:?} (want UID:GID)");
    let (uid, gid) = v.split_once(':').ok_or_else(bad)?;
    Ok((
        uid.parse().map_err(|_| bad())?,
        gid.parse().map_err(|_| bad())?,
    ))
}

fn parse() -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let fd = |v: String| {
            v.parse::<RawFd>()
                .map_err(|_| format!("bad descriptor {v:?}"))
        };
        match flag.as_str() {
            "--kvm-fd" => a.kvm_fd = Some(fd(value()?)?),
            "--control-fd" => a.control_fd = Some(fd(value()?)?),
            "--listen-fd" => a.listen_fd = Some(fd(value()?)?),
            "--listen-path" => a.listen_path = Some(value()?),
            "--console-log-fd" => a.console_log_fd = Some(fd(value()?)?),
            "--state-fd" => a.state_fd = Some(fd(value()?)?),
            "--keep-fd" => a.keep_fds.push(fd(value()?)?),
            "--run-as" => a.run_as = Some(parse_ids(&value()?)?),
            "--seccomp" => a.seccomp = value()?.parse()?,
            "--name" => a.name = Some(value()?),
            "--help" | "-h" => {
                return Err("usage: wirt-vmm --kvm-fd N --control-fd N [--listen-fd N | --listen-path PATH] \
                            [--console-log-fd N] [--state-fd N] [--keep-fd N]... [--run-as UID:GID] \
                            [--seccomp kill|trap|errno|off] [--name NAME]"
                    .into());
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.control_fd.is_none() && a.listen_fd.is_none() && a.listen_path.is_none() {
        return Err("need --control-fd, --listen-fd or --listen-path".into());
    }
    Ok(a)
}

fn hook(profile: Profile, mode: Mode) -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(move || {
        if let Err(e) = seccomp::apply(profile, mode) {
            // Never run guest code unconfined.
            eprintln!("wirt-vmm: {}", error_chain(&e));
            std::process::abort();
        }
    })
}

fn run(a: Args) -> Result<(), String> {
    let name = a.name.clone().unwrap_or_else(|| "vm".into());
    // First, before anything here opens a descriptor of its own.
    let given: Vec<RawFd> = [
        a.kvm_fd,
        a.control_fd,
        a.listen_fd,
        a.console_log_fd,
        a.state_fd,
    ]
    .into_iter()
    .flatten()
    .chain(a.keep_fds.iter().copied())
    .collect();
    confine::close_inherited(&given).map_err(|e| error_chain(&e))?;
    let kvm = match a.kvm_fd {
        // SAFETY: the host handed us this descriptor for /dev/kvm; we own it now.
        Some(fd) => unsafe { Kvm::from_raw_fd(fd) },
        None => Kvm::new().map_err(|e| format!("cannot open /dev/kvm: {e}"))?,
    };
    // SAFETY (all three): inherited descriptors given to us on the command
    // line for exactly this use; nothing else in the process owns them.
    let control = a
        .control_fd
        .map(|fd| unsafe { UnixStream::from_raw_fd(fd) });
    let log = a.console_log_fd.map(|fd| unsafe { File::from_raw_fd(fd) });
    // SAFETY: as above: the host passed this descriptor for the state file
    // (locked for us) and nothing else owns it.
    let publisher = a
        .state_fd
        .map(|fd| Publisher::new(unsafe { File::from_raw_fd(fd) }));
    let listener = match (a.listen_fd, &a.listen_path) {
        (Some(fd), _) => Some(unsafe { UnixListener::from_raw_fd(fd) }),
        (None, Some(p)) => {
            // A stale socket from a previous VMM of this domain is ours to replace.
            let _ = std::fs::remove_file(p);
            Some(UnixListener::bind(p).map_err(|e| format!("cannot listen on {p}: {e}"))?)
        }
        (None, None) => None,
    };
    vcpu::init_kick_signal().map_err(|e| error_chain(&e))?;
    if a.seccomp == Mode::Trap {
        seccomp::install_sigsys_reporter().map_err(|e| e.to_string())?;
    }
    let events = EventSink::new().map_err(|e| e.to_string())?;
    // Still one thread: ids and capabilities are per thread and inherited.
    confine::drop_privileges(a.run_as).map_err(|e| error_chain(&e))?;
    seccomp::keep_allocator_from_opening_files();
    // From here on the process can only use what it holds.
    seccomp::apply(Profile::Process, a.seccomp).map_err(|e| error_chain(&e))?;

    let ctx = MachineContext {
        console: Console::new(log),
        events,
        hooks: ThreadHooks {
            vcpu: hook(Profile::Vcpu, a.seccomp),
            worker: hook(Profile::Worker, a.seccomp),
            net: hook(Profile::Net, a.seccomp),
        },
    };
    let mut vmm = Vmm::new(kvm, ctx, a.keep_fds.iter().copied());
    server::run(&mut vmm, control, listener, publisher)
        .map_err(|e| format!("{name}: control loop failed: {e}"))
}

/// `wirt-vmm --commit INTO FORMAT LAYER... [-- DIR...]`: the host's
/// offline merge of overlays into the image below them (or into a fresh
/// overlay over it), in a process of its own. imago can recurse without
/// bound on a corrupt image's refcounts (a stack overflow, which aborts the
/// process): it must not take the daemon with it.
fn commit(args: &[String]) -> ExitCode {
    use wirt_kvm::control::protocol::DiskFormat;
    use wirt_kvm::devices::virtio::block::overlay;
    let usage = || {
        eprintln!("wirt-vmm: usage: wirt-vmm --commit INTO raw|qcow2 LAYER... [-- DIR...]");
        ExitCode::from(2)
    };
    let [into, format, rest @ ..] = args else {
        return usage();
    };
    let (layers, dirs) = match rest.iter().position(|a| a == "--") {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    if layers.is_empty() {
        return usage();
    }
    let format = match format.as_str() {
        "raw" => DiskFormat::Raw,
        "qcow2" => DiskFormat::Qcow2,
        other => {
            eprintln!("wirt-vmm: format '{other}' is not supported, only raw and qcow2");
            return ExitCode::from(2);
        }
    };
    let path = |s: &String| std::path::PathBuf::from(s);
    let layers: Vec<_> = layers.iter().map(path).collect();
    let dirs: Vec<_> = dirs.iter().map(path).collect();
    match overlay::commit(&layers, std::path::Path::new(into), format, &dirs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().map(String::as_str) == Some("--commit") {
        return commit(&all[1..]);
    }
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wirt-vmm: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wirt-vmm: {e}");
            ExitCode::FAILURE
        }
    }
}
