//! wirtd against hostile local clients: the attacks of issue 15, each
//! replayed against a daemon on temporary sockets.

use std::time::Duration;

use wirt_remote::protocol::*;

use crate::remote::{Daemon, Raw};

/// A raw client that gives up (and fails the test) instead of hanging.
fn client(path: &std::path::Path) -> Raw {
    let c = Raw::connect(path);
    c.sock
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    c
}

/// `ConnectOpen(name)`: None when opened, else the error's code and message.
fn open(c: &mut Raw, name: &str) -> Option<(i32, String)> {
    let args = ConnectOpenArgs {
        name: Some(name.into()),
        flags: 0,
    };
    let reply = c.call(REMOTE_PROC_CONNECT_OPEN, &args);
    reply
        .error()
        .map(|e| e.unwrap())
        .map(|e| (e.code, e.message.unwrap_or_default()))
}

fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Issue 15, finding 1: `openReadOnly('test+unix:///dev/zero?socket=ro')`
/// grew the daemon without bound, a FIFO blocked it, a 0600 file leaked its
/// lines. Read-only clients may not name files at all; read-write ones get
/// regular files only, bounded, and errors that do not quote the content.
#[test]
fn node_file_uris_cannot_make_wirtd_read_what_a_client_chooses() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.xml");
    std::fs::write(&secret, "<node>\n  <secret>hunter2</oops>\n</node>\n").unwrap();
    let fifo = dir.path().join("fifo.xml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let huge = dir.path().join("huge.xml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let rss_before = rss_kib(&d.pid());

    // Read-only: refused whatever the path, before anything is read.
    for path in [
        "/dev/zero".as_ref(),
        secret.as_path(),
        fifo.as_path(),
        huge.as_path(),
    ] {
        let mut ro = client(&d.ro_sock());
        let (code, msg) = open(&mut ro, &format!("test://{}", path.display())).expect("refused");
        assert_eq!(code, 29, "{msg}");
        assert_eq!(
            msg,
            "operation forbidden: read only access prevents opening a test node file"
        );
    }
    // The default host stays open to read-only clients.
    assert_eq!(open(&mut client(&d.ro_sock()), "test:///default"), None);

    // Read-write: devices, FIFOs and oversized files are refused promptly.
    let mut rw = client(&d.sock());
    let (_, msg) = open(&mut rw, "test:///dev/zero").expect("refused");
    assert!(msg.contains("is not a regular file"), "{msg}");
    let (_, msg) = open(&mut rw, &format!("test://{}", fifo.display())).expect("refused");
    assert!(msg.contains("is not a regular file"), "{msg}");
    let (_, msg) = open(&mut rw, &format!("test://{}", huge.display())).expect("refused");
    assert!(msg.contains("byte limit"), "{msg}");
    // A parse error says where, not what the file holds.
    let (code, msg) = open(&mut rw, &format!("test://{}", secret.display())).expect("refused");
    assert_eq!(code, 27, "{msg}");
    assert!(!msg.contains("hunter2") && !msg.contains("secret"), "{msg}");
    assert!(msg.contains("line 2"), "{msg}");

    let grown = rss_kib(&d.pid()).saturating_sub(rss_before);
    assert!(grown < 32 << 10, "wirtd grew by {grown} KiB");
    // And the daemon serves on.
    assert_eq!(open(&mut client(&d.sock()), "test:///default"), None);
}
