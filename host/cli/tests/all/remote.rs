//! wirtd end to end: the daemon binary on temporary sockets, driven by real
//! libvirt clients (Debian's virsh and python3-libvirt, which
//! scripts/setup.sh installs; tests that need one skip with a message when
//! it is missing), by `wirt -c DRIVER+unix:///...`, and by raw packets.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Out, run, wirt};
use wirt::ErrorCode;
use wirt_remote::packet::{Header, MessageType, Packet, read_packet, write_packet};
use wirt_remote::protocol::*;

const DOM_XML: &str = "<domain type='test'>\n  <name>vm1</name>\n  <uuid>1c8cff5b-3228-4065-bb12-66f7d48d4f1a</uuid>\n  <memory unit='MiB'>128</memory>\n  <vcpu>1</vcpu>\n  <os><type>hvm</type></os>\n</domain>\n";

/// A wirtd on sockets in a temporary directory, killed when dropped.
pub(crate) struct Daemon {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) child: Option<Child>,
    /// More options for wirtd.
    args: Vec<String>,
    /// RLIMIT_NOFILE for wirtd, set by the shell that execs it.
    nofile: Option<u32>,
}

impl Daemon {
    pub(crate) fn start() -> Daemon {
        Daemon::start_with(&[], None)
    }

    pub(crate) fn start_with(args: &[&str], nofile: Option<u32>) -> Daemon {
        let mut d = Daemon {
            dir: tempfile::tempdir().unwrap(),
            child: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            nofile,
        };
        d.spawn();
        d
    }

    pub(crate) fn sock(&self) -> PathBuf {
        self.dir.path().join("wirt-sock")
    }

    pub(crate) fn ro_sock(&self) -> PathBuf {
        self.dir.path().join("wirt-sock-ro")
    }

    pub(crate) fn uri(&self) -> String {
        format!("test+unix:///default?socket={}", self.sock().display())
    }

    pub(crate) fn ro_uri(&self) -> String {
        format!("test+unix:///default?socket={}", self.ro_sock().display())
    }

    pub(crate) fn spawn(&mut self) {
        let vmm = PathBuf::from(env!("CARGO_BIN_EXE_wirt")).with_file_name("wirt-vmm");
        let wirtd = env!("CARGO_BIN_EXE_wirtd");
        let mut cmd = match self.nofile {
            None => Command::new(wirtd),
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(wirtd);
                sh
            }
        };
        let child = cmd
            .args(&self.args)
            .arg("--socket")
            .arg(self.sock())
            .arg("--ro-socket")
            .arg(self.ro_sock())
            .args(["--default-uri", "test:///default", "--session"])
            // No config file but the test's own (under $XDG_CONFIG_HOME).
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("WIRT_STATE_DIR", self.dir.path().join("state"))
            .env("WIRT_RUNTIME_DIR", self.dir.path().join("run"))
            .env("WIRT_VMM", vmm)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wirtd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(self.sock()).is_err() || !self.ro_sock().exists() {
            assert!(Instant::now() < deadline, "wirtd did not come up");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn pid(&self) -> String {
        self.child.as_ref().unwrap().id().to_string()
    }

    /// SIGKILL: no cleanup at all.
    pub(crate) fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, and what the daemon printed on its way out.
    pub(crate) fn terminate(&mut self) -> (std::process::ExitStatus, String) {
        assert!(
            Command::new("kill")
                .args(["-TERM", &self.pid()])
                .status()
                .unwrap()
                .success()
        );
        let mut child = self.child.take().unwrap();
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status, stderr)
    }
}

impl Drop for Daemon {
    /// The daemon goes, and so do the guests it started: VMMs outlive a
    /// daemon by design, but not the test that made them.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in crate::support::vmms_under(self.dir.path()) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

pub(crate) fn have_virsh() -> bool {
    let found = Command::new("virsh").arg("--version").output().is_ok();
    if !found {
        wirt_testkit::require(
            "virsh",
            "no comparison with libvirt's client (libvirt-clients)",
        );
    }
    found
}

fn virsh(uri: &str, script: &str) -> Out {
    run(Command::new("virsh").args(["-c", uri, script]))
}

/// Debian's python3 with the libvirt module, if installed.
pub(crate) fn python_libvirt() -> Option<&'static str> {
    for python in ["/usr/bin/python3", "python3"] {
        if Command::new(python)
            .args(["-c", "import libvirt"])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(python);
        }
    }
    wirt_testkit::require(
        "python3-libvirt",
        "no comparison with libvirt's python binding",
    );
    None
}

#[test]
fn sockets_have_libvirts_modes_and_go_away_on_sigterm() {
    let mut d = Daemon::start();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.sock()), 0o600);
    assert_eq!(mode(&d.ro_sock()), 0o666);
    // A second daemon on the same socket is refused, the first one untouched.
    let second = run(Command::new(env!("CARGO_BIN_EXE_wirtd"))
        .arg("--socket")
        .arg(d.sock())
        .arg("--no-ro-socket"));
    assert!(!second.ok);
    assert!(second.stderr.contains("in use"), "{}", second.stderr);
    let (status, stderr) = d.terminate();
    assert!(status.success(), "{stderr}");
    assert!(!d.sock().exists() && !d.ro_sock().exists());
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn virsh_lists_and_runs_a_lifecycle_as_with_libvirtd() {
    if !have_virsh() {
        return;
    }
    let d = Daemon::start();
    let out = virsh(&d.uri(), "list --all");
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        " Id   Name   State\n----------------------\n 1    test   running\n\n"
    );
    let info = virsh(&d.uri(), "dominfo test").stdout;
    for line in [
        "Id:             1\n",
        "Name:           test\n",
        "UUID:           6695eb01-f6a4-8304-79aa-97f2502e193f\n",
        "State:          running\n",
        "CPU(s):         2\n",
        "Max memory:     8388608 KiB\n",
        "Used memory:    2097152 KiB\n",
        "Persistent:     yes\n",
        "Autostart:      disable\n",
        "Managed save:   no\n",
    ] {
        assert!(info.contains(line), "{line:?} missing from:\n{info}");
    }

    let xml = d.dir.path().join("dom.xml");
    std::fs::write(&xml, DOM_XML).unwrap();
    // One virsh process: as with libvirtd, test:///default starts afresh
    // once its last connection closes.
    let script = format!(
        "define {}; start vm1; suspend vm1; domstate vm1 --reason; resume vm1; \
         domstate vm1 --reason; dumpxml vm1; destroy vm1; domstate vm1 --reason; undefine vm1; list --all",
        xml.display()
    );
    let out = virsh(&d.uri(), &script);
    assert!(out.ok, "{}", out.stderr);
    // Captured from libvirtd 9.0's test driver with the same script.
    let expected = format!(
        "Domain 'vm1' defined from {}\n\nDomain 'vm1' started\n\nDomain 'vm1' suspended\n\n\
         paused (user)\n\nDomain 'vm1' resumed\n\nrunning (unpaused)\n\n\
         <domain type='test' id='2'>\n  <name>vm1</name>\n  <uuid>1c8cff5b-3228-4065-bb12-66f7d48d4f1a</uuid>\n  \
         <memory unit='KiB'>131072</memory>\n  <currentMemory unit='KiB'>131072</currentMemory>\n  \
         <vcpu placement='static'>1</vcpu>\n  <os>\n    <type arch='i686'>hvm</type>\n    <boot dev='hd'/>\n  </os>\n  \
         <clock offset='utc'/>\n  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  \
         <on_crash>destroy</on_crash>\n  <devices>\n  </devices>\n</domain>\n\n\
         Domain 'vm1' destroyed\n\nshut off (destroyed)\n\nDomain 'vm1' has been undefined\n\n \
         Id   Name   State\n----------------------\n 1    test   running\n\n",
        xml.display()
    );
    assert_eq!(out.stdout, expected);

    let out = virsh(&d.uri(), "destroy nosuch");
    assert!(!out.ok);
    assert_eq!(out.stderr, "error: failed to get domain 'nosuch'\n");
    let out = virsh(&d.uri(), "start test");
    assert!(!out.ok);
    assert_eq!(out.stderr, "error: Domain is already active\n");
}

#[test]
fn virsh_pools_and_volume_streams() {
    if !have_virsh() {
        return;
    }
    let d = Daemon::start();
    let out = virsh(&d.uri(), "pool-list --all");
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        " Name           State    Autostart\n------------------------------------\n default-pool   active   no\n\n"
    );
    let dir = d.dir.path();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("up.bin"), &data).unwrap();
    std::fs::write(
        dir.join("vol.xml"),
        "<volume><name>v1.img</name><capacity unit='KiB'>512</capacity></volume>",
    )
    .unwrap();
    let script = format!(
        "vol-create default-pool {vol}; vol-upload --pool default-pool v1.img {up}; \
         vol-download --pool default-pool v1.img {down}; \
         vol-download --pool default-pool v1.img {part} --offset 1000 --length 70000; \
         vol-info --pool default-pool v1.img; vol-delete --pool default-pool v1.img",
        vol = dir.join("vol.xml").display(),
        up = dir.join("up.bin").display(),
        down = dir.join("down.bin").display(),
        part = dir.join("part.bin").display(),
    );
    let out = virsh(&d.uri(), &script);
    assert!(out.ok, "{}", out.stderr);
    let down = std::fs::read(dir.join("down.bin")).unwrap();
    assert_eq!(down.len(), 512 * 1024);
    assert_eq!(&down[..data.len()], &data[..]);
    assert!(down[data.len()..].iter().all(|&b| b == 0));
    assert_eq!(
        std::fs::read(dir.join("part.bin")).unwrap(),
        &data[1000..71000]
    );
    assert!(
        out.stdout.contains("Capacity:       512.00 KiB"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Vol v1.img deleted"), "{}", out.stdout);
}

#[test]
fn virsh_event_loop_receives_lifecycle_events() {
    if !have_virsh() {
        return;
    }
    let d = Daemon::start();
    let mut listener = Command::new("virsh")
        .args(["-c", &d.uri(), "event", "--loop", "--all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // virsh prints (and flushes) one line per event: read them as they come.
    let (tx, lines) = std::sync::mpsc::channel();
    let stdout = listener.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            if tx.send(line.expect("virsh's stdout")).is_err() {
                break;
            }
        }
    });
    const SUSPENDED: &str = "event 'lifecycle' for domain 'test': Suspended Paused";
    const RESUMED: &str = "event 'lifecycle' for domain 'test': Resumed Unpaused";
    // The listener registers some time after it starts: suspend and resume
    // until it reports an event, however long a loaded machine takes.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen: Vec<String> = Vec::new();
    while seen.is_empty() {
        assert!(Instant::now() < deadline, "virsh event never reported");
        let out = virsh(&d.uri(), "suspend test; resume test");
        assert!(out.ok, "{}", out.stderr);
        seen.extend(lines.recv_timeout(Duration::from_millis(100)));
    }
    let out = virsh(
        &d.uri(),
        "suspend test; resume test; destroy test; start test",
    );
    assert!(out.ok, "{}", out.stderr);
    // Events arrive in order: the probes' first, then these four (only
    // these end with a start).
    while !seen.last().is_some_and(|l| l.ends_with("Started Booted")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("{e}: received only {seen:#?}"),
        }
    }
    let _ = listener.kill();
    let _ = listener.wait();
    let (probes, events) = seen.split_at(seen.len().saturating_sub(4));
    assert!(
        probes.iter().all(|l| l == SUSPENDED || l == RESUMED),
        "{seen:#?}"
    );
    assert_eq!(
        events,
        [
            SUSPENDED,
            RESUMED,
            "event 'lifecycle' for domain 'test': Stopped Destroyed",
            "event 'lifecycle' for domain 'test': Started Booted",
        ],
        "{seen:#?}"
    );
}

const PYTHON_CLIENT: &str = r#"
import libvirt, sys, threading, time
uri, ro_uri = sys.argv[1], sys.argv[2]
libvirt.virEventRegisterDefaultImpl()
threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)], daemon=True).start()
libvirt.registerErrorHandler(lambda ctx, err: None, None)
conn = libvirt.open(uri)
events = []
cid = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                  lambda c, d, e, det, o: events.append((d.name(), e, det)), None)
d = conn.defineXML(open(sys.argv[3]).read())
assert (d.name(), d.UUIDString(), d.ID()) == ("vm1", "1c8cff5b-3228-4065-bb12-66f7d48d4f1a", -1)
d.create()
assert d.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED], d.state()
assert d.ID() == 2 and d.isActive() and d.isPersistent()
assert sorted(x.name() for x in conn.listAllDomains()) == ["test", "vm1"]
assert sorted(x.name() for x in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE)) == []
assert "<name>vm1</name>" in d.XMLDesc() and "id='2'" in d.XMLDesc()
assert d.info()[:4] == [libvirt.VIR_DOMAIN_RUNNING, 131072, 131072, 1], d.info()
d.suspend()
assert d.state()[0] == libvirt.VIR_DOMAIN_PAUSED
d.resume(); d.destroy(); d.undefine()
def code(f):
    try:
        f()
    except libvirt.libvirtError as e:
        return (e.get_error_code(), e.get_error_domain())
    raise AssertionError("no error")
assert code(lambda: conn.lookupByName("nosuch")) == (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_FROM_TEST)
assert code(lambda: d.state()) == (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_FROM_TEST)
assert code(lambda: conn.defineXML("<domain>"))[0] == libvirt.VIR_ERR_XML_DETAIL
assert code(lambda: conn.storagePoolLookupByName("nope"))[0] == libvirt.VIR_ERR_NO_STORAGE_POOL
assert code(lambda: conn.lookupByName("test").create())[0] == libvirt.VIR_ERR_OPERATION_INVALID
assert conn.getType() == "TEST" and conn.getLibVersion() == 9000000
assert conn.listDomainsID() == [1] and conn.numOfDomains() == 1 and conn.listDefinedDomains() == []
assert [p.name() for p in conn.listAllStoragePools()] == ["default-pool"]
# Opened read-write on the read-only socket: the daemon refuses, as
# libvirtd does, with the domain API's error domain.
ro = libvirt.open(ro_uri)
assert ro.lookupByName("test").state()[0] == libvirt.VIR_DOMAIN_RUNNING
assert code(lambda: ro.lookupByName("test").suspend()) == (libvirt.VIR_ERR_OPERATION_DENIED, libvirt.VIR_FROM_DOMAIN)
assert code(lambda: ro.defineXML(open(sys.argv[3]).read()))[0] == libvirt.VIR_ERR_OPERATION_DENIED
assert ro.lookupByName("test").state()[0] == libvirt.VIR_DOMAIN_RUNNING
deadline = time.time() + 5
while len(events) < 6 and time.time() < deadline:
    time.sleep(0.05)
conn.domainEventDeregisterAny(cid)
expected = [("vm1", libvirt.VIR_DOMAIN_EVENT_DEFINED, 0), ("vm1", libvirt.VIR_DOMAIN_EVENT_STARTED, 0),
            ("vm1", libvirt.VIR_DOMAIN_EVENT_SUSPENDED, 0), ("vm1", libvirt.VIR_DOMAIN_EVENT_RESUMED, 0),
            ("vm1", libvirt.VIR_DOMAIN_EVENT_STOPPED, 1), ("vm1", libvirt.VIR_DOMAIN_EVENT_UNDEFINED, 0)]
assert events == expected, events
ro.close(); conn.close()
print("python client OK")
"#;

#[test]
fn python_libvirt_defines_runs_lists_and_gets_events_and_error_codes() {
    let Some(python) = python_libvirt() else {
        return;
    };
    let d = Daemon::start();
    let script = d.dir.path().join("client.py");
    std::fs::write(&script, PYTHON_CLIENT).unwrap();
    let xml = d.dir.path().join("dom.xml");
    std::fs::write(&xml, DOM_XML).unwrap();
    let out = run(Command::new(python)
        .arg(&script)
        .arg(d.uri())
        .arg(d.ro_uri())
        .arg(&xml));
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "python client OK\n");
}

#[test]
fn wirt_cli_over_the_daemon_prints_what_it_prints_locally() {
    let d = Daemon::start();
    let xml = d.dir.path().join("dom.xml");
    std::fs::write(&xml, DOM_XML).unwrap();
    let script = format!(
        "list --all; dominfo test; define {}; start vm1; suspend vm1; domstate vm1 --reason; \
         resume vm1; dumpxml vm1; destroy vm1; undefine vm1; pool-list --all; vol-list default-pool; \
         net-list --all; net-dumpxml default; snapshot-create-as test s1; snapshot-info test s1; \
         snapshot-delete test s1; hostname; version",
        xml.display()
    );
    let local = wirt("test:///default", &script);
    let remote = wirt(&d.uri(), &script);
    assert!(remote.ok, "{}", remote.stderr);
    // The snapshot's creation time and the domain's CPU time tick on.
    let stable = |s: &str| -> String {
        s.lines()
            .filter(|l| !l.starts_with("CPU time:") && !l.contains("Creation Time"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(stable(&remote.stdout), stable(&local.stdout));
    assert_eq!(remote.stderr, local.stderr);

    let err = wirt(&d.uri(), "suspend nosuch");
    assert!(!err.ok);
    assert_eq!(err.stderr, "error: failed to get domain 'nosuch'\n");
}

#[test]
fn read_only_socket_refuses_every_mutation() {
    let d = Daemon::start();
    let conn = crate::support::open(&d.ro_uri()).unwrap();
    let test = conn.lookup_domain_by_name("test").unwrap();
    assert_eq!(test.state().unwrap().0, wirt::lifecycle::State::Running);
    assert!(conn.list_all_domains(0).unwrap().len() == 1);
    for err in [
        test.suspend().unwrap_err(),
        test.destroy().unwrap_err(),
        conn.define_domain_xml(DOM_XML, 0).unwrap_err(),
        test.set_autostart(true).unwrap_err(),
        conn.lookup_pool_by_name("default-pool")
            .unwrap()
            .destroy()
            .unwrap_err(),
    ] {
        assert_eq!(err.code(), ErrorCode::OPERATION_DENIED, "{err}");
        assert!(
            err.message()
                .starts_with("operation forbidden: read only access prevents vir"),
            "{}",
            err.message()
        );
    }
    assert_eq!(test.state().unwrap().0, wirt::lifecycle::State::Running);
    if have_virsh() {
        let out = virsh(&d.ro_uri(), "suspend test");
        assert!(!out.ok);
        assert!(
            out.stderr
                .contains("error: operation forbidden: read only access prevents virDomainSuspend"),
            "{}",
            out.stderr
        );
    }
}

/// A raw client for the dispatcher's own rules.
pub(crate) struct Raw {
    pub(crate) sock: UnixStream,
    pub(crate) serial: u32,
}

impl Raw {
    pub(crate) fn connect(path: &Path) -> Raw {
        Raw {
            sock: UnixStream::connect(path).unwrap(),
            serial: 0,
        }
    }

    pub(crate) fn send(&mut self, header: Header, payload: Vec<u8>) -> Packet {
        write_packet(&mut self.sock, &Packet::new(header, payload)).unwrap();
        read_packet(&mut self.sock).unwrap().expect("an answer")
    }

    pub(crate) fn call<A: wirt_remote::xdr::XdrEncode>(
        &mut self,
        procedure: i32,
        args: &A,
    ) -> Packet {
        self.serial += 1;
        let payload = wirt_remote::xdr::to_bytes(args).unwrap();
        let reply = self.send(Header::call(procedure, self.serial), payload);
        assert_eq!(reply.header.serial, self.serial);
        reply
    }

    pub(crate) fn error(&mut self, procedure: i32, payload: Vec<u8>) -> (i32, i32, String) {
        self.serial += 1;
        let reply = self.send(Header::call(procedure, self.serial), payload);
        let err = reply.error().expect("an error reply").unwrap();
        (err.code, err.domain, err.message.unwrap_or_default())
    }
}

#[test]
fn dispatcher_follows_libvirtds_rules() {
    let d = Daemon::start();
    let mut c = Raw::connect(&d.sock());
    // Keepalive works before anything else.
    write_packet(&mut c.sock, &Packet::ping()).unwrap();
    let pong = read_packet(&mut c.sock).unwrap().unwrap();
    assert_eq!(pong.header, Packet::pong().header);
    // Only auth and the keepalive feature work before OPEN.
    let auth: AuthListRet = c.call(REMOTE_PROC_AUTH_LIST, &()).decode().unwrap();
    assert_eq!(auth.types, [AuthType::None]);
    let (code, _, msg) = c.error(
        REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS,
        vec![0, 0, 0, 1, 0, 0, 0, 0],
    );
    assert_eq!(
        (code, msg.as_str()),
        (1, "internal error: hypervisor connection not open")
    );
    let open = ConnectOpenArgs {
        name: Some("test:///default".into()),
        flags: 0,
    };
    assert!(c.call(REMOTE_PROC_CONNECT_OPEN, &open).error().is_none());
    let (code, _, msg) = c.error(
        REMOTE_PROC_CONNECT_OPEN,
        wirt_remote::xdr::to_bytes(&open).unwrap(),
    );
    assert_eq!(
        (code, msg.as_str()),
        (1, "internal error: connection already open")
    );
    // A number libvirt does not have: RPC error, domain RPC.
    let (code, domain, msg) = c.error(9999, Vec::new());
    assert_eq!(
        (code, domain, msg.as_str()),
        (39, 7, "unknown procedure: 9999")
    );
    // A procedure libvirt has and wirt does not: NO_SUPPORT, so clients fall back.
    let (code, _, msg) = c.error(REMOTE_PROC_DOMAIN_OPEN_GRAPHICS_FD, Vec::new());
    assert_eq!(code, 3, "{msg}");
    assert!(msg.contains("virDomainOpenGraphics"), "{msg}");
    // A bad payload is an error; the connection carries on.
    let (code, _, _) = c.error(REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, vec![0, 0, 0, 9, 1]);
    assert_eq!(code, 39);
    let other = Header {
        program: 0x1234_5678,
        ..Header::call(1, 77)
    };
    let reply = c.send(other, Vec::new());
    let err = reply.error().unwrap().unwrap();
    assert_eq!(err.code, 39);
    assert_eq!(reply.header.program, 0x1234_5678);
    // Stray stream packets are dropped, as libvirtd does.
    let stray = Header {
        msg_type: MessageType::Stream,
        ..Header::call(REMOTE_PROC_STORAGE_VOL_UPLOAD, 500)
    };
    write_packet(&mut c.sock, &Packet::new(stray, vec![1, 2, 3, 4])).unwrap();
    let list: ConnectListAllDomainsRet = c
        .call(
            REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS,
            &ConnectListAllDomainsArgs {
                need_results: 1,
                flags: 0,
            },
        )
        .decode()
        .unwrap();
    assert_eq!(list.domains[0].name, "test");
    // A length over libvirt's 32 MiB limit ends the connection without
    // the daemon reading (or reserving) the rest.
    c.sock.write_all(&(40u32 << 20).to_be_bytes()).unwrap();
    let mut rest = Vec::new();
    c.sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(c.sock.read_to_end(&mut rest).unwrap(), 0);
    // The daemon serves on.
    let mut again = Raw::connect(&d.sock());
    assert!(again.call(REMOTE_PROC_AUTH_LIST, &()).error().is_none());
}

/// Arbitrary bytes on the socket must never take the daemon down or make
/// it panic: each case is a fresh connection, then a well-behaved client
/// must still be served.
#[test]
fn arbitrary_bytes_do_not_hurt_the_daemon() {
    use proptest::prelude::*;
    let mut d = Daemon::start();
    let sock = d.sock();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let open = Packet::call(
        REMOTE_PROC_CONNECT_OPEN,
        1,
        &ConnectOpenArgs {
            name: Some("test:///default".into()),
            flags: 1,
        },
    )
    .unwrap()
    .to_bytes()
    .unwrap();
    // Well-framed packets with random headers and payloads reach the
    // dispatcher; raw bytes exercise the framing.
    let framed = (
        any::<u32>(),
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        prop::collection::vec(any::<u8>(), 0..96),
    )
        .prop_map(|(prog, procedure, ty, status, payload)| {
            let program = if prog % 4 == 0 { prog } else { REMOTE_PROGRAM };
            let procedure = if procedure % 2 == 0 {
                procedure.rem_euclid(460)
            } else {
                procedure
            };
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&((28 + payload.len()) as u32).to_be_bytes());
            for word in [
                program,
                1,
                procedure as u32,
                (ty.rem_euclid(8)) as u32,
                9,
                (status.rem_euclid(3)) as u32,
            ] {
                bytes.extend_from_slice(&word.to_be_bytes());
            }
            bytes.extend_from_slice(&payload);
            bytes
        });
    let case = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        prop::collection::vec(framed, 1..6).prop_map(|v| v.concat()),
    ];
    runner
        .run(&(any::<bool>(), case), |(opened, bytes)| {
            let mut s = UnixStream::connect(&sock).unwrap();
            if opened {
                s.write_all(&open).unwrap();
            }
            let _ = s.write_all(&bytes);
            let _ = s.shutdown(std::net::Shutdown::Write);
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
            Ok(())
        })
        .unwrap();
    let mut c = Raw::connect(&sock);
    assert!(c.call(REMOTE_PROC_AUTH_LIST, &()).error().is_none());
    let (_, stderr) = d.terminate();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn remote_events_survive_a_daemon_restart() {
    let mut d = Daemon::start();
    let listener = crate::support::open(&d.uri()).unwrap();
    let events = listener.events();
    let actor = crate::support::open(&d.uri()).unwrap();
    actor
        .lookup_domain_by_name("test")
        .unwrap()
        .suspend()
        .unwrap();
    let e = events
        .next_timeout(Duration::from_secs(5))
        .expect("an event");
    assert_eq!(
        (e.name.as_str(), e.event),
        ("test", wirt::lifecycle::Event::Suspended)
    );
    drop(actor);

    d.kill9();
    d.spawn();
    // The listener reconnects and registers again on its own; until it
    // has, events go nowhere, so keep acting until one arrives.
    let actor = crate::support::open(&d.uri()).unwrap();
    let test = actor.lookup_domain_by_name("test").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        test.suspend().unwrap();
        test.resume().unwrap();
        if let Some(e) = events.next_timeout(Duration::from_millis(200)) {
            assert_eq!(e.name, "test");
            break;
        }
        assert!(Instant::now() < deadline, "no event after the restart");
    }
}

#[test]
fn unreachable_daemon_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nobody-home");
    let err = crate::support::open(&format!("test+unix:///default?socket={}", path.display()))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::SYSTEM_ERROR);
    assert!(
        err.message()
            .starts_with(&format!("daemon not reachable at {}: ", path.display())),
        "{}",
        err.message()
    );
    let err = crate::support::open("test+ssh://host/default").unwrap_err();
    assert!(
        err.message().contains("transport 'ssh' is not supported"),
        "{}",
        err.message()
    );
}

#[test]
fn tcp_on_loopback_serves_the_same_protocol() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wirtd"))
        .arg("--socket")
        .arg(dir.path().join("s"))
        .arg("--no-ro-socket")
        .args([
            "--tcp",
            &format!("127.0.0.1:{port}"),
            "--default-uri",
            "test:///default",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let uri = format!("test+tcp://127.0.0.1:{port}/default");
    let deadline = Instant::now() + Duration::from_secs(20);
    let conn = loop {
        match crate::support::open(&uri) {
            Ok(c) => break c,
            Err(e) => assert!(Instant::now() < deadline, "{e}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let names: Vec<String> = conn
        .list_all_domains(0)
        .unwrap()
        .iter()
        .map(|d| d.name().to_string())
        .collect();
    assert_eq!(names, ["test"]);
    assert_eq!(conn.type_name(), "TEST");
    drop(conn);
    let _ = child.kill();
    let _ = child.wait();
    let refused = run(Command::new(env!("CARGO_BIN_EXE_wirtd"))
        .args(["--tcp", "0.0.0.0:1", "--no-ro-socket", "--socket"])
        .arg(dir.path().join("t")));
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("only loopback"),
        "{}",
        refused.stderr
    );
}

/// kvm:///session through the daemon: a SIGKILL loses no defined domain,
/// pool or volume (networks are not served there), and the restarted
/// daemon takes its running VMM over again. Needs
/// /dev/kvm and wirt-vmm (built by `cargo test --workspace`).
#[test]
fn kvm_session_survives_sigkill_of_the_daemon() {
    let vmm = PathBuf::from(env!("CARGO_BIN_EXE_wirt")).with_file_name("wirt-vmm");
    if !wirt_testkit::kvm_or_skip() {
        return;
    }
    if !vmm.is_file() {
        wirt_testkit::require("wirt-vmm", "not built (`cargo test --workspace` builds it)");
        return;
    }
    let mut d = Daemon::start();
    let uri = format!("kvm+unix:///session?socket={}", d.sock().display());
    let conn = crate::support::open(&uri).unwrap();
    let define = |name: &str| {
        let disk = d.dir.path().join(format!("{name}.img"));
        std::fs::write(&disk, vec![0u8; 1 << 20]).unwrap();
        let xml = format!(
            "<domain type='kvm'><name>{name}</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
             <os><type>hvm</type></os><devices><disk type='file' device='disk'>\
             <source file='{}'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
            disk.display()
        );
        conn.define_domain_xml(&xml, 0).unwrap()
    };
    let running = define("r1");
    let idle = define("i1");
    idle.set_autostart(true).unwrap();
    running.start(0).unwrap();
    assert_eq!(running.state().unwrap().0, wirt::lifecycle::State::Running);
    // A dir pool with a volume, its content uploaded through the stream.
    let pool_dir = d.dir.path().join("pool");
    std::fs::create_dir(&pool_dir).unwrap();
    let pool = conn
        .define_pool_xml(&format!(
            "<pool type='dir'><name>p1</name><target><path>{}</path></target></pool>",
            pool_dir.display()
        ))
        .unwrap();
    pool.create(0).unwrap();
    let vol = pool
        .create_volume_xml(
            "<volume><name>v.raw</name><capacity unit='KiB'>64</capacity></volume>",
            0,
        )
        .unwrap();
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    vol.upload(0, 0, &mut &data[..], &mut |_, _| {}).unwrap();
    drop((conn, running, idle, pool, vol));

    d.kill9();
    d.spawn();
    let conn = crate::support::open(&uri).unwrap();
    let mut names: Vec<String> = conn
        .list_all_domains(0)
        .unwrap()
        .iter()
        .map(|d| d.name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["i1", "r1"]);
    let running = conn.lookup_domain_by_name("r1").unwrap();
    assert_eq!(running.state().unwrap().0, wirt::lifecycle::State::Running);
    let idle = conn.lookup_domain_by_name("i1").unwrap();
    assert!(idle.autostart().unwrap());
    assert!(!idle.is_active().unwrap());
    let pool = conn.lookup_pool_by_name("p1").unwrap();
    assert!(pool.is_active().unwrap());
    let vol = pool.lookup_vol_by_name("v.raw").unwrap();
    let mut back = Vec::new();
    vol.download(0, 5000, &mut back, &mut |_, _| {}).unwrap();
    assert_eq!(back, data);
    vol.delete(0).unwrap();
    pool.destroy().unwrap();
    pool.undefine().unwrap();
    // The re-attached VMM obeys.
    running.suspend().unwrap();
    assert_eq!(running.state().unwrap().0, wirt::lifecycle::State::Paused);
    running.destroy().unwrap();
    running.undefine(0).unwrap();
    idle.undefine(0).unwrap();
    assert!(conn.list_all_domains(0).unwrap().is_empty());
}

/// A socket that accepts but never answers: opening gives up after the
/// connect timeout (5 s, `WIRT_CONNECT_TIMEOUT` to change it).
#[test]
fn a_silent_daemon_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let start = Instant::now();
    let err = crate::support::open(&format!("test+unix:///default?socket={}", path.display()))
        .unwrap_err();
    let waited = start.elapsed();
    assert_eq!(err.code(), ErrorCode::OPERATION_TIMEOUT, "{err}");
    assert!(
        err.message().contains(&format!(
            "timed out waiting for the daemon at {}",
            path.display()
        )),
        "{}",
        err.message()
    );
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(30),
        "{waited:?}"
    );
}

/// python-libvirt through wirtd: a domain's description and application
/// metadata set and read back (and a missing title is libvirt's
/// NO_DOMAIN_METADATA, 80), a lifecycle action changed, the control
/// channel's state, its messages (none), a save and restore by typed
/// parameters (a replacement definition refused, 74), a pool found by its
/// target path; the same from a read-only connection, which may read but
/// not set.
#[test]
fn python_libvirt_sets_metadata_and_lifecycle_actions_through_wirtd() {
    let Some(python) = python_libvirt() else {
        return;
    };
    let d = Daemon::start();
    let script = "import libvirt, sys\n\
        c = libvirt.open(sys.argv[1])\n\
        d = c.lookupByName('test')\n\
        d.setMetadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, 'web server', None, None, 0)\n\
        print(d.metadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, None, 0))\n\
        d.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, '<owner>ops</owner>', 'app', 'http://app/', 0)\n\
        print(d.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, 'http://app/', 0))\n\
        try:\n    d.metadata(libvirt.VIR_DOMAIN_METADATA_TITLE, None, 0)\n\
        except libvirt.libvirtError as e:\n    print(e.get_error_code())\n\
        d.setLifecycleAction(libvirt.VIR_DOMAIN_LIFECYCLE_POWEROFF, libvirt.VIR_DOMAIN_LIFECYCLE_ACTION_RESTART, 0)\n\
        print('<on_poweroff>restart</on_poweroff>' in d.XMLDesc(0))\n\
        print(d.controlInfo())\n\
        r = libvirt.openReadOnly(sys.argv[2]).lookupByName('test')\n\
        print(r.metadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, None, 0))\n\
        print(d.messages(0))\n\
        d.saveParams({libvirt.VIR_DOMAIN_SAVE_PARAM_FILE: sys.argv[3]}, 0)\n\
        print(d.state())\n\
        c.restoreParams({libvirt.VIR_DOMAIN_SAVE_PARAM_FILE: sys.argv[3]}, 0)\n\
        print(d.state())\n\
        try:\n    d.saveParams({libvirt.VIR_DOMAIN_SAVE_PARAM_FILE: sys.argv[3], libvirt.VIR_DOMAIN_SAVE_PARAM_DXML: '<domain/>'}, 0)\n\
        except libvirt.libvirtError as e:\n    print(e.get_error_code())\n\
        print(c.storagePoolLookupByTargetPath('//default-pool/').name())\n\
        try:\n    c.storagePoolLookupByTargetPath('/nowhere')\n\
        except libvirt.libvirtError as e:\n    print(e.get_error_code(), e.get_error_message())\n\
        try:\n    r.setMetadata(libvirt.VIR_DOMAIN_METADATA_TITLE, 'x', None, None, 0)\n\
        except libvirt.libvirtError as e:\n    print(e.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED)\n";
    let out = Command::new(python)
        .args([
            "-c",
            script,
            &d.uri(),
            &d.ro_uri(),
            &d.dir.path().join("t.save").to_string_lossy(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "web server\n<owner>ops</owner>\n80\nTrue\n[0, 0, 0]\nweb server\n[]\n[5, 5]\n[1, 3]\n74\ndefault-pool\n\
         49 Storage pool not found: no storage pool with matching target path '/nowhere'\nTrue\n"
    );
}
