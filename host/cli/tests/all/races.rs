//! Processes sharing one state dir (issue 15, finding 5): `wirt` commands
//! racing each other serialise on the state dir's lock, so of two that
//! cannot both succeed one fails with libvirt's error; and what a killed
//! writer left behind is cleaned at the next open. `kvm:///session` is the
//! URI that keeps its state on disk.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Option<Host> {
        if !wirt_testkit::kvm_or_skip() {
            return None;
        }
        Some(Host {
            dir: tempfile::tempdir().unwrap(),
        })
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn vmm(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_wirt")).with_file_name("wirt-vmm")
    }

    fn spawn(&self, script: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_wirt"))
            .args(["-c", "kvm:///session", script])
            .env("WIRT_STATE_DIR", self.state())
            .env("WIRT_RUNTIME_DIR", self.dir.path().join("run"))
            .env("WIRT_VMM", self.vmm())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs `script` in `n` processes at once: (succeeded, stderr) each.
    fn race(&self, n: usize, script: &str) -> Vec<(bool, String)> {
        let children: Vec<Child> = (0..n).map(|_| self.spawn(script)).collect();
        children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                (
                    out.status.success(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            })
            .collect()
    }

    fn ok(&self, script: &str) -> String {
        let out = self.spawn(script).wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "`{script}`: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn xml(&self, name: &str, body: &str) -> PathBuf {
        let file = self.dir.path().join(format!("{name}.xml"));
        std::fs::write(
            &file,
            format!(
                "<domain type='kvm'><name>{name}</name><memory unit='MiB'>16</memory>\
                 <vcpu>1</vcpu><os><type>hvm</type></os>{body}</domain>"
            ),
        )
        .unwrap();
        file
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        kill_vmms(self.dir.path());
    }
}

/// A failed race may have left VMMs running: those of the test that used
/// `dir` (their sockets live in it) are killed.
fn kill_vmms(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for pid in procs.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("wirt-vmm") && cmdline.contains(&needle) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// Kills the VMMs of a directory when dropped.
struct Reaper<'a>(&'a Path);

impl Drop for Reaper<'_> {
    fn drop(&mut self) {
        kill_vmms(self.0);
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Two `define`s of one name (each with a UUID of its own) used to both
/// succeed: each process read the state dir before the other wrote.
#[test]
fn racing_defines_of_one_name_make_one_domain() {
    let Some(host) = Host::new() else {
        return;
    };
    let xml = host.xml("racer", "");
    let results = host.race(6, &format!("define {}", xml.display()));
    let won = results.iter().filter(|(ok, _)| *ok).count();
    assert_eq!(won, 1, "{results:#?}");
    for (ok, stderr) in &results {
        if !ok {
            assert!(
                stderr.contains("operation failed: domain 'racer' already exists with uuid"),
                "{stderr}"
            );
        }
    }
    assert_eq!(host.ok("list --all --name").trim(), "racer");
    let stored = files(&host.state().join("domains"));
    assert_eq!(
        stored.len(),
        2,
        "one definition and its metadata: {stored:?}"
    );
}

/// A define killed halfway leaves a temporary file, or a definition without
/// its metadata; the next process to open the state dir removes both, and
/// the half-defined domain does not appear.
#[test]
fn leftovers_of_a_killed_define_are_removed_at_next_open() {
    let Some(host) = Host::new() else {
        return;
    };
    host.ok(&format!("define {}", host.xml("kept", "").display()));
    let domains = host.state().join("domains");
    let kept = files(&domains);
    // A writer that has exited: its pid names no process any more.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let uuid = "0b8e07c4-7a9c-4a38-9a0c-3e1f0f5b2c11";
    std::fs::write(domains.join(format!(".{uuid}.xml.tmp-{dead}")), "<domain").unwrap();
    std::fs::write(
        domains.join(format!("{uuid}.xml")),
        format!(
            "<domain type='kvm'><name>half</name><uuid>{uuid}</uuid><memory unit='MiB'>16</memory>\
             <vcpu>1</vcpu><os><type>hvm</type></os></domain>"
        ),
    )
    .unwrap();
    assert_eq!(host.ok("list --all --name").trim(), "kept");
    assert_eq!(files(&domains), kept);
}

/// Two `start`s of one domain used to both say "started", leaving two VMMs
/// on one disk; now the others see the first's VMM and refuse.
#[test]
fn racing_starts_of_one_domain_start_it_once() {
    let Some(host) = Host::new() else {
        return;
    };
    if !host.vmm().is_file() {
        wirt_testkit::require("wirt-vmm", "not built (`cargo test --workspace` builds it)");
        return;
    }
    host.ok(&format!("define {}", host.xml("once", "").display()));
    let results = host.race(4, "start once");
    let won = results.iter().filter(|(ok, _)| *ok).count();
    let _ = host.spawn("destroy once").wait();
    assert_eq!(won, 1, "{results:#?}");
    for (ok, stderr) in &results {
        if !ok {
            // virsh's own check ("Domain is already active") when the
            // other start finished before this one looked the domain up,
            // libvirt's error from the API when it finished in between.
            assert!(
                stderr == "error: Domain is already active\n"
                    || stderr
                        .contains("Requested operation is not valid: domain is already running"),
                "{stderr}"
            );
        }
    }
}

/// wirtd keeps its registry in memory for as long as it runs: what a
/// `wirt` process wrote meanwhile is read again before wirtd's next call,
/// so both see one host.
#[test]
fn wirtd_sees_what_a_wirt_process_wrote_to_the_same_state_dir() {
    if !wirt_testkit::kvm_or_skip() {
        return;
    }
    let d = crate::remote::Daemon::start();
    let remote = format!("kvm+unix:///session?socket={}", d.sock().display());
    let wirt = |uri: &str, script: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_wirt"))
            .args(["-c", uri, script])
            .env("WIRT_STATE_DIR", d.dir.path().join("state"))
            .env("WIRT_RUNTIME_DIR", d.dir.path().join("run"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The daemon opens the state dir first.
    let (ok, listed, err) = wirt(&remote, "list --all --name");
    assert!(ok, "{err}");
    assert_eq!(listed.trim(), "");
    let xml = d.dir.path().join("shared.xml");
    std::fs::write(
        &xml,
        "<domain type='kvm'><name>shared</name><memory unit='MiB'>16</memory>\
         <vcpu>1</vcpu><os><type>hvm</type></os></domain>",
    )
    .unwrap();
    let define = format!("define {}", xml.display());
    let (ok, _, err) = wirt("kvm:///session", &define);
    assert!(ok, "{err}");
    let (ok, listed, err) = wirt(&remote, "list --all --name");
    assert!(ok, "{err}");
    assert_eq!(listed.trim(), "shared");
    let (ok, _, err) = wirt(&remote, &define);
    assert!(!ok);
    assert!(
        err.contains("domain 'shared' already exists with uuid"),
        "{err}"
    );
    let (ok, _, err) = wirt(&remote, "undefine shared");
    assert!(ok, "{err}");
    let (ok, listed, err) = wirt("kvm:///session", "list --all --name");
    assert!(ok, "{err}");
    assert_eq!(listed.trim(), "");
}

/// A domain wirtd started and a `wirt` process destroyed can be started
/// again through wirtd: the daemon re-reads the state dir and its driver
/// lets go of the VMM that is gone.
#[test]
fn wirtd_and_wirt_take_turns_on_one_domain() {
    let Some(host) = Host::new() else {
        return;
    };
    if !host.vmm().is_file() {
        wirt_testkit::require("wirt-vmm", "not built (`cargo test --workspace` builds it)");
        return;
    }
    let d = crate::remote::Daemon::start();
    let _reaper = Reaper(d.dir.path());
    let remote = format!("kvm+unix:///session?socket={}", d.sock().display());
    let wirt = |uri: &str, script: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_wirt"))
            .args(["-c", uri, script])
            .env("WIRT_STATE_DIR", d.dir.path().join("state"))
            .env("WIRT_RUNTIME_DIR", d.dir.path().join("run"))
            .env("WIRT_VMM", host.vmm())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{uri} `{script}`: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let xml = host.xml("turns", "");
    wirt(&remote, &format!("define {}", xml.display()));
    wirt(&remote, "start turns");
    assert_eq!(wirt("kvm:///session", "domstate turns").trim(), "running");
    wirt("kvm:///session", "destroy turns");
    assert_eq!(wirt(&remote, "domstate turns").trim(), "shut off");
    wirt(&remote, "start turns");
    assert_eq!(wirt("kvm:///session", "domstate turns").trim(), "running");
    wirt(&remote, "destroy turns");
}
