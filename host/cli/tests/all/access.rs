//! Who may use wirtd's sockets (issue 15): peers are identified with
//! `SO_PEERCRED` and checked against libvirtd's policy, and the daemon
//! advertises only the authentication it performs.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use wirt_remote::protocol::*;

use crate::remote::{Daemon, Raw};
use crate::support::{Out, run};

fn have(tool: &str, why: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        wirt_testkit::require(tool, why);
    }
    found
}

/// Other uids can only be tried by root.
fn is_root() -> bool {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        wirt_testkit::skip("not root: no other uid to connect as");
    }
    root
}

/// virsh run as `uid`/`gid` with supplementary `groups` (none if empty).
fn virsh_as(uid: u32, gid: u32, groups: &[u32], home: &std::path::Path, args: &[&str]) -> Out {
    let groups = if groups.is_empty() {
        "--clear-groups".to_string()
    } else {
        let list: Vec<String> = groups.iter().map(u32::to_string).collect();
        format!("--groups={}", list.join(","))
    };
    run(Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg(groups)
        .arg("virsh")
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("XDG_CACHE_HOME", home)
        .env("XDG_RUNTIME_DIR", home))
}

/// A daemon whose sockets other users can reach: its directory 0755 and
/// the read-write socket's mode opened up, so only the peer policy decides.
fn open_daemon(extra: &[&str]) -> Daemon {
    let mut args = vec!["--unix-sock-rw-perms", "0666"];
    args.extend_from_slice(extra);
    let d = Daemon::start_with(&args, None);
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// wirtd advertises `none`, the only auth it performs, as libvirtd's
/// session socket does, and refuses polkit instead of waving it through.
/// (virsh 9.0 on a terminal prints pkttyagent's "Authorization not
/// available" whatever it connects to, `virsh -c test:///default` with no
/// daemon included: virsh starts that agent itself; see docs/security.md.)
#[test]
fn wirtd_advertises_and_performs_no_auth_but_none() {
    let d = Daemon::start();
    let mut raw = Raw::connect(&d.sock());
    let auth: AuthListRet = raw.call(REMOTE_PROC_AUTH_LIST, &()).decode().unwrap();
    assert_eq!(auth.types, [AuthType::None]);
    let (code, _, msg) = raw.error(REMOTE_PROC_AUTH_POLKIT, Vec::new());
    assert_eq!(code, 45, "{msg}");
    assert_eq!(msg, "authentication failed: polkit is not performed");
    let mut ro = Raw::connect(&d.ro_sock());
    let auth: AuthListRet = ro.call(REMOTE_PROC_AUTH_LIST, &()).decode().unwrap();
    assert_eq!(auth.types, [AuthType::None]);

    if !have("virsh", "no comparison with libvirt's client") {
        return;
    }
    for uri in [d.uri(), d.ro_uri()] {
        let out = run(Command::new("virsh").args(["-c", &uri, "list", "--name"]));
        assert!(out.ok, "{}", out.stderr);
        assert_eq!(out.stdout.trim(), "test");
        assert_eq!(out.stderr, "", "virsh said more than libvirtd makes it say");
    }
}

#[test]
fn the_read_write_socket_admits_root_its_owner_and_its_group_only() {
    if !is_root() || !have("virsh", "no real client to connect as another user") {
        return;
    }
    let d = open_daemon(&[]);
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let uri = d.uri();
    let xml = d.dir.path().join("dom.xml");
    std::fs::write(
        &xml,
        "<domain type='test'><name>intruder</name><memory>1024</memory>\
         <os><type>hvm</type></os></domain>",
    )
    .unwrap();
    std::fs::set_permissions(&xml, std::fs::Permissions::from_mode(0o644)).unwrap();
    let xml = xml.display().to_string();

    // A stranger reaches the socket (mode 0666) and is refused by name.
    let out = virsh_as(
        65534,
        65534,
        &[],
        home.path(),
        &["-c", &uri, "define", &xml],
    );
    assert!(!out.ok, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("authentication failed: uid 65534 may not use"),
        "{}",
        out.stderr
    );
    // Nothing it sent was run.
    let out = run(Command::new("virsh").args(["-c", &uri, "list", "--all", "--name"]));
    assert!(out.ok, "{}", out.stderr);
    assert!(!out.stdout.contains("intruder"), "{}", out.stdout);
    // The read-only socket admits anyone, read-only.
    let ro = d.ro_uri();
    let out = virsh_as(
        65534,
        65534,
        &[],
        home.path(),
        &["-r", "-c", &ro, "list", "--name"],
    );
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "test");

    // With unix_sock_group, its members get in, by primary group or
    // supplementary group, and the group owns the sockets.
    let d = open_daemon(&["--unix-sock-group", "4321"]);
    assert_eq!(std::fs::metadata(d.sock()).unwrap().gid(), 4321);
    assert_eq!(std::fs::metadata(d.ro_sock()).unwrap().gid(), 4321);
    let uri = d.uri();
    for (gid, groups) in [(4321, &[][..]), (65534, &[4321][..])] {
        let out = virsh_as(
            65534,
            gid,
            groups,
            home.path(),
            &["-c", &uri, "list", "--name"],
        );
        assert!(out.ok, "gid {gid} groups {groups:?}: {}", out.stderr);
        assert_eq!(out.stdout.trim(), "test");
    }
    let out = virsh_as(65534, 65534, &[1234], home.path(), &["-c", &uri, "list"]);
    assert!(
        out.stderr.contains("authentication failed"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_refused_peer_gets_one_error_and_is_disconnected() {
    if !is_root() {
        return;
    }
    // The daemon runs as root; its owner uid is root, so a stranger is
    // needed on the client side: a child process switching uid connects and
    // reports what it got.
    let d = open_daemon(&["--packet-timeout", "1"]);
    let helper = format!(
        "import os, socket, struct\n\
         os.setgroups([]); os.setgid(65534); os.setuid(65534)\n\
         s = socket.socket(socket.AF_UNIX); s.connect({sock:?})\n\
         hdr = struct.pack('>IIiiIi', 0x20008086, 1, {open}, 0, 1, 0)\n\
         body = struct.pack('>II', 0, 0)\n\
         s.sendall(struct.pack('>I', 4 + len(hdr) + len(body)) + hdr + body)\n\
         n = struct.unpack('>I', s.recv(4))[0]\n\
         data = b''\n\
         while len(data) < n - 4:\n    data += s.recv(n - 4 - len(data))\n\
         status = struct.unpack('>i', data[20:24])[0]\n\
         code = struct.unpack('>i', data[24:28])[0]\n\
         rest = s.recv(4)\n\
         quiet = socket.socket(socket.AF_UNIX); quiet.settimeout(20); quiet.connect({sock:?})\n\
         print(status, code, len(rest), len(quiet.recv(4)))\n",
        sock = d.sock().display().to_string(),
        open = REMOTE_PROC_CONNECT_OPEN,
    );
    let out = run(Command::new("python3").args(["-c", &helper]));
    assert!(out.ok, "{}", out.stderr);
    // An error reply (status 1) with VIR_ERR_AUTH_FAILED, then EOF; one
    // that says nothing is closed after the packet timeout.
    assert_eq!(out.stdout.trim(), "1 45 0 0");
}
