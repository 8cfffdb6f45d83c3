//! Monitoring and host-info commands through wirtd and on a kvm host:
//! real libvirt clients (virsh, python-libvirt) against the daemon must
//! see what libvirt's own test driver gives them, and kvm: figures must be
//! the kernel's.

use std::process::Command;

use super::remote::{Daemon, python_libvirt};

struct Out {
    stdout: String,
    stderr: String,
    ok: bool,
}

fn run(program: &str, uri: &str, script: &str) -> Option<Out> {
    let out = Command::new(program)
        .args(["-c", uri, script])
        .env_remove("LIBVIRT_DEFAULT_URI")
        .output()
        .ok()?;
    Some(Out {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        ok: out.status.success(),
    })
}

fn virsh_here() -> bool {
    let found = Command::new("virsh").arg("--version").output().is_ok();
    if !found {
        wirt_testkit::require("virsh", "no comparison with libvirt's client");
    }
    found
}

const HOST_SCRIPT: &str = "nodecpustats; nodecpustats --cpu 0; freecell; freecell --all; \
     freecell --cellno 1; nodecpumap; nodecpumap --pretty; cpu-models x86_64; cpu-models s390x";

/// virsh through wirtd's read-only socket prints what virsh prints against
/// libvirt's own test driver: the procedures are served, to read-only
/// clients too.
#[test]
fn virsh_host_statistics_through_the_daemon() {
    if !virsh_here() {
        return;
    }
    let d = Daemon::start();
    let remote = run("virsh", &d.ro_uri(), HOST_SCRIPT).unwrap();
    let local = run("virsh", "test:///default", HOST_SCRIPT).unwrap();
    assert!(remote.ok, "{}", remote.stderr);
    assert_eq!(remote.stdout, local.stdout);
    assert!(
        remote
            .stdout
            .contains("system:               34678723400000")
    );
    // An error crosses the wire with libvirt's code and wording.
    let err = run("virsh", &d.uri(), "nodememstats").unwrap();
    assert!(!err.ok);
    assert!(
        err.stderr.contains(
            "this function is not supported by the connection driver: virNodeGetMemoryStats"
        ),
        "{}",
        err.stderr
    );
    // The read-only socket serves queries and refuses changes.
    for (script, api) in [
        ("vcpupin test 1 3", "virDomainPinVcpu"),
        ("emulatorpin test 1", "virDomainPinEmulator"),
        (
            "schedinfo test --set weight=1",
            "virDomainSetSchedulerParameters",
        ),
    ] {
        let out = run("virsh", &d.ro_uri(), script).unwrap();
        assert!(
            !out.ok
                && out
                    .stderr
                    .contains(&format!("read only access prevents {api}")),
            "{script}: {}",
            out.stderr
        );
    }
    // And wirt's own client, one more backend, prints the same.
    let wirt = run(env!("CARGO_BIN_EXE_wirt"), &d.uri(), HOST_SCRIPT).unwrap();
    assert!(wirt.ok, "{}", wirt.stderr);
    assert_eq!(wirt.stdout, local.stdout);
}

const PYTHON_HOST: &str = r#"
import sys, libvirt
def calls(c):
    out = []
    out.append(sorted(c.getCPUStats(-1).items()))
    out.append(sorted(c.getCPUStats(3).items()))
    out.append(c.getCellsFreeMemory(0, 5))
    out.append(c.getCellsFreeMemory(1, 1))
    out.append(c.getFreeMemory())
    out.append(c.getCPUMap())
    out.append(c.getCPUModelNames("x86_64"))
    out.append(c.getCPUModelNames("aarch64"))
    for bad in (lambda: c.getMemoryStats(-1), lambda: c.getCellsFreeMemory(7, 1),
                lambda: c.getCPUModelNames("foo"), lambda: c.getCPUStats(-2)):
        try:
            bad()
            out.append("no error")
        except libvirt.libvirtError as e:
            out.append((e.get_error_code(), e.get_error_message()))
    return out
ours = calls(libvirt.openReadOnly(sys.argv[1]))
theirs = calls(libvirt.open("test:///default"))
for a, b in zip(ours, theirs):
    if a != b:
        print("differs:", a, b)
print("host calls:", len(ours), ours == theirs)
"#;

#[test]
fn python_libvirt_host_calls_match_libvirts_test_driver() {
    let Some(python) = python_libvirt() else {
        return;
    };
    let d = Daemon::start();
    let out = Command::new(python)
        .args(["-c", PYTHON_HOST, &d.ro_uri()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "host calls: 12 True\n");
}

/// `name: value` lines of virsh-style output.
fn fields(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let v = v.split_whitespace().next()?.parse().ok()?;
            Some((k.trim().to_string(), v))
        })
        .collect()
}

fn kvm_host(script: &str) -> Out {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wirt"))
        .args(["-c", "kvm:///session", script])
        .env("WIRT_STATE_DIR", dir.path().join("state"))
        .env("WIRT_RUNTIME_DIR", dir.path().join("run"))
        .output()
        .unwrap();
    Out {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        ok: out.status.success(),
    }
}

/// The kernel's `cpu` line of /proc/stat: (user+nice, system+irq+softirq,
/// idle) in ns.
fn proc_stat() -> (u64, u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap())
        .collect();
    let ns = 10_000_000;
    ((v[0] + v[1]) * ns, (v[2] + v[5] + v[6]) * ns, v[3] * ns)
}

/// kvm: host figures are the kernel's: bracketed by /proc/stat read before
/// and after, memory totals equal to /proc/meminfo's, CPUs as sysfs says.
#[test]
fn kvm_host_figures_are_the_kernels() {
    if !wirt_testkit::kvm_or_skip() {
        return;
    }
    let before = proc_stat();
    let out = kvm_host("nodecpustats");
    let after = proc_stat();
    assert!(out.ok, "{}", out.stderr);
    let cpu = fields(&out.stdout);
    let get = |k: &str| cpu.iter().find(|(n, _)| n == k).unwrap().1;
    assert!(
        (before.0..=after.0).contains(&get("user")),
        "{cpu:?} {before:?} {after:?}"
    );
    assert!((before.1..=after.1).contains(&get("system")), "{cpu:?}");
    assert!((before.2..=after.2).contains(&get("idle")), "{cpu:?}");
    let out = kvm_host("nodecpustats --cpu 0");
    assert!(
        out.ok && fields(&out.stdout)[0].1 <= get("user"),
        "{}",
        out.stdout
    );
    let out = kvm_host("nodecpustats --cpu 100000");
    assert!(
        out.stderr
            .contains("invalid argument: Invalid cpuNum in virHostCPUGetStatsLinux"),
        "{}",
        out.stderr
    );

    // --percent: two samples a second apart; shares of a real interval.
    let out = kvm_host("nodecpustats --percent");
    assert!(out.ok, "{}", out.stderr);
    let usage: f64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("usage:"))
        .map(|v| v.trim().trim_end_matches('%').trim().parse().unwrap())
        .unwrap();
    assert!((0.0..=100.0).contains(&usage), "{}", out.stdout);
    assert!(out.stdout.contains("idle:"), "{}", out.stdout);

    let out = kvm_host("nodememstats");
    assert!(out.ok, "{}", out.stderr);
    let mem = fields(&out.stdout);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total: u64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(mem[0], ("total".to_string(), total));
    assert_eq!(
        mem.iter().map(|m| m.0.as_str()).collect::<Vec<_>>(),
        ["total", "free", "buffers", "cached"]
    );
    assert!(out.stdout.starts_with("total  :"), "{}", out.stdout);

    let out = kvm_host("nodecpumap --pretty; freecell --all");
    assert!(out.ok, "{}", out.stderr);
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    assert!(
        out.stdout
            .contains(&format!("CPU map:        {}\n", online.trim())),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("    0: "), "{}", out.stdout);
}

/// virsh through wirtd for the guest commands: what virsh prints against
/// libvirt's own test driver.
#[test]
fn virsh_guest_statistics_through_the_daemon() {
    if !virsh_here() {
        return;
    }
    let script = "dommemstat test; domblkinfo test --all --human; vcpupin test 1 3; vcpupin test; \
                  schedinfo test; schedinfo test --set weight=7; cpu-stats test; emulatorpin test";
    let d = Daemon::start();
    let remote = run("virsh", &d.uri(), script).unwrap();
    let local = run("virsh", "test:///default", script).unwrap();
    assert!(remote.ok, "{}", remote.stderr);
    assert_eq!(remote.stdout, local.stdout);
    assert!(remote.stdout.contains(" 1      3\n"), "{}", remote.stdout);
    let wirt = run(env!("CARGO_BIN_EXE_wirt"), &d.uri(), script).unwrap();
    assert!(wirt.ok, "{}", wirt.stderr);
    assert_eq!(wirt.stdout, local.stdout);
}

const PYTHON_DOMAIN: &str = r#"
import sys, libvirt
def calls(c):
    d = c.lookupByName("test")
    out = [d.memoryStats(), d.blockInfo("vda"), d.vcpuPinInfo(0)]
    info, maps = d.vcpus()
    out.append([(n, s, cpu) for (n, s, t, cpu) in info])
    out.append(maps)
    d.pinVcpu(1, (False, True, False, True))
    out.append(d.vcpuPinInfo(0))
    for bad in (lambda: d.blockInfo("vdb"), lambda: d.pinVcpuFlags(0, (True,), 2)):
        try:
            bad()
            out.append("no error")
        except libvirt.libvirtError as e:
            out.append((e.get_error_code(), e.get_error_message()))
    d.destroy()
    try:
        d.memoryStats()
    except libvirt.libvirtError as e:
        out.append((e.get_error_code(), e.get_error_message()))
    return out
ours = calls(libvirt.open(sys.argv[1]))
theirs = calls(libvirt.open("test:///default"))
for a, b in zip(ours, theirs):
    if a != b:
        print("differs:", a, b)
print("domain calls:", len(ours), ours == theirs)
"#;

/// python-libvirt's domain monitoring calls through wirtd answer as
/// libvirt's own test driver does, pinning included.
#[test]
fn python_libvirt_domain_calls_match_libvirts_test_driver() {
    let Some(python) = python_libvirt() else {
        return;
    };
    let d = Daemon::start();
    let out = Command::new(python)
        .args(["-c", PYTHON_DOMAIN, &d.uri()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "domain calls: 9 True\n");
}

/// The VMM's thread for `vcpu`.
fn vcpu_thread(pid: u32, vcpu: u32) -> u32 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|tid| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                .is_ok_and(|c| c.trim() == format!("vcpu{vcpu}"))
        })
        .expect("a vcpu thread")
}

fn status_field(path: &str, field: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap()
        .trim()
        .to_string()
}

/// kvm: figures measured from outside the VMM: rss is the process's,
/// vCPU time its thread's, pinning changes the thread's real affinity,
/// disk sizes the file's.
#[test]
fn kvm_guest_figures_are_measured_and_pinning_is_real() {
    let Some(k) = super::kvm::kvm() else { return };
    let xml = k.domain("mon");
    k.ok(&format!("define {}", xml.display()));
    let off = k.wirt("dommemstat mon");
    assert!(
        !off.ok && off.stderr.contains("domain is not running"),
        "{}",
        off.stderr
    );
    k.ok("start mon");
    k.wait_console("mon", "guest: ready");
    let pid = k.vmms()[0];
    let tid = vcpu_thread(pid, 0);

    let mem = k.ok("dommemstat mon");
    let rss: u64 = mem
        .lines()
        .find_map(|l| l.strip_prefix("rss "))
        .unwrap()
        .parse()
        .unwrap();
    let vm_rss: u64 = status_field(&format!("/proc/{pid}/status"), "VmRSS:")
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    assert!(
        rss.abs_diff(vm_rss) * 5 <= vm_rss,
        "rss {rss} vs VmRSS {vm_rss}"
    );
    assert!(mem.starts_with("actual 16384\n"), "{mem}");

    let info = k.ok("domblkinfo mon vda");
    assert!(info.contains("Capacity:       1048576\n"), "{info}");
    assert!(info.contains("Physical:       1048576\n"), "{info}");

    // The thread's own CPU time, read beside vcpuinfo's.
    let thread_secs = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).unwrap();
        let f: Vec<u64> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|v| v.parse().unwrap())
            .collect();
        (f[0] + f[1]) as f64 / 100.0
    };
    let before = thread_secs();
    let vcpu = k.ok("vcpuinfo mon");
    let after = thread_secs();
    let shown: f64 = vcpu
        .lines()
        .find_map(|l| l.strip_prefix("CPU time:"))
        .map_or(0.0, |t| t.trim().trim_end_matches('s').parse().unwrap());
    assert!(
        shown >= before - 0.1 && shown <= after + 0.1,
        "vcpuinfo {shown}s, thread {before}..{after}s\n{vcpu}"
    );

    // Pin vCPU 0 to the last online CPU: the kernel must show it.
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let last = online.trim().rsplit([',', '-']).next().unwrap().to_string();
    k.ok(&format!("vcpupin mon 0 {last}"));
    assert_eq!(
        status_field(
            &format!("/proc/{pid}/task/{tid}/status"),
            "Cpus_allowed_list:"
        ),
        last
    );
    let table = k.ok("vcpupin mon");
    assert!(table.contains(&format!(" 0      {last}\n")), "{table}");
    let vcpu = k.ok("vcpuinfo mon --pretty");
    assert!(
        vcpu.contains(&format!("CPU Affinity:   {last} (out of")),
        "{vcpu}"
    );
    // --config is the next boot's, kept in <cputune>.
    k.ok("vcpupin mon 0 0 --config");
    let inactive = k.ok("dumpxml mon --inactive");
    assert!(
        inactive.contains("<vcpupin vcpu='0' cpuset='0'/>"),
        "{inactive}"
    );
    assert_eq!(
        status_field(
            &format!("/proc/{pid}/task/{tid}/status"),
            "Cpus_allowed_list:"
        ),
        last
    );
    // cpu-stats: the VMM's own time on CPU, bracketed by its schedstat
    // sums read before and after (no per-CPU times without a cgroup).
    let on_cpu = || -> u64 {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
            .map(|e| {
                std::fs::read_to_string(e.path().join("schedstat"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .next()
                    .map_or(0, |v| v.parse::<u64>().unwrap())
            })
            .sum()
    };
    let before = on_cpu();
    let stats = k.ok("cpu-stats mon");
    let after = on_cpu();
    assert!(stats.starts_with("Total:\n\tcpu_time"), "{stats}");
    let secs: f64 = stats
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let ns = (secs * 1e9) as u64;
    assert!(
        before > 0 && ns + 1000 >= before && ns <= after + 1000,
        "cpu_time {ns} vs schedstat {before}..{after}"
    );
    // The emulator threads are every other VMM thread: the vCPU keeps its pin.
    k.ok("emulatorpin mon 0");
    assert_eq!(
        status_field(&format!("/proc/{pid}/status"), "Cpus_allowed_list:"),
        "0"
    );
    assert_eq!(
        status_field(
            &format!("/proc/{pid}/task/{tid}/status"),
            "Cpus_allowed_list:"
        ),
        last
    );
    assert!(k.ok("emulatorpin mon").contains("       *: 0\n"));
    // cpu_shares is the VMM's CFS weight: renice it and read it back.
    let shares = |k: &super::kvm::Kvm| -> u64 {
        k.ok("schedinfo mon")
            .lines()
            .find_map(|l| l.strip_prefix("cpu_shares     : "))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(shares(&k), 1024);
    let reniced = Command::new("renice")
        .args(["-n", "5", "-p", &pid.to_string()])
        .output()
        .is_ok_and(|o| o.status.success());
    if reniced {
        assert_eq!(shares(&k), 335);
    }
    let set = k.wirt("schedinfo mon --set cpu_shares=2048");
    assert!(
        !set.ok && set.stderr.contains("Operation not supported"),
        "{}",
        set.stderr
    );
    // The next boot applies the --config pins to the new VMM's threads.
    k.ok(&format!(
        "vcpupin mon 0 {last} --config; emulatorpin mon {last} --config"
    ));
    k.ok("destroy mon; start mon");
    k.wait_console("mon", "guest: ready");
    let pid = k.vmms()[0];
    let tid = vcpu_thread(pid, 0);
    for status in [
        format!("/proc/{pid}/task/{tid}/status"),
        format!("/proc/{pid}/status"),
    ] {
        assert_eq!(
            status_field(&status, "Cpus_allowed_list:"),
            last,
            "{status}"
        );
    }
    k.ok("destroy mon");
    // A transient domain gets its <vcpu cpuset> at create.
    let transient = std::fs::read_to_string(&xml)
        .unwrap()
        .replace("<name>mon</name>", "<name>once</name>")
        .replace("<vcpu>1</vcpu>", &format!("<vcpu cpuset='{last}'>1</vcpu>"));
    let file = k.dir.path().join("once.xml");
    std::fs::write(&file, transient).unwrap();
    k.ok(&format!("create {}", file.display()));
    k.wait_console("once", "guest: ready");
    let pid = k.vmms()[0];
    let tid = vcpu_thread(pid, 0);
    assert_eq!(
        status_field(
            &format!("/proc/{pid}/task/{tid}/status"),
            "Cpus_allowed_list:"
        ),
        last
    );
    k.ok("destroy once");
}

/// A test guest's host name and clock, set and read back, and refused
/// once it is off: every error line libvirt's test driver prints.
const GUEST_SCRIPT: &str = "domhostname test; domtime test; domtime test --time 1000; \
    domtime test; domtime test --pretty; domtime test --sync; domtime test; \
    domtime test --time 5 --now; domtime test --now --sync; domhostname test --source bogus; \
    domhostname test --source lease; domtime test --time x; destroy test; domhostname test; \
    domtime test; domtime test --time 3";

#[test]
fn test_guests_hostname_and_clock_match_libvirts_test_driver() {
    let ours = run(env!("CARGO_BIN_EXE_wirt"), "test:///default", GUEST_SCRIPT).unwrap();
    assert!(
        ours.stdout.starts_with(
            "testhost\n\nTime: 627319920\n\nTime: 1000\nTime: 1970-01-01 00:16:40\n\nTime: 0\n"
        ),
        "{}",
        ours.stdout
    );
    assert!(
        ours.stderr.ends_with(
            "error: Requested operation is not valid: domain is not running\n\
             error: Requested operation is not valid: domain is not running\n\
             error: Requested operation is not valid: domain is not running\n"
        ),
        "{}",
        ours.stderr
    );
    if !virsh_here() {
        return;
    }
    let d = Daemon::start();
    let through = run("virsh", &d.uri(), GUEST_SCRIPT).unwrap();
    let theirs = run("virsh", "test:///default", GUEST_SCRIPT).unwrap();
    for out in [&ours, &through] {
        assert_eq!(out.stdout, theirs.stdout);
        assert_eq!(out.stderr, theirs.stderr);
        assert_eq!(out.ok, theirs.ok);
    }
}

/// A test guest's two filesystems frozen and thawed, counted as libvirt's
/// test driver counts them, and kept frozen across a restart as there.
const FS_SCRIPT: &str = "domfsfreeze test; domfsfreeze test; domfsthaw test --mountpoint /boot; \
    domfsfreeze test --mountpoint /boot --mountpoint /; domfsthaw test; domfsthaw test; \
    domfsfreeze test --mountpoint /x; domfsthaw test --mountpoint /y; \
    domfsfreeze test --mountpoint / --mountpoint /; destroy test; domfsfreeze test; \
    domfsthaw test; start test; domfsthaw test";

#[test]
fn wirt_and_virsh_freeze_and_thaw_a_test_guests_filesystems() {
    let d = Daemon::start();
    let ours = run(env!("CARGO_BIN_EXE_wirt"), "test:///default", FS_SCRIPT).unwrap();
    let through_wirt = run(env!("CARGO_BIN_EXE_wirt"), &d.uri(), FS_SCRIPT).unwrap();
    assert_eq!(through_wirt.stdout, ours.stdout);
    assert_eq!(through_wirt.stderr, ours.stderr);
    if !virsh_here() {
        return;
    }
    let through = run("virsh", &d.uri(), FS_SCRIPT).unwrap();
    assert!(
        through.stdout.starts_with(
            "Froze 2 filesystem(s)\n\nFroze 0 filesystem(s)\n\nThawed 1 filesystem(s)\n\n\
             Froze 1 filesystem(s)\n\nThawed 2 filesystem(s)\n\nThawed 0 filesystem(s)\n"
        ),
        "{}",
        through.stdout
    );
    assert!(
        through
            .stdout
            .ends_with("Domain 'test' started\n\nThawed 1 filesystem(s)\n\n"),
        "{}",
        through.stdout
    );
    assert!(
        through.stderr.starts_with(
            "error: Unable to freeze filesystems\n\
             error: Requested operation is not valid: mount point not found: /x\n"
        ),
        "{}",
        through.stderr
    );
    let theirs = run("virsh", "test:///default", FS_SCRIPT).unwrap();
    for out in [&ours, &through] {
        assert_eq!(out.stdout, theirs.stdout);
        assert_eq!(out.stderr, theirs.stderr);
        assert_eq!(out.ok, theirs.ok);
    }
}

const PYTHON_GUEST: &str = r#"
import sys, libvirt
c, ro = libvirt.open(sys.argv[1]), libvirt.openReadOnly(sys.argv[2])
dom, rodom = c.lookupByName("test"), ro.lookupByName("test")
assert dom.hostname() == "testhost"
assert dom.getTime() == {"seconds": 627319920, "nseconds": 0}, dom.getTime()
dom.setTime({"seconds": 1234, "nseconds": 567}, 0)
assert dom.getTime() == {"seconds": 1234, "nseconds": 567}, dom.getTime()
for call in (lambda: rodom.hostname(), lambda: rodom.getTime(),
             lambda: rodom.setTime({"seconds": 1}, 0)):
    try:
        call()
        raise SystemExit("a read-only client asked the guest")
    except libvirt.libvirtError as e:
        assert e.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED, e
try:
    dom.setTime({"seconds": 1}, 2)
    raise SystemExit("took flags")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_INVALID_ARG, e
    assert "testDomainSetTime" in str(e), e
assert dom.fsFreeze(["/boot"], 0) == 1 and dom.fsFreeze(None, 0) == 1
assert dom.fsThaw(None, 0) == 2 and dom.fsThaw(["/"], 0) == 0
try:
    rodom.fsFreeze(None, 0)
    raise SystemExit("a read-only client froze the guest")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED, e
try:
    dom.fsFreeze(["/srv"], 0)
    raise SystemExit("froze a filesystem the guest lacks")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID, e
dom.destroy()
try:
    dom.getTime()
    raise SystemExit("a stopped guest told its time")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID, e
dom.create()
assert dom.getTime() == {"seconds": 1234, "nseconds": 567}, dom.getTime()
print("python guest OK")
"#;

#[test]
fn python_libvirt_reads_and_sets_a_test_guests_clock_and_filesystems_through_wirtd() {
    let Some(python) = python_libvirt() else {
        return;
    };
    let d = Daemon::start();
    let out = Command::new(python)
        .args(["-c", PYTHON_GUEST, &d.uri(), &d.ro_uri()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "python guest OK\n");
}
