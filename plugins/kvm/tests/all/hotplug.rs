//! Hotplug under wirt-vmm: disks and a network card plugged into and
//! pulled out of a running test guest, which rescans when told; the slots
//! survive a save and restore, and a reset boots with what is plugged.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;

use wirt_kvm::control::protocol::{
    DiskFormat, DiskRef, FdRef, NicKind, NicRef, Request, RestoreRequest,
};
use wirt_kvm::guest::{READY, pattern_sector};

use crate::commands::command;
use crate::common::{TIMEOUT, Vmm, make_disk, require_kvm};

fn disk(serial: &str) -> DiskRef {
    DiskRef {
        fd: FdRef::Passed(0),
        format: DiskFormat::Raw,
        backing: Vec::new(),
        readonly: false,
        serial: serial.into(),
    }
}

fn attach_disk(vmm: &mut Vmm, path: &std::path::Path, serial: &str) -> serde_json::Value {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    vmm.req_with_file(Request::AttachDisk { disk: disk(serial) }, &file)
        .unwrap_or_else(|e| panic!("attach-disk: {e}\n{}", vmm.console()))
}

/// Waits for the guest's `rescan` line number `n` (counting from 1).
fn rescanned(vmm: &Vmm, n: usize) -> String {
    let console = vmm.wait_console_n("rescan: ", n);
    let (at, _) = console.match_indices("rescan: ").nth(n - 1).unwrap();
    let end = console[at..].find('\n').map_or(console.len(), |e| at + e);
    console[at..end].to_string()
}

#[test]
fn disks_and_a_card_come_and_go_while_the_guest_runs() {
    require_kvm!();
    let dir = tempfile::tempdir().unwrap();
    let (d0, _) = make_disk(dir.path(), "d0.img", 64);
    let (d1, data1) = make_disk(dir.path(), "d1.img", 32);
    let (d2, _) = make_disk(dir.path(), "d2.img", 16);
    let mut vmm = Vmm::spawn(&[&d0]);
    vmm.boot(|_| {});
    vmm.wait_console(READY);

    // A disk plugged in takes the next slot; the guest sees it at once.
    let r = attach_disk(&mut vmm, &d1, "hot1");
    assert_eq!(
        (r["index"].as_u64(), r["slot"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(rescanned(&vmm, 1), "rescan: 2 devices");
    let console = vmm.console();
    assert!(console.contains("virtio: slot 1 blk1\n"), "{console}");
    assert!(console.contains("blk1: id hot1\n"), "{console}");
    assert_eq!(
        command(&mut vmm, "fill 1 2 3 5", "fill 1 2 3: "),
        "fill 1 2 3: ok"
    );
    assert_eq!(command(&mut vmm, "flush 1", "flush 1: "), "flush 1: ok");
    let after = std::fs::read(&d1).unwrap();
    let expected: Vec<u8> = (2..5).flat_map(|s| pattern_sector(5, s)).collect();
    assert_eq!(&after[2 * 512..5 * 512], &expected[..]);
    assert_eq!(&after[5 * 512..], &data1[5 * 512..]);

    // A network card on a stream socket (passt's framing): it joins slot 2
    // with a worker of its own, and the guest's DHCP reaches our end.
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let nic = NicRef {
        fd: FdRef::Passed(0),
        backend: NicKind::Stream,
        mac: "52:54:00:00:aa:01".into(),
        link: None,
        mtu: None,
    };
    let r = vmm
        .client
        .request_with_fds(
            Request::AttachNic { nic: nic.clone() },
            &[theirs.as_raw_fd()],
            TIMEOUT,
        )
        .unwrap();
    drop(theirs);
    assert_eq!(
        (r["index"].as_u64(), r["slot"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(rescanned(&vmm, 2), "rescan: 3 devices");
    ours.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut len = [0u8; 4];
    (&ours)
        .read_exact(&mut len)
        .expect("a frame from the plugged card");
    assert!(u32::from_be_bytes(len) >= 14, "an Ethernet frame");
    // The same MAC twice is refused before the descriptor is taken.
    let (_x, y) = std::os::unix::net::UnixStream::pair().unwrap();
    let e = vmm
        .client
        .request_with_fds(Request::AttachNic { nic }, &[y.as_raw_fd()], TIMEOUT)
        .unwrap_err();
    assert!(e.to_string().contains("used twice"), "{e}");

    // Pulling disk 0 empties slot 0; the guest drops it and keeps blk1.
    vmm.req(Request::DetachDisk { index: 0 });
    assert_eq!(rescanned(&vmm, 3), "rescan: 2 devices");
    assert!(vmm.console().contains("virtio: slot 0 gone (blk0)"));
    assert_eq!(
        command(&mut vmm, "sum 0 0 1", "sum 0 0 1: "),
        "sum 0 0 1: error no such disk"
    );
    let status = vmm.req(Request::Status);
    assert_eq!(status["disks"].as_array().unwrap().len(), 1, "{status}");
    // The freed slot is the next one used.
    let r = attach_disk(&mut vmm, &d2, "hot2");
    assert_eq!(
        (r["index"].as_u64(), r["slot"].as_u64()),
        (Some(1), Some(0))
    );
    rescanned(&vmm, 4);
    assert!(vmm.console().contains("virtio: slot 0 blk0\n"));
    assert_eq!(
        command(&mut vmm, "fill 0 0 1 6", "fill 0 0 1: "),
        "fill 0 0 1: ok"
    );

    // The card goes: its socket closes.
    vmm.req(Request::DetachNic { index: 0 });
    rescanned(&vmm, 5);
    assert!(vmm.console().contains("virtio: slot 2 gone (net0)"));
    let mut rest = Vec::new();
    ours.set_read_timeout(Some(TIMEOUT)).unwrap();
    let _ = (&ours).read_to_end(&mut rest);
    let e = vmm
        .client
        .request(Request::DetachNic { index: 0 })
        .unwrap_err();
    assert!(e.to_string().contains("not served (0 cards)"), "{e}");

    // Save with devices in slots 1 and 0 (disk order d1, d2): the restored
    // guest finds each where it was, and blk1 is still d1.
    let save = dir.path().join("vm.save");
    let out = File::create(&save).unwrap();
    vmm.req_with_file(
        Request::Save {
            to: FdRef::Passed(0),
            stop: true,
        },
        &out,
    )
    .unwrap();
    vmm.quit();
    let mut second = Vmm::spawn(&[&d1, &d2]);
    let disks = second
        .disk_fds
        .iter()
        .zip(["hot1", "hot2"])
        .map(|(fd, serial)| DiskRef {
            fd: FdRef::Fd(*fd),
            ..disk(serial)
        })
        .collect();
    let input = File::open(&save).unwrap();
    second
        .req_with_file(
            Request::Restore(RestoreRequest {
                from: FdRef::Passed(0),
                disks,
                nics: Vec::new(),
                kernel: None,
                initrd: None,
                paused: false,
                copy_storage: false,
                policies: Default::default(),
            }),
            &input,
        )
        .unwrap();
    let expected = range_sum(&d1, 2, 3);
    assert_eq!(
        command(&mut second, "sum 1 2 3", "sum 1 2 3: "),
        format!("sum 1 2 3: {expected:016x}")
    );

    // A reset boots with what is plugged now, one slot after the other.
    let booted = second.console().matches(READY).count();
    second.req(Request::Reset);
    let console = second.wait_console_n(READY, booted + 1);
    let last = &console[console.rfind("wirt test guest").unwrap()..];
    assert!(last.contains("virtio: slot 0 blk0\n"), "{last}");
    assert!(last.contains("blk: id hot1\n"), "{last}");
    assert!(last.contains("blk1: id hot2\n"), "{last}");
    assert!(!last.contains("slot 2"), "{last}");
    second.quit();
}

fn range_sum(path: &std::path::Path, first: usize, count: usize) -> u64 {
    let data = std::fs::read(path).unwrap();
    wirt_kvm::guest::range_checksum(&data[first * 512..(first + count) * 512])
}

/// A block job beside the running guest (`mirror-*`): the copy's first
/// pass runs while the guest writes, the job reports its progress, and
/// the pivot copies what the guest wrote meanwhile, so the new image is
/// the old one byte for byte and the guest goes on there. A cancelled job
/// leaves the disk where it was.
#[test]
fn a_mirror_copies_a_disk_while_the_guest_writes_and_pivots() {
    require_kvm!();
    let dir = tempfile::tempdir().unwrap();
    let (src, _) = make_disk(dir.path(), "src.img", 8192);
    let copy = dir.path().join("copy.img");
    File::create(&copy).unwrap().set_len(8192 * 512).unwrap();
    let other = dir.path().join("other.img");
    File::create(&other).unwrap().set_len(8192 * 512).unwrap();
    let mut vmm = Vmm::spawn(&[&src]);
    vmm.boot(|_| {});
    vmm.wait_console(READY);
    let start = |vmm: &mut Vmm, path: &std::path::Path| {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        vmm.req_with_file(
            Request::MirrorStart {
                index: 0,
                dest: disk("disk0"),
                top: None,
                bandwidth: None,
            },
            &file,
        )
        .unwrap()
    };
    // Cancelled: nothing moves.
    start(&mut vmm, &other);
    let again = vmm
        .client
        .request_with_fds(
            Request::MirrorStart {
                index: 0,
                dest: disk("disk0"),
                top: None,
                bandwidth: None,
            },
            &[OpenOptions::new()
                .read(true)
                .write(true)
                .open(&other)
                .unwrap()
                .as_raw_fd()],
            TIMEOUT,
        )
        .unwrap_err();
    assert!(
        again.to_string().contains("has a block job running"),
        "{again}"
    );
    vmm.req(Request::MirrorCancel { index: 0 });

    // The guest fills 1000 sectors while the first pass runs.
    vmm.input("!fill 0 0 1000 9\n");
    let first = start(&mut vmm, &copy);
    assert_eq!(first["total"], 8192 * 512, "{first}");
    let deadline = std::time::Instant::now() + TIMEOUT;
    let status = loop {
        let s = vmm.req(Request::MirrorStatus { index: 0 });
        if s["ready"] == true {
            break s;
        }
        assert!(s["error"].is_null(), "{s}");
        assert!(std::time::Instant::now() < deadline, "never ready: {s}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert_eq!(status["done"], status["total"], "{status}");
    // Once the fill is done, the pivot takes what it wrote since the pass.
    vmm.wait_console("fill 0 0 1000: ok");
    vmm.req(Request::MirrorFinish {
        index: 0,
        pivot: true,
    });
    assert!(
        std::fs::read(&src).unwrap() == std::fs::read(&copy).unwrap(),
        "the copy differs from the source"
    );
    // The guest now writes to the copy only.
    assert_eq!(
        command(&mut vmm, "fill 0 0 1 3", "fill 0 0 1: "),
        "fill 0 0 1: ok"
    );
    assert_eq!(command(&mut vmm, "flush 0", "flush 0: "), "flush 0: ok");
    assert_eq!(
        &std::fs::read(&copy).unwrap()[..512],
        &wirt_kvm::guest::pattern_sector(3, 0)[..]
    );
    assert_ne!(
        &std::fs::read(&src).unwrap()[..512],
        &wirt_kvm::guest::pattern_sector(3, 0)[..]
    );
    vmm.quit();
}
