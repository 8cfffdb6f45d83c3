//! Save → restore into a brand-new VMM process; the guest continues.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::time::Instant;

use wirt_kvm::control::protocol::{
    DiskFormat, DiskRef, FdRef, Request, RestoreRequest, reason, state,
};
use wirt_kvm::guest::READY;

use crate::common::{TIMEOUT, Vmm, hex_after, make_disk, require_kvm};

#[test]
fn save_then_restore_in_a_new_process_continues_the_guest() {
    require_kvm!();
    let dir = tempfile::tempdir().unwrap();
    let (disk, _) = make_disk(dir.path(), "disk.img", 64);
    let save_path = dir.path().join("vm.save");

    let mut first = Vmm::spawn(&[&disk]);
    first.boot(|_| {});
    let console = first.wait_console(READY);
    let sum1 = hex_after(&console, "blk: sector 1 sum ");
    first.input("p");
    first.wait_console("guest: pong 0000000000000001");

    let t = Instant::now();
    let out = File::create(&save_path).unwrap();
    let s = first
        .req_with_file(
            Request::Save {
                to: FdRef::Passed(0),
                stop: true,
            },
            &out,
        )
        .unwrap();
    let save_time = t.elapsed();
    assert_eq!(
        (s["state"].as_u64(), s["reason"].as_u64()),
        (Some(5), Some(reason::SHUTOFF_SAVED as u64))
    );
    first.quit();

    let mut second = Vmm::spawn(&[&disk]);
    let disks = vec![DiskRef {
        fd: FdRef::Fd(second.disk_fds[0]),
        format: DiskFormat::Raw,
        backing: Vec::new(),
        readonly: false,
        serial: "disk0".into(),
    }];
    let t = Instant::now();
    let input = File::open(&save_path).unwrap();
    let s = second
        .req_with_file(
            Request::Restore(RestoreRequest {
                from: FdRef::Passed(0),
                disks,
                nics: vec![],
                kernel: None,
                initrd: None,
                paused: false,
                copy_storage: false,
                policies: Default::default(),
            }),
            &input,
        )
        .unwrap();
    let restore_time = t.elapsed();
    eprintln!("save {save_time:?}, restore {restore_time:?}");
    assert_eq!(
        (s["state"].as_u64(), s["reason"].as_u64()),
        (Some(1), Some(reason::RUNNING_RESTORED as u64))
    );
    // The counter lives in guest memory: it continues from 1.
    second.input("p");
    second.wait_console("guest: pong 0000000000000002");
    // virtio-blk works after the restore, with the same results.
    second.input("b");
    let console = second.wait_console("blk: sector 1 sum ");
    assert_eq!(hex_after(&console, "blk: sector 1 sum "), sum1);
    // A restored test guest can reboot (its kernel is built in)...
    second.input("r");
    assert_eq!(second.client.next_event(TIMEOUT).unwrap().event, "reboot");
    second.wait_console(READY);
    // ...and obeys shutdown.
    second.req(Request::Shutdown);
    let ev = second.client.next_event(TIMEOUT).unwrap();
    assert_eq!((ev.event.as_str(), ev.state), ("poweroff", state::SHUTOFF));
    second.quit();
}

#[test]
fn snapshot_without_stop_keeps_running_and_bad_files_are_refused() {
    require_kvm!();
    let dir = tempfile::tempdir().unwrap();
    let mut vmm = Vmm::spawn(&[]);
    vmm.boot(|_| {});
    vmm.wait_console(READY);
    let out = File::create(dir.path().join("snap")).unwrap();
    let s = vmm
        .req_with_file(
            Request::Save {
                to: FdRef::Passed(0),
                stop: false,
            },
            &out,
        )
        .unwrap();
    assert_eq!(s["state"], state::RUNNING);
    vmm.input("p");
    vmm.wait_console("guest: pong 0000000000000001");
    vmm.quit();

    let mut fresh = Vmm::spawn(&[]);
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not a save file at all, really not").unwrap();
    let f = File::open(&junk).unwrap();
    let err = fresh
        .req_with_file(
            Request::Restore(RestoreRequest {
                from: FdRef::Passed(0),
                disks: vec![],
                nics: vec![],
                kernel: None,
                initrd: None,
                paused: false,
                copy_storage: false,
                policies: Default::default(),
            }),
            &f,
        )
        .unwrap_err();
    assert!(err.to_string().contains("not a wirt save file"), "{err}");
    assert_eq!(fresh.state(), (5, 0));
    drop(OwnedFd::from(f));
    fresh.quit();
}
