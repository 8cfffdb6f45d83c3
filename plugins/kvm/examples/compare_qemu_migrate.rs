//! Live migration benchmark: the built-in test guest migrated between two
//! wirt-vmm processes against the same ELF migrated between two QEMUs
//! (`-M microvm -kernel`, `-incoming tcp:` and QMP `migrate`), alternating,
//! in one run. Run through `benches/compare-qemu-migrate.sh`; it is not a
//! test.
//!
//! For each guest size (`--memory-mib`, repeatable) and dirtying rate
//! (`--rate`, pages per ms over 4 MiB, repeatable; 0 is an idle guest) it
//! boots the guest on both sides, starts the guest's `!dirty 4 RATE`, and
//! migrates it over loopback TCP with each side's default downtime limit
//! (300 ms). Reported per case: downtime as each side measures it (wirt:
//! the source's pause to the destination's go-ahead; QEMU: `downtime` of
//! `query-migrate`) and total time (the migrate request to completion,
//! measured here the same way for both), medians over `--rounds`, and the
//! ratio wirt/QEMU.
//!
//! Usage: compare_qemu_migrate [--rounds N] [--vmm PATH] [--qemu PATH]
//!        [--memory-mib M]... [--rate R]...

mod common;
use common::{median, ms};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wirt_kvm::control::client::Client;
use wirt_kvm::control::protocol::{
    BootRequest, FdRef, MigrateReply, MigrateSendRequest, Request, RestoreRequest,
};
use wirt_kvm::guest;
use wirt_kvm::launch::Launch;

const TIMEOUT: Duration = Duration::from_secs(120);

struct Args {
    rounds: usize,
    vmm: PathBuf,
    qemu: String,
    sizes: Vec<u64>,
    rates: Vec<u64>,
}

fn parse_args() -> Result<Args, String> {
    let vmm = common::default_vmm()?;
    let mut a = Args {
        rounds: 3,
        vmm,
        qemu: "qemu-system-x86_64".into(),
        sizes: Vec::new(),
        rates: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{arg}: {e}"));
        match arg.as_str() {
            "--rounds" => a.rounds = number(value()?)? as usize,
            "--vmm" => a.vmm = value()?.into(),
            "--qemu" => a.qemu = value()?,
            "--memory-mib" => a.sizes.push(number(value()?)?),
            "--rate" => a.rates.push(number(value()?)?),
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    if a.sizes.is_empty() {
        a.sizes = vec![64, 512];
    }
    if a.rates.is_empty() {
        a.rates = vec![0, 10, 50];
    }
    if a.rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    Ok(a)
}

/// One migration's figures.
#[derive(Clone, Copy)]
struct Figures {
    downtime: Duration,
    total: Duration,
}

/// Reads a console to its end on a thread, sending each line.
fn lines_of(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, prefix: &str) -> Result<(), String> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.starts_with(prefix) => return Ok(()),
            Ok(_) => {}
            Err(_) => return Err(format!("no `{prefix}` on the console")),
        }
    }
}

/// A loopback TCP connection: (one end, the other).
fn tcp_pair() -> Result<(TcpStream, TcpStream), String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let a = TcpStream::connect(l.local_addr().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let (b, _) = l.accept().map_err(|e| e.to_string())?;
    Ok((a, b))
}

/// A VMM with its console lines.
fn spawn_vmm(vmm: &Path, stderr: &Path) -> Result<(Child, Client, mpsc::Receiver<String>), String> {
    let kvm = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map_err(|e| format!("/dev/kvm: {e}"))?;
    let (console_rx, console_tx) = std::io::pipe().map_err(|e| e.to_string())?;
    let mut launch = Launch::new(vmm, kvm);
    launch.console_log = Some(File::from(OwnedFd::from(console_tx)));
    launch.stderr = Some(File::create(stderr).map_err(|e| e.to_string())?);
    let launched = launch
        .spawn()
        .map_err(|e| format!("cannot spawn {}: {e}", vmm.display()))?;
    Ok((
        launched.child,
        Client::new(launched.control),
        lines_of(console_rx),
    ))
}

fn run_wirt(a: &Args, memory_mib: u64, rate: u64, dir: &Path) -> Result<Figures, String> {
    let (mut src_child, mut src, console) = spawn_vmm(&a.vmm, &dir.join("src.err"))?;
    let (mut dst_child, mut dst, _dst_console) = spawn_vmm(&a.vmm, &dir.join("dst.err"))?;
    let result = (|| -> Result<Figures, String> {
        let mut boot: BootRequest = serde_json::from_str("{}").map_err(|e| e.to_string())?;
        boot.memory_mib = memory_mib;
        src.request(Request::Boot(boot))
            .map_err(|e| format!("boot: {e}"))?;
        wait_for(&console, guest::READY)?;
        if rate > 0 {
            let line = format!("!dirty 4 {rate}\n");
            src.request(Request::ConsoleInput { data: line })
                .map_err(|e| format!("console-input: {e}"))?;
            wait_for(&console, "dirty: on")?;
        }
        let (out, inn) = tcp_pair()?;
        let receive = Request::MigrateReceive(RestoreRequest {
            from: FdRef::Passed(0),
            disks: Vec::new(),
            nics: Vec::new(),
            kernel: None,
            initrd: None,
            paused: false,
            copy_storage: false,
            policies: Default::default(),
        });
        let send = Request::MigrateSend(MigrateSendRequest {
            to: FdRef::Passed(0),
            max_downtime_ms: 300,
            bandwidth_mib_s: None,
            max_rounds: 30,
            converge: None,
            progress: None,
            copy_storage: false,
        });
        let r = dst
            .send_with_fds(receive, &[inn.as_raw_fd()])
            .map_err(|e| format!("migrate-receive: {e}"))?;
        let t0 = Instant::now();
        let s = src
            .send_with_fds(send, &[out.as_raw_fd()])
            .map_err(|e| format!("migrate-send: {e}"))?;
        drop((out, inn));
        let sent: MigrateReply = src
            .wait_response(s, TIMEOUT)
            .map_err(|e| format!("migrate-send: {e}"))
            .and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string()))?;
        let received: MigrateReply = dst
            .wait_response(r, TIMEOUT)
            .map_err(|e| format!("migrate-receive: {e}"))
            .and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string()))?;
        let total = t0.elapsed();
        let stats = sent.sent.ok_or("no figures from the source")?;
        if std::env::var_os("DETAIL").is_some() {
            let inc = received.received.unwrap_or_default();
            eprintln!(
                "wirt {memory_mib} MiB rate {rate}: source total {:.1} ms, rounds {}, pages {} sent {} zero, downtime {:.1} ms; destination restore {:.1} ms total {:.1} ms",
                stats.total_ms,
                stats.rounds,
                stats.pages_sent,
                stats.zero_pages,
                stats.downtime_ms,
                inc.restore_ms,
                inc.total_ms
            );
        }
        Ok(Figures {
            downtime: Duration::from_secs_f64(stats.downtime_ms / 1000.0),
            total,
        })
    })();
    for (child, client) in [(&mut src_child, &mut src), (&mut dst_child, &mut dst)] {
        let _ = client.request(Request::Quit);
        let _ = child.kill();
        let _ = child.wait();
    }
    result.map_err(|e| format!("wirt: {e}"))
}

/// A QMP connection.
struct Qmp(BufReader<UnixStream>);

impl Qmp {
    fn connect(path: &Path) -> Result<Qmp, String> {
        let deadline = Instant::now() + TIMEOUT;
        let s = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(format!("QMP {}: {e}", path.display())),
            }
        };
        let mut q = Qmp(BufReader::new(s));
        q.reply()?; // the greeting
        q.execute("qmp_capabilities", serde_json::json!({}))?;
        Ok(q)
    }

    /// The next line that is not an event.
    fn reply(&mut self) -> Result<serde_json::Value, String> {
        loop {
            let mut line = String::new();
            if self.0.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("QMP closed".into());
            }
            let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
            if v.get("event").is_none() {
                return Ok(v);
            }
        }
    }

    fn execute(&mut self, cmd: &str, args: serde_json::Value) -> Result<serde_json::Value, String> {
        let msg = serde_json::json!({"execute": cmd, "arguments": args});
        writeln!(self.0.get_mut(), "{msg}").map_err(|e| e.to_string())?;
        let r = self.reply()?;
        match r.get("return") {
            Some(v) => Ok(v.clone()),
            None => Err(format!("QMP {cmd}: {r}")),
        }
    }
}

fn qemu(
    a: &Args,
    kernel: &Path,
    memory_mib: u64,
    qmp: &Path,
    incoming: Option<u16>,
) -> Result<Child, String> {
    let mut cmd = common::qemu_microvm(&a.qemu, kernel, memory_mib);
    cmd.arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qmp.display()));
    if let Some(port) = incoming {
        cmd.args(["-incoming", &format!("tcp:127.0.0.1:{port}")]);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", a.qemu))
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn run_qemu(
    a: &Args,
    kernel: &Path,
    memory_mib: u64,
    rate: u64,
    dir: &Path,
) -> Result<Figures, String> {
    let port = free_port()?;
    let (src_qmp, dst_qmp) = (dir.join("src.qmp"), dir.join("dst.qmp"));
    let _ = std::fs::remove_file(&src_qmp);
    let _ = std::fs::remove_file(&dst_qmp);
    let mut dst = qemu(a, kernel, memory_mib, &dst_qmp, Some(port))?;
    let mut src = qemu(a, kernel, memory_mib, &src_qmp, None)?;
    let result = (|| -> Result<Figures, String> {
        let console = lines_of(src.stdout.take().expect("piped"));
        let mut stdin = src.stdin.take().expect("piped");
        wait_for(&console, guest::READY)?;
        if rate > 0 {
            writeln!(stdin, "!dirty 4 {rate}").map_err(|e| e.to_string())?;
            wait_for(&console, "dirty: on")?;
        }
        let _dst = Qmp::connect(&dst_qmp)?;
        let mut q = Qmp::connect(&src_qmp)?;
        let t0 = Instant::now();
        q.execute(
            "migrate",
            serde_json::json!({"uri": format!("tcp:127.0.0.1:{port}")}),
        )?;
        loop {
            let s = q.execute("query-migrate", serde_json::json!({}))?;
            match s["status"].as_str() {
                Some("completed") => {
                    let total = t0.elapsed();
                    let downtime = s["downtime"].as_u64().unwrap_or(0);
                    return Ok(Figures {
                        downtime: Duration::from_millis(downtime),
                        total,
                    });
                }
                Some("failed") | Some("cancelled") => return Err(format!("migration {s}")),
                _ => thread::sleep(Duration::from_micros(500)),
            }
            if t0.elapsed() > TIMEOUT {
                return Err("the migration did not complete".into());
            }
        }
    })();
    for c in [&mut src, &mut dst] {
        let _ = c.kill();
        let _ = c.wait();
    }
    result.map_err(|e| format!("QEMU: {e}"))
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("compare_qemu_migrate: {e}");
            return ExitCode::from(2);
        }
    };
    if !common::kvm_available() {
        println!("skipping: /dev/kvm is not available on this machine");
        return ExitCode::SUCCESS;
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("compare_qemu_migrate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let kernel = dir.path().join("test-guest.elf");
    if let Err(e) = std::fs::write(&kernel, guest::TEST_GUEST) {
        eprintln!("compare_qemu_migrate: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "{:>6} {:>5} | {:>10} {:>10} {:>6} | {:>10} {:>10} {:>6}",
        "MiB", "rate", "wirt down", "QEMU down", "ratio", "wirt total", "QEMU total", "ratio"
    );
    for &size in &a.sizes {
        for &rate in &a.rates {
            let (mut w, mut q) = (Vec::new(), Vec::new());
            for _ in 0..a.rounds {
                let wirt = run_wirt(&a, size, rate, dir.path());
                let qemu = run_qemu(&a, &kernel, size, rate, dir.path());
                match (wirt, qemu) {
                    (Ok(x), Ok(y)) => {
                        w.push(x);
                        q.push(y);
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        eprintln!("compare_qemu_migrate: {size} MiB, rate {rate}: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            let wd = median(w.iter().map(|f| f.downtime).collect());
            let qd = median(q.iter().map(|f| f.downtime).collect());
            let wt = median(w.iter().map(|f| f.total).collect());
            let qt = median(q.iter().map(|f| f.total).collect());
            let ratio = |x: Duration, y: Duration| {
                if y.is_zero() {
                    "-".to_string()
                } else {
                    format!("{:.2}", x.as_secs_f64() / y.as_secs_f64())
                }
            };
            println!(
                "{size:>6} {rate:>5} | {:>8.1}ms {:>8.1}ms {:>6} | {:>8.1}ms {:>8.1}ms {:>6}",
                ms(wd),
                ms(qd),
                ratio(wd, qd),
                ms(wt),
                ms(qt),
                ratio(wt, qt)
            );
        }
    }
    println!(
        "rate: pages per ms the guest dirties over 4 MiB (0: idle); medians of {} rounds",
        a.rounds
    );
    ExitCode::SUCCESS
}
