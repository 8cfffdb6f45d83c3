//! The suite's own tests: the real test driver passes, every deliberately
//! broken variant is caught with a short shrunk sequence, and (where KVM
//! exists) the KVM driver is checked.
//!
//! Fixed seeds: a run is deterministic, so these never flake.

use std::path::{Path, PathBuf};

use wirt_conformance::{Options, Report, Status, Target};

/// Cases per property here: enough to find every broken variant with the
/// seeds below, small enough for CI on two cores.
const CASES: u32 = 150;
const SEED: u64 = 20_240_917;

fn run(opts: &Options, cases: u32) -> Report {
    let report = wirt_conformance::run(opts, cases, SEED).expect("the suite runs");
    println!("{}", report.human());
    report
}

/// The built-in test driver as a plugin file.
fn test_driver_file(dir: &Path) -> PathBuf {
    let path = dir.join("test-driver.wasm");
    std::fs::write(&path, wirt::plugin::builtin::TEST_DRIVER_WASM).expect("write the plugin");
    path
}

#[test]
fn the_test_driver_passes_through_its_uri() {
    let report = run(&Options::new(Target::Uri("test:///default".into())), 200);
    assert!(report.passed, "the real test driver must pass");
    for name in [
        "domain-lifecycle",
        "storage",
        "network",
        "snapshots",
        "migration",
    ] {
        let p = report.property(name).expect("property ran");
        assert_eq!(p.status, Status::Passed, "{name}");
        assert_eq!(p.cases_run, 200, "{name}");
    }
    // A URI's driver is reached through the host only.
    assert_eq!(
        report.property("driver-contract").map(|p| p.status),
        Some(Status::Skipped)
    );
}

#[test]
fn the_test_driver_passes_as_a_plugin_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Plugin {
        path: test_driver_file(dir.path()),
        uri: "test:///default".into(),
    };
    let report = run(&Options::new(target), 60);
    assert!(report.passed, "the real test driver must pass");
    assert_eq!(
        report.property("driver-contract").map(|p| p.status),
        Some(Status::Passed)
    );
}

#[test]
fn optional_operations_are_probed() {
    // The test driver implements every optional operation.
    let opts = Options::new(Target::Uri("test:///default".into()));
    let env = wirt_conformance::target::Env::new(&opts).expect("env");
    assert!(
        env.settings.support.missing().is_empty(),
        "{:?}",
        env.settings.support
    );
}

/// A broken variant built by build.rs, or None when the build skipped them.
fn broken(feature: &str) -> Option<PathBuf> {
    let path =
        Path::new(env!("WIRT_CONFORMANCE_BROKEN_DIR")).join(format!("test_driver_{feature}.wasm"));
    if path.is_file() {
        Some(path)
    } else {
        wirt_testkit::require(
            "the broken test-driver variants",
            "not built by build.rs (WIRT_CONFORMANCE_SKIP_BROKEN?)",
        );
        None
    }
}

/// Runs the suite on a broken variant and checks that `caught_by` report
/// it with a shrunk script of at most six steps, and `masked_for` do not.
fn assert_caught(feature: &str, caught_by: &[&str], masked_for: &[&str]) {
    let Some(path) = broken(feature) else { return };
    let mut opts = Options::new(Target::Plugin {
        path,
        uri: "test:///default".into(),
    });
    opts.properties = ["domain-lifecycle", "driver-contract"]
        .map(String::from)
        .to_vec();
    let report = run(&opts, CASES);
    assert!(!report.passed, "{feature} must be reported");
    for name in caught_by {
        let p = report.property(name).expect("property ran");
        assert_eq!(p.status, Status::Failed, "{feature} is caught by {name}");
        let failure = p.failure.as_ref().expect("a failure");
        assert!(
            (1..=6).contains(&failure.steps),
            "{feature}: {name} shrinks to a short sequence, got:\n{}",
            failure.script_text
        );
        assert_eq!(failure.script.commands.len(), failure.steps);
        assert!(
            failure.script_text.contains("# diverged:"),
            "the diverging step is marked:\n{}",
            failure.script_text
        );
    }
    for name in masked_for {
        let p = report.property(name).expect("property ran");
        assert_eq!(
            p.status,
            Status::Passed,
            "{feature} is masked by the host for {name}"
        );
    }
}

#[test]
fn broken_resume_is_caught_by_the_driver_contract() {
    // The host refuses resume of a running domain itself: only the
    // contract layer, calling the driver directly, can see this bug.
    assert_caught("broken-resume", &["driver-contract"], &["domain-lifecycle"]);
}

#[test]
fn broken_destroy_is_caught_by_both_layers() {
    assert_caught(
        "broken-destroy",
        &["driver-contract", "domain-lifecycle"],
        &[],
    );
}

#[test]
fn broken_start_paused_is_caught_by_both_layers() {
    assert_caught(
        "broken-state",
        &["driver-contract", "domain-lifecycle"],
        &[],
    );
}

/// The KVM driver: checks `kvm:///session` where /dev/kvm can be opened,
/// in a process of its own with a private state directory. Without
/// /dev/kvm it records a skip; with it, anything but a pass (the URI not
/// opening included) fails.
#[test]
fn kvm_session_conforms_where_available() {
    if !wirt_testkit::kvm_or_skip() {
        return;
    }
    let tool = PathBuf::from(env!("CARGO_BIN_EXE_wirt-conformance"));
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(&tool);
    command
        .args(["--uri", "kvm:///session"])
        .args(["--property", "domain-lifecycle", "--property", "snapshots"])
        .args(["--cases", "12", "--seed", &SEED.to_string()])
        .env("WIRT_STATE_DIR", dir.path().join("state"))
        .env("WIRT_RUNTIME_DIR", dir.path().join("run"))
        .env("WIRT_LOG_DIR", dir.path().join("log"));
    let vmm = tool.with_file_name("wirt-vmm");
    if !vmm.is_file() {
        wirt_testkit::require("wirt-vmm", "not built (`cargo test --workspace` builds it)");
        return;
    }
    command.env("WIRT_VMM", &vmm);
    let out = command.output().expect("run wirt-conformance");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Every case ends with the suite's domains destroyed: a VMM still
    // running would be a leak (found: guests that powered off on their own).
    let left = vmms_under(dir.path());
    for pid in &left {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    // /dev/kvm opens, so the driver must too: exit status 2 (the target did
    // not open) is a failure like any other.
    match out.status.code() {
        Some(0) => {
            println!("{stdout}");
            // The KVM driver keeps disks as external snapshots: the
            // snapshot property checks their contents and images there.
            assert!(stdout.contains("PASS  snapshots"), "{stdout}");
        }
        Some(2) => panic!("kvm:///session does not open here:\n{stdout}{stderr}"),
        _ => panic!("kvm:///session does not conform:\n{stdout}{stderr}"),
    }
    assert!(left.is_empty(), "VMMs left running: {left:?}");
}

/// kvm: networks (the bridge network driver): the network property inside
/// a network namespace of the test's own, where the bridges, nftables
/// tables and dnsmasq processes it makes cannot touch the host's. Needs
/// root; nft and dnsmasq come from `scripts/setup.sh`. Afterwards nothing
/// of the suite's is left in the namespace.
#[test]
fn kvm_networks_conform_in_a_namespace() {
    if !nix_root() {
        wirt_testkit::skip("not root: kvm: networks need network namespaces and bridges");
        return;
    }
    for (tool, arg) in [("ip", "-V"), ("nft", "--version"), ("dnsmasq", "--version")] {
        if !wirt_testkit::have(tool, arg) {
            wirt_testkit::require(tool, "kvm: networks run on bridges, nftables and dnsmasq");
            return;
        }
    }
    let ns = format!("wirt-conf-{}", std::process::id());
    let ip = |args: &[&str]| {
        let ok = std::process::Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {args:?}");
    };
    ip(&["netns", "add", &ns]);
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }
    let _del = Del(ns.clone());
    ip(&["-n", &ns, "link", "set", "lo", "up"]);
    let tool = PathBuf::from(env!("CARGO_BIN_EXE_wirt-conformance"));
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(&tool)
        .args(["--uri", "kvm:///session", "--property", "network"])
        .args(["--cases", "16", "--seed", &SEED.to_string()])
        .env("WIRT_STATE_DIR", dir.path().join("state"))
        .env("WIRT_RUNTIME_DIR", dir.path().join("run"))
        .env("WIRT_LOG_DIR", dir.path().join("log"))
        .output()
        .expect("run wirt-conformance");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kvm: networks do not conform:\n{stdout}{stderr}"
    );
    assert!(stdout.contains("PASS  network"), "{stdout}");
    let links = std::process::Command::new("ip")
        .args(["-n", &ns, "-o", "link", "show"])
        .output()
        .unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert_eq!(links.lines().count(), 1, "left in the namespace: {links}");
}

fn nix_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// `wirt-vmm` processes whose command line names a path under `dir`, once
/// the ones on their way out are gone (a few seconds at most).
fn vmms_under(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let scan = || -> Vec<u32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.contains("wirt-vmm") && c.contains(&needle)
                })
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !scan().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    scan()
}
