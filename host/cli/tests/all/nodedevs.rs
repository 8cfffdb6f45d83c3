//! Node devices: the test driver's (compared with libvirt's own test driver
//! through python3-libvirt, and with virsh through wirtd) and the local
//! host's, read from sysfs on kvm:.

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
}
