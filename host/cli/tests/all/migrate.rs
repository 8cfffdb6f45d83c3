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

struct Out {
    stdout: String,
    stderr: String,
    ok: bool,
}

fn run(cmd: &mut Command) -> Out {
    let out = cmd.stdin(Stdio::null()).output().expect("run client");
    Out {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        ok: out.status.success(),
    }
}

fn wirt(uri: &str, script: &str) -> Out {
    run(Command::new(env!("CARGO_BIN_EXE_wirt")).args(["-c", uri, script]))
}

fn xml(name: &str, uuid: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>\
         <memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"
    )
}

/// The lifecycle events of `name` the stream brings until `want` of them
/// came (or 20 s went by), as (event, detail).
fn events_of(stream: &EventStream, name: &str, want: usize) -> Vec<(Event, u32)> {
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

fn state(conn: &Connect, name: &str) -> (State, u32) {
    conn.lookup_domain_by_name(name).unwrap().state().unwrap()
}

fn gone(conn: &Connect, name: &str) -> bool {
    conn.lookup_domain_by_name(name)
        .is_err_and(|e| e.code() == ErrorCode::NO_DOMAIN)
}

/// Two test hosts; the connections held here keep each `test:///default`
/// alive between the clients' own connections.
fn two_hosts() -> (Daemon, Daemon, Connect, Connect) {
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
    assert_eq!(state(&cb, "vm1"), (State::Running, reason::RUNNING_MIGRATED));
    assert!(!cb.lookup_domain_by_name("vm1").unwrap().is_persistent().unwrap());
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
    assert_eq!(state(&cb, "vm1"), (State::Running, reason::RUNNING_MIGRATED));

    // A persistent domain stays defined (shut off, migrated) unless
    // --undefinesource; --persistent defines it at the destination.
    let vm2 = ca
        .define_domain_xml(&xml("vm2", "2c8cff5b-3228-4065-bb12-66f7d48d4f1a"), 0)
        .unwrap();
    vm2.start(0).unwrap();
    let out = wirt(&a.uri(), &format!("migrate --live vm2 {}", b.uri()));
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(state(&ca, "vm2"), (State::Shutoff, reason::SHUTOFF_MIGRATED));
    assert!(!cb.lookup_domain_by_name("vm2").unwrap().is_persistent().unwrap());
    let out = wirt(
        &b.uri(),
        &format!("migrate --live --persistent --undefinesource vm2 {}", a.uri()),
    );
    // vm2 is still defined on A: arriving there updates that definition.
    assert!(out.ok, "{}", out.stderr);
    assert!(gone(&cb, "vm2"));
    assert_eq!(state(&ca, "vm2"), (State::Running, reason::RUNNING_MIGRATED));
    assert!(ca.lookup_domain_by_name("vm2").unwrap().is_persistent().unwrap());

    // An inactive domain moves only offline, and only with --persistent.
    let out = wirt(&a.uri(), &format!("destroy vm2; migrate vm2 {}", b.uri()));
    assert!(!out.ok);
    assert!(
        out.stderr.contains("Requested operation is not valid: domain is not running"),
        "{}",
        out.stderr
    );
    let out = wirt(&a.uri(), &format!("migrate --offline vm2 {}", b.uri()));
    assert!(!out.ok);
    assert!(out.stderr.contains("persistent flag"), "{}", out.stderr);
    let out = wirt(
        &a.uri(),
        &format!("migrate --offline --persistent --undefinesource vm2 {}", b.uri()),
    );
    assert!(out.ok, "{}", out.stderr);
    assert!(gone(&ca, "vm2"));
    assert_eq!(state(&cb, "vm2"), (State::Shutoff, reason::SHUTOFF_UNKNOWN));
    assert!(cb.lookup_domain_by_name("vm2").unwrap().is_persistent().unwrap());

    // The settings a live migration uses.
    let out = wirt(
        &b.uri(),
        "migrate-setmaxdowntime vm1 50; migrate-getmaxdowntime vm1; migrate-setspeed vm1 20; migrate-getspeed vm1",
    );
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.split_whitespace().collect::<Vec<_>>(), ["50", "20"]);
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
    cb.lookup_domain_by_name("vm1").unwrap().undefine(0).unwrap();
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
fn virsh_migrates_between_two_daemons() {
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
        "vm1",
        &b.uri(),
    ]));
    assert!(out.ok, "{}", out.stderr);
    assert!(gone(&ca, "vm1"));
    assert_eq!(state(&cb, "vm1"), (State::Running, reason::RUNNING_MIGRATED));
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
    assert_eq!(back.state().unwrap(), (State::Running, reason::RUNNING_MIGRATED));
    assert!(back.is_persistent().unwrap());
    // virsh's own errors for what libvirt refuses.
    let out = run(Command::new("virsh").args(["-c", &a.uri(), "migrate", "vm1", &a.uri()]));
    assert!(!out.ok);
    assert!(
        out.stderr.contains("Attempt to migrate guest to the same host"),
        "{}",
        out.stderr
    );
    assert_eq!(back.state().unwrap(), (State::Running, reason::RUNNING_MIGRATED));
}
