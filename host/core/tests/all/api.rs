//! The Rust API against the WASM test driver: lifecycle rules, events,
//! errors with libvirt's codes, persistence of settings.

use std::time::Duration;

use wirt::connect::domain_flags as flags;
use wirt::connect::list_flags;
use wirt::lifecycle::{Event, State};
use wirt::{Connect, ErrorCode};

use crate::support::{Host, domain_xml};

fn code<T: std::fmt::Debug>(r: Result<T, wirt::Error>) -> ErrorCode {
    r.expect_err("expected an error").code()
}

#[test]
fn default_host_matches_libvirt_test_driver() {
    let conn = Connect::open("test:///default").unwrap();
    let test = conn.lookup_domain_by_name("test").unwrap();
    assert_eq!(test.uuid_string(), "6695eb01-f6a4-8304-79aa-97f2502e193f");
    assert_eq!(conn.lookup_domain_by_id(1).unwrap().name(), "test");
    let net = conn.lookup_network_by_name("default").unwrap();
    assert!(net.is_active().unwrap());
    let pool = conn.lookup_pool_by_name("default-pool").unwrap();
    assert!(pool.is_active().unwrap());
    assert_eq!(pool.info().unwrap().capacity, 100 << 30);
    let xml = test.xml_desc(flags::XML_INACTIVE).unwrap();
    assert!(xml.contains("<source file='/guest/diskimage1'/>"), "{xml}");
    assert!(xml.contains("<type arch='i686'>hvm</type>"), "{xml}");
    assert_eq!(conn.type_name(), "TEST");
}

#[test]
fn full_lifecycle_with_events() {
    let host = Host::empty();
    let conn = &host.conn;
    let events = conn.events();
    let dom = conn.define_domain_xml(&domain_xml("vm1"), 0).unwrap();
    assert_eq!(dom.state().unwrap().0, State::Shutoff);
    assert_eq!(dom.id().unwrap(), -1);

    dom.start(0).unwrap();
    assert_eq!(dom.state().unwrap(), (State::Running, 1));
    let id = dom.id().unwrap();
    assert!(id > 0);
    assert_eq!(code(dom.start(0)), ErrorCode::OPERATION_INVALID);

    dom.suspend().unwrap();
    assert_eq!(dom.state().unwrap(), (State::Paused, 1));
    dom.suspend().unwrap(); // a no-op on a paused domain
    dom.resume().unwrap();
    assert_eq!(dom.state().unwrap(), (State::Running, 5));
    assert_eq!(code(dom.resume()), ErrorCode::OPERATION_INVALID);

    dom.reboot(0).unwrap();
    assert_eq!(dom.id().unwrap(), id, "reboot keeps the id");
    dom.reset().unwrap();
    dom.shutdown().unwrap();
    assert_eq!(dom.state().unwrap(), (State::Shutoff, 1));
    assert_eq!(code(dom.destroy()), ErrorCode::OPERATION_INVALID);

    dom.start(flags::START_PAUSED).unwrap();
    assert_eq!(dom.state().unwrap().0, State::Paused);
    assert!(dom.id().unwrap() > id, "ids are never reused");
    dom.destroy().unwrap();
    assert_eq!(dom.state().unwrap(), (State::Shutoff, 2));
    dom.undefine(0).unwrap();
    assert_eq!(
        code(conn.lookup_domain_by_name("vm1")),
        ErrorCode::NO_DOMAIN
    );

    let seen: Vec<(Event, u32)> = events
        .drain()
        .into_iter()
        .map(|e| (e.event, e.detail))
        .collect();
    assert_eq!(
        seen,
        vec![
            (Event::Defined, 0),
            (Event::Started, 0),
            (Event::Suspended, 0),
            (Event::Resumed, 0),
            (Event::Shutdown, 0),
            (Event::Stopped, 0),
            (Event::Started, 0),
            (Event::Suspended, 0),
            (Event::Stopped, 1),
            (Event::Undefined, 0),
        ]
    );
}

#[test]
fn transient_domains_vanish_when_stopped() {
    let host = Host::empty();
    let dom = host.conn.create_domain_xml(&domain_xml("t1"), 0).unwrap();
    assert!(!dom.is_persistent().unwrap());
    assert_eq!(code(dom.undefine(0)), ErrorCode::OPERATION_INVALID);
    assert_eq!(code(dom.set_autostart(true)), ErrorCode::OPERATION_INVALID);
    assert_eq!(code(dom.managed_save(0)), ErrorCode::OPERATION_INVALID);
    dom.destroy().unwrap();
    assert_eq!(
        code(host.conn.lookup_domain_by_name("t1")),
        ErrorCode::NO_DOMAIN
    );
    assert_eq!(code(dom.state()), ErrorCode::NO_DOMAIN);
}

#[test]
fn define_conflicts_follow_libvirt_order() {
    let host = Host::empty();
    let a = host.conn.define_domain_xml(&domain_xml("a"), 0).unwrap();
    // Same name, another UUID.
    let other = domain_xml("a").replace(
        "<name>",
        "<uuid>11111111-2222-3333-4444-555555555555</uuid><name>",
    );
    let err = host.conn.define_domain_xml(&other, 0).unwrap_err();
    assert_eq!(err.code(), ErrorCode::OPERATION_FAILED);
    assert!(
        err.message()
            .contains(&format!("domain 'a' already exists with uuid {}", a.uuid())),
        "{}",
        err.message()
    );
    // Same UUID, another name.
    let renamed = domain_xml("b").replace("<name>", &format!("<uuid>{}</uuid><name>", a.uuid()));
    let err = host.conn.define_domain_xml(&renamed, 0).unwrap_err();
    assert_eq!(err.code(), ErrorCode::OPERATION_FAILED);
    assert!(
        err.message().contains("is already defined with uuid"),
        "{}",
        err.message()
    );
    // create with the UUID of an active domain.
    a.start(0).unwrap();
    let same = domain_xml("a").replace("<name>", &format!("<uuid>{}</uuid><name>", a.uuid()));
    assert_eq!(
        code(host.conn.create_domain_xml(&same, 0)),
        ErrorCode::OPERATION_INVALID
    );
}

#[test]
fn bad_input_gets_libvirt_classes() {
    let host = Host::empty();
    let conn = &host.conn;
    let err = conn
        .define_domain_xml("<domain type='test'>\n  <name>x</nam>\n</domain>", 0)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::XML_DETAIL);
    assert!(
        err.message().starts_with("(domain_definition):2:"),
        "{}",
        err.message()
    );
    assert_eq!(
        code(conn.define_domain_xml(
            "<domain type='test'><memory>1</memory><os><type>hvm</type></os></domain>",
            0
        )),
        ErrorCode::NO_NAME
    );
    let no_mem = conn
        .define_domain_xml(
            "<domain type='test'><name>m</name><os><type>hvm</type></os></domain>",
            0,
        )
        .unwrap_err();
    assert_eq!(no_mem.code(), ErrorCode::XML_ERROR);
    assert!(no_mem.message().contains("Memory size must be specified"));
    assert_eq!(
        code(conn.define_domain_xml(&domain_xml("a/b"), 0)),
        ErrorCode::XML_ERROR
    );
    assert_eq!(
        code(conn.define_domain_xml(&domain_xml("a\u{7}b"), 0)),
        ErrorCode::XML_ERROR
    );
    let bogus = domain_xml("v").replace("</domain>", "<bogus/></domain>");
    conn.define_domain_xml(&bogus, 0)
        .expect("unknown elements are kept without --validate");
    assert!(
        conn.lookup_domain_by_name("v")
            .unwrap()
            .xml_desc(0)
            .unwrap()
            .contains("<bogus/>")
    );
    assert_eq!(
        code(conn.define_domain_xml(&bogus, flags::DEFINE_VALIDATE)),
        ErrorCode::XML_INVALID_SCHEMA
    );
    assert_eq!(
        code(conn.lookup_domain_by_name("nope")),
        ErrorCode::NO_DOMAIN
    );
    assert_eq!(code(conn.lookup_domain_by_id(999)), ErrorCode::NO_DOMAIN);
    assert_eq!(code(conn.list_all_domains(1 << 30)), ErrorCode::INVALID_ARG);
    let dom = conn.define_domain_xml(&domain_xml("mem"), 0).unwrap();
    assert_eq!(
        code(dom.set_memory_flags(1 << 30, flags::AFFECT_CONFIG)),
        ErrorCode::INVALID_ARG
    );
    let huge = format!(
        "<domain type='test'>{}</domain>",
        "<a>".repeat(300) + &"</a>".repeat(300)
    );
    assert_eq!(
        code(conn.define_domain_xml(&huge, 0)),
        ErrorCode::XML_DETAIL
    );
    assert_eq!(code(Connect::open("bogus:///x")), ErrorCode::NO_CONNECT);
}

#[test]
fn running_domain_has_two_configs() {
    let host = Host::empty();
    let dom = host.conn.define_domain_xml(&domain_xml("two"), 0).unwrap();
    dom.start(0).unwrap();
    let bigger = domain_xml("two")
        .replace("<name>", &format!("<uuid>{}</uuid><name>", dom.uuid()))
        .replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>");
    host.conn.define_domain_xml(&bigger, 0).unwrap();
    assert!(dom.xml_desc(0).unwrap().contains(">1</vcpu>"));
    assert!(
        dom.xml_desc(flags::XML_INACTIVE)
            .unwrap()
            .contains(">2</vcpu>")
    );
    dom.destroy().unwrap();
    dom.start(0).unwrap();
    assert!(
        dom.xml_desc(0).unwrap().contains(">2</vcpu>"),
        "the new config takes effect at next start"
    );

    // Undefining a running domain leaves it running, transient.
    dom.undefine(0).unwrap();
    assert_eq!(dom.state().unwrap().0, State::Running);
    assert!(!dom.is_persistent().unwrap());
    dom.destroy().unwrap();
    assert!(host.conn.lookup_domain_by_name("two").is_err());
}

#[test]
fn save_restore_and_managed_save() {
    let host = Host::empty();
    let dom = host.conn.define_domain_xml(&domain_xml("s"), 0).unwrap();
    dom.start(0).unwrap();
    let image = host.dir.path().join("s.sav");
    dom.save(&image, 0).unwrap();
    assert_eq!(dom.state().unwrap(), (State::Shutoff, 5));
    assert!(
        host.conn
            .save_image_xml(&image)
            .unwrap()
            .contains("<name>s</name>")
    );
    host.conn.restore(&image, 0).unwrap();
    assert_eq!(dom.state().unwrap(), (State::Running, 3));
    assert_eq!(
        code(host.conn.restore(&image, 0)),
        ErrorCode::OPERATION_INVALID
    );

    dom.managed_save(0).unwrap();
    assert!(dom.has_managed_save_image().unwrap());
    let listed = host.conn.list_all_domains(list_flags::MANAGEDSAVE).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(code(dom.undefine(0)), ErrorCode::OPERATION_INVALID);
    dom.start(0).unwrap();
    assert_eq!(
        dom.state().unwrap(),
        (State::Running, 3),
        "start from a managed save restores"
    );
    assert!(!dom.has_managed_save_image().unwrap());

    // A damaged image is refused and nothing changes.
    std::fs::write(&image, b"WIRTSAVEgarbage").unwrap();
    dom.destroy().unwrap();
    assert_eq!(
        code(host.conn.restore(&image, 0)),
        ErrorCode::OPERATION_FAILED
    );
    assert_eq!(dom.state().unwrap().0, State::Shutoff);
}

#[test]
fn snapshots_tree_revert_and_undefine_rule() {
    let host = Host::empty();
    let dom = host.conn.define_domain_xml(&domain_xml("snap"), 0).unwrap();
    let s1 = dom
        .snapshot_create_xml("<domainsnapshot><name>s1</name></domainsnapshot>", 0)
        .unwrap();
    dom.start(0).unwrap();
    let s2 = dom
        .snapshot_create_xml("<domainsnapshot><name>s2</name></domainsnapshot>", 0)
        .unwrap();
    assert_eq!(s2.info().unwrap().parent.as_deref(), Some("s1"));
    assert_eq!(s1.info().unwrap().children, 1);
    let id = dom.id().unwrap();
    s1.revert(0).unwrap();
    assert_eq!(dom.state().unwrap(), (State::Shutoff, 7));
    s2.revert(0).unwrap();
    assert_eq!(dom.state().unwrap(), (State::Running, 4));
    assert!(
        dom.id().unwrap() > id,
        "a revert to a running snapshot gives a new id"
    );
    dom.destroy().unwrap();
    assert_eq!(code(dom.undefine(0)), ErrorCode::OPERATION_INVALID);
    s1.delete(0).unwrap();
    assert_eq!(s2.info().unwrap().parent, None, "children move up");
    dom.undefine(flags::UNDEFINE_SNAPSHOTS_METADATA).unwrap();
}

#[test]
fn settings_memory_vcpus_rename_autostart() {
    let host = Host::empty();
    let dom = host.conn.define_domain_xml(&domain_xml("cfg"), 0).unwrap();
    dom.set_memory_flags(65536, 0).unwrap();
    assert_eq!(dom.info().unwrap().memory_kib, 65536);
    assert_eq!(
        code(dom.set_memory_flags(65536, flags::AFFECT_LIVE)),
        ErrorCode::OPERATION_INVALID
    );
    dom.set_vcpus_flags(4, flags::AFFECT_CONFIG | flags::VCPU_MAXIMUM)
        .unwrap();
    dom.set_vcpus_flags(2, flags::AFFECT_CONFIG).unwrap();
    assert_eq!(dom.vcpus_flags(flags::AFFECT_CONFIG).unwrap(), 2);
    assert_eq!(
        dom.vcpus_flags(flags::AFFECT_CONFIG | flags::VCPU_MAXIMUM)
            .unwrap(),
        4
    );
    assert_eq!(
        code(dom.set_vcpus_flags(5, flags::AFFECT_CONFIG)),
        ErrorCode::INVALID_ARG
    );
    dom.set_autostart(true).unwrap();
    assert_eq!(
        host.conn
            .list_all_domains(list_flags::AUTOSTART)
            .unwrap()
            .len(),
        1
    );
    dom.rename("cfg2").unwrap();
    assert!(host.conn.lookup_domain_by_name("cfg2").is_ok());
    assert!(host.conn.lookup_domain_by_name("cfg").is_err());
    dom.start(0).unwrap();
    assert_eq!(code(dom.rename("cfg3")), ErrorCode::OPERATION_INVALID);
    dom.set_vcpus_flags(1, flags::AFFECT_LIVE).unwrap();
    assert_eq!(dom.vcpus_flags(flags::AFFECT_LIVE).unwrap(), 1);
}

#[test]
fn list_filters() {
    let host = Host::empty();
    let a = host.conn.define_domain_xml(&domain_xml("a"), 0).unwrap();
    let b = host.conn.define_domain_xml(&domain_xml("b"), 0).unwrap();
    host.conn
        .create_domain_xml(&domain_xml("c"), flags::START_PAUSED)
        .unwrap();
    b.start(0).unwrap();
    let names = |f| -> Vec<String> {
        host.conn
            .list_all_domains(f)
            .unwrap()
            .iter()
            .map(|d| d.name().to_string())
            .collect()
    };
    assert_eq!(
        names(0),
        vec!["c", "b", "a"],
        "active by id, then inactive by name"
    );
    assert_eq!(names(list_flags::INACTIVE), vec!["a"]);
    assert_eq!(names(list_flags::TRANSIENT), vec!["c"]);
    assert_eq!(names(list_flags::PAUSED), vec!["c"]);
    assert_eq!(
        names(list_flags::RUNNING | list_flags::SHUTOFF),
        vec!["b", "a"]
    );
    assert_eq!(
        names(list_flags::PERSISTENT | list_flags::ACTIVE),
        vec!["b"]
    );
    drop(a);
}

#[test]
fn node_file_seeds_objects_and_states() {
    let node = r#"<node>
      <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
        <name>paused-one</name><memory>1024</memory><os><type>hvm</type></os>
        <test:runstate>3</test:runstate>
      </domain>
      <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
        <name>off-one</name><memory>1024</memory><os><type>hvm</type></os>
        <test:runstate>5</test:runstate>
        <test:hasmanagedsave/>
      </domain>
      <network><name>n1</name><bridge name='br9'/></network>
      <pool type='dir'><name>p1</name><target><path>/p1</path></target>
        <volume><name>v1</name><capacity unit='MiB'>8</capacity></volume>
      </pool>
    </node>"#;
    let host = Host::with_node(node);
    let paused = host.conn.lookup_domain_by_name("paused-one").unwrap();
    assert_eq!(paused.state().unwrap().0, State::Paused);
    assert!(!paused.xml_desc(0).unwrap().contains("runstate"));
    let off = host.conn.lookup_domain_by_name("off-one").unwrap();
    assert!(off.has_managed_save_image().unwrap());
    off.start(0).unwrap();
    assert_eq!(off.state().unwrap(), (State::Running, 3));
    let vol = host
        .conn
        .lookup_pool_by_name("p1")
        .unwrap()
        .lookup_vol_by_name("v1")
        .unwrap();
    assert_eq!(vol.info().unwrap().capacity, 8 << 20);
    assert_eq!(vol.path().unwrap(), "/p1/v1");
    assert!(
        host.conn
            .lookup_network_by_name("n1")
            .unwrap()
            .is_active()
            .unwrap()
    );
    // Another connection to the same file gets its own private host.
    let other = Connect::open(&host.uri()).unwrap();
    other
        .lookup_domain_by_name("paused-one")
        .unwrap()
        .destroy()
        .unwrap();
    assert_eq!(paused.state().unwrap().0, State::Paused);
}

#[test]
fn storage_on_the_test_driver() {
    let host = Host::with_node(
        "<node><pool type='dir'><name>p</name><target><path>/p</path></target></pool></node>",
    );
    let pool = host.conn.lookup_pool_by_name("p").unwrap();
    let vol = pool
        .create_volume_xml("<volume><name>disk.raw</name><capacity unit='MiB'>4</capacity><allocation>0</allocation></volume>", 0)
        .unwrap();
    assert_eq!(
        code(pool.create_volume_xml(
            "<volume><name>disk.raw</name><capacity>1</capacity></volume>",
            0
        )),
        ErrorCode::STORAGE_VOL_EXIST
    );
    assert_eq!(
        code(pool.create_volume_xml(
            "<volume><name>x/y.raw</name><capacity>1</capacity></volume>",
            0
        )),
        ErrorCode::XML_ERROR
    );
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    vol.upload(12345, 0, &mut data.as_slice(), &mut |_, _| {})
        .unwrap();
    let mut back = Vec::new();
    vol.download(12345, data.len() as u64, &mut back, &mut |_, _| {})
        .unwrap();
    assert_eq!(back, data);
    assert_eq!(
        code(vol.resize(1 << 20, 0)),
        ErrorCode::INVALID_ARG,
        "shrink needs the flag"
    );
    vol.resize(1 << 20, wirt::connect::volume_flags::RESIZE_SHRINK)
        .unwrap();
    vol.resize(8 << 20, 0).unwrap();
    assert_eq!(vol.info().unwrap().capacity, 8 << 20);
    vol.wipe(0, 0).unwrap();
    let mut zeros = Vec::new();
    vol.download(0, 4096, &mut zeros, &mut |_, _| {}).unwrap();
    assert!(zeros.iter().all(|&b| b == 0));
    pool.destroy().unwrap();
    assert_eq!(code(pool.list_all_volumes()), ErrorCode::OPERATION_INVALID);
}

#[test]
fn events_reach_every_subscriber_in_order() {
    let host = Host::empty();
    let first = host.conn.events();
    let second = host.conn.events();
    let dom = host.conn.define_domain_xml(&domain_xml("ev"), 0).unwrap();
    dom.start(0).unwrap();
    for stream in [&first, &second] {
        let a = stream.next_timeout(Duration::from_secs(1)).unwrap();
        let b = stream.next_timeout(Duration::from_secs(1)).unwrap();
        assert_eq!((a.event, b.event), (Event::Defined, Event::Started));
        assert_eq!(b.id, dom.id().unwrap());
        assert_eq!(
            b.virsh_line(),
            "event 'lifecycle' for domain 'ev': Started Booted"
        );
    }
}
