//! Device hotplug on kvm:, the way a virsh user does it: a disk and two
//! network cards (passt and a bridge tap) plugged into a running test
//! guest, which sees them at once and uses them; pulled out again, their
//! files and taps are let go; the definition is untouched by live changes.

use std::time::{Duration, Instant};

use crate::kvm::kvm;
use crate::kvm_net::{NetNs, Wirtd, taps};

#[test]
fn kvm_disks_and_interfaces_plug_into_a_running_guest() {
    let Some(k) = kvm() else { return };
    if !wirt_testkit::have("passt", "--version") {
        wirt_testkit::require("passt", "a user card is plugged in on it");
        return;
    }
    let Some(ns) = NetNs::new() else { return };
    // passt copies the host's routable interface: one with a default route.
    ns.bridge("br0", "10.51.0.2/24");
    ns.ip(&["route", "add", "default", "via", "10.51.0.1"]);
    let dir = k.dir.path();
    let d0 = dir.join("d0.img");
    let d1 = dir.join("d1.img");
    std::fs::write(&d0, vec![0u8; 64 * 512]).unwrap();
    std::fs::write(&d1, vec![0u8; 32 * 512]).unwrap();
    let xml = dir.join("h1.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain type='kvm'><name>h1</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
             <os><type>hvm</type></os><devices><disk type='file' device='disk'>\
             <source file='{}'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
            d0.display()
        ),
    )
    .unwrap();
    k.ok_in(&ns, &format!("define {}", xml.display()));
    k.ok_in(&ns, "start h1");
    k.wait_console("h1", "guest: ready");
    let inactive = k.ok_in(&ns, "dumpxml h1 --inactive");

    // A disk: the guest sees it at once and writes to the file.
    let out = k.ok_in(&ns, &format!("attach-disk h1 {} vdb --live", d1.display()));
    assert_eq!(out.trim(), "Disk attached successfully");
    k.wait_console("h1", "rescan: 2 devices");
    let list = k.ok_in(&ns, "domblklist h1");
    assert!(list.contains("vdb") && list.contains("d1.img"), "{list}");
    let filled = k.guest_command("h1", "fill 1 4 2 9", "fill 1 4 2:", |_| true);
    assert_eq!(filled, "fill 1 4 2: ok");
    k.guest_command("h1", "flush 1", "flush 1:", |_| true);
    let data = std::fs::read(&d1).unwrap();
    assert_eq!(
        &data[4 * 512..6 * 512],
        &(4..6)
            .flat_map(|s| wirt_kvm::guest::pattern_sector(9, s))
            .collect::<Vec<_>>()[..]
    );

    // A user card on passt: the guest gets its lease through it.
    let user = dir.join("user.xml");
    std::fs::write(
        &user,
        "<interface type='user'><mac address='52:54:00:51:00:01'/><backend type='passt'/>\
         <model type='virtio'/></interface>",
    )
    .unwrap();
    let out = k.ok_in(&ns, &format!("attach-device h1 {} --live", user.display()));
    assert!(out.contains("Device attached successfully"), "{out}");
    let net = k.guest_command("h1", "net", "net0: mac", |l| l.contains(" ip 10."));
    assert!(net.contains("ip 10.51.0.2/24 gw 10.51.0.1"), "{net}");

    // A bridge card: its tap appears on the bridge, and goes with it.
    k.ok_in(
        &ns,
        "attach-interface h1 bridge br0 --model virtio --mac 52:54:00:51:00:02 --live",
    );
    let list = k.ok_in(&ns, "domiflist h1");
    assert!(list.contains("user") && list.contains("br0"), "{list}");
    assert!(
        list.contains("vnet0"),
        "the tap's name is in the live XML: {list}"
    );
    assert_eq!(taps(&ns), vec!["vnet0".to_string()]);
    k.wait_console("h1", "virtio: slot 3 net1");

    // Out again: the tap is gone when detach returns, the disk's slot empties.
    k.ok_in(
        &ns,
        "detach-interface h1 bridge --mac 52:54:00:51:00:02 --live",
    );
    assert!(taps(&ns).is_empty(), "{:?}", taps(&ns));
    k.ok_in(&ns, &format!("detach-device h1 {} --live", user.display()));
    k.wait_console("h1", "virtio: slot 2 gone (net0)");
    let out = k.ok_in(&ns, "detach-disk h1 vdb --live");
    assert_eq!(out.trim(), "Disk detached successfully");
    k.wait_console("h1", "virtio: slot 1 gone (blk1)");
    let list = k.ok_in(&ns, "domblklist h1");
    assert!(!list.contains("vdb"), "{list}");
    let gone = k.guest_command("h1", "sum 1 0 1", "sum 1 0 1:", |_| true);
    assert_eq!(gone, "sum 1 0 1: error no such disk");

    // What cannot go live is refused, naming it; the definition never moved.
    let sound = dir.join("sound.xml");
    std::fs::write(&sound, "<sound model='ich9'/>").unwrap();
    let out = k.wirt_in(&ns, &format!("attach-device h1 {} --live", sound.display()));
    assert!(
        !out.ok
            && out.stderr.contains(
                "cannot attach sound on a running guest: only disks and interfaces can be plugged in or out"
            ),
        "{}",
        out.stderr
    );
    assert_eq!(k.ok_in(&ns, "dumpxml h1 --inactive"), inactive);

    // A plugged disk stays through a reboot (the guest boots with it).
    k.ok_in(&ns, &format!("attach-disk h1 {} vdc --live", d1.display()));
    k.ok_in(&ns, "reset h1");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let console = k.console("h1");
        let last = &console[console.rfind("wirt test guest").unwrap_or(0)..];
        if last.contains("guest: ready") {
            assert!(last.contains("virtio: slot 1 blk1"), "{last}");
            break;
        }
        assert!(Instant::now() < deadline, "no second boot: {console}");
        std::thread::sleep(Duration::from_millis(20));
    }
    k.ok_in(&ns, "destroy h1");
    k.assert_no_vmms_left();
}

/// Through wirtd: python-libvirt plugs a disk in and out of a running
/// guest and hears DEVICE_ADDED / DEVICE_REMOVED with libvirt's alias;
/// real virsh's `attach-disk --live` works the same way.
#[test]
fn kvm_hotplug_through_wirtd_sends_device_events() {
    let Some(k) = kvm() else { return };
    let Some(python) = crate::remote::python_libvirt() else {
        return;
    };
    let Some(ns) = NetNs::new() else { return };
    let dir = k.dir.path();
    let d1 = dir.join("e1.img");
    std::fs::write(&d1, vec![0u8; 16 * 512]).unwrap();
    let daemon = Wirtd::start(&k, &ns);
    let uri = daemon.uri();
    let conn = crate::support::open(&uri).unwrap();
    let dom = conn
        .define_domain_xml(
            "<domain type='kvm'><name>e1</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
             <os><type>hvm</type></os></domain>",
            0,
        )
        .unwrap();
    dom.start(0).unwrap();
    k.wait_console("e1", "guest: ready");
    // `wirt event --all` through wirtd hears what python does below.
    let mut watcher = std::process::Command::new(env!("CARGO_BIN_EXE_wirt"))
        .args(["-c", &uri, "event e1 --all --loop --timeout 60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let rx = crate::support::stdout_lines(&mut watcher);
    // It registers on its own time: poke until it has heard one.
    let deadline = Instant::now() + Duration::from_secs(30);
    'registered: loop {
        dom.suspend().unwrap();
        dom.resume().unwrap();
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if line.contains("event 'lifecycle' for domain 'e1'") {
                break 'registered;
            }
        }
        assert!(Instant::now() < deadline, "the watcher heard nothing");
    }
    let script = "import libvirt, sys, threading\n\
        libvirt.virEventRegisterDefaultImpl()\n\
        c = libvirt.open(sys.argv[1])\n\
        d = c.lookupByName('e1')\n\
        seen = []\n\
        done = threading.Event()\n\
        def added(conn, dom, alias, opaque): seen.append(('added', dom.name(), alias))\n\
        def removed(conn, dom, alias, opaque):\n    seen.append(('removed', dom.name(), alias)); done.set()\n\
        c.domainEventRegisterAny(d, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, added, None)\n\
        c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, removed, None)\n\
        def loop():\n    while not done.is_set(): libvirt.virEventRunDefaultImpl()\n\
        t = threading.Thread(target=loop, daemon=True); t.start()\n\
        xml = \"<disk type='file' device='disk'><source file='%s'/><target dev='vdb' bus='virtio'/></disk>\" % sys.argv[2]\n\
        d.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)\n\
        print('live', 'vdb' in d.XMLDesc(0), 'vdb' in d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), flush=True)\n\
        sys.stdin.readline()\n\
        d.detachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)\n\
        done.wait(20)\n\
        print(seen)\n";
    // The detach waits until the guest has taken the disk in: one pulled
    // out while the test guest still sets its driver up would leave it
    // waiting for an answer from a device that is gone.
    let mut child = std::process::Command::new(python)
        .args(["-c", script, &uri, &d1.to_string_lossy()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    k.wait_console("e1", "rescan: 1 devices");
    {
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text,
        "live True False\n\
         [('added', 'e1', 'virtio-disk1'), ('removed', 'e1', 'virtio-disk1')]\n"
    );
    k.wait_console("e1", "virtio: slot 0 gone (blk0)");
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the watcher heard only {heard:?}"));
        if line.contains("device") {
            heard.push(line);
        }
    }
    assert_eq!(
        heard,
        [
            "event 'device-added' for domain 'e1': virtio-disk1",
            "event 'device-removed' for domain 'e1': virtio-disk1"
        ]
    );
    let _ = watcher.kill();
    let _ = watcher.wait();
    if wirt_testkit::have("virsh", "--version") {
        let out = std::process::Command::new("virsh")
            .args(["-c", &uri])
            .arg(format!(
                "attach-disk e1 {} vdc --live; domblklist e1",
                d1.display()
            ))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Disk attached successfully"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("vdc"), "{text}");
        k.wait_console("e1", "rescan: 1 devices");
        // Pulled out again by its alias (what virt-manager detaches by).
        let out = std::process::Command::new("virsh")
            .args(["-c", &uri])
            .arg("detach-device-alias e1 virtio-disk2 --live; domblklist e1; pool-capabilities")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Device detach request sent successfully"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("vdc"), "{text}");
        // What the dir pools of kvm: serve, and that nothing else is.
        assert!(text.contains("<pool type='dir' supported='yes'>"), "{text}");
        assert!(text.contains("<value>qcow2</value>"), "{text}");
        assert!(text.contains("<pool type='rbd' supported='no'/>"), "{text}");
        k.wait_console("e1", "virtio: slot 0 gone (blk0)\n");
    }
    dom.destroy().unwrap();
    drop(conn);
    drop(daemon);
    k.assert_no_vmms_left();
}

/// `change-media` and `update-device` as virsh has them: a cdrom's media
/// ejected, inserted and swapped in the definition, with virsh's messages
/// for what cannot be done; on test: both fail as libvirt's test driver
/// does (compared with live virsh where it is installed).
#[test]
fn kvm_change_media_and_update_device_in_the_definition() {
    let Some(k) = kvm() else { return };
    let dir = k.dir.path();
    let xml = dir.join("m1.xml");
    std::fs::write(
        &xml,
        "<domain type='kvm'><name>m1</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os><devices>\
         <disk type='file' device='cdrom'><source file='/tmp/a.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>\
         <interface type='ethernet'><mac address='52:54:00:61:00:01'/><model type='virtio'/></interface>\
         </devices></domain>",
    )
    .unwrap();
    k.ok(&format!("define {}", xml.display()));
    assert_eq!(
        k.ok("change-media m1 hdc --eject --config").trim(),
        "Successfully ejected media."
    );
    assert!(!k.ok("dumpxml m1 --inactive").contains("a.iso"));
    let again = k.wirt("change-media m1 hdc --eject --config");
    assert!(
        !again.ok
            && again
                .stderr
                .contains("The disk device 'hdc' doesn't have media"),
        "{}",
        again.stderr
    );
    assert_eq!(
        k.ok("change-media m1 hdc /tmp/b.iso --insert --config")
            .trim(),
        "Successfully inserted media."
    );
    let printed = k.ok("change-media m1 /tmp/b.iso /tmp/c.iso --print-xml --config");
    assert!(printed.contains("<source file='/tmp/c.iso'/>"), "{printed}");
    assert!(
        k.ok("dumpxml m1 --inactive").contains("/tmp/b.iso"),
        "print-xml changed nothing"
    );
    assert_eq!(
        k.ok("change-media m1 hdc /tmp/c.iso --config").trim(),
        "Successfully updated media."
    );
    assert!(k.ok("dumpxml m1 --inactive").contains("/tmp/c.iso"));
    let full = k.wirt("change-media m1 hdc /tmp/d.iso --insert --config");
    assert!(
        full.stderr
            .contains("The disk device 'hdc' already has media")
    );

    // update-device: an interface's link, from a file.
    let link = dir.join("link.xml");
    std::fs::write(
        &link,
        "<interface type='ethernet'><mac address='52:54:00:61:00:01'/><model type='virtio'/>\
         <link state='down'/></interface>",
    )
    .unwrap();
    assert_eq!(
        k.ok(&format!("update-device m1 {} --config", link.display()))
            .trim(),
        "Device updated successfully"
    );
    assert!(
        k.ok("dumpxml m1 --inactive")
            .contains("<link state='down'/>")
    );
    k.ok("undefine m1");

    // test: has no device updates, like libvirt's test driver.
    let wirt_test = std::process::Command::new(env!("CARGO_BIN_EXE_wirt"))
        .args([
            "-c",
            "test:///default",
            &format!(
                "define {}; change-media m1 hdc --eject --config",
                xml.display()
            ),
        ])
        .output()
        .unwrap();
    let wirt_err = String::from_utf8_lossy(&wirt_test.stderr).into_owned();
    assert!(
        wirt_err.contains("error: Failed to complete action eject on media\n")
            && wirt_err.contains(
                "error: this function is not supported by the connection driver: virDomainUpdateDeviceFlags"
            ),
        "{wirt_err}"
    );
    if wirt_testkit::have("virsh", "--version") {
        let virsh = std::process::Command::new("virsh")
            .args([
                "-c",
                "test:///default",
                &format!(
                    "define {}; change-media m1 hdc --eject --config",
                    xml.display()
                ),
            ])
            .output()
            .unwrap();
        let virsh_err = String::from_utf8_lossy(&virsh.stderr).into_owned();
        assert_eq!(wirt_err.trim(), virsh_err.trim());
    }
}

/// `set-lifecycle-action --live` reaches the running VMM: with `on_reboot`
/// set to destroy, the guest's reboot stops the domain; the definition
/// keeps its own action.
#[test]
fn kvm_a_live_lifecycle_action_takes_effect() {
    let Some(k) = kvm() else { return };
    let xml = k.dir.path().join("lc.xml");
    std::fs::write(
        &xml,
        "<domain type='kvm'><name>lc</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os></domain>",
    )
    .unwrap();
    k.ok(&format!("define {}; start lc", xml.display()));
    k.wait_console("lc", "guest: ready");
    k.ok("set-lifecycle-action lc reboot destroy --live");
    assert!(
        k.ok("dumpxml lc")
            .contains("<on_reboot>destroy</on_reboot>")
    );
    assert!(
        k.ok("dumpxml lc --inactive")
            .contains("<on_reboot>restart</on_reboot>")
    );
    k.ok("reboot lc");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !k.state("lc").starts_with("shut off") {
        assert!(Instant::now() < deadline, "lc is {}", k.state("lc"));
        std::thread::sleep(Duration::from_millis(50));
    }
    k.assert_no_vmms_left();
}
