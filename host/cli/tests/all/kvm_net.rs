//! KVM guests' network cards through the `wirt` CLI: taps the host creates
//! for `<interface>`s, on a bridge with dnsmasq serving DHCP. Every tap,
//! bridge and address lives in a network namespace the test creates and
//! deletes; each `wirt` command runs inside it (`ip netns exec`), never
//! touching the host's own interfaces. Needs /dev/kvm and root.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::kvm::{Kvm, Out, kvm};

/// A network namespace, deleted on drop (also when the test panics).
pub(crate) struct NetNs {
    pub(crate) name: String,
}

impl NetNs {
    /// None (skipping, with the reason) where namespaces are not possible.
    pub(crate) fn new() -> Option<NetNs> {
        if !Path::new("/dev/net/tun").exists() || !wirt_testkit::have("ip", "-V") {
            wirt_testkit::skip("network namespaces need iproute2 and /dev/net/tun");
            return None;
        }
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "wirt-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed) + 100
        );
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .unwrap();
        if !out.status.success() {
            wirt_testkit::skip(&format!(
                "cannot create a network namespace (root?): {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            return None;
        }
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        Some(ns)
    }

    /// `ip -n <ns> <args>`; its output.
    pub(crate) fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The names of the namespace's links.
    pub(crate) fn links(&self) -> Vec<String> {
        self.ip(&["-o", "link", "show"])
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect()
    }

    /// A bridge with `addr` on it, up.
    pub(crate) fn bridge(&self, name: &str, addr: &str) {
        self.ip(&["link", "add", name, "type", "bridge"]);
        self.ip(&["addr", "add", addr, "dev", name]);
        self.ip(&["link", "set", name, "up"]);
    }

    /// Sends ICMP echo from inside the namespace; whether `ip` answered.
    pub(crate) fn ping(&self, ip: &str) -> bool {
        // A raw-socket ping in Python: no `ping` binary is needed.
        let script = "import socket,struct,sys\n\
            def ck(b):\n s=sum(struct.unpack('!%dH'%(len(b)//2),b))\n s=(s>>16)+(s&0xffff)\n s+=s>>16\n return ~s&0xffff\n\
            s=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP)\n\
            s.settimeout(1)\n\
            h=struct.pack('!BBHHH',8,0,0,0x77,1)+b'wirt ping'+b'\\0'\n\
            p=struct.pack('!BBHHH',8,0,ck(h),0x77,1)+b'wirt ping'+b'\\0'\n\
            s.sendto(p,(sys.argv[1],0))\n\
            try:\n while True:\n  d,a=s.recvfrom(2000)\n  if a[0]==sys.argv[1] and d[20]==0: sys.exit(0)\n\
            except socket.timeout: sys.exit(1)\n";
        Command::new("ip")
            .args(["netns", "exec", &self.name, "python3", "-c", script, ip])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// dnsmasq serving DHCP in a namespace, stopped on drop.
struct Dnsmasq(Child);

impl Dnsmasq {
    fn on(ns: &NetNs, bridge: &str, range: &str, leases: &Path) -> Dnsmasq {
        Dnsmasq(
            Command::new("ip")
                .args(["netns", "exec", &ns.name, "dnsmasq", "--no-daemon"])
                .args(["--conf-file=/dev/null", "--port=0", "--bind-interfaces"])
                .arg(format!("--interface={bridge}"))
                .arg(format!("--dhcp-range={range},2m"))
                .arg(format!("--dhcp-leasefile={}", leases.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Kvm {
    /// `wirt script` inside the namespace.
    pub(crate) fn wirt_in(&self, ns: &NetNs, script: &str) -> Out {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_wirt")])
            .args(["-c", "kvm:///session", script])
            .env("WIRT_STATE_DIR", self.dir.path().join("state"))
            .env("WIRT_RUNTIME_DIR", self.dir.path().join("run"))
            .env("WIRT_VMM", &self.vmm)
            .output()
            .unwrap();
        Out {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            ok: out.status.success(),
        }
    }

    pub(crate) fn ok_in(&self, ns: &NetNs, script: &str) -> String {
        let out = self.wirt_in(ns, script);
        assert!(out.ok, "`{script}` failed: {}", out.stderr);
        out.stdout
    }

    /// Defines a disk-less test guest with these `<interface>`s.
    fn define_with(&self, ns: &NetNs, name: &str, interfaces: &str) {
        let xml = format!(
            "<domain type='kvm'><name>{name}</name><memory unit='MiB'>16</memory>\
             <vcpu>1</vcpu><os><type>hvm</type></os><devices>{interfaces}</devices></domain>"
        );
        let file = self.dir.path().join(format!("{name}.xml"));
        std::fs::write(&file, xml).unwrap();
        self.ok_in(ns, &format!("define {}", file.display()));
    }
}

/// The namespace's links other than loopback and the bridges the test made.
pub(crate) fn taps(ns: &NetNs) -> Vec<String> {
    ns.links()
        .into_iter()
        .filter(|l| l != "lo" && !l.starts_with("br"))
        .collect()
}

/// A `key=value`-style counter out of `domstats` / `domifstat` output.
fn counter(out: &str, key: &str) -> u64 {
    out.lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix(key)
                .map(|v| v.trim_start_matches(['=', ' ']).trim())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}

#[test]
fn kvm_a_guest_on_a_bridge_gets_a_lease_answers_ping_and_leaves_no_tap() {
    let Some(k) = kvm() else { return };
    if !wirt_testkit::have("dnsmasq", "--version") {
        wirt_testkit::require("dnsmasq", "the guest's DHCP needs it (dnsmasq-base)");
        return;
    }
    let Some(ns) = NetNs::new() else { return };
    ns.bridge("br0", "10.99.7.1/24");
    let leases = tempfile::NamedTempFile::new().unwrap();
    let _dhcp = Dnsmasq::on(&ns, "br0", "10.99.7.10,10.99.7.20", leases.path());
    k.define_with(
        &ns,
        "n1",
        "<interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>",
    );
    // A MAC was generated at define, in libvirt's range, and kept.
    let inactive = k.ok_in(&ns, "dumpxml n1 --inactive");
    let mac = inactive
        .split("<mac address='")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap_or_else(|| panic!("no MAC at define: {inactive}"))
        .to_string();
    assert!(mac.starts_with("52:54:00:"), "{mac}");

    k.ok_in(&ns, "start n1");
    assert_eq!(taps(&ns), ["vnet0"]);
    assert!(
        ns.ip(&["-o", "link", "show", "master", "br0"])
            .contains("vnet0"),
        "the tap is not on the bridge"
    );
    let list = k.ok_in(&ns, "domiflist n1");
    let row = list
        .lines()
        .find(|l| l.contains("vnet0"))
        .unwrap_or_else(|| panic!("{list}"));
    for column in ["vnet0", "bridge", "br0", "virtio", &mac] {
        assert!(row.contains(column), "{column} missing: {list}");
    }
    assert!(k.ok_in(&ns, "dumpxml n1").contains("<target dev='vnet0'/>"));

    // The guest prints `net0: lease 10.99.7.N/24 ...` (GUEST.md).
    let console = k.wait_console("n1", "net0: lease ");
    assert!(console.contains(&format!("net0: mac {mac}")), "{console}");
    let ip = console
        .lines()
        .find_map(|l| l.strip_prefix("net0: lease "))
        .and_then(|l| l.split('/').next())
        .unwrap()
        .to_string();
    assert!(ip.starts_with("10.99.7."), "{ip}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ns.ping(&ip) {
        assert!(Instant::now() < deadline, "the guest does not answer ping");
    }
    let stats = k.ok_in(&ns, "domstats n1 --interface");
    assert!(stats.contains("net.0.name=vnet0"), "{stats}");
    let rx = counter(&stats, "net.0.rx.pkts");
    let tx = counter(&stats, "net.0.tx.pkts");
    assert!(rx >= 2 && tx >= 2, "{stats}");
    assert!(ns.ping(&ip));
    let later = k.ok_in(&ns, "domstats n1 --interface");
    assert!(counter(&later, "net.0.rx.pkts") > rx, "{later}");
    assert!(counter(&later, "net.0.tx.pkts") > tx, "{later}");
    // domifstat: by tap name or MAC, as virsh prints it.
    let ifstat = k.ok_in(&ns, "domifstat n1 vnet0");
    assert!(counter(&ifstat, "vnet0 rx_packets") > rx, "{ifstat}");
    assert!(counter(&ifstat, "vnet0 tx_bytes") > 0, "{ifstat}");
    assert_eq!(counter(&ifstat, "vnet0 rx_errs"), 0, "{ifstat}");
    let by_mac = k.ok_in(&ns, &format!("domifstat n1 {mac}"));
    assert!(
        counter(&by_mac, &format!("{mac} rx_packets")) > rx,
        "{by_mac}"
    );
    let unknown = k.wirt_in(&ns, "domifstat n1 vnet7");
    assert!(
        unknown.stderr.contains("'vnet7' is not a known interface"),
        "{}",
        unknown.stderr
    );

    // Managed save closes the tap; start re-creates it on the bridge and
    // the guest, its lease in RAM, answers again.
    k.ok_in(&ns, "managedsave n1");
    assert_eq!(taps(&ns), Vec::<String>::new());
    k.ok_in(&ns, "start n1");
    assert_eq!(k.state("n1"), "running (restored)");
    assert!(
        ns.ip(&["-o", "link", "show", "master", "br0"])
            .contains("vnet0")
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ns.ping(&ip) {
        assert!(Instant::now() < deadline, "no answer after restore");
    }

    k.ok_in(&ns, "destroy n1");
    assert_eq!(taps(&ns), Vec::<String>::new(), "destroy left a tap");
    assert!(
        !k.ok_in(&ns, "dumpxml n1").contains("vnet0"),
        "a stopped domain keeps no target"
    );
    k.assert_no_vmms_left();
}

#[test]
fn kvm_interfaces_the_driver_cannot_serve_fail_the_start_and_leave_nothing() {
    let Some(k) = kvm() else { return };
    let Some(ns) = NetNs::new() else { return };
    ns.bridge("br0", "10.99.8.1/24");
    // A device that is no bridge (named br*: not counted as a tap below).
    ns.ip(&["tuntap", "add", "brdummy", "mode", "tap"]);
    let cases = [
        (
            "<interface type='bridge'><source bridge='nosuchbr'/></interface>",
            "Cannot get interface MTU on 'nosuchbr': No such device",
        ),
        (
            "<interface type='bridge'><source bridge='brdummy'/></interface>",
            "Unable to add bridge brdummy port vnet1: Operation not supported",
        ),
        (
            "<interface type='bridge'><source bridge='br0'/><model type='e1000'/></interface>",
            "unsupported configuration: interface 52:54:00:",
        ),
        (
            "<interface type='bridge'><source bridge='br0'/><model type='rtl8139'/></interface>",
            "<model type='rtl8139'/>",
        ),
        (
            "<interface type='direct'><source dev='eth0' mode='bridge'/></interface>",
            "<interface type='direct'> is not supported",
        ),
        (
            "<interface type='user'><backend type='vde'/></interface>",
            "only 'passt'",
        ),
        (
            "<interface type='network'><source network='nosuchnet'/></interface>",
            "Network not found: no network with matching name 'nosuchnet'",
        ),
    ];
    // More cards than the VMM has slots for: it refuses the boot, after
    // the taps were made.
    let nine = "<interface type='ethernet'/>".repeat(9);
    let cases: Vec<(&str, &str)> = cases
        .into_iter()
        .chain([(nine.as_str(), "operation failed: boot: ")])
        .collect();
    for (i, (interfaces, wanted)) in cases.iter().enumerate() {
        let name = format!("bad{i}");
        // A good card first: the bad one must not leave it behind either.
        let both =
            format!("<interface type='bridge'><source bridge='br0'/></interface>{interfaces}");
        k.define_with(&ns, &name, &both);
        let out = k.wirt_in(&ns, &format!("start {name}"));
        assert!(!out.ok, "{interfaces} started");
        assert!(out.stderr.contains(wanted), "{interfaces}: {}", out.stderr);
        assert_eq!(k.state(&name), "shut off (unknown)");
        assert_eq!(taps(&ns), Vec::<String>::new(), "{interfaces} left a tap");
    }
    k.assert_no_vmms_left();
}

#[test]
fn kvm_ethernet_taps_take_the_given_name_mtu_and_link() {
    let Some(k) = kvm() else { return };
    let Some(ns) = NetNs::new() else { return };
    k.define_with(
        &ns,
        "e1",
        "<interface type='ethernet'><target dev='wt-eth0'/><mtu size='9000'/>\
         <link state='down'/></interface>\
         <interface type='ethernet'><target dev='vnet9'/></interface>",
    );
    // A name of libvirt's generated form is dropped at define.
    let inactive = k.ok_in(&ns, "dumpxml e1 --inactive");
    assert!(
        inactive.contains("wt-eth0") && !inactive.contains("vnet9"),
        "{inactive}"
    );
    k.ok_in(&ns, "start e1");
    let mut got = taps(&ns);
    got.sort();
    assert_eq!(got, ["vnet0", "wt-eth0"]);
    let link = ns.ip(&["-o", "link", "show", "wt-eth0"]);
    assert!(
        link.contains("mtu 9000") && !link.contains("master"),
        "{link}"
    );
    let console = k.wait_console("e1", "guest: ready");
    assert!(console.contains("net0: mac 52:54:00:"), "{console}");
    let list = k.ok_in(&ns, "domiflist e1");
    assert!(list.contains("wt-eth0") && list.contains("vnet0"), "{list}");

    // The cable: down as defined, plugged in live (the guest sees it), the
    // config untouched; by tap name or MAC.
    assert_eq!(k.ok_in(&ns, "domif-getlink e1 wt-eth0"), "wt-eth0 down\n\n");
    let out = k.ok_in(&ns, "domif-setlink e1 wt-eth0 up");
    assert_eq!(out, "Device updated successfully\n\n");
    assert_eq!(k.ok_in(&ns, "domif-getlink e1 wt-eth0"), "wt-eth0 up\n\n");
    assert_eq!(
        k.ok_in(&ns, "domif-getlink e1 wt-eth0 --config"),
        "wt-eth0 down\n\n"
    );
    k.wait_console("e1", "net0: link up");
    let mac = console
        .lines()
        .find_map(|l| l.strip_prefix("net0: mac "))
        .unwrap()
        .trim()
        .to_string();
    k.ok_in(&ns, &format!("domif-setlink e1 {mac} down"));
    assert_eq!(k.ok_in(&ns, "domif-getlink e1 wt-eth0"), "wt-eth0 down\n\n");
    let missing = k.wirt_in(&ns, "domif-setlink e1 vnet5 up");
    assert!(
        missing.stderr.contains("interface (dev: vnet5) not found"),
        "{}",
        missing.stderr
    );
    k.ok_in(&ns, "destroy e1");
    assert_eq!(taps(&ns), Vec::<String>::new());

    // A VMM that dies takes its taps with it: the host kept no copy.
    k.ok_in(&ns, "start e1");
    assert_eq!(taps(&ns).len(), 2);
    let killed = k.vmms();
    for pid in &killed {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !taps(&ns).is_empty() {
        assert!(
            Instant::now() < deadline,
            "a dead VMM's taps stay: {:?}",
            taps(&ns)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its taps (and its command line) can go a moment before the process
    // has finished dying and closed its state file; the crash is what the
    // host sees once it is gone.
    while killed
        .iter()
        .any(|pid| Path::new(&format!("/proc/{pid}")).exists())
    {
        assert!(Instant::now() < deadline, "the killed VMM stays");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(k.state("e1"), "shut off (crashed)");
    k.assert_no_vmms_left();
}

/// `wirtd` serving `kvm:///session` from inside a namespace, killed on drop.
pub(crate) struct Wirtd {
    child: Child,
    sock: std::path::PathBuf,
}

impl Wirtd {
    pub(crate) fn start(k: &Kvm, ns: &NetNs) -> Wirtd {
        let sock = k.dir.path().join("wirt-sock");
        let _ = std::fs::remove_file(&sock);
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_wirtd")])
            .arg("--socket")
            .arg(&sock)
            .arg("--ro-socket")
            .arg(k.dir.path().join("wirt-sock-ro"))
            .args(["--default-uri", "kvm:///session", "--session"])
            .env("XDG_CONFIG_HOME", k.dir.path().join("config"))
            .env("WIRT_STATE_DIR", k.dir.path().join("state"))
            .env("WIRT_RUNTIME_DIR", k.dir.path().join("run"))
            .env("WIRT_VMM", &k.vmm)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            assert!(Instant::now() < deadline, "wirtd did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Wirtd { child, sock }
    }

    pub(crate) fn uri(&self) -> String {
        format!("kvm+unix:///session?socket={}", self.sock.display())
    }
}

impl Drop for Wirtd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// virsh (where installed) and python3-libvirt against wirtd: the tap is
/// made by the daemon, survives the daemon's restart (the VMM holds it),
/// and goes with `destroy`.
#[test]
fn kvm_nics_through_wirtd_for_virsh_and_python_libvirt() {
    let Some(k) = kvm() else { return };
    let Some(ns) = NetNs::new() else { return };
    ns.bridge("br0", "10.99.9.1/24");
    let xml = k.dir.path().join("w1.xml");
    std::fs::write(
        &xml,
        "<domain type='kvm'><name>w1</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os><devices><interface type='bridge'>\
         <mac address='52:54:00:0a:0b:0c'/><source bridge='br0'/></interface></devices></domain>",
    )
    .unwrap();
    let mut daemon = Wirtd::start(&k, &ns);
    let conn = crate::support::open(&daemon.uri()).unwrap();
    let dom = conn
        .define_domain_xml(&std::fs::read_to_string(&xml).unwrap(), 0)
        .unwrap();
    dom.start(0).unwrap();
    assert_eq!(taps(&ns), ["vnet0"]);
    k.wait_console("w1", "net0: mac 52:54:00:0a:0b:0c");
    // The guest asks for a lease (nobody answers): it sends, so tx moves.
    let deadline = Instant::now() + Duration::from_secs(20);
    while dom.interface_stats("vnet0").unwrap().tx_packets == 0 {
        assert!(Instant::now() < deadline, "the guest sent nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(conn);

    // A restarted daemon re-attaches; the tap is still there, on the bridge.
    drop(daemon);
    daemon = Wirtd::start(&k, &ns);
    assert_eq!(taps(&ns), ["vnet0"]);
    let uri = daemon.uri();
    if wirt_testkit::have("virsh", "--version") {
        let out = Command::new("virsh")
            .args(["-c", &uri])
            .arg("domiflist w1; domifstat w1 vnet0; domif-setlink w1 vnet0 down; domif-getlink w1 vnet0")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == ["vnet0", "bridge", "br0", "-", "52:54:00:0a:0b:0c"]),
            "{text}"
        );
        assert!(text.contains("vnet0 tx_packets "), "{text}");
        assert!(text.contains("Device updated successfully"), "{text}");
        assert!(text.contains("vnet0 down"), "{text}");
        k.wait_console("w1", "net0: link down");
    }
    if let Some(python) = crate::remote::python_libvirt() {
        let script = "import libvirt, sys\n\
                      d = libvirt.open(sys.argv[1]).lookupByName('w1')\n\
                      s = d.interfaceStats('52:54:00:0a:0b:0c')\n\
                      print(len(s), s[5] > 0, s[2], s[6])\n\
                      try:\n    d.interfaceStats('nosuch0')\n\
                      except libvirt.libvirtError as e:\n    print(e.get_error_code())\n";
        let out = Command::new(python)
            .args(["-c", script, &uri])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Eight counters, packets sent, no errors; INVALID_ARG (8).
        assert_eq!(text, "8 True 0 0\n8\n");
    }
    let conn = crate::support::open(&uri).unwrap();
    // A boot the VMM refuses, after the taps were made: the daemon lives
    // on and must hold no copy of them.
    let nine = "<interface type='ethernet'/>".repeat(9);
    let bad = conn
        .define_domain_xml(
            &format!(
                "<domain type='kvm'><name>w2</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
                 <os><type>hvm</type></os><devices>{nine}</devices></domain>"
            ),
            0,
        )
        .unwrap();
    assert!(bad.start(0).is_err());
    assert_eq!(taps(&ns), ["vnet0"], "a failed start left taps in wirtd");
    conn.lookup_domain_by_name("w1").unwrap().destroy().unwrap();
    assert_eq!(taps(&ns), Vec::<String>::new(), "destroy left a tap");
    drop(daemon);
    k.assert_no_vmms_left();
}

/// `<interface type='user'>` on passt: no tap, no bridge, no privilege; the
/// guest gets its lease from passt through wirt-vmm's stream backend and
/// reaches the host's loopback through passt's NAT (the gateway address
/// maps to it); passt goes with the guest.
#[test]
fn kvm_a_user_interface_runs_on_passt() {
    let Some(k) = kvm() else { return };
    if !wirt_testkit::have("passt", "--version") {
        wirt_testkit::require("passt", "<interface type='user'> runs on it");
        return;
    }
    let Some(ns) = NetNs::new() else { return };
    // passt copies the host's routable interface: one with a default route.
    ns.bridge("up0", "10.50.0.2/24");
    ns.ip(&["route", "add", "default", "via", "10.50.0.1"]);
    let echo = Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3", "-c"])
        .arg(
            "import socket\n\
             s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
             s.bind(('127.0.0.1',7777))\n\
             while True:\n d,a=s.recvfrom(2000)\n s.sendto(d,a)\n",
        )
        .spawn()
        .unwrap();
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _echo = Kill(echo);
    k.define_with(
        &ns,
        "u1",
        "<interface type='user'><mac address='52:54:00:77:00:01'/><backend type='passt'/>\
         <model type='virtio'/></interface>",
    );
    k.ok_in(&ns, "start u1");
    let list = k.ok_in(&ns, "domiflist u1");
    assert!(
        list.contains("user") && list.contains("52:54:00:77:00:01"),
        "{list}"
    );
    assert_eq!(
        taps(&ns),
        vec!["up0".to_string()],
        "a user card makes no tap"
    );
    let net = k.guest_command("u1", "net", "net0: mac", |l| l.contains(" ip 10."));
    assert!(net.contains("ip 10.50.0.2/24 gw 10.50.0.1"), "{net}");
    let reply = k.guest_command(
        "u1",
        "udp 10.50.0.1 7777 via passt",
        "udp 10.50.0.1:7777:",
        |l| l.contains("reply"),
    );
    assert_eq!(reply, "udp 10.50.0.1:7777: reply via passt");
    let passt = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.starts_with(b"passt\0--foreground\0--one-off"))
                    && std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()
                        == std::fs::read_link(format!("/proc/{}/ns/net", _echo.0.id())).ok()
            })
            .count()
    };
    assert_eq!(passt(), 1, "one passt for the card");
    k.ok_in(&ns, "destroy u1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while passt() > 0 {
        assert!(Instant::now() < deadline, "passt outlived its guest");
        std::thread::sleep(Duration::from_millis(20));
    }
    k.assert_no_vmms_left();
}

/// Live migration between two wirtd in one namespace keeps a guest on the
/// network: the destination makes its own tap on the same bridge, the
/// guest keeps its lease and answers ping there, and the source's tap is
/// gone.
#[test]
fn kvm_a_guest_keeps_its_network_across_live_migration() {
    let Some(a) = kvm() else { return };
    let Some(b) = kvm() else { return };
    if !wirt_testkit::have("dnsmasq", "--version") {
        wirt_testkit::require("dnsmasq", "the guest's DHCP needs it (dnsmasq-base)");
        return;
    }
    let Some(ns) = NetNs::new() else { return };
    ns.bridge("br0", "10.99.9.1/24");
    let leases = tempfile::NamedTempFile::new().unwrap();
    let _dhcp = Dnsmasq::on(&ns, "br0", "10.99.9.10,10.99.9.20", leases.path());
    let src = Wirtd::start(&a, &ns);
    let dst = Wirtd::start(&b, &ns);
    a.define_with(
        &ns,
        "m1",
        "<interface type='bridge'><mac address='52:54:00:66:00:01'/><source bridge='br0'/>\
         <model type='virtio'/></interface>",
    );
    let remote = |uri: &str, script: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_wirt"))
            .args(["-c", uri, script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`{script}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    remote(&src.uri(), "start m1");
    let console = a.wait_console("m1", "net0: lease ");
    let ip = console
        .lines()
        .find_map(|l| l.strip_prefix("net0: lease "))
        .and_then(|l| l.split('/').next())
        .unwrap()
        .to_string();
    let answers = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ns.ping(&ip) {
            assert!(
                Instant::now() < deadline,
                "the guest does not answer ping {what}"
            );
        }
    };
    answers("before the migration");
    assert_eq!(taps(&ns).len(), 1, "{:?}", taps(&ns));

    remote(
        &src.uri(),
        &format!("migrate --live m1 {} tcp://127.0.0.1:0", dst.uri()),
    );
    assert_eq!(remote(&dst.uri(), "domstate m1").trim(), "running");
    answers("after the migration");
    let deadline = Instant::now() + Duration::from_secs(10);
    while taps(&ns).len() != 1 {
        assert!(Instant::now() < deadline, "taps: {:?}", taps(&ns));
        std::thread::sleep(Duration::from_millis(20));
    }
    remote(&dst.uri(), "destroy m1");
    assert_eq!(taps(&ns), Vec::<String>::new(), "destroy left a tap");
    drop((src, dst));
}
