//! wirtd's TLS transport (libvirt's `+tls`), with certificates made here by
//! rcgen as libvirt wants them: a CA with `CA:TRUE` and keyCertSign, a
//! server certificate for 127.0.0.1 and localhost with TLS Web Server
//! Authentication, a client certificate with TLS Web Client
//! Authentication; the clients are `wirt`, Debian's virsh and
//! python3-libvirt.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::remote::{Daemon, have_virsh, python_libvirt};

/// A CA and what it signs.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// From yesterday for a month, or a month that ended yesterday: libvirt
/// refuses certificates not yet active or expired.
fn validity(params: &mut CertificateParams, expired: bool) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = |secs: i64| rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(secs as u64);
    let shift = if expired { 31 * 86_400 } else { 0 };
    params.not_before = at(now - 86_400 - shift);
    params.not_after = at(now + 30 * 86_400 - shift);
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "GB");
    dn.push(DnType::OrganizationName, "wirt");
    dn.push(DnType::CommonName, cn);
    dn
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, false);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A leaf certificate and its key, PEM.
    fn sign(
        &self,
        cn: &str,
        sans: &[&str],
        usage: ExtendedKeyUsagePurpose,
        expired: bool,
    ) -> (String, String) {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name = dn(cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        validity(&mut params, expired);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A directory in libvirt's `pkipath` layout for one side.
    fn dir(&self, root: &Path, name: &str, side: &str, cert: Option<(String, String)>) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cacert.pem"), &self.pem).unwrap();
        if let Some((cert, key)) = cert {
            std::fs::write(dir.join(format!("{side}cert.pem")), cert).unwrap();
            std::fs::write(dir.join(format!("{side}key.pem")), key).unwrap();
        }
        dir
    }

    fn server(&self, root: &Path) -> PathBuf {
        let cert = self.sign(
            "localhost",
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
            false,
        );
        self.dir(root, "server", "server", Some(cert))
    }

    fn client(&self, root: &Path, name: &str, cn: &str) -> PathBuf {
        let cert = self.sign(cn, &[], ExtendedKeyUsagePurpose::ClientAuth, false);
        self.dir(root, name, "client", Some(cert))
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A wirtd serving TLS on 127.0.0.1 with the server credentials in `pki`.
fn tls_daemon(pki: &Path, more: &[&str]) -> (Daemon, u16) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec!["--tls", &addr, "--pki-path", pki.to_str().unwrap()];
    args.extend_from_slice(more);
    // The unix sockets are bound last: when they answer, TLS listens.
    (Daemon::start_with(&args, None), port)
}

fn uri(port: u16, pki: &Path) -> String {
    format!(
        "test+tls://127.0.0.1:{port}/default?pkipath={}",
        pki.display()
    )
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Out {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn wirt(uri: &str, command: &str) -> Out {
    run(Command::new(env!("CARGO_BIN_EXE_wirt"))
        .args(["-c", uri, command])
        .env("WIRT_CONNECT_TIMEOUT", "10"))
}

fn virsh(uri: &str, command: &str) -> Out {
    run(Command::new("virsh").args(["-c", uri, command]))
}

fn lists_test(out: &Out) -> bool {
    out.ok
        && out
            .stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "test", "running"])
}

#[test]
fn wirt_lists_over_tls_with_a_client_certificate() {
    let root = tempfile::tempdir().unwrap();
    let ca = Ca::new("wirt test CA");
    let (_d, port) = tls_daemon(&ca.server(root.path()), &[]);
    let client = ca.client(root.path(), "client", "client1");
    let out = wirt(&uri(port, &client), "list");
    assert!(lists_test(&out), "{}{}", out.stdout, out.stderr);
    // The server's certificate names localhost too.
    let by_name = format!(
        "test+tls://localhost:{port}/default?pkipath={}",
        client.display()
    );
    let out = wirt(&by_name, "uri");
    assert!(out.ok, "{}", out.stderr);
}

#[test]
fn virsh_and_python_libvirt_connect_over_tls() {
    let root = tempfile::tempdir().unwrap();
    let ca = Ca::new("wirt test CA");
    let (_d, port) = tls_daemon(&ca.server(root.path()), &[]);
    let client = ca.client(root.path(), "client", "client1");
    let uri = uri(port, &client);
    if have_virsh() {
        let out = virsh(&uri, "list");
        assert!(lists_test(&out), "{}{}", out.stdout, out.stderr);
        assert!(out.stderr.is_empty(), "{}", out.stderr);
    }
    if let Some(python) = python_libvirt() {
        let script = "import libvirt, sys\n\
                      c = libvirt.open(sys.argv[1])\n\
                      print([d.name() for d in c.listAllDomains()], c.isEncrypted(), c.isSecure())\n";
        let out = run(Command::new(python).args(["-c", script, &uri]));
        assert!(out.ok, "{}", out.stderr);
        assert_eq!(out.stdout.trim(), "['test'] 1 1");
    }
}

#[test]
fn clients_without_a_good_certificate_are_refused_and_others_still_served() {
    let root = tempfile::tempdir().unwrap();
    let ca = Ca::new("wirt test CA");
    let (_d, port) = tls_daemon(&ca.server(root.path()), &[]);
    let good = ca.client(root.path(), "good", "client1");
    let no_cert = ca.dir(root.path(), "none", "client", None);
    let other_ca = Ca::new("another CA");
    let mut foreign = other_ca.client(root.path(), "foreign", "client1");
    // Right CA for the server, but a client certificate it did not sign.
    std::fs::copy(good.join("cacert.pem"), foreign.join("cacert.pem")).unwrap();
    let old = ca.sign("client1", &[], ExtendedKeyUsagePurpose::ClientAuth, true);
    let expired = ca.dir(root.path(), "expired", "client", Some(old));
    // A server certificate used as a client's: wrong extended key usage.
    let server_cert = ca.sign("client1", &[], ExtendedKeyUsagePurpose::ServerAuth, false);
    let misused = ca.dir(root.path(), "misused", "client", Some(server_cert));
    for dir in [&no_cert, &foreign, &expired, &misused] {
        let out = wirt(&uri(port, dir), "list");
        assert!(!out.ok, "{}", out.stdout);
        assert!(out.stderr.contains("TLS"), "{}", out.stderr);
        if have_virsh() {
            let out = virsh(&uri(port, dir), "list");
            assert!(!out.ok, "{}", out.stdout);
        }
        let out = wirt(&uri(port, &good), "list");
        assert!(lists_test(&out), "{}{}", out.stdout, out.stderr);
    }
    // The client checks the server too: a CA that did not sign the
    // server's certificate fails, unless no_verify=1.
    foreign = other_ca.client(root.path(), "foreign2", "client1");
    for name in ["clientcert.pem", "clientkey.pem"] {
        std::fs::copy(good.join(name), foreign.join(name)).unwrap();
    }
    let out = wirt(&uri(port, &foreign), "list");
    assert!(!out.ok, "{}", out.stdout);
    assert!(out.stderr.contains("certificate"), "{}", out.stderr);
    let out = wirt(&format!("{}&no_verify=1", uri(port, &foreign)), "list");
    assert!(lists_test(&out), "{}{}", out.stdout, out.stderr);
}

#[test]
fn a_silent_peer_neither_blocks_others_nor_stays() {
    let root = tempfile::tempdir().unwrap();
    let ca = Ca::new("wirt test CA");
    let (_d, port) = tls_daemon(&ca.server(root.path()), &["--packet-timeout", "2"]);
    let good = ca.client(root.path(), "good", "client1");
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let out = wirt(&uri(port, &good), "list");
    assert!(lists_test(&out), "{}{}", out.stdout, out.stderr);
    // The handshake's deadline closes the silent peer.
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut byte = [0u8; 1];
    match silent.read(&mut byte) {
        Ok(0) => {}
        Ok(_) => panic!("the server sent data to a peer that never said hello"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn tls_allowed_dn_list_admits_only_matching_subjects() {
    let root = tempfile::tempdir().unwrap();
    let ca = Ca::new("wirt test CA");
    let conf = root.path().join("wirtd.conf");
    std::fs::write(&conf, "tls_allowed_dn_list = [\"C=GB,O=wirt,CN=admin*\"]\n").unwrap();
    let server = ca.server(root.path());
    let (_d, port) = tls_daemon(&server, &["--config", conf.to_str().unwrap()]);
    let admin = ca.client(root.path(), "admin", "admin1");
    let other = ca.client(root.path(), "other", "client1");
    let out = wirt(&uri(port, &other), "list");
    assert!(!out.ok, "{}", out.stdout);
    // libvirt's words for a server that closes instead of confirming.
    assert!(
        out.stderr
            .contains("server verification (of our certificate or IP address) failed"),
        "{}",
        out.stderr
    );
    let out = wirt(&uri(port, &admin), "list");
    assert!(lists_test(&out), "{}{}", out.stdout, out.stderr);
}

#[test]
fn wirtd_refuses_to_start_without_its_credentials() {
    let root = tempfile::tempdir().unwrap();
    let out = run(Command::new(env!("CARGO_BIN_EXE_wirtd"))
        .args(["--tls", &format!("127.0.0.1:{}", free_port())])
        .arg("--pki-path")
        .arg(root.path())
        .arg("--socket")
        .arg(root.path().join("s"))
        .arg("--no-ro-socket"));
    assert!(!out.ok);
    assert!(
        out.stderr.contains("cannot read server certificate")
            && out.stderr.contains("servercert.pem"),
        "{}",
        out.stderr
    );
}

#[test]
fn listen_takes_libvirtds_tls_settings_from_the_config_file() {
    let root = tempfile::tempdir().unwrap();
    let ca = Ca::new("wirt test CA");
    let server = ca.server(root.path());
    let port = free_port();
    let conf = root.path().join("wirtd.conf");
    let path = |name: &str| server.join(name).display().to_string();
    std::fs::write(
        &conf,
        format!(
            "listen_tls = 1\nlisten_addr = \"127.0.0.1\"\ntls_port = \"{port}\"\n\
             ca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
             tls_no_verify_certificate = 0\nauth_tls = \"none\"\n",
            path("cacert.pem"),
            path("servercert.pem"),
            path("serverkey.pem"),
        ),
    )
    .unwrap();
    let _d = Daemon::start_with(&["--listen", "--config", conf.to_str().unwrap()], None);
    let client = ca.client(root.path(), "client", "client1");
    let out = wirt(&uri(port, &client), "list");
    assert!(lists_test(&out), "{}{}", out.stdout, out.stderr);
}
