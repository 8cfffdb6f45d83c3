//! Control protocol behaviour: errors, re-attaching, console streams.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use wirt_kvm::control::client::{Client, ClientError};
use wirt_kvm::control::protocol::{FdRef, Request, state};
use wirt_kvm::guest::{BANNER, READY};

use crate::common::{Vmm, require_kvm};

#[test]
fn bad_requests_get_errors_and_the_vmm_lives_on() {
    require_kvm!();
    let mut vmm = Vmm::spawn(&[]);
    let mut raw = UnixStream::connect(&vmm.socket).unwrap();
    raw.write_all(b"{not json}\n").unwrap();
    let mut buf = [0u8; 512];
    let n = raw.read(&mut buf).unwrap();
    let line = String::from_utf8_lossy(&buf[..n]);
    assert!(line.contains(r#""kind":"invalid-request""#), "{line}");

    let err = vmm.client.request(Request::Pause).unwrap_err();
    assert!(
        matches!(&err, ClientError::Vmm(e) if e.kind == "invalid-state"),
        "{err}"
    );
    let err = vmm
        .client
        .request(Request::Save {
            to: FdRef::Passed(0),
            stop: true,
        })
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Vmm(e) if e.kind == "invalid-state"),
        "{err}"
    );

    vmm.boot(|_| {});
    let err = vmm
        .client
        .request(Request::Boot(serde_json::from_str("{}").unwrap()))
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Vmm(e) if e.kind == "invalid-state"),
        "{err}"
    );
    vmm.quit();

    let mut vmm = Vmm::spawn(&[]);
    let err = vmm
        .client
        .request(Request::Boot(
            serde_json::from_str(r#"{"disks":[{"fd":{"fd":987}}]}"#).unwrap(),
        ))
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Vmm(e) if e.kind == "bad-fd"),
        "{err}"
    );
    vmm.quit();
}

/// Found by fuzzing: `{"fd": n}` took any open number, so a save into one
/// of the VMM's own descriptors closed it afterwards, and the number, reused
/// by the next connection, received the event counter's bytes. Only the
/// descriptors inherited for requests can be named now.
#[test]
fn requests_cannot_claim_the_vmms_own_descriptors() {
    require_kvm!();
    let dir = tempfile::tempdir().unwrap();
    let (disk, _) = crate::common::make_disk(dir.path(), "d.img", 8);
    let mut vmm = Vmm::spawn(&[&disk]);
    vmm.boot(|_| {});
    vmm.wait_console(READY);
    let given = vmm.disk_fds.clone();
    for n in (0..64).filter(|n| !given.contains(n)) {
        let err = vmm
            .client
            .request(Request::Save {
                to: FdRef::Fd(n),
                stop: false,
            })
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::Vmm(e) if e.kind == "bad-fd"),
            "fd {n}: {err}"
        );
    }
    // Every connection still gets clean lines, and the guest still runs.
    let mut other = Client::connect(&vmm.socket).unwrap();
    assert_eq!(
        other.request(Request::Status).unwrap()["state"],
        state::RUNNING
    );
    vmm.input("p");
    vmm.wait_console("guest: pong 0000000000000001");
    vmm.quit();
}

#[test]
fn losing_the_control_peer_keeps_the_vm_and_the_host_reattaches() {
    require_kvm!();
    let mut vmm = Vmm::spawn(&[]);
    vmm.boot(|_| {});
    vmm.wait_console(READY);
    // The host goes away: its end of the socketpair closes.
    let old = std::mem::replace(&mut vmm.client, Client::new(UnixStream::pair().unwrap().0));
    drop(old);
    std::thread::sleep(Duration::from_millis(100));
    let mut again = Client::connect(&vmm.socket).unwrap();
    let s = again.request(Request::Status).unwrap();
    assert_eq!(s["state"], state::RUNNING);
    again
        .request(Request::ConsoleInput { data: "p".into() })
        .unwrap();
    vmm.wait_console("guest: pong 0000000000000001");
    vmm.client = again;
    vmm.quit();
}

#[test]
fn console_stream_replays_output_and_takes_input() {
    require_kvm!();
    let mut vmm = Vmm::spawn(&[]);
    vmm.boot(|_| {});
    vmm.wait_console(READY);
    let mut c = Client::connect(&vmm.socket).unwrap();
    c.request(Request::Console { replay: true }).unwrap();
    let (mut stream, early) = c.into_parts();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut seen = String::from_utf8_lossy(&early).into_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !seen.contains(READY) && Instant::now() < deadline {
        let n = stream.read(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.starts_with(BANNER), "{seen}");
    stream.write_all(b"p").unwrap();
    while !seen.contains("guest: pong") && Instant::now() < deadline {
        let n = stream.read(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("guest: pong 0000000000000001"), "{seen}");
    let s = vmm.req(Request::Status);
    assert_eq!(s["console_clients"], 1);
    vmm.quit();
}
