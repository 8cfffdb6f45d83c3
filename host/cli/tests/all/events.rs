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
