//! Boot benchmark: the built-in test guest under wirt-vmm against the same
//! ELF under QEMU (`-M microvm -kernel`, PVH entry), alternating, in one run.
//! Run through `benches/compare-qemu-boot.sh`; it is not a test.
//!
//! Both sides get 64 MiB, 1 vCPU, no disk, and their serial console on a
//! pipe that this program reads. Per round it measures wall time from just
//! before the spawn (wirt: before opening /dev/kvm, and including the `boot`
//! request) to:
//! - `ready`: the line `guest: ready` read from the console pipe;
//! - `ack`: the line `guest: powering off`, the guest's answer to `q` typed
//!   on the console right after `ready` (wirt: a `console-input` request;
//!   QEMU: a byte on its stdin);
//! - `off`: the VM is gone (the guest powers off right after `ack`). QEMU:
//!   its process exits
//!   (isa-debug-exit). wirt: the `poweroff` event (the VMM process stays, as
//!   it does for the host);
//! - `exit`: the process is reaped. wirt: `quit` sent on the `poweroff` event.
//!
//! With `--kernel PATH` (repeatable) each given ELF is measured instead of
//! the built-in guest, all in the same alternating run (e.g. an old build
//! of the test guest against the current one); wirt boots it from a file
//! descriptor.
//!
//! Usage: compare_qemu_boot [--rounds N] [--vmm PATH] [--qemu PATH]
//!        [--memory-mib M] [--kernel PATH]... [-- extra QEMU arguments]

mod common;
use common::{median, ms};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wirt_kvm::control::client::Client;
use wirt_kvm::control::protocol::{BootRequest, KernelRef, Request};
use wirt_kvm::guest;
use wirt_kvm::launch::Launch;

const TIMEOUT: Duration = Duration::from_secs(60);

struct Args {
    rounds: usize,
    vmm: PathBuf,
    qemu: String,
    memory_mib: u64,
    kernels: Vec<PathBuf>,
    qemu_extra: Vec<String>,
}

/// What the guest prints on `q` before it powers off.
const POWERING_OFF: &str = "guest: powering off";

#[derive(Clone, Copy)]
struct Times {
    ready: Duration,
    /// `guest: powering off` read: how long `q` took to reach the guest.
    ack: Duration,
    off: Duration,
    exit: Duration,
    /// wirt only: vCPU thread CPU time when `guest: ready` was read (the
    /// guest's boot work, instruction-count sensitive on PVM).
    cpu: Duration,
}

fn parse_args() -> Result<Args, String> {
    let vmm = common::default_vmm()?;
    let mut a = Args {
        rounds: 10,
        vmm,
        qemu: "qemu-system-x86_64".into(),
        memory_mib: 64,
        kernels: Vec::new(),
        qemu_extra: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--rounds" => a.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--vmm" => a.vmm = value()?.into(),
            "--qemu" => a.qemu = value()?,
            "--memory-mib" => {
                a.memory_mib = value()?.parse().map_err(|e| format!("--memory-mib: {e}"))?
            }
            "--kernel" => a.kernels.push(value()?.into()),
            "--" => a.qemu_extra = it.by_ref().collect(),
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    if a.rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    Ok(a)
}

/// Reads a console stream to its end on a thread; reports the instant each
/// of `lines` arrived (in order; None at end-of-file before it) and then
/// returns the whole text.
fn watch_console(
    stream: impl Read + Send + 'static,
    lines: &'static [&'static str],
) -> (mpsc::Receiver<Option<Instant>>, thread::JoinHandle<String>) {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let mut r = BufReader::new(stream);
        let mut text = String::new();
        let mut next = 0;
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let s = String::from_utf8_lossy(&line);
            if next < lines.len() && s.trim_end() == lines[next] {
                next += 1;
                let _ = tx.send(Some(Instant::now()));
            }
            text.push_str(&s);
        }
        let _ = tx.send(None);
        text
    });
    (rx, handle)
}

/// The console lines timed on both sides.
const LINES: &[&str] = &[guest::READY, POWERING_OFF];

fn wait_line(rx: &mpsc::Receiver<Option<Instant>>, what: &str) -> Result<Instant, String> {
    match rx.recv_timeout(TIMEOUT) {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(format!("console closed before `{what}`")),
        Err(_) => Err(format!("timed out waiting for `{what}`")),
    }
}

fn wait_child(child: &mut Child) -> Result<std::process::ExitStatus, String> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("timed out waiting for the process to exit".into());
        }
        // Short enough not to matter against boot times of tens of ms.
        thread::sleep(Duration::from_micros(200));
    }
}

fn run_wirt(
    a: &Args,
    kernel: Option<&std::path::Path>,
    stderr_path: &std::path::Path,
) -> Result<Times, String> {
    // wirt-vmm's own diagnostics (e.g. CPUID it cannot mask) stay out of the table.
    let stderr = File::create(stderr_path).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let kvm = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map_err(|e| format!("/dev/kvm: {e}"))?;
    let (console_rx, console_tx) = std::io::pipe().map_err(|e| e.to_string())?;
    let mut launch = Launch::new(&a.vmm, kvm);
    launch.console_log = Some(File::from(std::os::fd::OwnedFd::from(console_tx)));
    launch.stderr = Some(stderr);
    if let Some(k) = kernel {
        let f = File::open(k).map_err(|e| format!("{}: {e}", k.display()))?;
        launch.fds.push(std::os::fd::OwnedFd::from(f));
    }
    let launched = launch
        .spawn()
        .map_err(|e| format!("cannot spawn {}: {e}", a.vmm.display()))?;
    let mut child = launched.child;
    let (lines_rx, console) = watch_console(console_rx, LINES);
    let mut client = Client::new(launched.control);
    let mut boot: BootRequest = serde_json::from_str("{}").map_err(|e| e.to_string())?;
    boot.memory_mib = a.memory_mib;
    boot.vcpus = 1;
    if let Some(&fd) = launched.fds.first() {
        boot.kernel = KernelRef::Fd(fd);
    }
    let _kernel_fd = launched.owned;
    let result = (|| {
        client
            .request(Request::Boot(boot))
            .map_err(|e| format!("boot: {e}"))?;
        let ready = wait_line(&lines_rx, guest::READY)?;
        let status = client
            .request(Request::Status)
            .map_err(|e| format!("status: {e}"))?;
        let cpu = Duration::from_nanos(status["cpu_time_ns"].as_u64().unwrap_or(0));
        client
            .request(Request::ConsoleInput { data: "q".into() })
            .map_err(|e| format!("console-input: {e}"))?;
        let ack = wait_line(&lines_rx, POWERING_OFF)?;
        let off = loop {
            let ev = client
                .next_event(TIMEOUT)
                .map_err(|e| format!("waiting for poweroff: {e}"))?;
            match ev.event.as_str() {
                "poweroff" => break Instant::now(),
                "crashed" => return Err(format!("guest crashed: {}", ev.detail)),
                _ => {}
            }
        };
        client
            .request(Request::Quit)
            .map_err(|e| format!("quit: {e}"))?;
        wait_child(&mut child)?;
        let exit = Instant::now();
        Ok(Times {
            ready: ready - t0,
            ack: ack - t0,
            off: off - t0,
            exit: exit - t0,
            cpu,
        })
    })();
    if result.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let text = console.join().unwrap_or_default();
    result.map_err(|e| {
        let err = std::fs::read_to_string(stderr_path).unwrap_or_default();
        format!("wirt: {e}; console:\n{text}stderr:\n{err}")
    })
}

fn run_qemu(a: &Args, kernel: &std::path::Path) -> Result<Times, String> {
    let t0 = Instant::now();
    let mut child = common::qemu_microvm(&a.qemu, kernel, a.memory_mib)
        .args(&a.qemu_extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", a.qemu))?;
    let (lines_rx, console) = watch_console(child.stdout.take().expect("piped"), LINES);
    let mut stderr = child.stderr.take().expect("piped");
    let errors = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut stdin = child.stdin.take().expect("piped");
    let result = (|| {
        let ready = wait_line(&lines_rx, guest::READY)?;
        stdin.write_all(b"q").map_err(|e| e.to_string())?;
        stdin.flush().map_err(|e| e.to_string())?;
        let ack = wait_line(&lines_rx, POWERING_OFF)?;
        let status = wait_child(&mut child)?;
        let off = Instant::now();
        if status.code() != Some(3) {
            return Err(format!(
                "exited with {status}, not the guest's power-off (3)"
            ));
        }
        Ok(Times {
            ready: ready - t0,
            ack: ack - t0,
            off: off - t0,
            exit: off - t0,
            cpu: Duration::ZERO,
        })
    })();
    if result.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    drop(stdin);
    let text = console.join().unwrap_or_default();
    let err = errors.join().unwrap_or_default();
    result.map_err(|e| format!("QEMU: {e}; console:\n{text}stderr:\n{err}"))
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("compare_qemu_boot: {e}");
            return ExitCode::from(2);
        }
    };
    if !common::kvm_available() {
        println!("skipping: /dev/kvm is not available on this machine");
        return ExitCode::SUCCESS;
    }
    if Command::new(&a.qemu)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        println!("skipping: {} is not installed", a.qemu);
        return ExitCode::SUCCESS;
    }
    if !a.vmm.is_file() {
        eprintln!(
            "compare_qemu_boot: no wirt-vmm at {} (use --vmm)",
            a.vmm.display()
        );
        return ExitCode::from(2);
    }
    // QEMU boots the very bytes wirt-vmm has built in.
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("compare_qemu_boot: temp dir: {e}");
            return ExitCode::FAILURE;
        }
    };
    // QEMU boots the very bytes wirt-vmm has built in, unless told otherwise.
    let builtin = dir.path().join("test-guest.elf");
    if let Err(e) = std::fs::write(&builtin, guest::TEST_GUEST) {
        eprintln!("compare_qemu_boot: {}: {e}", builtin.display());
        return ExitCode::FAILURE;
    }
    // (label, file for QEMU, file for wirt or None for the built-in one)
    let kernels: Vec<(String, PathBuf, Option<PathBuf>)> = if a.kernels.is_empty() {
        vec![(
            format!("built-in test guest ({} bytes)", guest::TEST_GUEST.len()),
            builtin,
            None,
        )]
    } else {
        a.kernels
            .iter()
            .map(|k| (k.display().to_string(), k.clone(), Some(k.clone())))
            .collect()
    };

    println!(
        "{} MiB, 1 vCPU, no disk; {} rounds, alternating",
        a.memory_mib, a.rounds
    );
    println!("  wirt: {}", a.vmm.display());
    println!(
        "  QEMU: {} -enable-kvm -M microvm,x-option-roms=off,rtc=off -kernel (PVH) {}",
        a.qemu,
        a.qemu_extra.join(" ")
    );
    let mut wirt: Vec<Vec<Times>> = vec![Vec::new(); kernels.len()];
    let mut qemu: Vec<Vec<Times>> = vec![Vec::new(); kernels.len()];
    for round in 0..a.rounds {
        // Alternate which side goes first, so neither always runs warm.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for (k, (label, qemu_kernel, wirt_kernel)) in kernels.iter().enumerate() {
            for side in order {
                let r = if side == 0 {
                    run_wirt(&a, wirt_kernel.as_deref(), &dir.path().join("wirt-vmm.err"))
                        .map(|t| wirt[k].push(t))
                } else {
                    run_qemu(&a, qemu_kernel).map(|t| qemu[k].push(t))
                };
                if let Err(e) = r {
                    eprintln!("round {round}, {label}: {e}");
                    return ExitCode::FAILURE;
                }
            }
            let (w, q) = (wirt[k][round], qemu[k][round]);
            println!(
                "round {round:2} [{k}]: wirt ready {:6.1} ack {:6.1} off {:6.1} exit {:6.1} ms | QEMU ready {:6.1} ack {:6.1} off/exit {:6.1} ms",
                ms(w.ready),
                ms(w.ack),
                ms(w.off),
                ms(w.exit),
                ms(q.ready),
                ms(q.ack),
                ms(q.off)
            );
        }
    }

    for (k, (label, _, _)) in kernels.iter().enumerate() {
        let col = |f: fn(&Times) -> Duration| {
            let (w, q) = (
                median(wirt[k].iter().map(f).collect()),
                median(qemu[k].iter().map(f).collect()),
            );
            println!(
                "{:>9.1} ms {:>9.1} ms {:>9.2}x",
                ms(w),
                ms(q),
                w.as_secs_f64() / q.as_secs_f64()
            );
        };
        println!();
        println!("[{k}] {label}");
        println!(
            "{:<36} {:>12} {:>12} {:>10}",
            "median wall time", "wirt", "QEMU", "wirt/QEMU"
        );
        print!("{:<36} ", "spawn -> `guest: ready`");
        col(|t| t.ready);
        print!("{:<36} ", "spawn -> `guest: powering off`");
        col(|t| t.ack);
        print!("{:<36} ", "spawn -> powered off");
        col(|t| t.off);
        print!("{:<36} ", "spawn -> process exit");
        col(|t| t.exit);
        println!(
            "{:<36} {:>9.2} ms",
            "wirt vCPU CPU time at `guest: ready`",
            ms(median(wirt[k].iter().map(|t| t.cpu).collect()))
        );
    }
    println!(
        "(`q` typed on the console at `guest: ready`; powered off: wirt = `poweroff` event, \
         VMM still running; QEMU = process exit via isa-debug-exit)"
    );
    ExitCode::SUCCESS
}
