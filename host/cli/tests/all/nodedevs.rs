//! Node devices: the test driver's, with its vHBAs and their events
//! (compared with libvirt's own test driver through python3-libvirt and
//! virsh, and with virsh through wirtd) and the local host's, read from
//! sysfs on kvm:.

use std::process::Command;

use crate::remote::{Daemon, have_virsh, python_libvirt};
use crate::support::{run, wirt};

/// What virsh 9.0 prints for libvirt's test driver (its `--tree` layout
/// is `vshTreePrint`'s; the test driver itself refuses virsh's default
/// ACTIVE flag, so this is checked through wirtd below).
const TREE: &str = "computer\n  |\n  +- scsi_host1\n  |   |\n  |   +- scsi_host11\n  |     \n  +- scsi_host2\n    \n\n";

#[test]
fn test_driver_node_devices_list_tree_and_dumpxml() {
    let out = wirt(
        "test:///default",
        "nodedev-list; nodedev-list --tree; nodedev-list --cap vports; \
         nodedev-list --cap system,fc_host --all; nodedev-list --inactive; nodedev-dumpxml scsi_host11",
    );
    assert!(out.ok, "{}", out.stderr);
    let expected = format!(
        "computer\nscsi_host1\nscsi_host11\nscsi_host2\n\n{TREE}\
         scsi_host1\nscsi_host2\n\n\
         computer\nscsi_host1\nscsi_host11\nscsi_host2\n\n\n\
         <device>\n  <name>scsi_host11</name>\n  <parent>scsi_host1</parent>\n  \
         <capability type='scsi_host'>\n    <host>11</host>\n    <unique_id>10</unique_id>\n    \
         <capability type='fc_host'>\n      <wwnn>2000000034563456</wwnn>\n      \
         <wwpn>1000000034563456</wwpn>\n      <fabric_wwn>2000000043214321</fabric_wwn>\n    \
         </capability>\n  </capability>\n</device>\n\n"
    );
    assert_eq!(out.stdout, expected);
    for (script, stderr) in [
        (
            "nodedev-dumpxml nope",
            "error: Could not find matching device 'nope'\nerror: Node device not found: no node device with matching name 'nope'\n",
        ),
        (
            "nodedev-list --cap bogus",
            "error: Invalid capability type\n",
        ),
        (
            "nodedev-list --tree --cap pci",
            "error: Option --tree is incompatible with --cap and --inactive\n",
        ),
        (
            "nodedev-list --all --inactive",
            "error: Option --all is incompatible with --inactive\n",
        ),
    ] {
        let out = wirt("test:///default", script);
        assert!(!out.ok, "{script}");
        assert_eq!(out.stderr, stderr, "{script}");
    }
}

/// Every answer of wirtd's test host and of libvirt's own test driver, side
/// by side in one python3-libvirt script.
const PYTHON_NODEDEVS: &str = r#"
import sys, libvirt
ours, theirs = libvirt.open(sys.argv[1]), libvirt.open("test:///default")
def names(c, flags=0): return sorted(d.name() for d in c.listAllDevices(flags))
for flags in [0, libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_FC_HOST,
              libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_VPORTS,
              libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_SYSTEM,
              libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET]:
    assert names(ours, flags) == names(theirs, flags), (flags, names(ours, flags))
for cap in [None, "scsi_host", "fc_host", "vports", "pci", "bogus"]:
    assert sorted(ours.listDevices(cap, 0)) == sorted(theirs.listDevices(cap, 0)), cap
    assert ours.numOfDevices(cap, 0) == theirs.numOfDevices(cap, 0), cap
for name in names(theirs):
    a, b = ours.nodeDeviceLookupByName(name), theirs.nodeDeviceLookupByName(name)
    assert a.XMLDesc(0) == b.XMLDesc(0), (a.XMLDesc(0), b.XMLDesc(0))
    assert a.parent() == b.parent(), name
    assert a.listCaps() == b.listCaps() and a.numOfCaps() == b.numOfCaps(), name
for c in (ours, theirs):
    try:
        c.nodeDeviceLookupByName("nope")
        raise SystemExit("found nope")
    except libvirt.libvirtError as e:
        assert e.get_error_code() == libvirt.VIR_ERR_NO_NODE_DEVICE, e
        assert "no node device with matching name 'nope'" in str(e), e
print("python nodedevs OK")
"#;

#[test]
fn python_libvirt_sees_libvirts_test_devices_through_wirtd() {
    let Some(python) = python_libvirt() else {
        return;
    };
    let d = Daemon::start();
    // The read-only socket: node devices are all reads.
    let out = run(Command::new(python).args(["-c", PYTHON_NODEDEVS, &d.ro_uri()]));
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "python nodedevs OK\n");
}

#[test]
fn virsh_through_wirtd_prints_what_wirt_prints() {
    if !have_virsh() {
        return;
    }
    let d = Daemon::start();
    let script = "nodedev-list; nodedev-list --tree; nodedev-list --cap fc_host,system; \
                  nodedev-list --all; nodedev-dumpxml computer";
    let virsh = run(Command::new("virsh").args(["-c", &d.uri(), script]));
    assert!(virsh.ok, "{}", virsh.stderr);
    assert!(virsh.stdout.contains(TREE), "{}", virsh.stdout);
    let ours = wirt(&d.uri(), script);
    assert!(ours.ok, "{}", ours.stderr);
    assert_eq!(ours.stdout, virsh.stdout);
}

#[test]
fn kvm_lists_the_hosts_computer_pci_and_net_devices() {
    let Some(k) = crate::kvm::kvm() else {
        return;
    };
    let list = k.ok("nodedev-list");
    let names: Vec<&str> = list.lines().filter(|l| !l.is_empty()).collect();
    assert!(names.contains(&"computer"), "{list}");
    for iface in std::fs::read_dir("/sys/class/net").unwrap() {
        let iface = iface.unwrap().file_name().into_string().unwrap();
        let prefix = format!("net_{iface}_");
        assert!(
            names.iter().any(|n| n.starts_with(&prefix)),
            "{iface} missing from {list}"
        );
    }
    for pci in std::fs::read_dir("/sys/bus/pci/devices").unwrap() {
        let address = pci.unwrap().file_name().into_string().unwrap();
        let name = format!("pci_{}", address.replace([':', '.'], "_"));
        assert!(names.contains(&name.as_str()), "{name} missing from {list}");
    }
    let nets = k.ok("nodedev-list --cap net");
    assert!(
        nets.lines()
            .filter(|l| !l.is_empty())
            .all(|l| l.starts_with("net_")),
        "{nets}"
    );
    let lo = names.iter().find(|n| n.starts_with("net_lo_")).unwrap();
    let xml = k.ok(&format!("nodedev-dumpxml {lo}"));
    assert!(xml.contains("<interface>lo</interface>"), "{xml}");
    assert!(xml.contains("<parent>computer</parent>"), "{xml}");
    let tree = k.ok("nodedev-list --tree");
    assert!(tree.starts_with("computer\n  |\n"), "{tree}");
    // The host's own devices are never changed.
    let file = k.dir.path().join("vhba.xml");
    std::fs::write(&file, VHBA).unwrap();
    let refused = "error: Operation not supported: the host's node devices are read-only on this connection\n";
    let out = k.wirt(&format!("nodedev-create {}", file.display()));
    assert_eq!(
        out.stderr,
        format!(
            "error: Failed to create node device from {}\n{refused}",
            file.display()
        )
    );
    let out = k.wirt("nodedev-destroy computer");
    assert_eq!(
        out.stderr,
        format!("error: Failed to destroy node device 'computer'\n{refused}")
    );
}

/// A vHBA as libvirt's test driver makes one: under scsi_host1, with both
/// WWNs.
const VHBA: &str = "<device>\n  <parent>scsi_host1</parent>\n  <capability type='scsi_host'>\n    \
                    <capability type='fc_host'>\n      <wwnn>2000000012341299</wwnn>\n      \
                    <wwpn>1000000012341299</wwpn>\n    </capability>\n  </capability>\n</device>\n";

/// What the vHBA looks like once made: scsi_host11's copy, with its WWNs.
const VHBA_MADE: &str = "<device>\n  <name>scsi_host12</name>\n  <parent>scsi_host1</parent>\n  \
                         <capability type='scsi_host'>\n    <host>11</host>\n    <unique_id>10</unique_id>\n    \
                         <capability type='fc_host'>\n      <wwnn>2000000012341299</wwnn>\n      \
                         <wwpn>1000000012341299</wwpn>\n      <fabric_wwn>2000000043214321</fabric_wwn>\n    \
                         </capability>\n  </capability>\n</device>\n";

/// Creates and destroys, with every refusal libvirt's test driver makes.
fn vhba_script(dir: &std::path::Path) -> String {
    let file = |name: &str, xml: &str| {
        let path = dir.join(name);
        std::fs::write(&path, xml).unwrap();
        path.display().to_string()
    };
    let ok = file("vhba.xml", VHBA);
    let no_fc = file(
        "nofc.xml",
        "<device><parent>scsi_host1</parent><capability type='scsi_host'/></device>",
    );
    let no_wwpn = file(
        "nowwpn.xml",
        &VHBA.replace("<wwpn>1000000012341299</wwpn>", ""),
    );
    let under_computer = file("pcomp.xml", &VHBA.replace("scsi_host1<", "computer<"));
    let under_vhba = file("p11.xml", &VHBA.replace("scsi_host1<", "scsi_host11<"));
    let no_parent = file(
        "pnone.xml",
        &VHBA.replace("<parent>scsi_host1</parent>", ""),
    );
    let lost_parent = file("pmiss.xml", &VHBA.replace("scsi_host1<", "nosuch<"));
    format!(
        "nodedev-create {ok}; nodedev-list --cap fc_host; nodedev-dumpxml scsi_host12; \
         nodedev-destroy scsi_host12; nodedev-destroy scsi_host12; nodedev-list; \
         nodedev-create {no_parent}; nodedev-dumpxml scsi_host12; nodedev-destroy scsi_host12; \
         nodedev-create {no_fc}; nodedev-create {no_wwpn}; nodedev-create {under_computer}; \
         nodedev-create {under_vhba}; nodedev-create {lost_parent}; nodedev-destroy scsi_host2; \
         nodedev-list --cap vports"
    )
}

#[test]
fn vhbas_are_created_and_destroyed_as_libvirts_test_driver_does() {
    let dir = tempfile::tempdir().unwrap();
    let script = vhba_script(dir.path());
    let ours = wirt("test:///default", &script);
    let vhba = dir.path().join("vhba.xml");
    assert!(
        ours.stdout.starts_with(&format!(
            "Node device scsi_host12 created from {}\n\n\
             scsi_host1\nscsi_host11\nscsi_host12\nscsi_host2\n\n{VHBA_MADE}\n\
             Destroyed node device 'scsi_host12'\n\n\n\
             computer\nscsi_host1\nscsi_host11\nscsi_host2\n\n",
            vhba.display()
        )),
        "{}",
        ours.stdout
    );
    assert!(ours.stdout.ends_with("scsi_host1\n\n"), "{}", ours.stdout);
    for refusal in [
        "error: internal error: Device is not a fibre channel HBA\n",
        "error: internal error: no WWPN supplied for 'new device', and auto-generation failed\n",
        "error: internal error: Parent device computer is not capable of vport operations\n",
        "error: internal error: Parent device scsi_host11 is not capable of vport operations\n",
        "error: internal error: Could not find parent device for 'new device'\n",
        "error: Node device not found: no node device with matching name 'scsi_host12'\n",
    ] {
        assert!(ours.stderr.contains(refusal), "{refusal}: {}", ours.stderr);
    }
    if !have_virsh() {
        return;
    }
    // libvirt's own test driver refuses every nodedev-list of virsh's
    // (see TREE): compare the rest.
    let comparable: Vec<&str> = script
        .split("; ")
        .filter(|c| !c.starts_with("nodedev-list"))
        .collect();
    let comparable = comparable.join("; ");
    let theirs = run(Command::new("virsh").args(["-c", "test:///default", &comparable]));
    let d = Daemon::start();
    let through = run(Command::new("virsh").args(["-c", &d.uri(), &comparable]));
    assert_eq!(through.stdout, theirs.stdout);
    assert_eq!(through.stderr, theirs.stderr);
    assert_eq!(wirt("test:///default", &comparable).stdout, theirs.stdout);
}

#[test]
fn a_wwn_pair_names_a_scsi_host_for_wirt_and_virsh_through_wirtd() {
    let d = Daemon::start();
    let script = "nodedev-dumpxml 2000000034563456,1000000034563456; \
                  nodedev-dumpxml 2000000034563456,1000000000000001; nodedev-dumpxml 20,1; \
                  nodedev-destroy computer";
    let expected_err = "error: Could not find matching device '2000000034563456,1000000000000001'\n\
                        error: Node device not found: no node device with matching wwnn \
                        '2000000034563456' and wwpn '1000000000000001'\n\
                        error: internal error: Malformed wwn: 20\n\
                        error: Failed to destroy node device 'computer'\n\
                        error: internal error: Device is not a fibre channel HBA\n";
    let mut clients = vec![wirt(&d.uri(), script), wirt("test:///default", script)];
    if have_virsh() {
        clients.push(run(Command::new("virsh").args(["-c", &d.uri(), script])));
    }
    for out in clients {
        assert!(
            out.stdout
                .starts_with("<device>\n  <name>scsi_host11</name>\n"),
            "{}",
            out.stdout
        );
        assert_eq!(out.stderr, expected_err);
    }
    // The read-only socket refuses the destroy, as libvirtd's does.
    let ro = wirt(&d.ro_uri(), "nodedev-destroy scsi_host2");
    assert!(
        ro.stderr
            .contains("error: operation forbidden: read only access prevents virNodeDeviceDestroy"),
        "{}",
        ro.stderr
    );
}

/// Runs `program -c uri nodedev-event --event lifecycle --loop`.
fn watch(program: &str, uri: &str) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut watcher = Command::new(program)
        .args([
            "-c",
            uri,
            "nodedev-event --event lifecycle --loop --timeout 60",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let rx = crate::support::stdout_lines(&mut watcher);
    (watcher, rx)
}

/// virsh's and wirt's `nodedev-event` through wirtd print libvirt's lines
/// for the vHBA another client creates and destroys.
#[test]
fn nodedev_events_reach_virsh_and_wirt_through_wirtd() {
    use std::time::{Duration, Instant};
    let d = Daemon::start();
    let uri = d.uri();
    let xml = d.dir.path().join("vhba.xml");
    std::fs::write(&xml, VHBA).unwrap();
    let mut watchers = vec![watch(env!("CARGO_BIN_EXE_wirt"), &uri)];
    if have_virsh() {
        watchers.push(watch("virsh", &uri));
    }
    let poke = || {
        let out = wirt(
            &uri,
            &format!(
                "nodedev-create {}; nodedev-destroy scsi_host12",
                xml.display()
            ),
        );
        assert!(out.ok, "{}", out.stderr);
    };
    // Each watcher registers on its own time: poke until each has heard one.
    let deadline = Instant::now() + Duration::from_secs(30);
    for (_, rx) in &watchers {
        'registered: loop {
            poke();
            while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                if line.contains("scsi_host12") {
                    break 'registered;
                }
            }
            assert!(Instant::now() < deadline, "a watcher heard nothing");
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    for (_, rx) in &watchers {
        while rx.try_recv().is_ok() {}
    }
    poke();
    for (mut watcher, rx) in watchers {
        for expected in [
            "event 'lifecycle' for node device scsi_host12: Created",
            "event 'lifecycle' for node device scsi_host12: Deleted",
        ] {
            let line = rx.recv_timeout(Duration::from_secs(30)).expect(expected);
            assert_eq!(line.trim(), expected);
        }
        let _ = watcher.kill();
        let _ = watcher.wait();
    }
}

#[test]
fn a_local_test_host_tells_its_own_subscribers() {
    use std::time::Duration;
    use wirt::events::{NodeDeviceEvent, NodeDeviceLifecycle};
    let conn = crate::support::open("test:///default").unwrap();
    let events = conn.node_device_events().unwrap();
    let dev = conn.create_node_device_xml(VHBA, 0).unwrap();
    assert_eq!(dev.xml_desc(0).unwrap(), VHBA_MADE);
    let found = conn
        .lookup_scsi_host_by_wwn("2000000012341299", "1000000012341299", 0)
        .unwrap();
    assert_eq!(found.name(), "scsi_host12");
    dev.destroy().unwrap();
    for event in [NodeDeviceLifecycle::Created, NodeDeviceLifecycle::Deleted] {
        assert_eq!(
            events.next_timeout(Duration::from_secs(5)),
            Some(NodeDeviceEvent {
                name: "scsi_host12".into(),
                event
            })
        );
    }
    let e = conn.create_node_device_xml(VHBA, 1).unwrap_err();
    assert_eq!(e.code(), wirt::ErrorCode::INVALID_ARG);
}

const PYTHON_NODEDEV_EVENTS: &str = r#"
import sys, threading, time, libvirt
libvirt.virEventRegisterDefaultImpl()
def run():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=run, daemon=True).start()
c, ro = libvirt.open(sys.argv[1]), libvirt.openReadOnly(sys.argv[2])
seen = []
def lifecycle(conn, dev, event, detail, opaque):
    seen.append((opaque, dev.name(), event))
cb = ro.nodeDeviceEventRegisterAny(None, libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE, lifecycle, "any")
h1 = c.nodeDeviceLookupByName("scsi_host1")
dev = c.nodeDeviceCreateXML(sys.argv[3], 0)
assert dev.name() == "scsi_host12", dev.name()
assert c.nodeDeviceLookupSCSIHostByWWN("2000000012341299", "1000000012341299", 0).name() == "scsi_host12"
try:
    ro.nodeDeviceCreateXML(sys.argv[3], 0)
    raise SystemExit("read-only client created a device")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED, e
try:
    c.nodeDeviceLookupByName("computer").destroy()
    raise SystemExit("destroyed the computer")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_INTERNAL_ERROR, e
dev.destroy()
try:
    ro.nodeDeviceLookupSCSIHostByWWN("2000000012341299", "1000000012341299", 0)
    raise SystemExit("found the destroyed vHBA")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_NO_NODE_DEVICE, e
deadline = time.time() + 20
while len(seen) < 2 and time.time() < deadline:
    time.sleep(0.05)
C, D = libvirt.VIR_NODE_DEVICE_EVENT_CREATED, libvirt.VIR_NODE_DEVICE_EVENT_DELETED
assert seen == [("any", "scsi_host12", C), ("any", "scsi_host12", D)], seen
ro.nodeDeviceEventDeregisterAny(cb)
try:
    ro.nodeDeviceEventDeregisterAny(cb)
    raise SystemExit("deregistered twice")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_INVALID_ARG, e
only = []
def one(conn, dev, event, detail, opaque):
    only.append((dev.name(), event))
cb2 = ro.nodeDeviceEventRegisterAny(ro.nodeDeviceLookupByName("scsi_host2"),
                                    libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE, one, None)
c.nodeDeviceCreateXML(sys.argv[3], 0).destroy()
c.nodeDeviceLookupByName("scsi_host2").destroy()
deadline = time.time() + 20
while not only and time.time() < deadline:
    time.sleep(0.05)
time.sleep(0.5)
assert only == [("scsi_host2", D)], only
assert len(seen) == 2, seen
ro.nodeDeviceEventDeregisterAny(cb2)
print("python nodedev events OK")
"#;

#[test]
fn python_libvirt_creates_vhbas_and_hears_their_events_through_wirtd() {
    let Some(python) = python_libvirt() else {
        return;
    };
    let d = Daemon::start();
    let out =
        run(Command::new(python).args(["-c", PYTHON_NODEDEV_EVENTS, &d.uri(), &d.ro_uri(), VHBA]));
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "python nodedev events OK\n");
}
