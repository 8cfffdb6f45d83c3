//! Peer-to-peer migration (`--p2p`: the source's wirtd opens the
//! destination's and drives the steps there) and tunnelled migration
//! (`--p2p --tunnelled`: the guest's memory goes through the daemons'
//! connection), between two wirtd on this machine, with `wirt` and with
//! Debian's virsh.

use std::process::{Command, Stdio};
use std::time::Duration;

use wirt::ErrorCode;
use wirt::connect::migrate_flags as mf;
use wirt::connect::{MigrateParams, StatValue, job_flags};
use wirt::lifecycle::{Event, State, detail, reason};

use crate::migrate::{
    KvmHosts, events_of, gone, run, state, two_hosts, until, vmms_under, wirt, xml,
};

#[test]
fn p2p_and_tunnelled_migrations_of_test_guests() {
    let (a, b, ca, cb) = two_hosts();
    let (ea, eb) = (ca.events(), cb.events());
    let (ja, jb) = (
        ca.job_completed_events().unwrap(),
        cb.job_completed_events().unwrap(),
    );
    ca.create_domain_xml(&xml("vm1", "1c8cff5b-3228-4065-bb12-66f7d48d4f1a"), 0)
        .unwrap();
    // wirt: one call, Perform with the destination's URI, to A's daemon.
    let out = wirt(
        &a.uri(),
        &format!("migrate --live --p2p --verbose vm1 {}", b.uri()),
    );
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stderr.trim(), "Migration: [100 %]");
    assert!(gone(&ca, "vm1"));
    assert_eq!(
        state(&cb, "vm1"),
        (State::Running, reason::RUNNING_MIGRATED)
    );
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
    // The job-completed event on both hosts, with what `domjobinfo
    // --completed` shows: an outgoing migration at A, an incoming one at B.
    let job = |stream: &wirt::events::EventStream<wirt::connect::JobCompletedEvent>| {
        let e = stream
            .next_timeout(Duration::from_secs(20))
            .expect("a job-completed event");
        assert_eq!(e.name, "vm1");
        e.params
    };
    let operation = |params: &[(String, StatValue)]| {
        params
            .iter()
            .find(|(k, _)| k == "operation")
            .map(|(_, v)| v.clone())
    };
    let (out_params, in_params) = (job(&ja), job(&jb));
    assert_eq!(operation(&out_params), Some(StatValue::Int(5)));
    assert_eq!(operation(&in_params), Some(StatValue::Int(4)));
    assert!(in_params.iter().any(|(k, _)| k == "time_elapsed"));
    let completed = cb
        .lookup_domain_by_name("vm1")
        .unwrap()
        .job_stats(job_flags::COMPLETED)
        .unwrap();
    assert_eq!(completed.job_type, 3);
    assert_eq!(
        completed.params.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        in_params.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    let out = wirt(&b.uri(), "domjobinfo vm1 --completed");
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("Operation:        Incoming migration"),
        "{}",
        out.stdout
    );
    // Back through the tunnel, persistent this time.
    let out = wirt(
        &b.uri(),
        &format!(
            "migrate --live --p2p --tunnelled --persistent vm1 {}",
            a.uri()
        ),
    );
    assert!(out.ok, "{}", out.stderr);
    assert!(gone(&cb, "vm1"));
    let back = ca.lookup_domain_by_name("vm1").unwrap();
    assert_eq!(
        back.state().unwrap(),
        (State::Running, reason::RUNNING_MIGRATED)
    );
    assert!(back.is_persistent().unwrap());

    // libvirt's refusals: a tunnel needs --p2p; the same host is refused
    // by the destination; a destination that cannot be reached fails the
    // Perform. The guest stays where it was each time.
    let out = wirt(
        &a.uri(),
        &format!("migrate --live --tunnelled vm1 {}", b.uri()),
    );
    assert!(!out.ok);
    assert!(
        out.stderr.contains(
            "argument unsupported: cannot perform tunnelled migration without using peer2peer flag"
        ),
        "{}",
        out.stderr
    );
    let out = wirt(&a.uri(), &format!("migrate --live --p2p vm1 {}", a.uri()));
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("Attempt to migrate guest to the same host"),
        "{}",
        out.stderr
    );
    let nowhere = format!(
        "test+unix:///default?socket={}",
        a.dir.path().join("nowhere").display()
    );
    let out = wirt(&a.uri(), &format!("migrate --live --p2p vm1 {nowhere}"));
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("Failed to connect to remote libvirt URI test+unix:///default"),
        "{}",
        out.stderr
    );
    // The destination has another domain of that name: its Prepare refuses.
    cb.define_domain_xml(&xml("vm1", "9c8cff5b-3228-4065-bb12-66f7d48d4f1a"), 0)
        .unwrap();
    let e = back
        .migrate_to_uri(
            &b.uri(),
            &MigrateParams::default(),
            mf::LIVE | mf::PEER2PEER,
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::OPERATION_FAILED, "{e}");
    assert_eq!(
        back.state().unwrap(),
        (State::Running, reason::RUNNING_MIGRATED)
    );
    assert_eq!(
        cb.lookup_domain_by_name("vm1").unwrap().uuid_string(),
        "9c8cff5b-3228-4065-bb12-66f7d48d4f1a"
    );
    // Without --p2p a URI alone is libvirt's "direct" migration.
    let e = back
        .migrate_to_uri(&b.uri(), &MigrateParams::default(), mf::LIVE)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::ARGUMENT_UNSUPPORTED, "{e}");
}

#[test]
fn virsh_migrates_p2p_and_tunnelled_between_two_daemons() {
    if !crate::remote::have_virsh() {
        return;
    }
    let (a, b, ca, cb) = two_hosts();
    let eb = cb.events();
    ca.create_domain_xml(&xml("vm1", "1c8cff5b-3228-4065-bb12-66f7d48d4f1a"), 0)
        .unwrap();
    let out = run(Command::new("virsh").args([
        "-c",
        &a.uri(),
        "migrate",
        "--live",
        "--p2p",
        "vm1",
        &b.uri(),
    ]));
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
    let out = run(Command::new("virsh").args([
        "-c",
        &b.uri(),
        "migrate",
        "--live",
        "--p2p",
        "--tunnelled",
        "--verbose",
        "vm1",
        &a.uri(),
    ]));
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stderr.contains("Migration: [100 %]"), "{}", out.stderr);
    assert!(gone(&cb, "vm1"));
    assert_eq!(
        state(&ca, "vm1"),
        (State::Running, reason::RUNNING_MIGRATED)
    );
    // libvirt's client refuses a tunnel without --p2p before any call.
    let out = run(Command::new("virsh").args([
        "-c",
        &a.uri(),
        "migrate",
        "--live",
        "--tunnelled",
        "vm1",
        &b.uri(),
    ]));
    assert!(!out.ok);
    assert_eq!(
        state(&ca, "vm1"),
        (State::Running, reason::RUNNING_MIGRATED)
    );
}

#[test]
fn kvm_guest_migrates_p2p_and_tunnelled_and_its_counter_goes_on() {
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
    let virsh = crate::remote::have_virsh();
    // A to B peer-to-peer, the data on a direct TCP connection.
    let out = if virsh {
        run(Command::new("virsh").args([
            "-c",
            &ua,
            "migrate",
            "--live",
            "--p2p",
            "g1",
            &ub,
            "--migrateuri",
            "tcp://127.0.0.1:0",
        ]))
    } else {
        wirt(
            &ua,
            &format!("migrate --live --p2p g1 {ub} --migrateuri tcp://127.0.0.1:0"),
        )
    };
    assert!(out.ok, "{}", out.stderr);
    assert!(gone(&ca, "g1"));
    assert_eq!(state(&cb, "g1"), (State::Running, reason::RUNNING_MIGRATED));
    let middle = KvmHosts::counter(&ub, "g1", before);
    // B to A through the daemons' connection.
    let out = if virsh {
        run(Command::new("virsh").args([
            "-c",
            &ub,
            "migrate",
            "--live",
            "--p2p",
            "--tunnelled",
            "g1",
            &ua,
        ]))
    } else {
        wirt(&ub, &format!("migrate --live --p2p --tunnelled g1 {ua}"))
    };
    assert!(out.ok, "{}", out.stderr);
    assert!(gone(&cb, "g1"));
    assert_eq!(state(&ca, "g1"), (State::Running, reason::RUNNING_MIGRATED));
    KvmHosts::counter(&ua, "g1", middle);
    // The tunnelled migration's figures at the destination, as virsh
    // shows them too.
    let job = wirt(&ua, "domjobinfo g1 --completed");
    assert!(job.ok, "{}", job.stderr);
    for line in ["Operation:        Incoming migration", "Total downtime:"] {
        assert!(job.stdout.contains(line), "{}", job.stdout);
    }
    if virsh {
        let theirs =
            run(Command::new("virsh").args(["-c", &ua, "domjobinfo", "g1", "--completed"]));
        assert!(theirs.ok, "{}", theirs.stderr);
        assert_eq!(job.stdout.trim_end(), theirs.stdout.trim_end());
    }
    until("B's VMM to go", || vmms_under(h.b.dir.path()).is_empty());
    assert_eq!(vmms_under(h.a.dir.path()).len(), 1);
    assert_eq!(
        events_of(&ea, "g1", 5),
        [
            (Event::Started, detail::STARTED_BOOTED),
            (Event::Suspended, detail::SUSPENDED_MIGRATED),
            (Event::Stopped, detail::STOPPED_MIGRATED),
            (Event::Started, detail::STARTED_MIGRATED),
            (Event::Resumed, detail::RESUMED_MIGRATED),
        ]
    );
    assert_eq!(
        events_of(&eb, "g1", 4),
        [
            (Event::Started, detail::STARTED_MIGRATED),
            (Event::Resumed, detail::RESUMED_MIGRATED),
            (Event::Suspended, detail::SUSPENDED_MIGRATED),
            (Event::Stopped, detail::STOPPED_MIGRATED),
        ]
    );
    ca.lookup_domain_by_name("g1").unwrap().destroy().unwrap();
    until("every VMM to go", || {
        vmms_under(h.a.dir.path()).is_empty() && vmms_under(h.b.dir.path()).is_empty()
    });
    // The guest's memory (64 MiB, zero pages skipped) came to A through
    // the tunnel, and A's answers went back on it.
    drop((ca, cb, ea, eb));
    let (_, log_a) = h.a.terminate();
    let line = log_a
        .lines()
        .find(|l| l.contains("migration tunnel closed: "))
        .unwrap_or_else(|| panic!("no tunnel in A's log: {log_a}"));
    let figures: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(figures[0] > 1 << 20 && figures[1] > 0, "{line}");
}

#[test]
fn kvm_destination_killed_mid_tunnelled_migration_leaves_the_source_running() {
    let Some(mut h) = KvmHosts::start() else {
        return;
    };
    let (ua, ub) = (KvmHosts::uri(&h.a), KvmHosts::uri(&h.b));
    let ca = crate::support::open(&ua).unwrap();
    h.guest(&ca, "g1");
    // 1 MiB dirtied over and over, sent at 2 MiB/s: the migration lasts
    // long enough to kill the destination in the middle.
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
            "--p2p",
            "--tunnelled",
            "g1",
            &ub,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
    let dom = ca.lookup_domain_by_name("g1").unwrap();
    assert_eq!(dom.state().unwrap().0, State::Running);
    KvmHosts::counter(&ua, "g1", before);
    until("the destination's VMM to go", || {
        vmms_under(h.b.dir.path()).is_empty()
    });
    h.b.spawn();
    let cb = crate::support::open(&ub).unwrap();
    assert!(gone(&cb, "g1"));
    // And it can still go, through the tunnel.
    let out = wirt(
        &ua,
        &format!("migrate-setspeed g1 0; migrate --live --p2p --tunnelled g1 {ub}"),
    );
    assert!(out.ok, "{}", out.stderr);
    let moved = cb.lookup_domain_by_name("g1").unwrap();
    assert_eq!(
        moved.state().unwrap(),
        (State::Running, reason::RUNNING_MIGRATED)
    );
    moved.destroy().unwrap();
    until("every VMM to go", || {
        vmms_under(h.a.dir.path()).is_empty() && vmms_under(h.b.dir.path()).is_empty()
    });
}

/// python-libvirt: a job-completed callback on each daemon, then one
/// peer-to-peer tunnelled migration by `migrateToURI3`.
const JOB_EVENTS: &str = r#"
import sys, threading, time
import libvirt
libvirt.virEventRegisterDefaultImpl()
src, dst = libvirt.open(sys.argv[1]), libvirt.open(sys.argv[2])
got = []
def job(conn, dom, params, host):
    got.append((host, dom.name(), params))
src.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, job, "src")
dst.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, job, "dst")
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
dom = src.lookupByName("vm1")
dom.migrateToURI3(sys.argv[2], {},
    libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_TUNNELLED)
deadline = time.time() + 20
while len(got) < 2 and time.time() < deadline:
    time.sleep(0.01)
for host, name, params in sorted(got, key=lambda g: g[0]):
    print(host, name, params["operation"], "time_elapsed" in params)
print(dst.lookupByName("vm1").state())
"#;

#[test]
fn python_libvirt_sees_job_completed_events_of_a_p2p_migration() {
    let Some(python) = crate::remote::python_libvirt() else {
        return;
    };
    let (a, b, ca, _cb) = two_hosts();
    ca.create_domain_xml(&xml("vm1", "1c8cff5b-3228-4065-bb12-66f7d48d4f1a"), 0)
        .unwrap();
    let out = run(Command::new(python).args(["-c", JOB_EVENTS, &a.uri(), &b.uri()]));
    assert!(out.ok, "{}{}", out.stdout, out.stderr);
    // VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN (4) / _OUT (5); running: migrated.
    assert_eq!(
        out.stdout.trim(),
        "dst vm1 4 True\nsrc vm1 5 True\n[1, 2]",
        "{}",
        out.stderr
    );
    assert!(gone(&ca, "vm1"));
}

#[test]
fn kvm_timeout_suspend_makes_a_migration_that_never_converges_finish() {
    let Some(h) = KvmHosts::start() else {
        return;
    };
    let (ua, ub) = (KvmHosts::uri(&h.a), KvmHosts::uri(&h.b));
    let ca = crate::support::open(&ua).unwrap();
    let cb = crate::support::open(&ub).unwrap();
    let eb = cb.events();
    h.guest(&ca, "g1");
    // 1 MiB dirtied over and over, sent at 2 MiB/s, with 1 ms allowed:
    // pre-copy would never converge and pause only after its 30 rounds.
    KvmHosts::guest_command(&ua, "g1", "dirty 1 1", "dirty: ", |l| {
        l.starts_with("dirty: on")
    });
    let before = KvmHosts::counter(&ua, "g1", 0);
    let out = wirt(&ua, "migrate-setmaxdowntime g1 1; migrate-setspeed g1 2");
    assert!(out.ok, "{}", out.stderr);
    // After 2 s the guest is suspended, so the next round is the last.
    let migrating = Command::new(env!("CARGO_BIN_EXE_wirt"))
        .args(["-c", &ua])
        .arg(format!(
            "migrate --live --p2p --verbose --timeout 2 --timeout-suspend g1 {ub}"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Meanwhile the source reports the transfer as virsh's domjobinfo.
    let mut during = String::new();
    until("the job's figures at the source", || {
        during = wirt(&ua, "domjobinfo g1").stdout;
        during.contains("Data remaining:")
    });
    for line in [
        "Job type:         Unbounded",
        "Operation:        Outgoing migration",
        "Memory total:     64.000 MiB",
        "Iteration:",
        "Expected downtime:",
    ] {
        assert!(during.contains(line), "{during}");
    }
    let out = migrating.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // --verbose: virsh's progress lines, the last one 100 %.
    let shown: Vec<u32> = stderr
        .split('\r')
        .filter_map(|l| l.trim().strip_prefix("Migration: [")?.strip_suffix("%]"))
        .map(|n| n.trim().parse().unwrap())
        .collect();
    assert_eq!(shown.last(), Some(&100), "{stderr}");
    assert!(shown.iter().any(|&p| p < 100), "{stderr}");
    assert!(gone(&ca, "g1"));
    assert_eq!(state(&cb, "g1"), (State::Running, reason::RUNNING_MIGRATED));
    assert_eq!(
        events_of(&eb, "g1", 2),
        [
            (Event::Started, detail::STARTED_MIGRATED),
            (Event::Resumed, detail::RESUMED_MIGRATED),
        ]
    );
    let job = wirt(&ub, "domjobinfo g1 --completed");
    assert!(job.ok, "{}", job.stderr);
    let rounds: u32 = job
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Iteration:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no iterations in {}", job.stdout));
    assert!(rounds < 30, "{}", job.stdout);
    KvmHosts::counter(&ub, "g1", before);
    // --timeout is for live migrations only, and post-copy is not built.
    let out = wirt(&ub, &format!("migrate --timeout 2 g1 {ua}"));
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("migrate: Unexpected timeout for offline migration"),
        "{}",
        out.stderr
    );
    let out = wirt(
        &ub,
        &format!("migrate --live --timeout 2 --timeout-postcopy g1 {ua}"),
    );
    assert!(!out.ok);
    cb.lookup_domain_by_name("g1").unwrap().destroy().unwrap();
    until("every VMM to go", || {
        vmms_under(h.a.dir.path()).is_empty() && vmms_under(h.b.dir.path()).is_empty()
    });
}

/// Real virsh's `--timeout --timeout-suspend --verbose` through wirtd: its
/// progress polls and its suspend go on the connection busy with the
/// migration, which wirtd answers meanwhile (the Perform runs on a thread
/// of its own, as in libvirtd's worker pool).
#[test]
fn virsh_timeout_suspend_and_progress_work_through_wirtd() {
    if !crate::remote::have_virsh() {
        return;
    }
    let Some(h) = KvmHosts::start() else {
        return;
    };
    let (ua, ub) = (KvmHosts::uri(&h.a), KvmHosts::uri(&h.b));
    let ca = crate::support::open(&ua).unwrap();
    let cb = crate::support::open(&ub).unwrap();
    h.guest(&ca, "g1");
    KvmHosts::guest_command(&ua, "g1", "dirty 1 1", "dirty: ", |l| {
        l.starts_with("dirty: on")
    });
    let out = wirt(&ua, "migrate-setmaxdowntime g1 1; migrate-setspeed g1 2");
    assert!(out.ok, "{}", out.stderr);
    let out = Command::new("virsh")
        .args(["-c", &ua, "migrate", "--live", "--p2p", "--verbose"])
        .args(["--timeout", "2", "--timeout-suspend", "g1", &ub])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    let shown: Vec<u32> = text
        .split(['\r', '\n'])
        .filter_map(|l| l.trim().strip_prefix("Migration: [")?.strip_suffix("%]"))
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let progressed = shown.iter().any(|&p| p < 100);
    assert!(gone(&ca, "g1"));
    assert_eq!(state(&cb, "g1"), (State::Running, reason::RUNNING_MIGRATED));
    let job = wirt(&ub, "domjobinfo g1 --completed");
    let rounds: u32 = job
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Iteration:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no iterations in {}", job.stdout));
    assert!(
        rounds < 30,
        "virsh's suspend made it converge: {}",
        job.stdout
    );
    assert!(progressed, "progress while it ran: {text}");
    cb.lookup_domain_by_name("g1").unwrap().destroy().unwrap();
    until("every VMM to go", || {
        vmms_under(h.a.dir.path()).is_empty() && vmms_under(h.b.dir.path()).is_empty()
    });
}

/// `--copy-storage-all` between two wirtd (virsh where installed): the
/// destination makes its own images (`--xml` puts them in its directory:
/// on one machine the same path would be the same file), the guest's raw
/// and qcow2 disks arrive byte for byte, and the guest reads there what it
/// wrote here. Copying into the source's own file is refused.
#[test]
fn kvm_copy_storage_all_moves_the_disks_to_the_destination() {
    let Some(h) = KvmHosts::start() else {
        return;
    };
    if !wirt_testkit::have("qemu-img", "--version") {
        wirt_testkit::require("qemu-img", "the guest's second disk is a qcow2 image");
        return;
    }
    let (ua, ub) = (KvmHosts::uri(&h.a), KvmHosts::uri(&h.b));
    let ca = crate::support::open(&ua).unwrap();
    let cb = crate::support::open(&ub).unwrap();
    let (da, db) = (h.a.dir.path(), h.b.dir.path());
    let raw = da.join("s1.img");
    let data: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&raw, &data).unwrap();
    let qcow = da.join("s1-data.qcow2");
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&qcow)
        .arg("2M")
        .status()
        .unwrap();
    assert!(made.success());
    let xml = |dir: &std::path::Path| {
        format!(
            "<domain type='kvm'><name>s1</name><uuid>5a1e0c7a-8c1b-4f0e-9a55-3b0f2f6f7d11</uuid>\
             <memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>\
             <disk type='file' device='disk'><source file='{}'/><target dev='vda' bus='virtio'/></disk>\
             <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
             <source file='{}'/><target dev='vdb' bus='virtio'/></disk></devices></domain>",
            dir.join("s1.img").display(),
            dir.join("s1-data.qcow2").display()
        )
    };
    ca.create_domain_xml(&xml(da), 0).unwrap();
    let fill = |uri: &str, disk: u32, seed: u32| {
        let line = format!("fill {disk} 16 8 {seed}");
        let answer = format!("fill {disk} 16 8: ");
        KvmHosts::guest_command(uri, "s1", &line, &answer, |l| l.ends_with("ok"));
    };
    let sum = |uri: &str, disk: u32| {
        let line = format!("sum {disk} 0 64");
        let answer = format!("sum {disk} 0 64: ");
        KvmHosts::guest_command(uri, "s1", &line, &answer, |_| true)
    };
    fill(&ua, 0, 3);
    fill(&ua, 1, 4);
    let (before0, before1) = (sum(&ua, 0), sum(&ua, 1));
    let dest_xml = db.join("s1-dest.xml");
    std::fs::write(&dest_xml, xml(db)).unwrap();
    let dest_xml = dest_xml.to_string_lossy().into_owned();
    let virsh = crate::remote::have_virsh();
    let args = [
        "migrate",
        "--live",
        "--p2p",
        "--copy-storage-all",
        "--xml",
        &dest_xml,
        "s1",
        &ub,
    ];
    let out = if virsh {
        run(Command::new("virsh").args(["-c", &ua]).args(args))
    } else {
        wirt(&ua, &args.join(" "))
    };
    assert!(out.ok, "{}", out.stderr);
    assert!(gone(&ca, "s1"));
    assert_eq!(state(&cb, "s1"), (State::Running, reason::RUNNING_MIGRATED));
    let list = wirt(&ub, "domblklist s1");
    assert!(
        list.stdout
            .contains(&db.join("s1.img").display().to_string()),
        "{}",
        list.stdout
    );
    assert_eq!(sum(&ub, 0), before0, "the raw disk arrived");
    assert_eq!(sum(&ub, 1), before1, "the qcow2 disk arrived");
    // Byte for byte, once nothing writes: the source is gone, the
    // destination paused.
    cb.lookup_domain_by_name("s1").unwrap().suspend().unwrap();
    assert!(
        std::fs::read(&raw).unwrap() == std::fs::read(db.join("s1.img")).unwrap(),
        "the raw image differs"
    );
    let compare = Command::new("qemu-img")
        .args(["compare", "-q", "-f", "qcow2", "-F", "qcow2"])
        .arg(&qcow)
        .arg(db.join("s1-data.qcow2"))
        .status()
        .unwrap();
    assert!(compare.success(), "the qcow2 image differs");
    cb.lookup_domain_by_name("s1").unwrap().resume().unwrap();

    // Back to A without --xml: A would write into B's own files.
    let out = wirt(
        &ub,
        &format!("migrate --live --p2p --copy-storage-all s1 {ua}"),
    );
    assert!(!out.ok);
    assert!(
        out.stderr.contains(
            "is the source's own image (shared storage): migrate without --copy-storage-all"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(state(&cb, "s1").0, State::Running, "the guest stays at B");
    assert!(gone(&ca, "s1"), "nothing left at A");
    cb.lookup_domain_by_name("s1").unwrap().destroy().unwrap();
    until("every VMM to go", || {
        vmms_under(da).is_empty() && vmms_under(db).is_empty()
    });
}
