//! dnsmasq for a plugin's networks: the config it asks for is checked
//! option by option (nothing that runs a program, reads or writes a path
//! outside the plugin's grants, or serves another interface), rewritten with
//! host paths into the host's own run dir, and the process is supervised:
//! restarted if it dies, adopted (from its pid file) by a later host process.

use std::collections::HashMap;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};

use super::super::Preopen;
use super::{Error, Result, run};

/// Options without a value a network's dnsmasq may have.
const FLAGS: &[&str] = &[
    "strict-order",
    "no-resolv",
    "no-hosts",
    "bind-dynamic",
    "bind-interfaces",
    "dhcp-no-override",
    "dhcp-authoritative",
    "dhcp-rapid-commit",
    "expand-hosts",
    "enable-ra",
    "no-negcache",
    "log-dhcp",
];

/// Options whose value is data, never a path or a program.
const VALUES: &[&str] = &[
    "dhcp-range",
    "dhcp-host",
    "dhcp-option",
    "dhcp-option-force",
    "dhcp-lease-max",
    "domain",
    "local",
    "host-record",
    "address",
    "server",
    "listen-address",
    "port",
    "cache-size",
];

/// Options whose value is a file inside the plugin's grants.
const PATHS: &[&str] = &["dhcp-leasefile", "dhcp-hostsfile", "addn-hosts"];

/// Maps a plugin path (a file directly in one of its grants) to the host's.
pub fn map_path(preopens: &[Preopen], guest: &str) -> Result<PathBuf> {
    let host = super::super::extents::resolve(preopens, guest).ok_or_else(|| {
        Error::Invalid(format!(
            "'{guest}' is not a file directly inside one of the plugin's granted directories"
        ))
    })?;
    // A symlink planted by the plugin would make dnsmasq, started as root,
    // read or truncate any file: refused. The plugin runs only during its
    // calls, and this call blocks it, so the check holds until dnsmasq opens.
    if fs::symlink_metadata(&host).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Invalid(format!("'{guest}' is a symbolic link")));
    }
    Ok(host)
}

/// Checks the plugin's config for bridge `bridge` and returns it rewritten
/// with host paths.
pub fn check_config(text: &str, bridge: &str, preopens: &[Preopen]) -> Result<String> {
    let mut out = String::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        let refuse =
            |why: &str| Error::Invalid(format!("dnsmasq config line {}: '{line}': {why}", n + 1));
        if value.is_some_and(|v| v.contains('\0')) {
            return Err(refuse("contains a NUL byte"));
        }
        match (key, value) {
            (k, None) if FLAGS.contains(&k) => out.push_str(k),
            ("interface", Some(v)) if v == bridge => out.push_str(line),
            ("interface", Some(_)) => {
                return Err(refuse(&format!(
                    "a network's dnsmasq serves only '{bridge}'"
                )));
            }
            ("except-interface", Some("lo")) => out.push_str(line),
            (k, Some(_)) if VALUES.contains(&k) => out.push_str(line),
            (k, Some(v)) if PATHS.contains(&k) => {
                let host = map_path(preopens, v)?;
                out.push_str(&format!("{k}={}", host.display()));
            }
            _ => return Err(refuse("not an option a network's dnsmasq may have")),
        }
        out.push('\n');
    }
    Ok(out)
}

/// One supervised dnsmasq.
#[derive(Debug)]
struct Proc {
    pid: AtomicI32,
    stopping: AtomicBool,
    /// Written to wake the watcher when stopping.
    wake: OwnedFd,
}

/// The dnsmasq processes of one plugin, by bridge.
#[derive(Debug)]
pub struct Supervisor {
    run_dir: PathBuf,
    procs: Mutex<HashMap<String, Arc<Proc>>>,
}

impl Supervisor {
    /// The one supervisor of `run_dir` in this process: two connections to
    /// one host share it, so one dnsmasq never gets two watchers.
    pub fn for_dir(run_dir: PathBuf) -> Arc<Supervisor> {
        static ALL: Mutex<Vec<Arc<Supervisor>>> = Mutex::new(Vec::new());
        let mut all = ALL.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = all.iter().find(|s| s.run_dir == run_dir) {
            return s.clone();
        }
        let s = Arc::new(Supervisor {
            run_dir,
            procs: Mutex::new(HashMap::new()),
        });
        all.push(s.clone());
        s
    }

    fn paths(&self, bridge: &str) -> (PathBuf, PathBuf) {
        (
            self.run_dir.join(format!("{bridge}.conf")),
            self.run_dir.join(format!("{bridge}.pid")),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Proc>>> {
        self.procs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts (or adopts) the bridge's dnsmasq with `config` and supervises it.
    pub fn start(&self, bridge: &str, config: &str) -> Result<u32> {
        let (conf, pidfile) = self.paths(bridge);
        let mut procs = self.lock();
        let unchanged = fs::read_to_string(&conf).is_ok_and(|old| old == config);
        if let Some(pid) = running_pid(&pidfile, &conf) {
            if unchanged {
                if !procs.contains_key(bridge) {
                    procs.insert(bridge.to_string(), watch(bridge, pid, conf, pidfile)?);
                }
                return Ok(pid as u32);
            }
            drop(procs);
            self.stop(bridge)?;
            procs = self.lock();
        }
        procs.remove(bridge);
        fs::create_dir_all(&self.run_dir).map_err(|source| Error::Io {
            what: format!("cannot create {}", self.run_dir.display()),
            source,
        })?;
        write_private(&conf, config)?;
        let pid = spawn(bridge, &conf, &pidfile)?;
        procs.insert(bridge.to_string(), watch(bridge, pid, conf, pidfile)?);
        Ok(pid as u32)
    }

    pub fn reload(&self, bridge: &str) -> Result<()> {
        let (conf, pidfile) = self.paths(bridge);
        let pid = running_pid(&pidfile, &conf)
            .ok_or_else(|| Error::Invalid(format!("no dnsmasq serves '{bridge}'")))?;
        signal(pid, Signal::HUP)
    }

    /// Stops the bridge's dnsmasq, whoever started it, and waits for it.
    pub fn stop(&self, bridge: &str) -> Result<()> {
        let (conf, pidfile) = self.paths(bridge);
        if let Some(p) = self.lock().remove(bridge) {
            p.stopping.store(true, Ordering::SeqCst);
            let _ = rustix::io::write(&p.wake, b"x");
        }
        if let Some(pid) = running_pid(&pidfile, &conf) {
            terminate(pid)?;
        }
        let _ = fs::remove_file(&pidfile);
        let _ = fs::remove_file(&conf);
        Ok(())
    }
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| Error::Io {
        what: format!("cannot write {}", path.display()),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)
}

fn conf_arg(conf: &Path) -> String {
    format!("--conf-file={}", conf.display())
}

/// The pid in the pid file, if that process is alive and is the dnsmasq of
/// this config (a recycled pid is not).
fn running_pid(pidfile: &Path, conf: &Path) -> Option<i32> {
    let pid: i32 = fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let wanted = conf_arg(conf);
    cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == wanted.as_bytes())
        .then_some(pid)
}

/// Runs dnsmasq, which forks into the background once it serves (its
/// parent's exit status says whether it could), and reads its pid.
fn spawn(bridge: &str, conf: &Path, pidfile: &Path) -> Result<i32> {
    let _ = fs::remove_file(pidfile);
    run(
        "dnsmasq",
        &[
            &conf_arg(conf),
            &format!("--pid-file={}", pidfile.display()),
            &format!("--interface={bridge}"),
            "--except-interface=lo",
            "--bind-dynamic",
        ],
        None,
    )?;
    running_pid(pidfile, conf).ok_or_else(|| {
        Error::Invalid(format!(
            "dnsmasq for '{bridge}' started but wrote no pid to {}",
            pidfile.display()
        ))
    })
}

fn signal(pid: i32, sig: Signal) -> Result<()> {
    let pidfd = open_pidfd(pid)?;
    pidfd_send_signal(&pidfd, sig).map_err(|e| Error::Io {
        what: format!("cannot signal dnsmasq {pid}"),
        source: e.into(),
    })
}

fn open_pidfd(pid: i32) -> Result<OwnedFd> {
    let p = Pid::from_raw(pid).ok_or_else(|| Error::Invalid(format!("bad pid {pid}")))?;
    pidfd_open(p, PidfdFlags::empty()).map_err(|e| Error::Io {
        what: format!("cannot watch dnsmasq {pid}"),
        source: e.into(),
    })
}

/// SIGTERM, up to 5 s for it to go, then SIGKILL.
fn terminate(pid: i32) -> Result<()> {
    let Ok(pidfd) = open_pidfd(pid) else {
        return Ok(()); // already gone
    };
    let _ = pidfd_send_signal(&pidfd, Signal::TERM);
    if !wait_exit(&pidfd, Some(Duration::from_secs(5))) {
        let _ = pidfd_send_signal(&pidfd, Signal::KILL);
        wait_exit(&pidfd, Some(Duration::from_secs(5)));
    }
    Ok(())
}

/// Whether the process exited within `timeout` (a pidfd polls readable
/// when it has).
fn wait_exit(pidfd: &OwnedFd, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let ts = left.map(|l| rustix::time::Timespec {
            tv_sec: l.as_secs() as i64,
            tv_nsec: l.subsec_nanos() as i64,
        });
        let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
        match poll(&mut fds, ts.as_ref()) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

/// At most this many restarts within [`RESTART_WINDOW`]; then the watcher
/// gives up (a dnsmasq that dies at once would otherwise spin).
const MAX_RESTARTS: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// Watches `pid` on a thread of its own and restarts dnsmasq if it dies
/// while not being stopped.
fn watch(bridge: &str, pid: i32, conf: PathBuf, pidfile: PathBuf) -> Result<Arc<Proc>> {
    let (wake_read, wake_write) = rustix::pipe::pipe().map_err(|e| Error::Io {
        what: "cannot create a pipe".into(),
        source: e.into(),
    })?;
    let proc = Arc::new(Proc {
        pid: AtomicI32::new(pid),
        stopping: AtomicBool::new(false),
        wake: wake_write,
    });
    let watched = proc.clone();
    let bridge = bridge.to_string();
    std::thread::Builder::new()
        .name(format!("dnsmasq-{bridge}"))
        .spawn(move || {
            let mut restarts: Vec<Instant> = Vec::new();
            loop {
                let pid = watched.pid.load(Ordering::SeqCst);
                let Ok(pidfd) = open_pidfd(pid) else {
                    // Gone before we looked: treated as an exit below.
                    if !restart(&bridge, &watched, &conf, &pidfile, &mut restarts) {
                        return;
                    }
                    continue;
                };
                let mut fds = [
                    PollFd::new(&pidfd, PollFlags::IN),
                    PollFd::new(&wake_read, PollFlags::IN),
                ];
                if poll(&mut fds, None).is_err() {
                    continue;
                }
                if watched.stopping.load(Ordering::SeqCst) {
                    return;
                }
                if fds[0].revents().contains(PollFlags::IN)
                    && !restart(&bridge, &watched, &conf, &pidfile, &mut restarts)
                {
                    return;
                }
            }
        })
        .map_err(|source| Error::Io {
            what: "cannot start the dnsmasq watcher".into(),
            source,
        })?;
    Ok(proc)
}

/// Restarts a dnsmasq that died; false when the watcher should give up.
fn restart(
    bridge: &str,
    proc: &Proc,
    conf: &Path,
    pidfile: &Path,
    restarts: &mut Vec<Instant>,
) -> bool {
    if proc.stopping.load(Ordering::SeqCst) {
        return false;
    }
    restarts.retain(|t| t.elapsed() < RESTART_WINDOW);
    if restarts.len() >= MAX_RESTARTS {
        tracing::error!(bridge, "dnsmasq keeps dying; no longer restarting it");
        return false;
    }
    restarts.push(Instant::now());
    tracing::warn!(bridge, "dnsmasq exited; restarting it");
    match spawn(bridge, conf, pidfile) {
        Ok(pid) => {
            proc.pid.store(pid, Ordering::SeqCst);
            true
        }
        Err(e) => {
            tracing::error!(bridge, error = %e, "cannot restart dnsmasq");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(dir: &Path) -> Vec<Preopen> {
        vec![Preopen {
            host: dir.to_path_buf(),
            guest: "/net".into(),
            read_only: false,
        }]
    }

    #[test]
    fn a_network_config_passes_with_host_paths() {
        let dir = tempfile::tempdir().unwrap();
        let text = "# default\nstrict-order\ninterface=virbr0\nexcept-interface=lo\n\
                    dhcp-range=192.168.122.2,192.168.122.254,255.255.255.0\n\
                    dhcp-leasefile=/net/virbr0.leases\ndhcp-hostsfile=/net/virbr0.hosts\n";
        let out = check_config(text, "virbr0", &grants(dir.path())).unwrap();
        assert!(out.contains(&format!(
            "dhcp-leasefile={}/virbr0.leases",
            dir.path().display()
        )));
        assert!(!out.contains("/net/"));
    }

    #[test]
    fn options_that_reach_outside_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let g = grants(dir.path());
        for bad in [
            "dhcp-script=/bin/sh",
            "conf-file=/etc/shadow",
            "conf-dir=/etc",
            "interface=eth0",
            "dhcp-leasefile=/etc/passwd",
            "dhcp-hostsfile=/net/../etc/hosts",
            "addn-hosts=/net/sub/x",
            "pid-file=/etc/x",
            "log-facility=/etc/x",
            "enable-tftp",
            "user=root",
        ] {
            let e = check_config(bad, "virbr0", &g).unwrap_err();
            assert!(matches!(e, Error::Invalid(_)), "{bad}: {e}");
        }
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("l.leases")).unwrap();
        let e = check_config("dhcp-leasefile=/net/l.leases", "virbr0", &g).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }
}
