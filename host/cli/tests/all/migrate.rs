//! Migration between two wirtd on this machine (separate state and runtime
//! dirs, unix sockets): the test driver's simulated migrations driven by
//! `wirt migrate` and by Debian's virsh, and a KVM guest moved live.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wirt::ErrorCode;
use wirt::connect::migrate_flags as mf;
use wirt::connect::{Connect, MigrateParams};
use wirt::events::{DomainEvent, EventStream};
use wirt::lifecycle::{Event, State, detail, reason};

use crate::remote::Daemon;
pub(crate) use crate::support::vmms_under;

pub(crate) use crate::support::{run, wirt};

pub(crate) fn xml(name: &str, uuid: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>\
         <memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"
    )
}

/// The lifecycle events of `name` the stream brings until `want` of them
/// came (or 20 s went by), as (event, detail).
pub(crate) fn events_of(stream: &EventStream, name: &str, want: usize) -> Vec<(Event, u32)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while seen.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        match stream.next_timeout(left) {
            Some(DomainEvent {
                name: n,
                event,
                detail,
                ..
            }) if n == name => seen.push((event, detail)),
            Some(_) => {}
            None => break,
        }
    }
    seen
}

pub(crate) fn state(conn: &Connect, name: &str) -> (State, u32) {
    conn.lookup_domain_by_name(name).unwrap().state().unwrap()
}

pub(crate) fn gone(conn: &Connect, name: &str) -> bool {
    conn.lookup_domain_by_name(name)
        .is_err_and(|e| e.code() == ErrorCode::NO_DOMAIN)
}

/// Two test hosts; the connections held here keep each `test:///default`
/// alive between the clients' own connections.
pub(crate) fn two_hosts() -> (Daemon, Daemon, Connect, Connect) {
    let a = Daemon::start();
    let b = Daemon::start();
    let ca = crate::support::open(&a.uri()).unwrap();
    let cb = crate::support::open(&b.uri()).unwrap();
    (a, b, ca, cb)
}

#[test]
fn migrate_test_guests_between_two_daemons_with_wirt() {
    let (a, b, ca, cb) = two_hosts();
    let (ea, eb) = (ca.events(), cb.events());
    ca.create_domain_xml(&xml("vm1", "1c8cff5b-3228-4065-bb12-66f7d48d4f1a"), 0)
        .unwrap();
    let out = wirt(
        &a.uri(),
        &format!("migrate --live --verbose vm1 {}", b.uri()),
    );
    assert!(out.ok, "{}", out.stderr);
    // Progress on stderr, as virsh draws it.
    assert_eq!(out.stderr.trim(), "Migration: [100 %]");
    assert_eq!(out.stdout.trim(), "");
    assert!(gone(&ca, "vm1"));
    assert_eq!(
        state(&cb, "vm1"),
        (State::Running, reason::RUNNING_MIGRATED)
    );
    assert!(
        !cb.lookup_domain_by_name("vm1")
            .unwrap()
            .is_persistent()
            .unwrap()
    );
    // Created, then migrated away.
    assert_eq!(
        events_of(&ea, "vm1", 3),
        [
            (Event::Started, detail::STARTED_BOOTED),
            (Event::Suspended, detail::SUSPENDED_MIGRATED),
            (Event::Stopped, detail::STOPPED_MIGRATED),
        ]
    );
    assert_eq!(
        events_of(&eb, "vm1", 2),
        [
            (Event::Started, detail::STARTED_MIGRATED),
            (Event::Resumed, detail::RESUMED_MIGRATED),
        ]
    );

    // libvirt refuses a migration to the host the domain is on.
    let out = wirt(&b.uri(), &format!("migrate vm1 {}", b.uri()));
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("error: internal error: Attempt to migrate guest to the same host"),
        "{}",
        out.stderr
    );
    assert_eq!(
        state(&cb, "vm1"),
        (State::Running, reason::RUNNING_MIGRATED)
    );

    // A persistent domain stays defined (shut off, migrated) unless
    // --undefinesource; --persistent defines it at the destination.
    let vm2 = ca
        .define_domain_xml(&xml("vm2", "2c8cff5b-3228-4065-bb12-66f7d48d4f1a"), 0)
        .unwrap();
    vm2.start(0).unwrap();
    let out = wirt(&a.uri(), &format!("migrate --live vm2 {}", b.uri()));
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        state(&ca, "vm2"),
        (State::Shutoff, reason::SHUTOFF_MIGRATED)
    );
    assert!(
        !cb.lookup_domain_by_name("vm2")
            .unwrap()
            .is_persistent()
            .unwrap()
    );
    let out = wirt(
        &b.uri(),
        &format!(
            "migrate --live --persistent --undefinesource vm2 {}",
            a.uri()
        ),
    );
    // vm2 is still defined on A: arriving there updates that definition.
    assert!(out.ok, "{}", out.stderr);
    assert!(gone(&cb, "vm2"));
    assert_eq!(
        state(&ca, "vm2"),
        (State::Running, reason::RUNNING_MIGRATED)
    );
    assert!(
        ca.lookup_domain_by_name("vm2")
            .unwrap()
            .is_persistent()
            .unwrap()
    );

    // An inactive domain moves only offline, and only with --persistent.
    let out = wirt(&a.uri(), &format!("destroy vm2; migrate vm2 {}", b.uri()));
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("Requested operation is not valid: domain is not running"),
        "{}",
        out.stderr
    );
    let out = wirt(&a.uri(), &format!("migrate --offline vm2 {}", b.uri()));
    assert!(!out.ok);
    assert!(out.stderr.contains("persistent flag"), "{}", out.stderr);
    let out = wirt(
        &a.uri(),
        &format!(
            "migrate --offline --persistent --undefinesource vm2 {}",
            b.uri()
        ),
    );
    assert!(out.ok, "{}", out.stderr);
    assert!(gone(&ca, "vm2"));
    assert_eq!(state(&cb, "vm2"), (State::Shutoff, reason::SHUTOFF_UNKNOWN));
    assert!(
        cb.lookup_domain_by_name("vm2")
            .unwrap()
            .is_persistent()
            .unwrap()
    );

    // The settings a live migration uses.
    let out = wirt(
        &b.uri(),
        "migrate-setmaxdowntime vm1 50; migrate-getmaxdowntime vm1; migrate-setspeed vm1 20; migrate-getspeed vm1",
    );
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["50", "20"]
    );
}

#[test]
fn a_failed_migration_leaves_the_source_running_and_nothing_at_the_destination() {
    let (_a, _b, ca, cb) = two_hosts();
    let (ea, eb) = (ca.events(), cb.events());
    let vm = ca
        .create_domain_xml(&xml("vm1", "1c8cff5b-3228-4065-bb12-66f7d48d4f1a"), 0)
        .unwrap();
    // The destination has another domain of that name: Prepare refuses.
    cb.define_domain_xml(&xml("vm1", "9c8cff5b-3228-4065-bb12-66f7d48d4f1a"), 0)
        .unwrap();
    let e = vm
        .migrate(&cb, &MigrateParams::default(), mf::LIVE)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::OPERATION_FAILED, "{e}");
    assert_eq!(state(&ca, "vm1"), (State::Running, reason::RUNNING_BOOTED));
    assert_eq!(
        cb.lookup_domain_by_name("vm1").unwrap().uuid_string(),
        "9c8cff5b-3228-4065-bb12-66f7d48d4f1a"
    );
    // Once the name is free it goes, under the name the client asks for.
    cb.lookup_domain_by_name("vm1")
        .unwrap()
        .undefine(0)
        .unwrap();
    let params = MigrateParams {
        dest_name: Some("renamed".into()),
        ..Default::default()
    };
    let moved = vm.migrate(&cb, &params, mf::LIVE).unwrap();
    assert_eq!(moved.name(), "renamed");
    assert!(gone(&ca, "vm1"));
    assert_eq!(events_of(&ea, "vm1", 3).len(), 3);
    assert_eq!(
        events_of(&eb, "renamed", 2),
        [
            (Event::Started, detail::STARTED_MIGRATED),
            (Event::Resumed, detail::RESUMED_MIGRATED),
        ]
    );
}

#[test]
fn a_client_gone_between_prepare_and_finish_leaves_nothing_at_the_destination() {
    let (_a, b, ca, cb) = two_hosts();
    let vm = ca
        .create_domain_xml(&xml("vm1", "1c8cff5b-3228-4065-bb12-66f7d48d4f1a"), 0)
        .unwrap();
    let eb = cb.events();
    let begun = vm
        .migrate_begin(&MigrateParams::default(), mf::LIVE)
        .unwrap();
    let client = crate::support::open(&b.uri()).unwrap();
    let params = MigrateParams {
        dest_xml: Some(begun.xml),
        ..Default::default()
    };
    client
        .migrate_prepare(&params, &begun.cookie, mf::LIVE)
        .unwrap();
    assert_eq!(state(&cb, "vm1"), (State::Paused, reason::PAUSED_MIGRATION));
    // The client goes away without Finish: the destination cancels.
    drop(client);
    until("the abandoned domain to go", || gone(&cb, "vm1"));
    assert_eq!(
        events_of(&eb, "vm1", 2),
        [
            (Event::Started, detail::STARTED_MIGRATED),
            (Event::Stopped, detail::STOPPED_FAILED),
        ]
    );
    assert_eq!(
        vm.state().unwrap(),
        (State::Running, reason::RUNNING_BOOTED)
    );
}

#[test]
fn virsh_migrates_between_two_daemons() {
    if !crate::remote::have_virsh() {
        return;
    }
    let (a, b, ca, cb) = two_hosts();
    let eb = cb.events();
    ca.create_domain_xml(&xml("vm1", "1c8cff5b-3228-4065-bb12-66f7d48d4f1a"), 0)
        .unwrap();
    let out =
        run(Command::new("virsh").args(["-c", &a.uri(), "migrate", "--live", "vm1", &b.uri()]));
    assert!(out.ok, "{}", out.stderr);
    assert!(gone(&ca, "vm1"));
    assert_eq!(
        state(&cb, "vm1"),
        (State::Running, reason::RUNNING_MIGRATED)
    );
    assert_eq!(
        events_of(&eb, "vm1", 2),
        [
            (Event::Started, detail::STARTED_MIGRATED),
            (Event::Resumed, detail::RESUMED_MIGRATED),
        ]
    );
    // And back, persistent this time, with virsh's progress.
    let out = run(Command::new("virsh").args([
        "-c",
        &b.uri(),
        "migrate",
        "--live",
        "--persistent",
        "--verbose",
        "vm1",
        &a.uri(),
    ]));
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stderr.contains("Migration: [100 %]"), "{}", out.stderr);
    assert!(gone(&cb, "vm1"));
    let back = ca.lookup_domain_by_name("vm1").unwrap();
    assert_eq!(
        back.state().unwrap(),
        (State::Running, reason::RUNNING_MIGRATED)
    );
    assert!(back.is_persistent().unwrap());
    // virsh's own errors for what libvirt refuses.
    let out = run(Command::new("virsh").args(["-c", &a.uri(), "migrate", "vm1", &a.uri()]));
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("Attempt to migrate guest to the same host"),
        "{}",
        out.stderr
    );
    assert_eq!(
        back.state().unwrap(),
        (State::Running, reason::RUNNING_MIGRATED)
    );
}

pub(crate) fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Two daemons serving `kvm:///session`; their VMMs are killed when the
/// test ends, however it ends.
pub(crate) struct KvmHosts {
    pub(crate) a: Daemon,
    pub(crate) b: Daemon,
}

impl KvmHosts {
    pub(crate) fn start() -> Option<KvmHosts> {
        if !wirt_testkit::kvm_or_skip() {
            return None;
        }
        let vmm = std::path::PathBuf::from(env!("CARGO_BIN_EXE_wirt")).with_file_name("wirt-vmm");
        if !vmm.is_file() {
            wirt_testkit::require("wirt-vmm", "not built (`cargo test --workspace` builds it)");
            return None;
        }
        Some(KvmHosts {
            a: Daemon::start(),
            b: Daemon::start(),
        })
    }

    pub(crate) fn uri(d: &Daemon) -> String {
        format!("kvm+unix:///session?socket={}", d.sock().display())
    }

    /// A guest on host A whose disk (shared storage: one path for both)
    /// lives in A's directory.
    pub(crate) fn guest(&self, conn: &Connect, name: &str) {
        let disk = self.a.dir.path().join(format!("{name}.img"));
        std::fs::write(&disk, vec![0u8; 1 << 20]).unwrap();
        let xml = format!(
            "<domain type='kvm'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>\
             <os><type>hvm</type></os><devices><disk type='file' device='disk'>\
             <source file='{}'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
            disk.display()
        );
        conn.create_domain_xml(&xml, 0).unwrap();
    }

    /// Types `!line` on the guest's console (through the daemon) until a
    /// line starting with `answer` that `accept` takes comes back.
    pub(crate) fn guest_command(
        uri: &str,
        dom: &str,
        line: &str,
        answer: &str,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        use std::io::Write as _;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut child = Command::new(env!("CARGO_BIN_EXE_wirt"))
                .args(["-c", uri, "console", dom])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("!{line}\n").as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            let out = String::from_utf8_lossy(&out.stdout);
            let last = out
                .lines()
                .map(str::trim_end)
                .rfind(|l| l.starts_with(answer));
            if let Some(found) = last.filter(|l| accept(l)) {
                return found.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no accepted {answer:?} after !{line}: {out}"
            );
        }
    }

    /// The guest's dirtying counter ("dirty: on counter N").
    pub(crate) fn counter(uri: &str, dom: &str, above: u64) -> u64 {
        let line = Self::guest_command(uri, dom, "dirty", "dirty: on counter ", |l| {
            l["dirty: on counter ".len()..]
                .trim()
                .parse::<u64>()
                .is_ok_and(|n| n > above)
        });
        line["dirty: on counter ".len()..].trim().parse().unwrap()
    }
}

impl Drop for KvmHosts {
    fn drop(&mut self) {
        for d in [&self.a, &self.b] {
            for pid in vmms_under(d.dir.path()) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
}

/// The downtime wirtd logged for the last migration out, in ms.
fn logged_downtime(stderr: &str) -> f64 {
    let line = stderr
        .lines()
        .rfind(|l| l.contains("migrated out: downtime "))
        .unwrap_or_else(|| panic!("no migration figures in wirtd's log: {stderr}"));
    eprintln!("{line}");
    line.split("downtime ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn kvm_guest_migrates_live_between_two_daemons_and_its_counter_goes_on() {
    let Some(mut h) = KvmHosts::start() else {
        return;
    };
    let (ua, ub) = (KvmHosts::uri(&h.a), KvmHosts::uri(&h.b));
    let ca = crate::support::open(&ua).unwrap();
    let cb = crate::support::open(&ub).unwrap();
    let (ea, eb) = (ca.events(), cb.events());
    h.guest(&ca, "g1");
    KvmHosts::guest_command(&ua, "g1", "dirty 4 20", "dirty: ", |l| {
        l.starts_with("dirty: on")
    });
    let before = KvmHosts::counter(&ua, "g1", 0);
    let out = wirt(
        &ua,
        &format!("migrate --live --verbose g1 {ub} --migrateuri tcp://127.0.0.1:0"),
    );
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stderr.contains("Migration: [100 %]"), "{}", out.stderr);
    assert!(gone(&ca, "g1"));
    assert_eq!(state(&cb, "g1"), (State::Running, reason::RUNNING_MIGRATED));
    // The destination reports the migration as its last job, with the
    // pause the source measured, as virsh shows it.
    let job = wirt(&ub, "domjobinfo g1 --completed");
    assert!(job.ok, "{}", job.stderr);
    assert!(
        job.stdout.contains("Operation:        Incoming migration"),
        "{}",
        job.stdout
    );
    let downtime: u64 = job
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Total downtime:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no downtime in {}", job.stdout));
    assert!(downtime > 0, "{}", job.stdout);
    if crate::remote::have_virsh() {
        let theirs =
            run(Command::new("virsh").args(["-c", &ub, "domjobinfo", "g1", "--completed"]));
        assert!(theirs.ok, "{}", theirs.stderr);
        assert_eq!(job.stdout.trim_end(), theirs.stdout.trim_end());
    }
    eprintln!("domjobinfo --completed at the destination:\n{}", job.stdout);
    // The guest's memory came along: its counter goes on from where it was.
    let after = KvmHosts::counter(&ub, "g1", before);
    assert!(after > before, "{before} -> {after}");
    until("the source's VMM to go", || {
        vmms_under(h.a.dir.path()).is_empty()
    });
    assert_eq!(vmms_under(h.b.dir.path()).len(), 1);
    assert_eq!(
        events_of(&ea, "g1", 3),
        [
            (Event::Started, detail::STARTED_BOOTED),
            (Event::Suspended, detail::SUSPENDED_MIGRATED),
            (Event::Stopped, detail::STOPPED_MIGRATED),
        ]
    );
    assert_eq!(
        events_of(&eb, "g1", 2),
        [
            (Event::Started, detail::STARTED_MIGRATED),
            (Event::Resumed, detail::RESUMED_MIGRATED),
        ]
    );
    // And back, with the default listen address (the host's name), by
    // virsh where it is installed.
    let out = if crate::remote::have_virsh() {
        run(Command::new("virsh").args(["-c", &ub, "migrate", "--live", "g1", &ua]))
    } else {
        wirt(&ub, &format!("migrate --live g1 {ua}"))
    };
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(state(&ca, "g1"), (State::Running, reason::RUNNING_MIGRATED));
    KvmHosts::counter(&ua, "g1", after);
    ca.lookup_domain_by_name("g1").unwrap().destroy().unwrap();
    until("every VMM to go", || {
        vmms_under(h.a.dir.path()).is_empty() && vmms_under(h.b.dir.path()).is_empty()
    });
    drop((ca, cb, ea, eb));
    let (_, log_a) = h.a.terminate();
    let (_, log_b) = h.b.terminate();
    let down_ab = logged_downtime(&log_a);
    let down_ba = logged_downtime(&log_b);
    assert!(down_ab > 0.0 && down_ba > 0.0);
}

#[test]
fn kvm_destination_killed_mid_migration_leaves_the_source_running() {
    let Some(mut h) = KvmHosts::start() else {
        return;
    };
    let (ua, ub) = (KvmHosts::uri(&h.a), KvmHosts::uri(&h.b));
    let ca = crate::support::open(&ua).unwrap();
    h.guest(&ca, "g1");
    // 1 MiB dirtied over and over, sent at 2 MiB/s: each round takes about
    // half a second, and the pause comes once one fits in 600 ms.
    KvmHosts::guest_command(&ua, "g1", "dirty 1 1", "dirty: ", |l| {
        l.starts_with("dirty: on")
    });
    let before = KvmHosts::counter(&ua, "g1", 0);
    let out = wirt(&ua, "migrate-setmaxdowntime g1 600; migrate-setspeed g1 2");
    assert!(out.ok, "{}", out.stderr);
    let migrating = Command::new(env!("CARGO_BIN_EXE_wirt"))
        .args([
            "-c",
            &ua,
            "migrate",
            "--live",
            "g1",
            &ub,
            "tcp://127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the destination's daemon once its VMM is receiving.
    let received = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/io"))
            .ok()
            .and_then(|io| {
                io.lines()
                    .find_map(|l| l.strip_prefix("rchar: ")?.trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    until("the destination's VMM to receive", || {
        vmms_under(h.b.dir.path())
            .first()
            .is_some_and(|&pid| received(pid) > 256 << 10)
    });
    h.b.kill9();
    let out = migrating.wait_with_output().unwrap();
    assert!(!out.status.success(), "the migration succeeded");
    // The guest never left: it runs on at the source, counting.
    let dom = ca.lookup_domain_by_name("g1").unwrap();
    assert_eq!(dom.state().unwrap().0, State::Running);
    KvmHosts::counter(&ua, "g1", before);
    // Nothing is left at the destination: its VMM gave up and went.
    until("the destination's VMM to go", || {
        vmms_under(h.b.dir.path()).is_empty()
    });
    h.b.spawn();
    let cb = crate::support::open(&ub).unwrap();
    assert!(gone(&cb, "g1"));
    // The source can still migrate it.
    let out = wirt(&ua, "migrate-setspeed g1 0");
    assert!(out.ok, "{}", out.stderr);
    let moved = dom
        .migrate(&cb, &MigrateParams::default(), mf::LIVE)
        .unwrap();
    assert_eq!(
        moved.state().unwrap(),
        (State::Running, reason::RUNNING_MIGRATED)
    );
    moved.destroy().unwrap();
    until("every VMM to go", || {
        vmms_under(h.a.dir.path()).is_empty() && vmms_under(h.b.dir.path()).is_empty()
    });
}

#[test]
fn kvm_guest_migrates_back_and_forth_fifty_times() {
    let Some(h) = KvmHosts::start() else {
        return;
    };
    let (ua, ub) = (KvmHosts::uri(&h.a), KvmHosts::uri(&h.b));
    let hosts = [
        crate::support::open(&ua).unwrap(),
        crate::support::open(&ub).unwrap(),
    ];
    h.guest(&hosts[0], "g1");
    KvmHosts::guest_command(&ua, "g1", "dirty 4 20", "dirty: ", |l| {
        l.starts_with("dirty: on")
    });
    let before = KvmHosts::counter(&ua, "g1", 0);
    let params = MigrateParams {
        uri: Some("tcp://127.0.0.1:0".into()),
        ..Default::default()
    };
    let mut dom = hosts[0].lookup_domain_by_name("g1").unwrap();
    let started = Instant::now();
    for i in 0..50 {
        let to = &hosts[(i + 1) % 2];
        dom = dom
            .migrate(to, &params, mf::LIVE)
            .unwrap_or_else(|e| panic!("migration {i}: {e}"));
        assert_eq!(
            dom.state().unwrap(),
            (State::Running, reason::RUNNING_MIGRATED)
        );
        assert!(gone(&hosts[i % 2], "g1"), "migration {i} left the source");
    }
    eprintln!(
        "50 live migrations of a dirtying 64 MiB guest in {:?}",
        started.elapsed()
    );
    // 50 moves end where they began; the guest counted all along.
    KvmHosts::counter(&ua, "g1", before);
    dom.destroy().unwrap();
    until("every VMM to go", || {
        vmms_under(h.a.dir.path()).is_empty() && vmms_under(h.b.dir.path()).is_empty()
    });
}

#[test]
fn kvm_a_client_gone_after_perform_loses_no_guest() {
    let Some(h) = KvmHosts::start() else {
        return;
    };
    let (ua, ub) = (KvmHosts::uri(&h.a), KvmHosts::uri(&h.b));
    let (ca, cb) = (
        crate::support::open(&ua).unwrap(),
        crate::support::open(&ub).unwrap(),
    );
    h.guest(&ca, "g1");
    KvmHosts::guest_command(&ua, "g1", "dirty 4 20", "dirty: ", |l| {
        l.starts_with("dirty: on")
    });
    let before = KvmHosts::counter(&ua, "g1", 0);
    // A client of its own on each side, which goes away after Perform:
    // no Finish, no Confirm.
    let (client_a, client_b) = (
        crate::support::open(&ua).unwrap(),
        crate::support::open(&ub).unwrap(),
    );
    let dom = client_a.lookup_domain_by_name("g1").unwrap();
    let begun = dom
        .migrate_begin(&MigrateParams::default(), mf::LIVE)
        .unwrap();
    let mut params = MigrateParams {
        dest_xml: Some(begun.xml),
        uri: Some("tcp://127.0.0.1:0".into()),
        ..Default::default()
    };
    let prepared = client_b
        .migrate_prepare(&params, &begun.cookie, mf::LIVE)
        .unwrap();
    params.uri = prepared.uri;
    dom.migrate_perform(&params, &prepared.cookie, mf::LIVE)
        .unwrap();
    drop((dom, client_a, client_b));
    // The guest went over at Perform: the destination keeps it, the
    // source records it gone.
    until("the source to let go", || gone(&ca, "g1"));
    until("the destination to keep it", || {
        cb.lookup_domain_by_name("g1")
            .and_then(|d| d.state())
            .is_ok_and(|s| s == (State::Running, reason::RUNNING_MIGRATED))
    });
    KvmHosts::counter(&ub, "g1", before);
    cb.lookup_domain_by_name("g1").unwrap().destroy().unwrap();
    until("every VMM to go", || {
        vmms_under(h.a.dir.path()).is_empty() && vmms_under(h.b.dir.path()).is_empty()
    });
}

#[test]
fn kvm_domjobabort_stops_a_migration_and_the_guest_stays() {
    let Some(h) = KvmHosts::start() else {
        return;
    };
    let (ua, ub) = (KvmHosts::uri(&h.a), KvmHosts::uri(&h.b));
    let (ca, cb) = (
        crate::support::open(&ua).unwrap(),
        crate::support::open(&ub).unwrap(),
    );
    h.guest(&ca, "g1");
    KvmHosts::guest_command(&ua, "g1", "dirty 1 1", "dirty: ", |l| {
        l.starts_with("dirty: on")
    });
    let before = KvmHosts::counter(&ua, "g1", 0);
    let out = wirt(&ua, "domjobinfo g1; migrate-setspeed g1 1");
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "Job type:         None");
    let migrating = Command::new(env!("CARGO_BIN_EXE_wirt"))
        .args([
            "-c",
            &ua,
            "migrate",
            "--live",
            "g1",
            &ub,
            "tcp://127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    until("the migration to be under way", || {
        wirt(&ua, "domjobinfo g1")
            .stdout
            .contains("Outgoing migration")
            && !vmms_under(h.b.dir.path()).is_empty()
    });
    let out = wirt(&ua, "domjobabort g1");
    assert!(out.ok, "{}", out.stderr);
    let out = migrating.wait_with_output().unwrap();
    assert!(!out.status.success(), "the migration succeeded");
    let dom = ca.lookup_domain_by_name("g1").unwrap();
    assert_eq!(dom.state().unwrap().0, State::Running);
    KvmHosts::counter(&ua, "g1", before);
    until("the destination to clean up", || {
        gone(&cb, "g1") && vmms_under(h.b.dir.path()).is_empty()
    });
    let out = wirt(&ua, "domjobabort g1");
    assert!(!out.ok);
    assert!(
        out.stderr.contains("no job is active on the domain"),
        "{}",
        out.stderr
    );
    dom.destroy().unwrap();
}
