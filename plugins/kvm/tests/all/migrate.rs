//! Live migration between two VMMs over a socketpair the test (as the host)
//! passes to both: RAM, vCPU and device state move while the guest dirties
//! memory; a peer dying on either side leaves the source running and no VM
//! at the destination.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use wirt_kvm::control::client::ClientError;
use wirt_kvm::control::protocol::{
    DiskRef, FdRef, MigrateReply, MigrateSendRequest, Request, RestoreRequest, reason, state,
};
use wirt_kvm::guest::READY;

use crate::commands::{command, dirty_counter};
use crate::common::{Vmm, make_disk, require_kvm};

/// Migrations under software KVM take seconds; failures are awaited too.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(120);

fn send_request(max_downtime_ms: u64, bandwidth_mib_s: Option<u64>, max_rounds: u32) -> Request {
    Request::MigrateSend(MigrateSendRequest {
        to: FdRef::Passed(0),
        max_downtime_ms,
        bandwidth_mib_s,
        max_rounds,
        converge: None,
        progress: None,
        copy_storage: false,
    })
}

/// Sends `send` to `src` and a `migrate-receive` with `disks` to `dst`,
/// each with one end of a new socketpair, and closes the test's copies of
/// both ends (so each VMM sees the other go away). Returns the request ids.
fn start(
    src: &mut Vmm,
    dst: &mut Vmm,
    send: Request,
    disks: Vec<DiskRef>,
    paused: bool,
) -> (u64, u64) {
    let (a, b) = UnixStream::pair().unwrap();
    let (a, b) = (File::from(OwnedFd::from(a)), File::from(OwnedFd::from(b)));
    let receive = Request::MigrateReceive(RestoreRequest {
        from: FdRef::Passed(0),
        disks,
        nics: Vec::new(),
        kernel: None,
        initrd: None,
        paused,
        copy_storage: false,
        policies: Default::default(),
    });
    let r = dst.client.send_with_fds(receive, &[b.as_raw_fd()]).unwrap();
    let s = src.client.send_with_fds(send, &[a.as_raw_fd()]).unwrap();
    (s, r)
}

fn wait(vmm: &mut Vmm, id: u64) -> Result<MigrateReply, ClientError> {
    vmm.client
        .wait_response(id, MIGRATION_TIMEOUT)
        .map(|v| serde_json::from_value(v).expect("a migration reply"))
}

/// Polls until `f` holds, for at most 20 s.
fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A field of /proc/PID/io (`rchar`, `wchar`): bytes a process moved.
fn io_bytes(vmm: &Vmm, field: &str) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{}/io", vmm.child.id())).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(": "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {io}"))
}

/// A booted test guest dirtying 4 MiB at 20 pages per ms; its counter.
fn dirtying_guest(vmm: &mut Vmm, memory_mib: u64) -> u64 {
    vmm.boot(|b| b.memory_mib = memory_mib);
    vmm.wait_console(READY);
    assert_eq!(command(vmm, "dirty 4 20", "dirty: "), "dirty: on counter 0");
    let mut c = 0;
    until("the guest to dirty pages", || {
        c = dirty_counter(vmm);
        c > 0
    });
    c
}

/// Checks the guest RAM in save file `path` for the dirtying ring of 1024
/// pages (4 MiB): the newest counter value `head` (at least `lo`, at most
/// `hi`) and the 1023 before it must each be in a page of its own, on 1024
/// consecutive pages. A page the guest wrote that migration failed to
/// resend would still hold a value 1024 (or more) older: one would be
/// missing.
fn check_dirty_ring(path: &std::path::Path, lo: u64, hi: u64) -> u64 {
    let mut f = File::open(path).unwrap();
    let saved = wirt_kvm::snapshot::read_state(&mut f).unwrap();
    let mut ram = Vec::new();
    f.read_to_end(&mut ram).unwrap();
    assert_eq!(ram.len() as u64, saved.memory_bytes);
    let ring = |page: &[u8]| {
        let v = u64::from_le_bytes(page[..8].try_into().unwrap());
        (page[8..].iter().all(|&b| b == 0) && v >= 1 && v <= hi).then_some(v)
    };
    let head = ram
        .chunks_exact(4096)
        .filter_map(ring)
        .max()
        .expect("no page of the dirtying ring");
    assert!(
        head >= lo && head >= 1024,
        "newest value {head}, at least {lo}"
    );
    let mut at = std::collections::HashMap::new();
    for (i, page) in ram.chunks_exact(4096).enumerate() {
        if let Some(v) = ring(page).filter(|v| *v + 1024 > head) {
            at.insert(v, i);
        }
    }
    let pages: Vec<usize> = (0..1024)
        .map(|i| {
            *at.get(&(head - i)).unwrap_or_else(|| {
                panic!(
                    "counter value {} is in no page: a dirty page was lost",
                    head - i
                )
            })
        })
        .collect();
    let (min, max) = (pages.iter().min().unwrap(), pages.iter().max().unwrap());
    assert_eq!(max - min, 1023, "the ring's pages are not contiguous");
    head
}

fn migrate_ok(
    src: &mut Vmm,
    dst: &mut Vmm,
    paused: bool,
) -> (wirt_kvm::control::protocol::MigrationStats, MigrateReply) {
    let disks = vec![DiskRef {
        fd: FdRef::Fd(dst.disk_fds[0]),
        format: wirt_kvm::control::protocol::DiskFormat::Raw,
        backing: Vec::new(),
        readonly: false,
        serial: "disk0".into(),
    }];
    // A downtime nothing meets: every round up to the limit runs; the
    // bandwidth cap makes them last long enough for the guest to dirty
    // pages already sent.
    let (s, r) = start(src, dst, send_request(1, Some(16), 4), disks, paused);
    let sent = wait(src, s).expect("migrate-send");
    let received = wait(dst, r).expect("migrate-receive");
    assert_eq!(
        (sent.status.state, sent.status.reason),
        (state::SHUTOFF, reason::SHUTOFF_MIGRATED)
    );
    let stats = sent.sent.expect("source statistics");
    let incoming = received.received.clone().expect("destination statistics");
    eprintln!("migration (16 MiB, dirtying 4 MiB at 20 pages/ms): {stats:?}");
    assert_eq!(stats.memory_bytes, 16 << 20);
    // Round 1 covered all RAM, later ones what was dirtied (one dirty
    // count per check), and both sides counted the same stream.
    assert!(stats.pages_sent + stats.zero_pages >= 4096, "{stats:?}");
    assert_eq!(stats.dirty_pages.len(), stats.rounds as usize, "{stats:?}");
    assert!(stats.rounds <= 4, "{stats:?}");
    assert_eq!(incoming.bytes_received, stats.bytes_sent);
    assert_eq!(incoming.pages, stats.pages_sent);
    assert_eq!(incoming.rounds, stats.rounds);
    assert!(stats.downtime_ms > 0.0 && stats.downtime_ms <= stats.total_ms);
    (stats, received)
}

#[test]
fn live_migration_moves_a_dirtying_guest_and_its_disk_and_back() {
    require_kvm!();
    let dir = tempfile::tempdir().unwrap();
    // Shared storage: both VMMs open the same image.
    let (disk, _) = make_disk(dir.path(), "shared.img", 256);
    let mut src = Vmm::spawn(&[&disk, &disk]);
    let mut dst = Vmm::spawn(&[&disk]);
    // The source boots with its first disk; its second copy of the image
    // is for the migration back.
    let back_disk = src.disk_fds.pop().unwrap();
    src.boot(|_| {});
    src.wait_console(READY);
    src.input("p");
    src.wait_console("guest: pong 0000000000000001");
    assert_eq!(
        command(&mut src, "fill 0 8 16 5", "fill 0 8 16: "),
        "fill 0 8 16: ok"
    );
    let sum = command(&mut src, "sum 0 0 64", "sum 0 0 64: ");
    assert_eq!(
        command(&mut src, "dirty 4 20", "dirty: "),
        "dirty: on counter 0"
    );
    // Past one whole turn of the ring, for check_dirty_ring.
    let mut before = 0;
    until("the guest to dirty 2048 pages", || {
        before = dirty_counter(&mut src);
        before > 2048
    });

    // Out, into a destination that stays paused so its RAM can be checked
    // as it arrived.
    let (_, received) = migrate_ok(&mut src, &mut dst, true);
    assert_eq!(
        (received.status.state, received.status.reason),
        (state::PAUSED, reason::PAUSED_USER)
    );
    let save = dir.path().join("arrived.save");
    dst.req_with_file(
        Request::Save {
            to: FdRef::Passed(0),
            stop: false,
        },
        &File::create(&save).unwrap(),
    )
    .expect("save");
    dst.req(Request::Resume);
    let after = dirty_counter(&mut dst);
    let head = check_dirty_ring(&save, before, after);
    assert!(after >= head, "{after} after {head}");

    // The guest goes on at the destination from where it was: its counter
    // (in RAM) moves on, its pong counter (in RAM) continues, its disk
    // reads the same.
    until("the migrated guest to go on dirtying", || {
        dirty_counter(&mut dst) > after
    });
    dst.input("p");
    dst.wait_console("guest: pong 0000000000000002");
    assert_eq!(command(&mut dst, "sum 0 0 64", "sum 0 0 64: "), sum);
    assert_eq!(
        src.state(),
        (
            u64::from(state::SHUTOFF),
            u64::from(reason::SHUTOFF_MIGRATED)
        )
    );
    // The source cannot migrate what it no longer runs.
    let (a, _b) = UnixStream::pair().unwrap();
    let err = src
        .req_with_file(send_request(300, None, 30), &File::from(OwnedFd::from(a)))
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Vmm(e) if e.kind == "invalid-state"),
        "{err}"
    );

    // And back, running at once, into the VMM it came from.
    let moved = dirty_counter(&mut dst);
    src.disk_fds = vec![back_disk];
    let (_, received) = migrate_ok(&mut dst, &mut src, false);
    assert_eq!(
        (received.status.state, received.status.reason),
        (state::RUNNING, reason::RUNNING_MIGRATED)
    );
    assert_eq!(
        dst.state(),
        (
            u64::from(state::SHUTOFF),
            u64::from(reason::SHUTOFF_MIGRATED)
        )
    );
    until("the guest to dirty on, back home", || {
        dirty_counter(&mut src) > moved
    });
    src.input("p");
    src.wait_console("guest: pong 0000000000000003");
    assert_eq!(command(&mut src, "sum 0 0 64", "sum 0 0 64: "), sum);
    src.quit();
    dst.quit();
}

/// A migration that cannot converge (1 MiB/s against 20 pages/ms) and so
/// is surely in progress when a peer is killed.
fn slow_migration(src: &mut Vmm, dst: &mut Vmm) -> (u64, u64) {
    start(src, dst, send_request(1, Some(1), 1000), Vec::new(), false)
}

#[test]
fn killing_the_destination_mid_migration_leaves_the_source_running() {
    require_kvm!();
    let mut src = Vmm::spawn(&[]);
    let mut dst = Vmm::spawn(&[]);
    dirtying_guest(&mut src, 16);
    let read_before = io_bytes(&dst, "rchar");
    let (s, _) = slow_migration(&mut src, &mut dst);
    until("the destination to receive 512 KiB", || {
        io_bytes(&dst, "rchar") > read_before + (512 << 10)
    });
    dst.child.kill().unwrap();
    dst.child.wait().unwrap();

    let err = wait(&mut src, s).unwrap_err();
    assert!(
        matches!(&err, ClientError::Vmm(e) if e.kind == "failed" && e.message.contains("migration")),
        "{err}"
    );
    // Unchanged, and really running: the counter moves, console answers.
    assert_eq!(
        src.state(),
        (u64::from(state::RUNNING), u64::from(reason::RUNNING_BOOTED))
    );
    let c = dirty_counter(&mut src);
    until("the source guest to go on dirtying", || {
        dirty_counter(&mut src) > c
    });
    src.input("p");
    src.wait_console("guest: pong 0000000000000001");

    // And it can still go, to another destination.
    let mut other = Vmm::spawn(&[]);
    let (s, r) = start(
        &mut src,
        &mut other,
        send_request(300, None, 30),
        Vec::new(),
        false,
    );
    wait(&mut src, s).expect("migrate-send after a failed one");
    let received = wait(&mut other, r).expect("migrate-receive");
    assert_eq!(received.status.reason, reason::RUNNING_MIGRATED);
    other.input("p");
    other.wait_console("guest: pong 0000000000000002");
    src.quit();
    other.quit();
}

#[test]
fn killing_the_source_mid_migration_leaves_no_vm_at_the_destination() {
    require_kvm!();
    let mut src = Vmm::spawn(&[]);
    let mut dst = Vmm::spawn(&[]);
    dirtying_guest(&mut src, 16);
    let written_before = io_bytes(&src, "wchar");
    let (_, r) = slow_migration(&mut src, &mut dst);
    until("the source to send 512 KiB", || {
        io_bytes(&src, "wchar") > written_before + (512 << 10)
    });
    src.child.kill().unwrap();
    src.child.wait().unwrap();

    let err = wait(&mut dst, r).unwrap_err();
    assert!(
        matches!(&err, ClientError::Vmm(e) if e.kind == "failed" && e.message.contains("migration peer")),
        "{err}"
    );
    let status = dst.req(Request::Status);
    assert_eq!(status["state"], state::SHUTOFF);
    assert_eq!(status["reason"], reason::SHUTOFF_UNKNOWN);
    assert_eq!(status["memory_kib"], 0, "{status}");
    assert_eq!(status["vcpus"], 0, "{status}");
    // Nothing is left half-built: the VMM boots a guest of its own.
    dst.boot(|_| {});
    dst.wait_console(READY);
    dst.quit();
}

/// Migrates a 64 MiB guest idle and dirtying at two rates, with the
/// default maximum downtime (300 ms) and with 2 ms, and prints the figures
/// (`--nocapture`): downtime (pause to the destination's acknowledgement)
/// and total time.
#[test]
fn figures_for_a_64_mib_guest() {
    require_kvm!();
    for (rate, max_downtime_ms) in [(0u64, 300), (20, 300), (100, 300), (20, 2), (100, 2)] {
        let mut src = Vmm::spawn(&[]);
        let mut dst = Vmm::spawn(&[]);
        src.boot(|b| b.memory_mib = 64);
        src.wait_console(READY);
        if rate > 0 {
            assert_eq!(
                command(&mut src, &format!("dirty 4 {rate}"), "dirty: "),
                "dirty: on counter 0"
            );
            until("the guest to dirty pages", || dirty_counter(&mut src) > 0);
        }
        let (s, r) = start(
            &mut src,
            &mut dst,
            send_request(max_downtime_ms, None, 30),
            Vec::new(),
            false,
        );
        let sent = wait(&mut src, s).expect("migrate-send");
        let received = wait(&mut dst, r).expect("migrate-receive");
        let stats = sent.sent.unwrap();
        let incoming = received.received.unwrap();
        eprintln!(
            "64 MiB, dirtying {rate} pages/ms, max downtime {max_downtime_ms} ms: downtime {:.1} ms \
             (expected {:.1}), total {:.1} ms, \
             {} rounds, dirty pages {:?}, {:.1} MiB sent ({} pages, {} zero), \
             destination build {:.1} ms",
            stats.downtime_ms,
            stats.expected_downtime_ms,
            stats.total_ms,
            stats.rounds,
            stats.dirty_pages,
            stats.bytes_sent as f64 / f64::from(1 << 20),
            stats.pages_sent,
            stats.zero_pages,
            incoming.restore_ms,
        );
        assert_eq!(stats.memory_bytes, 64 << 20);
        assert!(stats.downtime_ms <= stats.total_ms);
        dst.input("p");
        dst.wait_console("guest: pong 0000000000000001");
        src.quit();
        dst.quit();
    }
}

/// A stream that is not one fails the destination, which tells the other
/// end why and keeps no VM.
#[test]
fn a_malformed_stream_is_refused_with_an_answer() {
    require_kvm!();
    let mut dst = Vmm::spawn(&[]);
    let (mut host, theirs) = UnixStream::pair().unwrap();
    let receive = Request::MigrateReceive(RestoreRequest {
        from: FdRef::Passed(0),
        disks: Vec::new(),
        nics: Vec::new(),
        kernel: None,
        initrd: None,
        paused: false,
        copy_storage: false,
        policies: Default::default(),
    });
    let id = dst
        .client
        .send_with_fds(receive, &[theirs.as_raw_fd()])
        .unwrap();
    drop(theirs);
    // A valid header for 16 MiB, then a PAGES record past the end of RAM.
    let mut bytes = b"WIRTMIG1".to_vec();
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&4096u32.to_le_bytes());
    bytes.extend_from_slice(&(16u64 << 20).to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&4096u64.to_le_bytes());
    host.write_all(&bytes).unwrap();

    let err = wait(&mut dst, id).unwrap_err();
    assert!(
        matches!(&err, ClientError::Vmm(e) if e.kind == "failed" && e.message.contains("not guest RAM")),
        "{err}"
    );
    // What a source would read: READY once the VM existed (after the
    // header), then the failed acknowledgement with the cause.
    let mut answer = Vec::new();
    host.read_to_end(&mut answer).unwrap();
    assert_eq!(&answer[..4], &8u32.to_le_bytes());
    let ack = &answer[16..];
    assert_eq!(&ack[..4], &6u32.to_le_bytes());
    assert_eq!(&ack[4..8], &1u32.to_le_bytes());
    let message = String::from_utf8_lossy(&ack[16..]);
    assert!(message.contains("not guest RAM"), "{message}");
    assert_eq!(
        dst.state(),
        (
            u64::from(state::SHUTOFF),
            u64::from(reason::SHUTOFF_UNKNOWN)
        )
    );
    assert_eq!(dst.req(Request::Status)["memory_kib"], 0);
    dst.quit();
}

/// Requests refused before anything moves: no VM to send, a zero
/// bandwidth, a destination that already runs one, a descriptor not sent.
#[test]
fn migration_requests_are_checked_first() {
    require_kvm!();
    let mut vmm = Vmm::spawn(&[]);
    let (a, _b) = UnixStream::pair().unwrap();
    let a = File::from(OwnedFd::from(a));
    let kind = |r: Result<serde_json::Value, ClientError>| match r {
        Err(ClientError::Vmm(e)) => e.kind,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        kind(vmm.req_with_file(send_request(300, None, 30), &a)),
        "invalid-state"
    );
    vmm.boot(|_| {});
    vmm.wait_console(READY);
    assert_eq!(
        kind(vmm.req_with_file(send_request(300, Some(0), 30), &a)),
        "invalid-request"
    );
    let receive = Request::MigrateReceive(RestoreRequest {
        from: FdRef::Passed(0),
        disks: Vec::new(),
        nics: Vec::new(),
        kernel: None,
        initrd: None,
        paused: false,
        copy_storage: false,
        policies: Default::default(),
    });
    assert_eq!(kind(vmm.req_with_file(receive, &a)), "invalid-state");
    assert_eq!(
        kind(vmm.client.request(send_request(300, None, 30))),
        "bad-fd"
    );
    // None of it touched the guest.
    assert_eq!(
        vmm.state(),
        (u64::from(state::RUNNING), u64::from(reason::RUNNING_BOOTED))
    );
    vmm.input("p");
    vmm.wait_console("guest: pong 0000000000000001");
    vmm.quit();
}

/// A storage migration: the source's disk goes through the stream into
/// the destination's own (empty) image while the guest writes to it; what
/// it wrote after a chunk went is sent again, so the destination's image
/// ends up identical and the guest there reads what it wrote.
#[test]
fn storage_is_copied_with_the_writes_made_meanwhile() {
    require_kvm!();
    let dir = tempfile::tempdir().unwrap();
    let (src_disk, _) = make_disk(dir.path(), "src.img", 8192);
    let dst_disk = dir.path().join("dst.img");
    File::create(&dst_disk)
        .unwrap()
        .set_len(8192 * 512)
        .unwrap();
    let mut src = Vmm::spawn(&[&src_disk]);
    let mut dst = Vmm::spawn(&[&dst_disk]);
    src.boot(|_| {});
    src.wait_console(READY);
    // 1000 sectors written while the first chunks are on their way (1 MiB/s).
    src.input("!fill 0 0 1000 5\n");
    let send = Request::MigrateSend(MigrateSendRequest {
        to: FdRef::Passed(0),
        max_downtime_ms: 50,
        bandwidth_mib_s: Some(1),
        max_rounds: 30,
        converge: None,
        progress: None,
        copy_storage: true,
    });
    let (a, b) = UnixStream::pair().unwrap();
    let receive = Request::MigrateReceive(RestoreRequest {
        from: FdRef::Passed(0),
        disks: vec![DiskRef {
            fd: FdRef::Fd(dst.disk_fds[0]),
            format: Default::default(),
            backing: Vec::new(),
            readonly: false,
            serial: "disk0".into(),
        }],
        nics: Vec::new(),
        kernel: None,
        initrd: None,
        paused: false,
        copy_storage: true,
        policies: Default::default(),
    });
    let r = dst.client.send_with_fds(receive, &[b.as_raw_fd()]).unwrap();
    let s = src.client.send_with_fds(send, &[a.as_raw_fd()]).unwrap();
    drop((a, b));
    let sent = wait(&mut src, s).expect("migrate-send").sent.unwrap();
    let received = wait(&mut dst, r)
        .expect("migrate-receive")
        .received
        .unwrap();
    assert!(sent.disk_bytes >= 4 << 20, "{sent:?}");
    assert!(sent.disk_chunks_resent > 0, "the fill overlapped: {sent:?}");
    assert_eq!(received.disk_bytes, sent.disk_bytes);
    // The fill goes on where the guest now runs; `sum` answers after it.
    let expected: Vec<u8> = (0..1000)
        .flat_map(|s| wirt_kvm::guest::pattern_sector(5, s))
        .collect();
    assert_eq!(
        command(&mut dst, "sum 0 0 1000", "sum 0 0 1000: "),
        format!(
            "sum 0 0 1000: {:016x}",
            wirt_kvm::guest::range_checksum(&expected)
        )
    );
    src.quit();
    dst.quit();
    let (theirs, ours) = (
        std::fs::read(&src_disk).unwrap(),
        std::fs::read(&dst_disk).unwrap(),
    );
    assert!(theirs == ours, "the destination's image differs");

    // Without the storage copy asked for, a destination takes no disk data.
    let (x, y) = UnixStream::pair().unwrap();
    let mut lone = Vmm::spawn(&[&dst_disk]);
    let receive: Request = serde_json::from_value(serde_json::json!({
        "op": "migrate-receive", "from": {"passed": 0},
        "disks": [{"fd": {"fd": lone.disk_fds[0]}}]
    }))
    .unwrap();
    let r = lone
        .client
        .send_with_fds(receive, &[y.as_raw_fd()])
        .unwrap();
    let mut x = x;
    let mut stream = wirt_kvm::migrate::stream::Header {
        memory_bytes: 16 << 20,
    }
    .encode()
    .to_vec();
    stream.extend(
        wirt_kvm::migrate::stream::Record {
            tag: wirt_kvm::migrate::stream::TAG_DISKS,
            count: 1,
            arg: 0,
        }
        .encode(),
    );
    stream.extend((8192u64 * 512).to_le_bytes());
    x.write_all(&stream).unwrap();
    let e = wait(&mut lone, r).unwrap_err();
    assert!(
        e.to_string()
            .contains("disks in a migration without storage copy"),
        "{e}"
    );
    lone.quit();
}
