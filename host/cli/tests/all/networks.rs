//! kvm: virtual networks for real: the bridge network driver (a WASM plugin)
//! makes bridges, nftables tables and dnsmasq processes through the host's
//! `netcap` grant. Every test runs `wirt`/`wirtd` inside a network namespace
//! of its own (`ip netns exec`), so nothing touches the host's interfaces,
//! routes or firewall, and lists what is left in that namespace at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::kvm_net::NetNs;

const NAT_XML: &str = "<network>\n  <name>nat1</name>\n  <forward mode='nat'/>\n  \
    <ip address='192.168.150.1' netmask='255.255.255.0'>\n    <dhcp>\n      \
    <range start='192.168.150.10' end='192.168.150.99'/>\n      \
    <host mac='52:54:00:00:00:42' name='fixed' ip='192.168.150.42'/>\n    </dhcp>\n  </ip>\n</network>\n";

/// Why these tests cannot run here, if they cannot: root, iproute2, nft
/// and dnsmasq (the last two from `scripts/setup.sh`).
fn unavailable() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        wirt_testkit::skip("not root: network namespaces, bridges and nftables need it");
        return Some("root");
    }
    for (tool, arg) in [("ip", "-V"), ("nft", "--version"), ("dnsmasq", "--version")] {
        if !wirt_testkit::have(tool, arg) {
            wirt_testkit::require(tool, "kvm: networks run on bridges, nftables and dnsmasq");
            return Some(tool);
        }
    }
    None
}

/// A network namespace (`kvm_net`'s) with `wirt`'s state in a temporary
/// directory; the namespace (and anything left in it) is deleted on drop.
struct Ns {
    net: NetNs,
    name: String,
    dir: tempfile::TempDir,
}

impl Ns {
    fn new() -> Ns {
        let net = NetNs::new().expect("a network namespace (root checked above)");
        Ns {
            name: net.name.clone(),
            net,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// `program args` inside the namespace, with this test's state dirs.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program])
            .env("WIRT_STATE_DIR", self.dir.path().join("state"))
            .env("WIRT_RUNTIME_DIR", self.run_dir())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env(
                "WIRT_VMM",
                PathBuf::from(env!("CARGO_BIN_EXE_wirt")).with_file_name("wirt-vmm"),
            );
        cmd
    }

    /// The console line answering `!line` that starts with `answer`.
    fn guest(&self, dom: &str, line: &str, answer: &str) -> String {
        crate::kvm::console_command(
            || self.command(env!("CARGO_BIN_EXE_wirt")),
            dom,
            line,
            answer,
            |_| true,
        )
    }

    fn wirt(&self, uri: &str, script: &str) -> (bool, String, String) {
        let out = self
            .command(env!("CARGO_BIN_EXE_wirt"))
            .args(["-c", uri, script])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, uri: &str, script: &str) -> String {
        let (ok, out, err) = self.wirt(uri, script);
        assert!(ok, "`{script}` failed: {err}{out}");
        out
    }

    /// `ip -n NS -j -d link show dev NAME` as JSON, None if absent.
    fn link(&self, dev: &str) -> Option<serde_json::Value> {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-j", "-d", "addr", "show", "dev", dev])
            .output()
            .unwrap();
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array().and_then(|a| a.first().cloned())
    }

    fn links(&self) -> Vec<String> {
        self.net.links()
    }

    fn nft_tables(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "list", "tables"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pid of the dnsmasq serving `bridge`, if one runs in this
    /// namespace (checked through its /proc entry, not just the pid file).
    fn dnsmasq(&self, bridge: &str) -> Option<i32> {
        let pid: i32 =
            std::fs::read_to_string(self.run_dir().join(format!("network/{bridge}.pid")))
                .ok()?
                .trim()
                .parse()
                .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
        let ours = netns_inode(&self.name);
        (String::from_utf8_lossy(&cmdline).contains("dnsmasq") && Some(ns) == ours).then_some(pid)
    }

    /// Every dnsmasq process of this namespace.
    fn all_dnsmasq(&self) -> Vec<i32> {
        let ours = netns_inode(&self.name);
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).starts_with("dnsmasq"))
                    && std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == ours
            })
            .collect()
    }

    fn wirtd(&self) -> Child {
        let sock = self.dir.path().join("sock");
        let _ = std::fs::remove_file(&sock);
        let child = self
            .command(env!("CARGO_BIN_EXE_wirtd"))
            .arg("--socket")
            .arg(&sock)
            .arg("--ro-socket")
            .arg(self.dir.path().join("sock-ro"))
            .args(["--default-uri", "kvm:///session", "--session"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        poll(Duration::from_secs(20), "wirtd to listen", || {
            std::os::unix::net::UnixStream::connect(&sock).is_ok()
        });
        child
    }

    fn remote_uri(&self) -> String {
        format!(
            "kvm+unix:///session?socket={}",
            self.dir.path().join("sock").display()
        )
    }
}

impl Drop for Ns {
    /// A dnsmasq left behind would keep the namespace alive; the namespace
    /// itself goes with `net`.
    fn drop(&mut self) {
        for pid in self.all_dnsmasq() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

fn netns_inode(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(Path::new("/var/run/netns").join(name))
        .ok()?
        .ino();
    Some(PathBuf::from(format!("net:[{ino}]")))
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn poll(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kvm_nat_network_gets_bridge_rules_and_dnsmasq_and_destroy_leaves_nothing() {
    if unavailable().is_some() {
        return;
    }
    let ns = Ns::new();
    let uri = "kvm:///session";
    let xml = ns.dir.path().join("nat1.xml");
    std::fs::write(&xml, NAT_XML).unwrap();
    ns.ok(uri, &format!("net-define {}", xml.display()));
    // libvirt's bridge driver names the bridge and MAC at define.
    let dumped = ns.ok(uri, "net-dumpxml nat1");
    assert!(dumped.contains("<bridge name='virbr0'"), "{dumped}");
    assert!(dumped.contains("<mac address='52:54:00:"), "{dumped}");
    ns.ok(uri, "net-start nat1");

    let link = ns.link("virbr0").expect("virbr0 exists in the namespace");
    assert_eq!(link["linkinfo"]["info_kind"], "bridge", "{link}");
    assert_eq!(link["ifalias"], "wirt:network-bridge", "{link}");
    assert!(link["operstate"] != "DOWN" || link["flags"].to_string().contains("UP"));
    assert!(
        link["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["local"] == "192.168.150.1" && a["prefixlen"] == 24),
        "{link}"
    );
    let rules = String::from_utf8_lossy(
        &ns.command("nft")
            .args(["list", "table", "inet", "wirt_virbr0"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(rules.contains("masquerade"), "{rules}");
    assert!(rules.contains("192.168.150.0/24"), "{rules}");
    let pid = ns
        .dnsmasq("virbr0")
        .expect("dnsmasq serves virbr0 in the namespace");
    let conf = std::fs::read_to_string(ns.run_dir().join("network/virbr0.conf")).unwrap();
    assert!(
        conf.contains("dhcp-range=192.168.150.10,192.168.150.99,255.255.255.0"),
        "{conf}"
    );
    let hosts =
        std::fs::read_to_string(ns.dir.path().join("state/network/virbr0.hostsfile")).unwrap();
    assert_eq!(hosts, "52:54:00:00:00:42,192.168.150.42,fixed\n");

    // net-update of a DHCP host reaches the running dnsmasq's hosts file.
    ns.ok(
        uri,
        "net-update nat1 add ip-dhcp-host \"<host mac='52:54:00:00:00:43' ip='192.168.150.43'/>\" --live --config",
    );
    let hosts =
        std::fs::read_to_string(ns.dir.path().join("state/network/virbr0.hostsfile")).unwrap();
    assert!(
        hosts.contains("52:54:00:00:00:43,192.168.150.43"),
        "{hosts}"
    );
    assert_eq!(
        ns.dnsmasq("virbr0"),
        Some(pid),
        "a reload keeps the process"
    );

    let leases = ns.ok(uri, "net-dhcp-leases nat1");
    assert!(
        leases.contains("Expiry Time") && leases.contains("Client ID or DUID"),
        "{leases}"
    );

    // A second network whose bridge exists but is not ours: refused, and
    // the foreign bridge is left alone.
    ns.net.ip(&["link", "add", "virbr7", "type", "bridge"]);
    let other = ns.dir.path().join("other.xml");
    std::fs::write(
        &other,
        "<network><name>other</name><bridge name='virbr7'/>\
         <ip address='10.7.0.1' prefix='24'/></network>",
    )
    .unwrap();
    ns.ok(uri, &format!("net-define {}", other.display()));
    let (ok, _, err) = ns.wirt(uri, "net-start other");
    assert!(
        !ok && err.contains("virbr7") && err.contains("already exists"),
        "{err}"
    );
    assert!(
        ns.link("virbr7").is_some(),
        "the foreign bridge is untouched"
    );
    assert!(
        !ns.nft_tables().contains("wirt_virbr7"),
        "{}",
        ns.nft_tables()
    );
    // A bridge already used by another network is refused at define.
    std::fs::write(
        &other,
        "<network><name>third</name><bridge name='virbr0'/></network>",
    )
    .unwrap();
    let (ok, _, err) = ns.wirt(uri, &format!("net-define {}", other.display()));
    assert!(
        !ok && err.contains("bridge name 'virbr0' already in use"),
        "{err}"
    );

    ns.ok(uri, "net-destroy nat1");
    assert!(ns.link("virbr0").is_none(), "bridge left: {:?}", ns.links());
    assert!(
        !ns.nft_tables().contains("wirt_virbr0"),
        "{}",
        ns.nft_tables()
    );
    poll(Duration::from_secs(5), "dnsmasq to exit", || {
        ns.dnsmasq("virbr0").is_none()
    });
    assert!(ns.all_dnsmasq().is_empty(), "{:?}", ns.all_dnsmasq());
    let left: Vec<_> = std::fs::read_dir(ns.dir.path().join("state/network"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "files left: {left:?}");
    ns.ok(uri, "net-undefine nat1");
    assert_eq!(ns.links(), vec!["lo".to_string(), "virbr7".to_string()]);
}

#[test]
fn wirtd_restarts_dnsmasq_adopts_running_networks_after_sigkill_and_autostarts() {
    if unavailable().is_some() {
        return;
    }
    let ns = Ns::new();
    let mut wirtd = ns.wirtd();
    let uri = ns.remote_uri();
    let xml = ns.dir.path().join("nat1.xml");
    std::fs::write(&xml, NAT_XML).unwrap();
    ns.ok(&uri, &format!("net-define {}", xml.display()));
    ns.ok(&uri, "net-start nat1");
    let ifindex = ns.link("virbr0").unwrap()["ifindex"].clone();
    let first = ns.dnsmasq("virbr0").expect("dnsmasq runs");

    // dnsmasq dies: wirtd's supervisor starts another.
    run(Command::new("kill").args(["-9", &first.to_string()]));
    poll(Duration::from_secs(10), "dnsmasq to be restarted", || {
        ns.dnsmasq("virbr0").is_some_and(|p| p != first)
    });
    let second = ns.dnsmasq("virbr0").unwrap();

    // wirtd dies: the network keeps running, and the next wirtd adopts it
    // as it is (same bridge, same dnsmasq).
    wirtd.kill().unwrap();
    wirtd.wait().unwrap();
    assert_eq!(ns.dnsmasq("virbr0"), Some(second));
    let mut wirtd = ns.wirtd();
    let list = ns.ok(&uri, "net-list");
    assert!(list.contains("nat1") && list.contains("active"), "{list}");
    assert_eq!(
        ns.link("virbr0").unwrap()["ifindex"],
        ifindex,
        "bridge re-created"
    );
    assert_eq!(ns.dnsmasq("virbr0"), Some(second), "dnsmasq re-started");
    let info = ns.ok(&uri, "net-info nat1");
    assert!(info.contains("virbr0"), "{info}");

    // An autostart network that is not running starts with the daemon.
    ns.ok(&uri, "net-autostart nat1");
    ns.ok(&uri, "net-destroy nat1");
    assert!(ns.link("virbr0").is_none());
    wirtd.kill().unwrap();
    wirtd.wait().unwrap();
    let mut wirtd = ns.wirtd();
    let list = ns.ok(&uri, "net-list");
    assert!(list.contains("nat1") && list.contains("active"), "{list}");
    assert!(ns.link("virbr0").is_some());
    assert!(ns.dnsmasq("virbr0").is_some());

    ns.ok(&uri, "net-destroy nat1");
    ns.ok(&uri, "net-undefine nat1");
    poll(Duration::from_secs(5), "dnsmasq to exit", || {
        ns.all_dnsmasq().is_empty()
    });
    assert_eq!(ns.links(), vec!["lo".to_string()]);
    assert!(!ns.nft_tables().contains("wirt_"), "{}", ns.nft_tables());
    wirtd.kill().unwrap();
    wirtd.wait().unwrap();
}

const PYTHON_NETWORK_EVENTS: &str = r#"
import sys, threading, time
import libvirt
libvirt.virEventRegisterDefaultImpl()
listener = libvirt.open(sys.argv[1])
got = []
def lifecycle(conn, net, event, detail, opaque):
    got.append((net.name(), event))
listener.networkEventRegisterAny(None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, lifecycle, None)
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
other = libvirt.open(sys.argv[1])
net = other.networkDefineXML("<network><name>evnet</name><bridge name='virbr-ev'/></network>")
net.create()
net.destroy()
net.undefine()
deadline = time.time() + 20
while len(got) < 4 and time.time() < deadline:
    time.sleep(0.01)
print(got)
"#;

/// libvirt's python binding registers a network lifecycle callback through
/// wirtd and receives defined, started, stopped, undefined as libvirtd
/// sends them (another client making the changes).
#[test]
fn python_libvirt_receives_network_lifecycle_events_through_wirtd() {
    let Some(python) = crate::remote::python_libvirt() else {
        return;
    };
    let d = crate::remote::Daemon::start();
    let script = d.dir.path().join("net_events.py");
    std::fs::write(&script, PYTHON_NETWORK_EVENTS).unwrap();
    let out = Command::new(python)
        .arg(&script)
        .arg(d.uri())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // VIR_NETWORK_EVENT_DEFINED 0, UNDEFINED 1, STARTED 2, STOPPED 3.
    assert_eq!(
        stdout.trim(),
        "[('evnet', 0), ('evnet', 2), ('evnet', 3), ('evnet', 1)]"
    );
}

/// wirt's own remote client: a network event subscription through wirtd
/// is registered when `network_events` returns, and sees what another
/// client does; `wirt net-event` prints virsh's lines for them.
#[test]
fn wirt_receives_network_events_through_wirtd() {
    wirt_remote::install();
    let d = crate::remote::Daemon::start();
    let listener = wirt::Connect::open(&d.uri()).unwrap();
    let events = listener.network_events().unwrap();
    let other = wirt::Connect::open(&d.uri()).unwrap();
    let net = other
        .define_network_xml("<network><name>evnet2</name><bridge name='virbr-e2'/></network>")
        .unwrap();
    net.start().unwrap();
    net.destroy().unwrap();
    net.undefine().unwrap();
    let got: Vec<String> = (0..4)
        .map(|_| {
            events
                .next_timeout(Duration::from_secs(20))
                .expect("an event")
                .virsh_line()
        })
        .collect();
    assert_eq!(
        got,
        [
            "event 'lifecycle' for network evnet2: Defined",
            "event 'lifecycle' for network evnet2: Started",
            "event 'lifecycle' for network evnet2: Stopped",
            "event 'lifecycle' for network evnet2: Undefined",
        ]
    );
    // The CLI: one event, then the summary line, as virsh prints them.
    let mut child = Command::new(env!("CARGO_BIN_EXE_wirt"))
        .args(["-c", &d.uri(), "net-event --event lifecycle --timeout 20"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Until the command has registered, the definitions it misses are
    // redone: each round is a define and an undefine.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reader.is_finished() && Instant::now() < deadline {
        let n = other
            .define_network_xml("<network><name>evnet3</name><bridge name='virbr-e3'/></network>")
            .unwrap();
        n.undefine().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait().unwrap();
    let out = reader.join().unwrap();
    assert!(
        out.starts_with("event 'lifecycle' for network evnet3: ")
            && out.trim_end().ends_with("events received: 1"),
        "{out}"
    );
}

/// issue 12's "done when": two test guests on network `default` (NAT) get
/// DHCP leases from its dnsmasq, seen in net-dhcp-leases and domifaddr; the
/// host pings each; guest A reaches guest B's UDP echo port across the
/// bridge; interface counters move; destroying guests and network leaves
/// nothing in the namespace.
#[test]
fn kvm_guests_on_network_default_get_leases_answer_ping_and_reach_each_other() {
    if !wirt_testkit::kvm_or_skip() || unavailable().is_some() {
        return;
    }
    let ns = Ns::new();
    let uri = "kvm:///session";
    let net = ns.dir.path().join("default.xml");
    std::fs::write(
        &net,
        "<network><name>default</name><forward mode='nat'/>\
         <ip address='192.168.122.1' netmask='255.255.255.0'><dhcp>\
         <range start='192.168.122.2' end='192.168.122.254'/></dhcp></ip></network>",
    )
    .unwrap();
    ns.ok(
        uri,
        &format!("net-define {}; net-start default", net.display()),
    );
    for (name, mac) in [("ga", "52:54:00:12:00:0a"), ("gb", "52:54:00:12:00:0b")] {
        let xml = ns.dir.path().join(format!("{name}.xml"));
        std::fs::write(
            &xml,
            format!(
                "<domain type='kvm'><name>{name}</name><memory unit='MiB'>16</memory>\
                 <vcpu>1</vcpu><os><type>hvm</type></os><devices>\
                 <interface type='network'><mac address='{mac}'/><source network='default'/>\
                 <model type='virtio'/></interface></devices></domain>"
            ),
        )
        .unwrap();
        ns.ok(uri, &format!("define {}; start {name}", xml.display()));
    }
    // Both leases, from the network's own dnsmasq.
    let mut leases = String::new();
    poll(Duration::from_secs(60), "two DHCP leases", || {
        leases = ns.ok(uri, "net-dhcp-leases default");
        leases.matches("ipv4").count() == 2
    });
    let ip_of = |mac: &str| -> String {
        let line = leases
            .lines()
            .find(|l| l.contains(mac))
            .unwrap_or_else(|| panic!("{leases}"));
        line.split_whitespace()
            .nth(4)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string()
    };
    let (ip_a, ip_b) = (ip_of("52:54:00:12:00:0a"), ip_of("52:54:00:12:00:0b"));
    let addr = ns.ok(uri, "domifaddr ga");
    assert!(
        addr.contains(&format!("{ip_a}/24")) && addr.contains("vnet"),
        "{addr}"
    );
    // The guest itself says it has that address.
    let shown = ns.guest("gb", "net", "net0:");
    assert!(shown.contains(&format!("ip {ip_b}/24")), "{shown}");

    for ip in [&ip_a, &ip_b] {
        poll(
            Duration::from_secs(10),
            &format!("{ip} to answer ping"),
            || ns.net.ping(ip),
        );
    }
    let echo = ns.guest(
        "ga",
        &format!("udp {ip_b} 7 across the bridge"),
        &format!("udp {ip_b}:7:"),
    );
    assert_eq!(echo, format!("udp {ip_b}:7: reply across the bridge"));
    let stat = ns.ok(uri, "domifstat ga vnet0");
    let rx: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("vnet0 rx_packets "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{stat}"));
    assert!(rx > 0, "{stat}");

    ns.ok(uri, "destroy ga; destroy gb");
    assert_eq!(ns.links(), vec!["lo".to_string(), "virbr0".to_string()]);
    ns.ok(uri, "net-destroy default");
    assert_eq!(ns.links(), vec!["lo".to_string()]);
    assert!(!ns.nft_tables().contains("wirt_"), "{}", ns.nft_tables());
    poll(Duration::from_secs(5), "dnsmasq to exit", || {
        ns.all_dnsmasq().is_empty()
    });
}
