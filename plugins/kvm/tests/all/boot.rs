//! Booting the test guest: banner, CPUID report, virtio-blk I/O.

use wirt_kvm::control::protocol::{Request, reason, state};
use wirt_kvm::guest::{BANNER, READY, sector_checksum};

use crate::common::{Vmm, hex_after, make_disk, require_kvm};

#[test]
fn test_guest_boots_and_checksums_match_the_disk() {
    require_kvm!();
    let dir = tempfile::tempdir().unwrap();
    let (disk, data) = make_disk(dir.path(), "disk.img", 64);
    let mut vmm = Vmm::spawn(&[&disk]);
    let status = vmm.boot(|_| {});
    assert_eq!(status["state"], state::RUNNING);
    assert_eq!(status["reason"], reason::RUNNING_BOOTED);
    let console = vmm.wait_console(READY);
    assert!(console.starts_with(BANNER), "{console}");
    assert_eq!(hex_after(&console, "blk: capacity "), 64);
    assert!(console.contains("blk: id disk0\n"), "{console}");

    let sector0 = &data[..512];
    assert_eq!(
        hex_after(&console, "blk: sector 0 sum "),
        sector_checksum(sector0)
    );
    // The guest wrote the complement of sector 0 to sector 1 and read it back.
    let after = std::fs::read(&disk).unwrap();
    let expected: Vec<u8> = sector0.iter().map(|b| !b).collect();
    assert_eq!(&after[512..1024], &expected[..]);
    assert_eq!(
        hex_after(&console, "blk: sector 1 sum "),
        sector_checksum(&expected)
    );
    assert_eq!(&after[1024..], &data[1024..], "nothing else was written");

    let status = vmm.req(Request::Status);
    assert!(status["cpu_time_ns"].as_u64().unwrap() > 0, "{status}");
    assert_eq!(status["memory_kib"], 16 * 1024);
    vmm.quit();
}

#[test]
fn without_a_disk_the_guest_says_so() {
    require_kvm!();
    let mut vmm = Vmm::spawn(&[]);
    vmm.boot(|_| {});
    let console = vmm.wait_console(READY);
    assert!(console.contains("blk: none"), "{console}");
    vmm.quit();
}

#[test]
fn cpuid_report_matches_what_the_guest_sees() {
    require_kvm!();
    let mut vmm = Vmm::spawn(&[]);
    let status = vmm.boot(|_| {});
    let console = vmm.wait_console(READY);
    let line = console
        .lines()
        .find(|l| l.starts_with("cpu: "))
        .unwrap()
        .to_string();
    let words: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| u64::from_str_radix(w, 16).ok())
        .collect();
    let (ecx1, ebx7) = (words[0], words[1]);
    let forced: Vec<&str> = status["forced_cpuid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Each masked feature is either really hidden or reported as forced on.
    for (name, word, bit) in [
        ("xsave", ecx1, 26),
        ("cx16", ecx1, 13),
        ("avx2", ebx7, 5),
        ("smap", ebx7, 20),
    ] {
        let visible = word & (1 << bit) != 0;
        assert_eq!(
            visible,
            forced.contains(&name),
            "{name}: {line} vs {forced:?}"
        );
    }
    // The VMM always sets the hypervisor bit.
    assert_ne!(ecx1 & (1 << 31), 0);
    vmm.quit();
}

#[test]
fn two_vcpus_boot_pause_and_save() {
    require_kvm!();
    let dir = tempfile::tempdir().unwrap();
    let mut vmm = Vmm::spawn(&[]);
    let s = vmm.boot(|b| b.vcpus = 2);
    assert_eq!(s["vcpus"], 2);
    vmm.wait_console(READY);
    vmm.req(Request::Pause);
    vmm.req(Request::Resume);
    // The application processor still waits for INIT/SIPI; its state saves too.
    let out = std::fs::File::create(dir.path().join("two.save")).unwrap();
    let s = vmm
        .req_with_file(
            Request::Save {
                to: wirt_kvm::control::protocol::FdRef::Passed(0),
                stop: false,
            },
            &out,
        )
        .unwrap();
    assert_eq!(s["state"], state::RUNNING);
    vmm.input("p");
    vmm.wait_console("guest: pong 0000000000000001");
    vmm.quit();
}
