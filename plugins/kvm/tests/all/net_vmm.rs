//! Network cards through wirt-vmm's control protocol: taps handed over with
//! `boot`, `restore` and `migrate-receive`, slot order, `status` counters,
//! `set-link`, bad requests; and the hook for the guest-side end-to-end test.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wirt_kvm::control::client::ClientError;
use wirt_kvm::control::protocol::{
    BootRequest, DiskFormat, DiskRef, FdRef, LinkState, NicRef, Request, RestoreRequest, reason,
    state,
};
use wirt_kvm::guest::READY;

use crate::common::{TIMEOUT, Vmm, hex_after, make_disk, require_kvm};
use crate::netns::{NetNs, require_net};

const MAC0: &str = "52:54:00:00:00:10";
const MAC1: &str = "52:54:00:00:00:11";

fn nic(i: usize, mac: &str, link: Option<LinkState>, mtu: Option<u16>) -> NicRef {
    NicRef {
        fd: FdRef::Passed(i),
        backend: Default::default(),
        mac: mac.into(),
        link,
        mtu,
    }
}

fn boot_request(nics: Vec<NicRef>) -> BootRequest {
    let mut b: BootRequest = serde_json::from_str(r#"{"memory_mib": 16}"#).unwrap();
    b.nics = nics;
    b
}

fn call(vmm: &mut Vmm, r: Request, fds: &[RawFd]) -> Result<Value, ClientError> {
    vmm.client.request_with_fds(r, fds, TIMEOUT)
}

fn kind(e: ClientError) -> String {
    match e {
        ClientError::Vmm(b) => format!("{}: {}", b.kind, b.message),
        other => panic!("{other}"),
    }
}

fn set_link(vmm: &mut Vmm, nic: Option<usize>, mac: Option<&str>, up: bool) -> Value {
    let link = if up { LinkState::Up } else { LinkState::Down };
    vmm.req(Request::SetLink {
        nic,
        mac: mac.map(str::to_string),
        link,
    })
}

#[test]
fn cards_follow_the_disks_report_counters_and_links_and_survive_save_restore() {
    require_kvm!();
    require_net!();
    let ns = NetNs::new();
    let (tap0, name0) = ns.tap(true);
    let (tap1, _) = ns.tap(true);
    let dir = tempfile::tempdir().unwrap();
    let (disk, _) = make_disk(dir.path(), "disk.img", 64);
    let mut vmm = Vmm::spawn(&[&disk]);
    let mut b = boot_request(vec![
        nic(0, MAC0, None, None),
        nic(1, MAC1, Some(LinkState::Down), Some(9000)),
    ]);
    b.disks = vec![DiskRef {
        fd: FdRef::Fd(vmm.disk_fds[0]),
        format: DiskFormat::Raw,
        backing: Vec::new(),
        readonly: false,
        serial: "disk0".into(),
    }];
    let s = call(
        &mut vmm,
        Request::Boot(b),
        &[tap0.as_raw_fd(), tap1.as_raw_fd()],
    )
    .unwrap();
    drop((tap0, tap1));
    let nics = &s["nics"];
    assert_eq!(nics.as_array().unwrap().len(), 2, "{s}");
    assert_eq!(nics[0]["slot"], 1, "the disk comes first: {s}");
    assert_eq!(nics[0]["mac"], MAC0);
    assert_eq!(nics[0]["tap"], name0.as_str());
    assert_eq!(nics[0]["link"], "up");
    assert_eq!(nics[0]["active"], false, "the test guest drives no card");
    assert_eq!(nics[0]["rx_packets"], 0);
    assert_eq!(nics[1]["slot"], 2);
    assert_eq!(nics[1]["link"], "down");
    // The guest still finds its disk in slot 0 with cards after it.
    let console = vmm.wait_console(READY);
    assert_eq!(hex_after(&console, "blk: capacity "), 64);

    let r = set_link(&mut vmm, Some(1), None, true);
    assert_eq!(
        (r["changed"].as_bool(), &r["nic"]["link"]),
        (Some(true), &"up".into())
    );
    let r = set_link(&mut vmm, Some(1), None, true);
    assert_eq!(r["changed"], false);
    let r = set_link(&mut vmm, None, Some(MAC0), false);
    assert_eq!(
        (&r["nic"]["mac"], &r["nic"]["link"]),
        (&MAC0.into(), &"down".into())
    );
    for (nic, mac, why) in [
        (Some(0), Some(MAC0), "both"),
        (None, None, "neither"),
        (Some(5), None, "no such index"),
        (None, Some("52:54:00:00:00:99"), "no such MAC"),
    ] {
        let e = vmm
            .client
            .request(Request::SetLink {
                nic,
                mac: mac.map(str::to_string),
                link: LinkState::Up,
            })
            .unwrap_err();
        assert!(kind(e).starts_with("invalid-request"), "{why}");
    }

    // A guest reboot rebuilds the machine on the same taps; links stay.
    vmm.input("r");
    assert_eq!(vmm.client.next_event(TIMEOUT).unwrap().event, "reboot");
    vmm.wait_console_n(READY, 2);
    let s = vmm.req(Request::Status);
    assert_eq!(
        (&s["nics"][0]["link"], &s["nics"][1]["link"]),
        (&"down".into(), &"up".into())
    );
    assert_eq!(s["nics"][0]["tap"], name0.as_str());

    let save = dir.path().join("vm.save");
    let out = File::create(&save).unwrap();
    let s = vmm
        .req_with_file(
            Request::Save {
                to: FdRef::Passed(0),
                stop: true,
            },
            &out,
        )
        .unwrap();
    assert_eq!(s["state"], state::SHUTOFF);
    vmm.quit();

    // A new process, new taps: the link states come from the save file
    // unless the request overrides them.
    let (tap2, name2) = ns.tap(true);
    let (tap3, _) = ns.tap(true);
    let restore = |nics: Vec<NicRef>, disk_fd: i32| {
        Request::Restore(RestoreRequest {
            from: FdRef::Passed(0),
            disks: vec![DiskRef {
                fd: FdRef::Fd(disk_fd),
                format: DiskFormat::Raw,
                backing: Vec::new(),
                readonly: false,
                serial: "disk0".into(),
            }],
            nics,
            kernel: None,
            initrd: None,
            paused: false,
            copy_storage: false,
            policies: Default::default(),
        })
    };
    let mut second = Vmm::spawn(&[&disk]);
    let input = File::open(&save).unwrap();
    let req = restore(
        vec![
            nic(1, MAC0, None, None),
            nic(2, MAC1, Some(LinkState::Down), Some(9000)),
        ],
        second.disk_fds[0],
    );
    let fds = [input.as_raw_fd(), tap2.as_raw_fd(), tap3.as_raw_fd()];
    let s = call(&mut second, req, &fds).unwrap();
    assert_eq!(
        (s["state"].as_u64(), s["reason"].as_u64()),
        (Some(1), Some(u64::from(reason::RUNNING_RESTORED)))
    );
    assert_eq!(s["nics"][0]["link"], "down", "saved state: {s}");
    assert_eq!(s["nics"][0]["tap"], name2.as_str());
    assert_eq!(s["nics"][1]["link"], "down", "overridden: {s}");
    second.input("p");
    second.wait_console("guest: pong");
    second.quit();

    // The guest knows its MACs: restoring with others is refused.
    let mut third = Vmm::spawn(&[&disk]);
    let input = File::open(&save).unwrap();
    let req = restore(
        vec![nic(1, MAC1, None, None), nic(2, MAC0, None, Some(9000))],
        third.disk_fds[0],
    );
    let e = call(
        &mut third,
        req,
        &[input.as_raw_fd(), tap2.as_raw_fd(), tap3.as_raw_fd()],
    );
    let e = kind(e.unwrap_err());
    assert!(e.contains("does not match"), "{e}");
    assert_eq!(third.state(), (5, 0));
    third.quit();
}

#[test]
fn bad_cards_are_refused_and_the_vmm_lives_on() {
    require_kvm!();
    require_net!();
    let ns = NetNs::new();
    let (tap, _) = ns.tap(true);
    let (plain, _) = ns.tap(false);
    let null = OwnedFd::from(File::open("/dev/null").unwrap());
    let mut vmm = Vmm::spawn(&[]);
    let cases: Vec<(Vec<NicRef>, &OwnedFd, &str)> = vec![
        (
            vec![nic(0, "01:54:00:00:00:01", None, None)],
            &tap,
            "invalid-request",
        ),
        (
            vec![nic(0, "52:54:00", None, None)],
            &tap,
            "invalid-request",
        ),
        (vec![nic(0, MAC0, None, Some(40))], &tap, "invalid-request"),
        (
            vec![nic(0, MAC0, None, None), nic(0, MAC0, None, None)],
            &tap,
            "invalid-request",
        ),
        (vec![nic(0, MAC0, None, None)], &null, "bad-fd"),
        (vec![nic(0, MAC0, None, None)], &plain, "bad-fd"),
        (vec![nic(3, MAC0, None, None)], &tap, "bad-fd"),
    ];
    for (nics, fd, want) in cases {
        let e = call(
            &mut vmm,
            Request::Boot(boot_request(nics)),
            &[fd.as_raw_fd()],
        );
        let e = kind(e.unwrap_err());
        assert!(e.starts_with(want), "{e}");
        assert_eq!(vmm.state(), (5, 0));
    }
    let s = call(
        &mut vmm,
        Request::Boot(boot_request(vec![nic(0, MAC0, None, None)])),
        &[tap.as_raw_fd()],
    )
    .unwrap();
    assert_eq!(s["nics"][0]["slot"], 0);
    vmm.wait_console("blk: none");
    vmm.quit();
}

/// dnsmasq serving DHCP in a namespace, stopped on drop.
struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends an ICMP echo from inside `ns` to `addr`; whether a reply came.
fn ping_from(ns: &NetNs, addr: [u8; 4]) -> bool {
    ns.run(move || {
        // SAFETY: plain socket calls on a descriptor this closure owns.
        unsafe {
            let s = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
            assert!(s >= 0, "raw socket: {}", std::io::Error::last_os_error());
            let tv = libc::timeval {
                tv_sec: 1,
                tv_usec: 0,
            };
            libc::setsockopt(
                s,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            );
            let to = libc::sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(addr),
                },
                sin_zero: [0; 8],
            };
            let echo = crate::frames::icmp_echo(0x1234, 1, b"wirt ping");
            let mut ok = false;
            for _ in 0..3 {
                libc::sendto(
                    s,
                    echo.as_ptr().cast(),
                    echo.len(),
                    0,
                    (&to as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                );
                let mut buf = [0u8; 1500];
                let n = libc::recv(s, buf.as_mut_ptr().cast(), buf.len(), 0);
                // A raw socket sees the whole IP packet: an echo reply from `addr`.
                if n >= 28 && buf[12..16] == addr && buf[20] == 0 {
                    ok = true;
                    break;
                }
            }
            libc::close(s);
            ok
        }
    })
}

/// The guest-side end-to-end test: the guest takes a DHCP lease from dnsmasq
/// in a namespace and answers ping, over its virtio-net driver.
///
/// Hook for the Rust test guest: it runs once the built-in guest prints a
/// `net:` line. The contract it expects: the guest drives the first virtio
/// network card, prints `net: ip A.B.C.D` once it holds a lease, and answers
/// ICMP echo. Until then it skips, saying so.
#[test]
fn guest_gets_an_address_by_dhcp_and_answers_ping() {
    require_kvm!();
    require_net!();
    let ns = NetNs::new();
    let (tap, name) = ns.tap(true);
    ns.ip(&["addr", "add", "10.99.1.1/24", "dev", &name]);
    let mut vmm = Vmm::spawn(&[]);
    call(
        &mut vmm,
        Request::Boot(boot_request(vec![nic(0, MAC0, None, None)])),
        &[tap.as_raw_fd()],
    )
    .unwrap();
    let console = vmm.wait_console(READY);
    assert!(console.contains("net0: mac 52:54:00"), "{console}");
    if !wirt_testkit::have("dnsmasq", "--version") {
        wirt_testkit::require(
            "dnsmasq",
            "dnsmasq is missing: the guest's DHCP is not tested (dnsmasq-base)",
        );
        vmm.quit();
        return;
    }
    let leases = tempfile::NamedTempFile::new().unwrap();
    let _dhcp = Dnsmasq(
        Command::new("ip")
            .args(["netns", "exec", &ns.name, "dnsmasq", "--no-daemon"])
            .args(["--conf-file=/dev/null", "--port=0", "--bind-interfaces"])
            .arg(format!("--interface={name}"))
            .arg("--dhcp-range=10.99.1.10,10.99.1.20,2m")
            .arg(format!("--dhcp-leasefile={}", leases.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The test guest prints `net0: lease 10.99.1.N/24 gw none` (GUEST.md).
    let console = vmm.wait_console("net0: lease ");
    let line = console
        .lines()
        .find_map(|l| l.strip_prefix("net0: lease "))
        .unwrap();
    let ip: std::net::Ipv4Addr = line.split('/').next().unwrap().parse().unwrap();
    assert!(line.starts_with("10.99.1."), "{line}");
    let deadline = Instant::now() + TIMEOUT;
    while !ping_from(&ns, ip.octets()) {
        assert!(Instant::now() < deadline, "the guest does not answer ping");
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = vmm.req(Request::Status);
    assert_eq!(s["nics"][0]["active"], true);
    assert!(s["nics"][0]["rx_packets"].as_u64().unwrap() >= 2, "{s}");
    assert!(s["nics"][0]["tx_packets"].as_u64().unwrap() >= 2, "{s}");
    vmm.quit();
}

#[test]
fn cards_stay_inside_the_sandbox() {
    require_kvm!();
    require_net!();
    // Trap mode: a system call outside the filters ends the VMM (status 159).
    let ns = NetNs::new();
    let (tap, _) = ns.tap(true);
    let mut vmm = Vmm::spawn_with(&[], wirt_kvm::seccomp::Mode::Trap, None);
    let b = boot_request(vec![nic(0, MAC0, None, None)]);
    call(&mut vmm, Request::Boot(b), &[tap.as_raw_fd()]).unwrap();
    vmm.wait_console(READY);
    set_link(&mut vmm, Some(0), None, false);
    // A reset rebuilds the machine on a copy of the tap, with new workers.
    vmm.req(Request::Reset);
    vmm.wait_console_n(READY, 2);
    let s = vmm.req(Request::Status);
    assert_eq!(s["nics"][0]["link"], "down");
    vmm.req(Request::Destroy);
    let _ = vmm.client.request(Request::Quit);
    let status = vmm.child.wait().unwrap();
    assert!(status.success(), "wirt-vmm ended with {status}");
}

/// Live migration with a network card: the guest takes a lease on a tap of
/// a bridge, migrates to a VMM on another tap of the same bridge, and
/// answers ping there with the address it kept in RAM; the card's counters
/// go on from the source's.
#[test]
fn a_guest_keeps_its_network_across_live_migration() {
    require_kvm!();
    require_net!();
    if !wirt_testkit::have("dnsmasq", "--version") {
        wirt_testkit::require(
            "dnsmasq",
            "dnsmasq is missing: migration with a network card is not tested (dnsmasq-base)",
        );
        return;
    }
    let ns = NetNs::new();
    ns.ip(&["link", "add", "br0", "type", "bridge"]);
    ns.ip(&["addr", "add", "10.99.2.1/24", "dev", "br0"]);
    ns.ip(&["link", "set", "br0", "up"]);
    let (tap_a, name_a) = ns.tap(true);
    let (tap_b, name_b) = ns.tap(true);
    for name in [&name_a, &name_b] {
        ns.ip(&["link", "set", name, "master", "br0"]);
    }
    let leases = tempfile::NamedTempFile::new().unwrap();
    let _dhcp = Dnsmasq(
        Command::new("ip")
            .args(["netns", "exec", &ns.name, "dnsmasq", "--no-daemon"])
            .args(["--conf-file=/dev/null", "--port=0", "--bind-interfaces"])
            .arg("--interface=br0")
            .arg("--dhcp-range=10.99.2.10,10.99.2.20,2m")
            .arg(format!("--dhcp-leasefile={}", leases.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut src = Vmm::spawn(&[]);
    call(
        &mut src,
        Request::Boot(boot_request(vec![nic(0, MAC0, None, None)])),
        &[tap_a.as_raw_fd()],
    )
    .unwrap();
    drop(tap_a);
    let console = src.wait_console("net0: lease ");
    let line = console
        .lines()
        .find_map(|l| l.strip_prefix("net0: lease "))
        .unwrap();
    let ip: std::net::Ipv4Addr = line.split('/').next().unwrap().parse().unwrap();
    let answers = |what: &str| {
        let deadline = Instant::now() + TIMEOUT;
        while !ping_from(&ns, ip.octets()) {
            assert!(Instant::now() < deadline, "no answer to ping {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    answers("before the migration");
    let before = src.req(Request::Status)["nics"][0].clone();

    let mut dst = Vmm::spawn(&[]);
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let receive = Request::MigrateReceive(RestoreRequest {
        from: FdRef::Passed(0),
        disks: Vec::new(),
        nics: vec![nic(1, MAC0, None, None)],
        kernel: None,
        initrd: None,
        paused: false,
        copy_storage: false,
        policies: Default::default(),
    });
    let r = dst
        .client
        .send_with_fds(receive, &[b.as_raw_fd(), tap_b.as_raw_fd()])
        .unwrap();
    let send: Request = serde_json::from_str(r#"{"op":"migrate-send","to":{"passed":0}}"#).unwrap();
    let s = src.client.send_with_fds(send, &[a.as_raw_fd()]).unwrap();
    drop((a, b, tap_b));
    src.client.wait_response(s, TIMEOUT).expect("migrate-send");
    let received = dst
        .client
        .wait_response(r, TIMEOUT)
        .expect("migrate-receive");
    assert_eq!(received["status"]["reason"], reason::RUNNING_MIGRATED);
    // The source's tap goes with its VMM, and the bridge forgets the MAC there.
    src.quit();

    answers("after the migration");
    let after = dst.req(Request::Status)["nics"][0].clone();
    assert_eq!(after["tap"], name_b.as_str());
    assert_eq!(after["active"], true, "the driver state moved: {after}");
    for counter in ["rx_packets", "tx_packets"] {
        assert!(
            after[counter].as_u64() > before[counter].as_u64(),
            "{counter} goes on: {before} then {after}"
        );
    }
    dst.quit();
}
