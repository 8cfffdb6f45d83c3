//! Secrets through every layer: the `wirt` CLI on test:///default (in
//! memory) and kvm:///session (persistent, files 0600), and real virsh and
//! python3-libvirt against wirtd.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::remote::{Daemon, have_virsh, python_libvirt};
use crate::support::{run, wirt};

const UUID: &str = "c7a5fdbd-edaf-9455-926a-d65c16db1809";
const PRIVATE_UUID: &str = "0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f";

fn volume_secret(uuid: &str, private: bool, ephemeral: bool, path: &str) -> String {
    let yn = |b: bool| if b { "yes" } else { "no" };
    format!(
        "<secret ephemeral='{}' private='{}'>\n  <uuid>{uuid}</uuid>\n  \
         <description>disk passphrase</description>\n  <usage type='volume'>\n    \
         <volume>{path}</volume>\n  </usage>\n</secret>\n",
        yn(ephemeral),
        yn(private)
    )
}

#[test]
fn test_driver_secrets_define_list_value_undefine_like_virsh() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("s.xml");
    std::fs::write(&xml, volume_secret(UUID, false, false, "/images/a.img")).unwrap();
    let private = dir.path().join("p.xml");
    std::fs::write(
        &private,
        volume_secret(PRIVATE_UUID, true, true, "/images/b.img"),
    )
    .unwrap();
    let value = dir.path().join("value.b64");
    std::fs::write(&value, "c2VjcmV0LXR3bw==\n").unwrap();
    let script = format!(
        "secret-define {xml}; secret-define {private}; secret-list; \
         secret-set-value {UUID} --base64 c2VrcmV0; secret-get-value {UUID}; \
         secret-set-value {UUID} --file {value}; secret-get-value {UUID} --plain; \
         secret-list --private; secret-list --no-ephemeral --no-private; \
         secret-dumpxml {UUID}; secret-undefine {UUID}; secret-list --no-private",
        xml = xml.display(),
        private = private.display(),
        value = value.display(),
    );
    let out = wirt("test:///default", &script);
    assert!(out.ok, "{}", out.stderr);
    let table_head = format!(
        " UUID                                   Usage\n{}\n",
        "-".repeat(62)
    );
    let expected = format!(
        "Secret {UUID} created\n\n\
         Secret {PRIVATE_UUID} created\n\n\
         {table_head} \
         {PRIVATE_UUID}   volume /images/b.img\n \
         {UUID}   volume /images/a.img\n\n\
         Secret value set\n\n\
         c2VrcmV0\n\
         Secret value set\n\n\
         secret-two\n\
         {table_head} \
         {PRIVATE_UUID}   volume /images/b.img\n\n\
         {table_head} \
         {UUID}   volume /images/a.img\n\n\
         {}\n\
         Secret {UUID} deleted\n\n \
         UUID   Usage\n---------------\n\n",
        volume_secret(UUID, false, false, "/images/a.img"),
    );
    assert_eq!(out.stdout, expected);
    // The warning virsh gives for a value on the command line.
    assert_eq!(
        out.stderr,
        "warning: Passing secret value as command-line argument is insecure!\n"
    );
}

#[test]
fn secret_errors_have_libvirts_wording() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("p.xml");
    std::fs::write(
        &private,
        volume_secret(PRIVATE_UUID, true, false, "/images/p.img"),
    )
    .unwrap();
    let clash = dir.path().join("clash.xml");
    std::fs::write(&clash, volume_secret(UUID, false, false, "/images/p.img")).unwrap();
    let public = dir.path().join("public.xml");
    std::fs::write(
        &public,
        volume_secret(PRIVATE_UUID, false, false, "/images/p.img"),
    )
    .unwrap();
    let base = format!(
        "secret-define {}; secret-set-value {PRIVATE_UUID} --base64 eA==",
        private.display()
    );
    let cases: &[(&str, &str)] = &[
        (
            &format!("secret-get-value {PRIVATE_UUID}"),
            "error: Invalid secret: secret is private\n",
        ),
        (
            &format!("secret-define {}", clash.display()),
            &format!(
                "error: Failed to set attributes from {}\nerror: internal error: a secret with UUID {PRIVATE_UUID} already defined for use with /images/p.img\n",
                clash.display()
            ),
        ),
        (
            &format!("secret-define {}", public.display()),
            &format!(
                "error: Failed to set attributes from {}\nerror: internal error: cannot change private flag on existing secret\n",
                public.display()
            ),
        ),
        (
            &format!("secret-dumpxml {UUID}"),
            &format!(
                "error: failed to get secret '{UUID}'\nerror: Secret not found: no secret with matching uuid '{UUID}'\n"
            ),
        ),
        (
            &format!("secret-set-value {PRIVATE_UUID}"),
            "error: Input secret value is missing\n",
        ),
        (
            &format!("secret-set-value {PRIVATE_UUID} --base64 eA== --plain"),
            "error: Options --plain and --base64 are mutually exclusive\n",
        ),
    ];
    for (cmd, stderr) in cases {
        let out = wirt("test:///default", &format!("{base}; {cmd}"));
        assert!(!out.ok, "{cmd} succeeded");
        let stderr_tail = out.stderr.replace(
            "warning: Passing secret value as command-line argument is insecure!\n",
            "",
        );
        assert_eq!(&stderr_tail, stderr, "{cmd}");
    }
}

#[test]
fn kvm_secrets_persist_in_private_files_and_ephemeral_ones_do_not() {
    let Some(k) = crate::kvm::kvm() else {
        return;
    };
    let xml = k.dir.path().join("s.xml");
    std::fs::write(&xml, volume_secret(UUID, false, false, "/images/a.img")).unwrap();
    let eph = k.dir.path().join("e.xml");
    std::fs::write(
        &eph,
        volume_secret(PRIVATE_UUID, false, true, "/images/e.img"),
    )
    .unwrap();
    k.ok(&format!(
        "secret-define {}; secret-define {}; secret-set-value {UUID} --base64 aHVudGVyMg==; \
         secret-set-value {PRIVATE_UUID} --base64 ZXBo",
        xml.display(),
        eph.display()
    ));
    // A new process: the persistent secret and its value are back, the
    // ephemeral one is gone with the process that held it.
    assert_eq!(k.ok(&format!("secret-get-value {UUID}")), "aHVudGVyMg==\n");
    assert_eq!(
        k.ok(&format!("secret-get-value {UUID} --plain")),
        "hunter2\n"
    );
    let list = k.ok("secret-list");
    assert!(
        list.contains(UUID) && !list.contains(PRIVATE_UUID),
        "{list}"
    );
    let dir = k.dir.path().join("state/secrets");
    let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    let stored = std::fs::read_to_string(dir.join(format!("{UUID}.xml"))).unwrap();
    assert!(!stored.contains("hunter2"), "{stored}");
    assert_eq!(
        std::fs::read(dir.join(format!("{UUID}.value"))).unwrap(),
        b"hunter2"
    );
    k.ok(&format!("secret-undefine {UUID}"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    // Redefined ephemeral, a secret leaves the disk at once.
    let now_ephemeral = k.dir.path().join("now-ephemeral.xml");
    std::fs::write(
        &now_ephemeral,
        volume_secret(UUID, false, true, "/images/a.img"),
    )
    .unwrap();
    k.ok(&format!(
        "secret-define {}; secret-set-value {UUID} --base64 aHVudGVyMg==; secret-define {}",
        xml.display(),
        now_ephemeral.display()
    ));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    assert!(!k.ok("secret-list").contains(UUID));
}

const PYTHON_SECRETS: &str = r#"
import sys, threading, time, libvirt
libvirt.virEventRegisterDefaultImpl()
uri, ro_uri, xml = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
c = libvirt.open(uri)
got = []
life = c.secretEventRegisterAny(None, libvirt.VIR_SECRET_EVENT_ID_LIFECYCLE,
    lambda conn, sec, event, detail, o: got.append(("lifecycle", sec.UUIDString(), event)), None)
changed = c.secretEventRegisterAny(None, libvirt.VIR_SECRET_EVENT_ID_VALUE_CHANGED,
    lambda conn, sec, o: got.append(("value", sec.UUIDString(), sec.usageID())), None)
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
s = c.secretDefineXML(xml)
assert s.UUIDString() == "c7a5fdbd-edaf-9455-926a-d65c16db1809", s.UUIDString()
assert s.usageType() == libvirt.VIR_SECRET_USAGE_TYPE_VOLUME
assert s.usageID() == "/images/a.img"
assert c.numOfSecrets() == 1 and c.listSecrets() == [s.UUIDString()]
assert [x.UUIDString() for x in c.listAllSecrets(libvirt.VIR_CONNECT_LIST_SECRETS_NO_PRIVATE)] == [s.UUIDString()]
assert c.listAllSecrets(libvirt.VIR_CONNECT_LIST_SECRETS_PRIVATE) == []
s.setValue(b"\x00\x01binary")
assert s.value() == b"\x00\x01binary"
u = c.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_VOLUME, "/images/a.img")
assert u.UUIDString() == s.UUIDString()
assert "<volume>/images/a.img</volume>" in c.secretLookupByUUIDString(s.UUIDString()).XMLDesc()
ro = libvirt.openReadOnly(ro_uri)
r = ro.secretLookupByUUIDString(s.UUIDString())
assert "<uuid>" in r.XMLDesc()
try:
    r.value()
    raise SystemExit("read-only client read a value")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED, e
s.undefine()
deadline = time.time() + 20
while len(got) < 3 and time.time() < deadline:
    time.sleep(0.01)
u = s.UUIDString()
assert got == [("lifecycle", u, libvirt.VIR_SECRET_EVENT_DEFINED),
               ("value", u, "/images/a.img"),
               ("lifecycle", u, libvirt.VIR_SECRET_EVENT_UNDEFINED)], got
c.secretEventDeregisterAny(life)
c.secretEventDeregisterAny(changed)
try:
    c.secretLookupByUUIDString(s.UUIDString())
    raise SystemExit("undefined secret still found")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_NO_SECRET, e
print("python secrets OK")
"#;

#[test]
fn python_libvirt_manages_secrets_through_wirtd() {
    let Some(python) = python_libvirt() else {
        return;
    };
    let d = Daemon::start();
    let script = d.dir.path().join("secrets.py");
    std::fs::write(&script, PYTHON_SECRETS).unwrap();
    let xml = d.dir.path().join("s.xml");
    std::fs::write(&xml, volume_secret(UUID, false, false, "/images/a.img")).unwrap();
    let out = run(Command::new(python)
        .arg(&script)
        .arg(d.uri())
        .arg(d.ro_uri())
        .arg(&xml));
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "python secrets OK\n");
}

#[test]
fn virsh_and_wirt_print_the_same_through_wirtd() {
    if !have_virsh() {
        return;
    }
    let d = Daemon::start();
    let xml = d.dir.path().join("s.xml");
    std::fs::write(&xml, volume_secret(UUID, false, false, "/images/a.img")).unwrap();
    let private = d.dir.path().join("p.xml");
    std::fs::write(
        &private,
        volume_secret(PRIVATE_UUID, true, false, "/images/p.img"),
    )
    .unwrap();
    let value = d.dir.path().join("v");
    std::fs::write(&value, "raw value").unwrap();
    let script = format!(
        "secret-define {xml}; secret-define {private}; secret-list; secret-list --private; \
         secret-set-value {UUID} --file {value} --plain; secret-get-value {UUID}; \
         secret-get-value {UUID} --plain; \
         secret-dumpxml {PRIVATE_UUID}; secret-set-value {PRIVATE_UUID} --file {value} --plain; \
         secret-undefine {UUID}; secret-undefine {PRIVATE_UUID}; secret-list",
        xml = xml.display(),
        private = private.display(),
        value = value.display(),
    );
    let virsh = run(Command::new("virsh").args(["-c", &d.uri(), &script]));
    assert!(virsh.ok, "{}", virsh.stderr);
    let ours = wirt(&d.uri(), &script);
    assert!(ours.ok, "{}", ours.stderr);
    assert_eq!(ours.stdout, virsh.stdout);
    assert!(virsh.stdout.contains("cmF3IHZhbHVl\n"), "{}", virsh.stdout);
    // A private secret's value stays private for virsh too.
    let refused = run(Command::new("virsh").args([
        "-c",
        &d.uri(),
        &format!(
            "secret-define {}; secret-get-value {PRIVATE_UUID}",
            private.display()
        ),
    ]));
    assert!(!refused.ok);
    assert!(
        refused
            .stderr
            .contains("error: Invalid secret: secret is private"),
        "{}",
        refused.stderr
    );
}

type Watcher = (
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
    &'static str,
);

/// `PROGRAM -c URI secret-event --event KIND --loop`: its stdout lines, as
/// they come.
fn watch(program: &str, uri: &str, kind: &'static str) -> Watcher {
    let mut watcher = Command::new(program)
        .args([
            "-c",
            uri,
            &format!("secret-event --event {kind} --loop --timeout 60"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = crate::support::stdout_lines(&mut watcher);
    (watcher, rx, kind)
}

/// virsh's and wirt's `secret-event` through wirtd print libvirt's lines
/// for what another client does to a secret, and never its value.
#[test]
fn secret_events_reach_virsh_and_wirt_through_wirtd() {
    use std::time::{Duration, Instant};
    let d = Daemon::start();
    let uri = d.uri();
    let xml = d.dir.path().join("s.xml");
    std::fs::write(&xml, volume_secret(UUID, false, false, "/images/a.img")).unwrap();
    let probe = d.dir.path().join("probe.xml");
    std::fs::write(
        &probe,
        volume_secret(PRIVATE_UUID, false, false, "/images/probe.img"),
    )
    .unwrap();
    let wirt_bin = env!("CARGO_BIN_EXE_wirt");
    let mut watchers = vec![
        watch(wirt_bin, &uri, "lifecycle"),
        watch(wirt_bin, &uri, "value-changed"),
    ];
    if have_virsh() {
        watchers.push(watch("virsh", &uri, "lifecycle"));
        watchers.push(watch("virsh", &uri, "value-changed"));
    }
    let poke = |script: &str| {
        let out = wirt(&uri, script);
        assert!(out.ok, "{script}: {}", out.stderr);
    };
    // Each watcher registers on its own time: poke until each has heard one.
    let deadline = Instant::now() + Duration::from_secs(30);
    for (_, rx, _) in &watchers {
        'registered: loop {
            poke(&format!(
                "secret-define {}; secret-set-value {PRIVATE_UUID} --base64 eA==; \
                 secret-undefine {PRIVATE_UUID}",
                probe.display()
            ));
            while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                if line.contains(PRIVATE_UUID) {
                    break 'registered;
                }
            }
            assert!(Instant::now() < deadline, "a watcher heard nothing");
        }
    }
    poke(&format!(
        "secret-define {}; secret-set-value {UUID} --base64 c2VrcmV0; secret-undefine {UUID}",
        xml.display()
    ));
    for (mut watcher, rx, kind) in watchers {
        let mut expected = if kind == "lifecycle" {
            vec![
                format!("event 'lifecycle' for secret {UUID}: Defined"),
                format!("event 'lifecycle' for secret {UUID}: Undefined"),
            ]
        } else {
            vec![format!("event 'value-changed' for secret {UUID}")]
        };
        let mut seen = Vec::new();
        while !expected.is_empty() {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("missing {expected:?}; seen {seen:?}"));
            assert!(!line.contains("c2VrcmV0"), "{line}");
            if line.contains(UUID) {
                assert_eq!(line.trim(), expected[0], "after {seen:?}");
                expected.remove(0);
                seen.push(line);
            }
        }
        let _ = watcher.kill();
        let _ = watcher.wait();
    }
}
