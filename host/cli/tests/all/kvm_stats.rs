//! Guest statistics of kvm domains through the CLI: the disk counters the
//! VMM keeps, as `domblkstat` and `domstats` print them.

use std::collections::HashMap;

use super::kvm::{Kvm, kvm};

/// `domblkstat` output as field → value.
fn blkstat(k: &Kvm, dom: &str, dev: &str) -> HashMap<String, u64> {
    k.ok(&format!("domblkstat {dom} {dev}"))
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut w = l.split_whitespace();
            assert_eq!(w.next(), Some(dev), "{l}");
            let name = w.next().unwrap().to_string();
            (name, w.next().unwrap().parse().unwrap())
        })
        .collect()
}

/// One domain's `domstats` record as name → value.
fn domstats(k: &Kvm, args: &str) -> HashMap<String, String> {
    let out = k.ok(&format!("domstats {args}"));
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("Domain: '"), "{out}");
    lines
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let (name, value) = l.trim().split_once('=').unwrap();
            (name.to_string(), value.to_string())
        })
        .collect()
}

/// Types `!line` on the guest's console exactly once (a repeated command
/// would count twice) and waits for `answer` to show.
fn once(k: &Kvm, dom: &str, line: &str, answer: &str) {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wirt"))
        .args(["-c", "kvm:///session", "console", dom])
        .env("WIRT_STATE_DIR", k.dir.path().join("state"))
        .env("WIRT_RUNTIME_DIR", k.dir.path().join("run"))
        .env("WIRT_VMM", &k.vmm)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("!{line}\n").as_bytes()).unwrap();
    drop(stdin);
    child.wait().unwrap();
    k.wait_console(dom, answer);
}

#[test]
fn kvm_block_stats_count_what_the_guest_does() {
    let Some(k) = kvm() else { return };
    let xml = k.domain("st");
    k.ok(&format!("define {}", xml.display()));
    let err = k.wirt("domblkstat st vda");
    assert!(
        !err.ok && err.stderr.contains("not running"),
        "{}",
        err.stderr
    );
    k.ok("start st");
    k.wait_console("st", "guest: ready");
    // The boot self-test: read sector 0, write sector 1, flush, read it back.
    let boot = blkstat(&k, "st", "vda");
    assert_eq!(boot["rd_req"], 2, "{boot:?}");
    assert_eq!(boot["rd_bytes"], 1024);
    assert_eq!(boot["wr_req"], 1);
    assert_eq!(boot["wr_bytes"], 512);
    assert_eq!(boot["flush_operations"], 1);
    assert_eq!(boot["errs"], 0);
    assert!(boot["rd_total_times"] > 0 && boot["wr_total_times"] > 0);

    once(&k, "st", "sum 0 0 8", "sum 0 0 8:");
    once(&k, "st", "fill 0 16 4 9", "fill 0 16 4: ok");
    once(&k, "st", "flush 0", "flush 0: ok");
    let now = blkstat(&k, "st", "vda");
    assert_eq!(now["rd_bytes"] - boot["rd_bytes"], 8 * 512, "{now:?}");
    assert!(now["rd_req"] > boot["rd_req"]);
    assert_eq!(now["wr_bytes"] - boot["wr_bytes"], 4 * 512);
    assert!(now["wr_req"] > boot["wr_req"]);
    assert_eq!(now["flush_operations"], boot["flush_operations"] + 1);
    // The source path names the same disk; no name sums all disks.
    let path = k.dir.path().join("pool/st.raw");
    let by_path = k.ok(&format!("domblkstat st {}", path.display()));
    assert!(
        by_path.contains(&format!(" rd_bytes {}", now["rd_bytes"])),
        "{by_path}"
    );
    let err = k.wirt("domblkstat st vdz");
    assert!(
        !err.ok && err.stderr.contains("invalid path"),
        "{}",
        err.stderr
    );

    let s = domstats(&k, "st");
    assert_eq!(s["state.state"], "1", "{s:?}");
    assert_eq!(s["state.reason"], "1");
    assert!(s["cpu.time"].parse::<u64>().unwrap() > 0);
    assert_eq!(s["balloon.maximum"], "16384");
    assert_eq!(s["balloon.current"], "16384");
    assert_eq!(s["vcpu.current"], "1");
    assert_eq!(s["vcpu.maximum"], "1");
    assert_eq!(s["net.count"], "0");
    assert_eq!(s["block.count"], "1");
    assert_eq!(s["block.0.name"], "vda");
    assert_eq!(s["block.0.path"], path.display().to_string());
    assert_eq!(s["block.0.rd.bytes"], now["rd_bytes"].to_string());
    assert_eq!(s["block.0.rd.reqs"], now["rd_req"].to_string());
    assert_eq!(s["block.0.wr.bytes"], now["wr_bytes"].to_string());
    assert_eq!(s["block.0.fl.reqs"], now["flush_operations"].to_string());
    // Only the groups asked for.
    let s = domstats(&k, "--block st");
    assert!(s.keys().all(|n| n.starts_with("block.")), "{s:?}");

    k.ok("destroy st");
    let s = domstats(&k, "st");
    assert_eq!(s["state.state"], "5", "{s:?}");
    assert!(!s.contains_key("cpu.time"), "{s:?}");
    assert_eq!(s["block.count"], "1");
    assert!(!s.contains_key("block.0.rd.reqs"), "{s:?}");
    k.ok("undefine st");
    k.assert_no_vmms_left();
}

/// wirtd serves the statistics to libvirt's own clients: real virsh and
/// python-libvirt read the same counters the VMM keeps.
#[test]
fn kvm_stats_reach_virsh_and_python_libvirt_through_wirtd() {
    let Some(_k) = kvm() else { return };
    let d = crate::remote::Daemon::start();
    let uri = format!("kvm+unix:///session?socket={}", d.sock().display());
    let conn = crate::support::open(&uri).unwrap();
    let disk = d.dir.path().join("s1.img");
    std::fs::write(&disk, vec![0u8; 1 << 20]).unwrap();
    let xml = format!(
        "<domain type='kvm'><name>s1</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os><devices><disk type='file' device='disk'>\
         <source file='{}'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
        disk.display()
    );
    let dom = conn.define_domain_xml(&xml, 0).unwrap();
    dom.start(0).unwrap();
    // Until the guest's boot self-test is done: two reads, a write, a flush.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let s = dom.block_stats("vda").unwrap();
        if s.flush_req == 1 && s.rd_req == 2 {
            assert_eq!((s.rd_bytes, s.wr_req, s.wr_bytes), (1024, 1, 512));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{s:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let stats = conn.get_all_domain_stats(0, 0).unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(
        stats[0].get("block.0.wr.bytes"),
        Some(&wirt::connect::StatValue::ULLong(512))
    );

    if std::process::Command::new("virsh")
        .arg("--version")
        .output()
        .is_ok()
    {
        let out = std::process::Command::new("virsh")
            .args(["-c", &uri, "domblkstat s1 vda; domstats s1"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in [
            "vda rd_req 2",
            "vda rd_bytes 1024",
            "vda wr_req 1",
            "vda wr_bytes 512",
            "vda flush_operations 1",
            "Domain: 's1'",
            "  state.state=1",
            "  block.count=1",
            "  block.0.name=vda",
            "  block.0.rd.bytes=1024",
            "  block.0.wr.reqs=1",
            "  balloon.maximum=16384",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
        }
    }
    if let Some(python) = crate::remote::python_libvirt() {
        let script = "import libvirt, sys\n\
                      c = libvirt.open(sys.argv[1])\n\
                      d = c.lookupByName('s1')\n\
                      print(d.blockStats('vda'))\n\
                      f = d.blockStatsFlags('vda')\n\
                      print(f['rd_operations'], f['rd_bytes'], f['wr_operations'], f['wr_bytes'], f['flush_operations'])\n\
                      [(dom, s)] = c.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_BLOCK | libvirt.VIR_DOMAIN_STATS_STATE)\n\
                      print(dom.name(), s['state.state'], s['block.count'], s['block.0.name'], s['block.0.rd.reqs'], s['block.0.fl.reqs'])\n\
                      [(dom, s)] = c.domainListGetStats([d], libvirt.VIR_DOMAIN_STATS_CPU_TOTAL)\n\
                      print(sorted(s), s['cpu.time'] > 0)\n";
        let out = std::process::Command::new(python)
            .args(["-c", script, &uri])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "(2, 1024, 1, 512, 0)",
                "2 1024 1 512 1",
                "s1 1 1 vda 2 1",
                "['cpu.time'] True",
            ],
            "{text}"
        );
    }
    dom.destroy().unwrap();
    dom.undefine(0).unwrap();
}

/// `domcapabilities` on kvm: libvirt's schema accepts it, it says what
/// wirt-vmm runs (virtio disks, no firmware, no graphics), and virsh gets
/// the same document through wirtd; on test: it is unsupported, as with
/// libvirt's test driver.
#[test]
fn kvm_domain_capabilities_validate_and_reach_virsh_through_wirtd() {
    let Some(k) = crate::kvm::kvm() else { return };
    let xml = k.ok("domcapabilities");
    assert!(xml.contains("<domain>kvm</domain>"), "{xml}");
    assert!(xml.contains("<value>virtio</value>"), "{xml}");
    assert!(xml.contains("<loader supported='no'/>"), "{xml}");
    assert!(xml.contains("<graphics supported='no'/>"), "{xml}");
    let file = k.dir.path().join("domcaps.xml");
    std::fs::write(&file, &xml).unwrap();
    if wirt_testkit::have("virt-xml-validate", "--help") {
        let out = std::process::Command::new("virt-xml-validate")
            .arg(&file)
            .arg("domaincaps")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        wirt_testkit::require(
            "virt-xml-validate",
            "domcapabilities is checked against libvirt's schema",
        );
    }
    // What it says it lacks is refused at start, not left out.
    let gfx = k.dir.path().join("gfx.xml");
    std::fs::write(
        &gfx,
        "<domain type='kvm'><name>gfx</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os><devices><graphics type='vnc'/></devices></domain>",
    )
    .unwrap();
    k.ok(&format!("define {}", gfx.display()));
    let out = k.wirt("start gfx");
    assert!(
        !out.ok
            && out.stderr.contains(
                "unsupported configuration: wirt-vmm has no <graphics type='vnc'> device"
            ),
        "{}",
        out.stderr
    );
    assert_eq!(k.state("gfx"), "shut off (unknown)");
    assert!(k.vmms().is_empty(), "a VMM started: {:?}", k.vmms());
    let out = k.wirt("domcapabilities --arch aarch64");
    assert!(
        !out.ok && out.stderr.contains("does not support arch 'aarch64'"),
        "{}",
        out.stderr
    );

    let d = crate::remote::Daemon::start();
    let uri = format!("kvm+unix:///session?socket={}", d.sock().display());
    if wirt_testkit::have("virsh", "--version") {
        let out = std::process::Command::new("virsh")
            .args(["-c", &uri, "domcapabilities"])
            .output()
            .unwrap();
        let remote = String::from_utf8_lossy(&out.stdout);
        assert!(remote.contains("<value>virtio</value>"), "{remote}");
    }
    let test = std::process::Command::new(env!("CARGO_BIN_EXE_wirt"))
        .args(["-c", "test:///default", "domcapabilities"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&test.stderr)
            .contains("not supported by the connection driver: virConnectGetDomainCapabilities")
    );
}

/// `attach-disk`/`attach-interface`/`attach-device` and their `detach-`
/// twins change the definition (`--config`, also through virsh and
/// wirtd); a device a running guest cannot take is refused naming it, and
/// the definition is untouched by a refusal.
#[test]
fn kvm_devices_attach_and_detach_in_the_definition_and_live_changes_are_refused() {
    let Some(k) = crate::kvm::kvm() else { return };
    let xml = k.dir.path().join("a1.xml");
    std::fs::write(
        &xml,
        "<domain type='kvm'><name>a1</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os></domain>",
    )
    .unwrap();
    let img = k.dir.path().join("x.img");
    std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    k.ok(&format!("define {}", xml.display()));
    let out = k.ok(&format!(
        "attach-disk a1 {} vdb --targetbus virtio --config",
        img.display()
    ));
    assert_eq!(out.trim(), "Disk attached successfully");
    let again = k.wirt(&format!("attach-disk a1 {} vdb --config", img.display()));
    assert!(
        !again.ok && again.stderr.contains("disk vdb already exists"),
        "{}",
        again.stderr
    );
    k.ok("attach-interface a1 ethernet tapx --model virtio --mac 52:54:00:ab:cd:ef --config");
    let inactive = k.ok("dumpxml a1 --inactive");
    assert!(
        inactive.contains("<target dev='vdb' bus='virtio'/>"),
        "{inactive}"
    );
    assert!(inactive.contains("52:54:00:ab:cd:ef"), "{inactive}");
    // A bad device is refused before anything changes.
    let bad = k.dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        "<interface type='network'><mac address='zz'/></interface>",
    )
    .unwrap();
    assert!(
        !k.wirt(&format!("attach-device a1 {} --config", bad.display()))
            .ok
    );
    assert_eq!(k.ok("dumpxml a1 --inactive"), inactive);

    k.ok("detach-interface a1 ethernet --config; detach-disk a1 vdb --config");
    let none = k.ok("domblklist a1 --inactive");
    assert!(!none.contains("vdb"), "{none}");
    let out = k.wirt("detach-disk a1 vdb --config");
    assert!(
        !out.ok
            && out
                .stderr
                .contains("No disk found whose source path or target is vdb")
    );

    // Running: what cannot be plugged in is refused naming it (disks and
    // interfaces go live: kvm_hotplug).
    k.ok("start a1");
    let sound = k.dir.path().join("sound.xml");
    std::fs::write(&sound, "<sound model='ich9'/>").unwrap();
    let live = k.wirt(&format!("attach-device a1 {}", sound.display()));
    assert!(
        !live.ok
            && live
                .stderr
                .contains("Operation not supported: cannot attach sound on a running guest"),
        "{}",
        live.stderr
    );
    k.ok("destroy a1");

    // Through wirtd, as virsh does it.
    let d = crate::remote::Daemon::start();
    let uri = format!("kvm+unix:///session?socket={}", d.sock().display());
    let remote = |script: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wirt"))
            .args(["-c", &uri, script])
            .output()
            .unwrap()
    };
    assert!(
        remote(&format!("define {}", xml.display()))
            .status
            .success()
    );
    let dev = k.dir.path().join("vdc.xml");
    std::fs::write(
        &dev,
        format!(
            "<disk type='file' device='disk'><source file='{}'/><target dev='vdc' bus='virtio'/></disk>",
            img.display()
        ),
    )
    .unwrap();
    if wirt_testkit::have("virsh", "--version") {
        let out = std::process::Command::new("virsh")
            .args([
                "-c",
                &uri,
                "attach-device",
                "a1",
                &dev.to_string_lossy(),
                "--config",
            ])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Device attached successfully"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list = remote("domblklist a1 --inactive");
        assert!(String::from_utf8_lossy(&list.stdout).contains("vdc"));
    }
    assert!(remote("undefine a1").status.success());
}

/// A qcow2 overlay made by the pool (`vol-create-as --backing-vol`) over a
/// raw volume holding a pattern: vol-dumpxml shows the chain, a guest on
/// the overlay reads the pattern through it, its writes stay in the
/// overlay, and qemu-img agrees the image is clean.
#[test]
fn kvm_guest_boots_on_a_pool_overlay_of_a_raw_volume() {
    let Some(k) = crate::kvm::kvm() else { return };
    k.domain("base");
    k.ok("vol-create-as pool top.qcow2 0 --format qcow2 --backing-vol base.raw --backing-vol-format raw");
    let xml = k.ok("vol-dumpxml top.qcow2 --pool pool");
    let base = k.dir.path().join("pool/base.raw");
    assert!(
        xml.contains(&format!(
            "<backingStore>\n    <path>{}</path>\n    <format type='raw'/>",
            base.display()
        )),
        "{xml}"
    );
    assert!(
        xml.contains("<capacity unit='bytes'>1048576</capacity>"),
        "{xml}"
    );
    let before = std::fs::read(&base).unwrap();
    let dom = k.dir.path().join("ov.xml");
    std::fs::write(
        &dom,
        "<domain type='kvm'><name>ov</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os><devices><disk type='volume' device='disk'>\
         <driver name='qemu' type='qcow2'/><source pool='pool' volume='top.qcow2'/>\
         <target dev='vda' bus='virtio'/></disk></devices></domain>",
    )
    .unwrap();
    k.ok(&format!("define {}; start ov", dom.display()));
    let console = k.wait_console("ov", "guest: ready");
    let sector0 = format!(
        "blk: sector 0 sum {:016x}",
        wirt_kvm::guest::range_checksum(&before[..512])
    );
    assert!(console.contains(&sector0), "{console}");
    k.ok("destroy ov");
    assert_eq!(
        std::fs::read(&base).unwrap(),
        before,
        "the base is read-only"
    );
    if wirt_testkit::have("qemu-img", "--version") {
        let check = std::process::Command::new("qemu-img")
            .args(["check", "-f", "qcow2"])
            .arg(k.dir.path().join("pool/top.qcow2"))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
    // No format given for a file the host does not know as a volume: refused,
    // never probed.
    let stray = k.dir.path().join("stray.img");
    std::fs::write(&stray, vec![0u8; 4096]).unwrap();
    let vol = k.dir.path().join("bad.xml");
    std::fs::write(
        &vol,
        format!(
            "<volume><name>bad.qcow2</name><capacity>4096</capacity>\
             <target><format type='qcow2'/></target>\
             <backingStore><path>{}</path></backingStore></volume>",
            stray.display()
        ),
    )
    .unwrap();
    let out = k.wirt(&format!("vol-create pool {}", vol.display()));
    assert!(
        !out.ok && out.stderr.contains("never guesses an image's format"),
        "{}",
        out.stderr
    );
    k.ok("undefine ov");
}
