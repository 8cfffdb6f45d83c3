//! The test guest's line commands that need no network: disk patterns and
//! checksums, flush, memory dirtying across save/restore, rescan.

use std::fs::File;

use wirt_kvm::control::protocol::{DiskRef, FdRef, Request, RestoreRequest};
use wirt_kvm::guest::{READY, pattern_sector, range_checksum};

use crate::common::{Vmm, hex_after, make_disk, require_kvm};

/// Sends a `!` line and waits for the whole line that answers it (the
/// guest prints an answer's prefix before it does the work).
pub(crate) fn command(vmm: &mut Vmm, line: &str, answer: &str) -> String {
    let before = vmm.console().matches(answer).count();
    vmm.input(&format!("!{line}\n"));
    let deadline = std::time::Instant::now() + crate::common::TIMEOUT;
    loop {
        let console = vmm.wait_console_n(answer, before + 1);
        let (at, _) = console.match_indices(answer).nth(before).expect("waited");
        if let Some((whole, _)) = console[at..].split_once('\n') {
            return whole.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no end of line after {answer:?}:\n{console}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn fill_and_sum_match_the_host_side_pattern() {
    require_kvm!();
    let dir = tempfile::tempdir().unwrap();
    let (disk0, data0) = make_disk(dir.path(), "d0.img", 256);
    let (disk1, data1) = make_disk(dir.path(), "d1.img", 128);
    let mut vmm = Vmm::spawn(&[&disk0, &disk1]);
    vmm.boot(|_| {});
    let console = vmm.wait_console(READY);
    assert!(console.contains("virtio: slot 0 blk0\n"), "{console}");
    assert!(console.contains("virtio: slot 1 blk1\n"), "{console}");
    assert!(console.contains("blk1: id disk1\n"), "{console}");
    assert_eq!(hex_after(&console, "blk1: capacity "), 128);

    // 100 sectors: more than one request's worth (64) in the guest.
    let line = command(&mut vmm, "fill 0 8 100 42", "fill 0 8 100: ");
    assert_eq!(line, "fill 0 8 100: ok");
    let expected: Vec<u8> = (8..108).flat_map(|s| pattern_sector(42, s)).collect();
    let after = std::fs::read(&disk0).unwrap();
    assert_eq!(&after[8 * 512..108 * 512], &expected[..]);
    assert_eq!(&after[108 * 512..], &data0[108 * 512..], "only the range");

    let line = command(&mut vmm, "sum 0 8 100", "sum 0 8 100: ");
    assert_eq!(
        line,
        format!("sum 0 8 100: {:016x}", range_checksum(&expected))
    );
    // Over untouched data too, in hex arguments.
    let line = command(&mut vmm, "sum 0 0x80 0x10", "sum 0 128 16: ");
    assert_eq!(
        line,
        format!(
            "sum 0 128 16: {:016x}",
            range_checksum(&data0[128 * 512..144 * 512])
        )
    );

    // The second disk is its own file.
    assert_eq!(
        command(&mut vmm, "fill 1 3 2 7", "fill 1 3 2: "),
        "fill 1 3 2: ok"
    );
    assert_eq!(command(&mut vmm, "flush 1", "flush 1: "), "flush 1: ok");
    let after1 = std::fs::read(&disk1).unwrap();
    assert_eq!(&after1[3 * 512..4 * 512], &pattern_sector(7, 3)[..]);
    assert_eq!(&after1[5 * 512..], &data1[5 * 512..]);

    assert_eq!(
        command(&mut vmm, "sum 0 250 10", "sum 0 250 10: "),
        "sum 0 250 10: error out of range"
    );
    assert_eq!(
        command(&mut vmm, "fill 5 0 1 1", "fill 5 0 1: "),
        "fill 5 0 1: error no such disk"
    );
    assert_eq!(
        command(&mut vmm, "frobnicate", "error: "),
        "error: unknown command frobnicate"
    );
    // Nothing new in the slots; single-byte commands still work after lines.
    assert_eq!(command(&mut vmm, "rescan", "rescan: "), "rescan: 2 devices");
    vmm.input("p");
    vmm.wait_console("guest: pong 0000000000000001");
    vmm.quit();
}

pub(crate) fn dirty_counter(vmm: &mut Vmm) -> u64 {
    let line = command(vmm, "dirty", "dirty: ");
    assert!(line.starts_with("dirty: on counter "), "{line}");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn dirty_counter_continues_across_save_and_restore() {
    require_kvm!();
    let dir = tempfile::tempdir().unwrap();
    let save_path = dir.path().join("vm.save");
    let mut first = Vmm::spawn(&[]);
    first.boot(|_| {});
    first.wait_console(READY);
    // 16 MiB of RAM: the region (after the guest image) is smaller.
    let line = command(&mut first, "dirty 100 1", "dirty: ");
    assert!(
        line.starts_with("dirty: error size out of range (at most "),
        "{line}"
    );
    assert_eq!(
        command(&mut first, "dirty 4 20", "dirty: "),
        "dirty: on counter 0"
    );
    std::thread::sleep(std::time::Duration::from_millis(100));
    let c1 = dirty_counter(&mut first);
    assert!(c1 > 0, "{c1}");

    let out = File::create(&save_path).unwrap();
    first
        .req_with_file(
            Request::Save {
                to: FdRef::Passed(0),
                stop: true,
            },
            &out,
        )
        .unwrap();
    first.quit();

    let mut second = Vmm::spawn(&[]);
    let input = File::open(&save_path).unwrap();
    second
        .req_with_file(
            Request::Restore(RestoreRequest {
                from: FdRef::Passed(0),
                disks: Vec::<DiskRef>::new(),
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
    let c2 = dirty_counter(&mut second);
    assert!(c2 > c1, "{c2} after {c1}");
    std::thread::sleep(std::time::Duration::from_millis(50));
    let c3 = dirty_counter(&mut second);
    assert!(c3 > c2, "{c3} after {c2}: dirtying goes on");
    let line = command(&mut second, "dirty stop", "dirty: ");
    assert!(line.starts_with("dirty: off counter "), "{line}");
    second.quit();
}
