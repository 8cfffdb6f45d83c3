//! What python-libvirt's stock `event-test.py` does first: register a
//! callback for every domain event id libvirt 9.0 defines (0 to 26), and
//! the network lifecycle one, through wirtd. All are accepted; lifecycle
//! events arrive.

use std::process::Command;

const REGISTER_ALL: &str = r#"
import sys, threading, time
import libvirt
libvirt.virEventRegisterDefaultImpl()
conn = libvirt.open(sys.argv[1])
got = []
def any_event(*args):
    got.append(args[-1])
ids = [getattr(libvirt, n) for n in dir(libvirt)
       if n.startswith("VIR_DOMAIN_EVENT_ID_") and n != "VIR_DOMAIN_EVENT_ID_LAST"]
assert max(ids) == 26, ids
for i in sorted(ids):
    conn.domainEventRegisterAny(None, i, any_event, i)
conn.networkEventRegisterAny(None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, any_event, "net")
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
dom = conn.lookupByName("test")
dom.destroy()
deadline = time.time() + 20
while libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE not in got and time.time() < deadline:
    time.sleep(0.01)
print(len(ids), "registered;", "lifecycle" if libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE in got else "none")
"#;

#[test]
fn every_domain_event_id_of_libvirt_9_registers_through_wirtd() {
    let Some(python) = crate::remote::python_libvirt() else {
        return;
    };
    let d = crate::remote::Daemon::start();
    let out = Command::new(python)
        .args(["-c", REGISTER_ALL, &d.uri()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "27 registered; lifecycle");
}

/// Storage pool lifecycle and refresh events through wirtd, as python's
/// `storagePoolEventRegisterAny` sees them, in order.
const POOL_EVENTS: &str = r#"
import sys, threading, time
import libvirt
libvirt.virEventRegisterDefaultImpl()
conn = libvirt.open(sys.argv[1])
got = []
conn.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE,
    lambda c, p, event, detail, o: got.append((p.name(), event)), None)
conn.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH,
    lambda c, p, o: got.append((p.name(), "refresh")), None)
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
pool = conn.storagePoolDefineXML(
    "<pool type='dir'><name>evp</name><target><path>%s</path></target></pool>" % sys.argv[2])
pool.build(0)
pool.create(0)
pool.refresh(0)
pool.destroy()
pool.delete(0)
pool.undefine()
deadline = time.time() + 20
while len(got) < 7 and time.time() < deadline:
    time.sleep(0.01)
print(" ".join("%s:%s" % g for g in got))
"#;

#[test]
fn storage_pool_events_arrive_through_wirtd() {
    let Some(python) = crate::remote::python_libvirt() else {
        return;
    };
    let d = crate::remote::Daemon::start();
    let target = d.dir.path().join("evp");
    let out = Command::new(python)
        .args(["-c", POOL_EVENTS, &d.uri(), target.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // libvirt's numbers: defined 0, undefined 1, started 2, stopped 3,
    // created (built) 4, deleted 5.
    assert_eq!(
        stdout.trim(),
        "evp:0 evp:4 evp:2 evp:refresh evp:3 evp:5 evp:1"
    );
}

/// `wirt pool-event --all --loop` through wirtd prints virsh's lines for
/// what another client does to a pool.
#[test]
fn wirt_pool_event_loop_prints_what_happens_through_wirtd() {
    let d = crate::remote::Daemon::start();
    let uri = d.uri();
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_wirt"))
        .args(["-c", &uri, "pool-event --all --loop --timeout 60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let rx = crate::support::stdout_lines(&mut watcher);
    let pool_xml = |name: &str| {
        let xml = d.dir.path().join(format!("{name}.xml"));
        std::fs::write(
            &xml,
            format!(
                "<pool type='dir'><name>{name}</name><target><path>{}</path></target></pool>",
                d.dir.path().join(name).display()
            ),
        )
        .unwrap();
        xml
    };
    let wirt = |script: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_wirt"))
            .args(["-c", &uri, script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // The watcher registers on its own time: poke until it has heard one.
    let probe = pool_xml("probe");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    'registered: loop {
        wirt(&format!(
            "pool-define {}; pool-undefine probe",
            probe.display()
        ));
        while let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            if line.contains("storage pool probe") {
                break 'registered;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher heard nothing"
        );
    }
    let xml = pool_xml("evw");
    wirt(&format!(
        "pool-define {}; pool-build evw; pool-start evw; pool-refresh evw; pool-destroy evw; pool-undefine evw",
        xml.display()
    ));
    let mut expected = vec![
        "event 'lifecycle' for storage pool evw: Defined",
        "event 'lifecycle' for storage pool evw: Created",
        "event 'lifecycle' for storage pool evw: Started",
        "event 'refresh' for storage pool evw",
        "event 'lifecycle' for storage pool evw: Stopped",
        "event 'lifecycle' for storage pool evw: Undefined",
    ];
    let mut seen = Vec::new();
    while !expected.is_empty() {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("missing {expected:?}; seen {seen:?}"));
        if line.contains("storage pool evw") {
            // In order: the first one still expected.
            assert_eq!(line.trim(), expected[0], "after {seen:?}");
            expected.remove(0);
            seen.push(line);
        }
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
}
