//! wirtd's config file (libvirtd.conf's syntax and names) and the limits it
//! sets: socket modes, max_clients, keepalive; flags override the file; a
//! bad file stops the daemon with an error naming file, line and key.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use wirt_remote::packet::{Packet, read_packet, write_packet};
use wirt_remote::protocol::*;

use crate::hostile::{eventually, served};
use crate::remote::{Daemon, Raw};

fn conf(dir: &Path, text: &str) -> String {
    let path = dir.join("wirtd.conf");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The daemon's exit and stderr with `args`, for configs it must refuse.
fn refused(args: &[&str], config_home: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wirtd"))
        .args(args)
        .args(["--session", "--socket", "/nonexistent/wirt-sock"])
        .env("XDG_CONFIG_HOME", config_home)
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn wirtd_takes_its_settings_from_the_file_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = conf(
        dir.path(),
        "# as libvirtd.conf\n\
         max_clients = 1\n\
         unix_sock_rw_perms = \"0660\"\n\
         unix_sock_ro_perms = '0644'\n\
         auth_unix_rw = \"none\"\n\
         listen_tcp = 0\n",
    );
    let mut d = Daemon::start_with(&["--config", &file], None);
    assert_eq!(mode(&d.sock()), 0o660);
    assert_eq!(mode(&d.ro_sock()), 0o644);
    // max_clients = 1: a second connection is closed while the first stays.
    // (The daemon's start-up probe may hold the place for a moment.)
    let first = eventually("a place", || served(&d.sock()));
    assert!(served(&d.sock()).is_none());
    drop(first);
    let (_, stderr) = d.terminate();
    assert!(
        stderr.contains(&format!("{file}:6: ignoring unknown setting listen_tcp")),
        "{stderr}"
    );

    // A flag wins over the file.
    let d = Daemon::start_with(
        &[
            "--config",
            &file,
            "--max-clients",
            "2",
            "--unix-sock-rw-perms",
            "0600",
        ],
        None,
    );
    assert_eq!(mode(&d.sock()), 0o600);
    let _held: Vec<_> = (0..2)
        .map(|_| eventually("a place", || served(&d.sock())))
        .collect();
    assert!(served(&d.sock()).is_none());
}

#[test]
fn wirtd_refuses_a_bad_config_file_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = conf(dir.path(), "max_workers = 4\nmax_clients = \"many\"\n");
    assert_eq!(
        refused(&["--config", &file], dir.path()),
        format!("wirtd: {file}:2: max_clients must be a positive integer\n")
    );
    let file = conf(dir.path(), "auth_unix_rw = \"polkit\"\n");
    let stderr = refused(&["--config", &file], dir.path());
    assert!(
        stderr.starts_with(&format!(
            "wirtd: {file}:1: auth_unix_rw = \"polkit\" is not supported: wirtd performs no \
             authentication but \"none\""
        )),
        "{stderr}"
    );
    let stderr = refused(&["--config", "/nonexistent/wirtd.conf"], dir.path());
    assert!(
        stderr.starts_with("wirtd: cannot read /nonexistent/wirtd.conf: "),
        "{stderr}"
    );
    // Without --config, a session daemon reads $XDG_CONFIG_HOME/wirt/wirtd.conf.
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("wirt")).unwrap();
    std::fs::write(home.join("wirt/wirtd.conf"), "keepalive_count = -3\n").unwrap();
    assert_eq!(
        refused(&[], &home),
        format!(
            "wirtd: {}:1: keepalive_count must be an integer of 0 or more\n",
            home.join("wirt/wirtd.conf").display()
        )
    );
}

/// Asks about keepalive, as libvirt's clients do when they open.
fn keepalive_client(d: &Daemon) -> Raw {
    let mut c = Raw::connect(&d.sock());
    c.sock
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let args = ConnectSupportsFeatureArgs {
        feature: VIR_DRV_FEATURE_PROGRAM_KEEPALIVE,
    };
    let ret: ConnectSupportsFeatureRet = c
        .call(REMOTE_PROC_CONNECT_SUPPORTS_FEATURE, &args)
        .decode()
        .unwrap();
    assert_eq!(ret.supported, 1);
    c
}

#[test]
fn wirtd_pings_keepalive_clients_and_drops_those_that_stop_answering() {
    let dir = tempfile::tempdir().unwrap();
    let file = conf(dir.path(), "keepalive_interval = 1\nkeepalive_count = 2\n");
    let d = Daemon::start_with(&["--config", &file], None);

    // Silent: two PINGs a second apart, then the connection ends.
    let mut silent = keepalive_client(&d);
    let start = Instant::now();
    for _ in 0..2 {
        let p = read_packet(&mut silent.sock).unwrap().expect("a PING");
        assert!(p.header.is_ping(), "{:?}", p.header);
    }
    let mut rest = Vec::new();
    silent.sock.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(3), "dropped after {took:?}");

    // Answering: still served after more PINGs than keepalive_count.
    let mut live = keepalive_client(&d);
    for _ in 0..4 {
        let p = read_packet(&mut live.sock).unwrap().expect("a PING");
        assert!(p.header.is_ping());
        write_packet(&mut live.sock, &Packet::pong()).unwrap();
    }
    let _: AuthListRet = live.call(REMOTE_PROC_AUTH_LIST, &()).decode().unwrap();

    // A client that did not ask is never pinged.
    let mut plain = Raw::connect(&d.sock());
    plain
        .sock
        .set_read_timeout(Some(Duration::from_millis(2500)))
        .unwrap();
    let mut byte = [0u8; 1];
    let err = plain.sock.read(&mut byte).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
}
