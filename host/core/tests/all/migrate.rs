//! Migration between test hosts in one process: the API's v3 steps with
//! the test driver's simulated transfer (`docs/lifecycle.md`, "Migration").

use std::time::Duration;

use wirt::connect::migrate_flags as mf;
use wirt::connect::{Connect, MigrateParams};
use wirt::lifecycle::{Event, State, detail, reason};
use wirt::{Domain, ErrorCode};

use crate::support::{Host, domain_xml};

fn events(stream: &wirt::events::EventStream) -> Vec<(Event, u32)> {
    std::iter::from_fn(|| stream.next_timeout(Duration::from_millis(200)))
        .map(|e| (e.event, e.detail))
        .collect()
}

fn run(conn: &Connect, name: &str) -> Domain {
    conn.create_domain_xml(&domain_xml(name), 0).unwrap()
}

#[test]
fn a_live_migration_moves_the_domain_with_libvirts_states_and_events() {
    let (src, dst) = (Host::empty(), Host::empty());
    let vm = run(&src.conn, "vm1");
    let (es, ed) = (src.conn.events(), dst.conn.events());
    let moved = vm
        .migrate(&dst.conn, &MigrateParams::default(), mf::LIVE)
        .unwrap();
    assert_eq!(
        moved.state().unwrap(),
        (State::Running, reason::RUNNING_MIGRATED)
    );
    assert!(moved.id().unwrap() > 0);
    assert_eq!(vm.state().unwrap_err().code(), ErrorCode::NO_DOMAIN);
    assert_eq!(
        events(&es),
        [
            (Event::Suspended, detail::SUSPENDED_MIGRATED),
            (Event::Stopped, detail::STOPPED_MIGRATED),
        ]
    );
    assert_eq!(
        events(&ed),
        [
            (Event::Started, detail::STARTED_MIGRATED),
            (Event::Resumed, detail::RESUMED_MIGRATED),
        ]
    );
    // --suspend: it arrives paused.
    let back = moved
        .migrate(&src.conn, &MigrateParams::default(), mf::LIVE | mf::PAUSED)
        .unwrap();
    assert_eq!(back.state().unwrap(), (State::Paused, reason::PAUSED_USER));
}

#[test]
fn what_libvirt_refuses_is_refused_and_changes_nothing() {
    let (src, dst) = (Host::empty(), Host::empty());
    let vm = run(&src.conn, "vm1");
    let none = MigrateParams::default();
    // The same host, through another connection to it (each private test
    // host is a host of its own; `test:///default` is shared).
    let (one, two) = (
        Connect::open("test:///default").unwrap(),
        Connect::open("test:///default").unwrap(),
    );
    let test = one.lookup_domain_by_name("test").unwrap();
    let e = test.migrate(&two, &none, mf::LIVE).unwrap_err();
    assert_eq!(e.code(), ErrorCode::INTERNAL_ERROR);
    assert!(
        e.message()
            .contains("Attempt to migrate guest to the same host"),
        "{e}"
    );
    assert_eq!(test.state().unwrap().0, State::Running);
    let e = vm.migrate(&dst.conn, &none, mf::PEER2PEER).unwrap_err();
    assert_eq!(e.code(), ErrorCode::ARGUMENT_UNSUPPORTED);
    let e = vm
        .migrate(&dst.conn, &none, mf::LIVE | mf::TUNNELLED)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::ARGUMENT_UNSUPPORTED);
    let e = vm.migrate(&dst.conn, &none, 1 << 20).unwrap_err();
    assert_eq!(e.code(), ErrorCode::INVALID_ARG);
    let ro = Connect::open_read_only("test:///default").unwrap();
    let e = ro
        .lookup_domain_by_name("test")
        .unwrap()
        .migrate(&dst.conn, &none, mf::LIVE)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::OPERATION_DENIED);
    // An inactive domain goes only offline, and offline only persistent.
    let idle = src.conn.define_domain_xml(&domain_xml("vm2"), 0).unwrap();
    let e = idle.migrate(&dst.conn, &none, mf::LIVE).unwrap_err();
    assert_eq!(e.code(), ErrorCode::OPERATION_INVALID);
    assert_eq!(
        e.message(),
        "Requested operation is not valid: domain is not running"
    );
    let e = idle.migrate(&dst.conn, &none, mf::OFFLINE).unwrap_err();
    assert_eq!(e.code(), ErrorCode::OPERATION_INVALID);
    assert_eq!(
        vm.state().unwrap(),
        (State::Running, reason::RUNNING_BOOTED)
    );
    assert!(dst.conn.list_all_domains(0).unwrap().is_empty());
    // Offline with --persistent: the definition is copied, nothing runs.
    let copy = idle
        .migrate(&dst.conn, &none, mf::OFFLINE | mf::PERSIST_DEST)
        .unwrap();
    assert!(copy.is_persistent().unwrap() && !copy.is_active().unwrap());
    assert!(idle.is_persistent().unwrap());
}

#[test]
fn persistent_and_undefinesource_follow_libvirt() {
    let (src, dst) = (Host::empty(), Host::empty());
    let vm = src.conn.define_domain_xml(&domain_xml("vm1"), 0).unwrap();
    vm.start(0).unwrap();
    let none = MigrateParams::default();
    // Kept, shut off (migrated), without --undefinesource.
    let moved = vm.migrate(&dst.conn, &none, mf::LIVE).unwrap();
    assert_eq!(
        vm.state().unwrap(),
        (State::Shutoff, reason::SHUTOFF_MIGRATED)
    );
    assert!(!moved.is_persistent().unwrap());
    let e = dst.conn.events();
    let back = moved
        .migrate(
            &src.conn,
            &none,
            mf::LIVE | mf::PERSIST_DEST | mf::UNDEFINE_SOURCE,
        )
        .unwrap();
    assert_eq!(
        events(&e),
        [
            (Event::Suspended, detail::SUSPENDED_MIGRATED),
            (Event::Stopped, detail::STOPPED_MIGRATED),
        ]
    );
    assert_eq!(moved.state().unwrap_err().code(), ErrorCode::NO_DOMAIN);
    assert!(back.is_persistent().unwrap());
    assert_eq!(
        back.state().unwrap(),
        (State::Running, reason::RUNNING_MIGRATED)
    );
}
