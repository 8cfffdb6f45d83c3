//! qcow2 internal snapshots made, reverted and deleted by
//! `block::internal`, checked with QEMU's own tools (`qemu-img snapshot`,
//! `check`, `convert -l`, `qemu-io` reads) and through imago, which serves
//! the image in the VMM (`Disk`): copy-on-write must keep a snapshot's data
//! whatever is written after it.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{qemu_tools, run_text as run};
use proptest::prelude::*;
use wirt_kvm::control::protocol::DiskFormat;
use wirt_kvm::devices::virtio::block::Disk;
use wirt_kvm::devices::virtio::block::internal::{self, InternalSnapshotError};

const K: usize = 1024;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A qcow2 image of `size` made by `qemu-img create` with `options`.
fn image(dir: &Path, name: &str, size: &str, options: &str) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec!["create", "-q", "-f", "qcow2"];
    if !options.is_empty() {
        args.extend(["-o", options]);
    }
    args.extend([s(&path), size]);
    run("qemu-img", &args);
    path
}

/// Runs a qemu-io command; `read -P` fails it on a mismatch, which qemu-io
/// reports on stdout with a zero exit status, hence the second check.
fn io(image: &Path, command: &str) {
    let out = run("qemu-io", &["-f", "qcow2", "-c", command, s(image)]);
    assert!(
        !out.contains("Pattern verification failed") && !out.contains("failed"),
        "qemu-io '{command}' on {}: {out}",
        image.display()
    );
}

/// `qemu-img check`: no errors and no leaks (exit status 0).
fn check(image: &Path) {
    run("qemu-img", &["check", "-f", "qcow2", s(image)]);
}

fn qemu_names(image: &Path) -> Vec<String> {
    let out = run("qemu-img", &["snapshot", "-l", s(image)]);
    out.lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

fn names(image: &Path) -> Vec<String> {
    internal::list_path(image)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect()
}

/// The guest's view of snapshot `name` of `image`, by `qemu-img convert`.
fn snapshot_bytes(image: &Path, name: &str) -> Vec<u8> {
    let out = image.with_extension(format!("{name}.raw"));
    run(
        "qemu-img",
        &[
            "convert",
            "-f",
            "qcow2",
            "-O",
            "raw",
            "-l",
            &format!("snapshot.name={name}"),
            s(image),
            s(&out),
        ],
    );
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    bytes
}

fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

/// The image opened as the VMM opens it (imago), `backing` below it.
fn disk(path: &Path, backing: Vec<File>) -> Disk {
    Disk::open(DiskFormat::Qcow2, open_rw(path), backing, false, "t").unwrap()
}

fn disk_write(path: &Path, offset: u64, bytes: &[u8]) {
    let d = disk(path, Vec::new());
    d.write_bytes(bytes, offset).unwrap();
    d.flush().unwrap();
}

fn disk_read(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let d = disk(path, Vec::new());
    let mut buf = vec![0u8; len];
    d.read_bytes(&mut buf, offset).unwrap();
    buf
}

#[test]
fn qemu_img_lists_our_snapshot_and_revert_brings_its_data_back() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.qcow2", "4M", "");
    io(&img, "write -P 0xaa 0 1M");
    let made = internal::create_path(&img, "before").unwrap();
    assert_eq!((made.name.as_str(), made.id.as_str()), ("before", "1"));
    assert_eq!(made.disk_size, 4 << 20);
    assert_eq!(qemu_names(&img), ["before"]);
    assert_eq!(internal::list_path(&img).unwrap(), [made]);
    check(&img);

    io(&img, "write -P 0xbb 0 512k");
    io(&img, "write -P 0xcc 2M 64k");
    check(&img);
    internal::revert_path(&img, "before").unwrap();
    check(&img);
    io(&img, "read -P 0xaa 0 1M");
    io(&img, "read -P 0 1M 3M");
    // Still there, still intact after the active image diverges again.
    io(&img, "write -P 0xdd 128k 64k");
    internal::revert_path(&img, "before").unwrap();
    io(&img, "read -P 0xaa 0 1M");
    check(&img);

    internal::delete_path(&img, "before").unwrap();
    assert!(qemu_names(&img).is_empty());
    assert!(internal::list_path(&img).unwrap().is_empty());
    check(&img);
    io(&img, "read -P 0xaa 0 1M");
    // The clusters are the active image's alone again: written in place.
    io(&img, "write -P 0xee 0 64k");
    check(&img);
}

#[test]
fn snapshots_made_by_qemu_and_by_us_are_interchangeable() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.qcow2", "2M", "");
    io(&img, "write -P 0x11 0 1M");
    run("qemu-img", &["snapshot", "-c", "q1", s(&img)]);
    let listed = internal::list_path(&img).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].id.as_str()),
        ("q1", "1")
    );
    assert_eq!(listed[0].disk_size, 2 << 20);

    // QEMU's entry as QEMU lists it (date, clock, icount from its extra
    // data): our table rewrites keep it as it was.
    let q1_line = || {
        run("qemu-img", &["snapshot", "-l", s(&img)])
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some("q1"))
            .unwrap()
            .to_string()
    };
    let q1_before = q1_line();
    io(&img, "write -P 0x22 0 1M");
    let ours = internal::create_path(&img, "w2").unwrap();
    assert_eq!(ours.id, "2", "numbered after QEMU's");
    assert_eq!(q1_line(), q1_before);
    io(&img, "write -P 0x33 512k 1M");
    check(&img);

    // We revert to QEMU's, QEMU reverts to ours.
    internal::revert_path(&img, "q1").unwrap();
    check(&img);
    io(&img, "read -P 0x11 0 1M");
    io(&img, "read -P 0 1M 1M");
    run("qemu-img", &["snapshot", "-a", "w2", s(&img)]);
    check(&img);
    io(&img, "read -P 0x22 0 1M");

    // QEMU deletes ours, we delete QEMU's.
    run("qemu-img", &["snapshot", "-d", "w2", s(&img)]);
    check(&img);
    assert_eq!(names(&img), ["q1"]);
    internal::create_path(&img, "w3").unwrap();
    internal::delete_path(&img, "w3").unwrap();
    assert_eq!(q1_line(), q1_before);
    internal::delete_path(&img, "q1").unwrap();
    check(&img);
    assert!(qemu_names(&img).is_empty());
    io(&img, "read -P 0x22 0 1M");
    // A snapshot QEMU takes after ours are gone, and one of ours after it.
    run("qemu-img", &["snapshot", "-c", "q4", s(&img)]);
    internal::create_path(&img, "w5").unwrap();
    assert_eq!(qemu_names(&img), ["q4", "w5"]);
    check(&img);
}

#[test]
fn deleting_the_middle_snapshot_keeps_the_others_data() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.qcow2", "1M", "cluster_size=4096");
    let mut expect = Vec::new();
    let mut state = vec![0u8; 1 << 20];
    for (i, (pattern, at, len)) in [
        (0x11u8, 0, 512 * K),
        (0x22, 256 * K, 512 * K),
        (0x33, 0, 64 * K),
    ]
    .into_iter()
    .enumerate()
    {
        io(&img, &format!("write -P {pattern:#x} {at} {len}"));
        state[at..at + len].fill(pattern);
        internal::create_path(&img, &format!("s{i}")).unwrap();
        expect.push(state.clone());
    }
    io(&img, "write -P 0x44 0 1M");
    check(&img);
    internal::delete_path(&img, "s1").unwrap();
    check(&img);
    assert_eq!(qemu_names(&img), ["s0", "s2"]);
    assert!(snapshot_bytes(&img, "s0") == expect[0], "s0 changed");
    assert!(snapshot_bytes(&img, "s2") == expect[2], "s2 changed");
    io(&img, "read -P 0x44 0 1M");
    // Reverting to each (QEMU on a copy, us here) gives its data.
    let copy = dir.path().join("copy.qcow2");
    std::fs::copy(&img, &copy).unwrap();
    run("qemu-img", &["snapshot", "-a", "s0", s(&copy)]);
    io(&copy, "read -P 0x11 0 512k");
    internal::revert_path(&img, "s2").unwrap();
    check(&img);
    assert!(disk_read(&img, 0, 1 << 20) == expect[2]);
    internal::delete_path(&img, "s0").unwrap();
    internal::delete_path(&img, "s2").unwrap();
    check(&img);
    assert!(disk_read(&img, 0, 1 << 20) == expect[2]);
}

#[test]
fn an_image_over_a_backing_file() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    std::fs::write(&base, vec![0x5au8; 2 << 20]).unwrap();
    let top = dir.path().join("top.qcow2");
    run(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            s(&base),
            "-F",
            "raw",
            s(&top),
        ],
    );
    io(&top, "write -P 0x11 0 64k");
    internal::create_path(&top, "s").unwrap();
    io(&top, "write -P 0x22 0 128k");
    io(&top, "write -P 0x33 1M 64k");
    check(&top);
    internal::revert_path(&top, "s").unwrap();
    check(&top);
    io(&top, "read -P 0x11 0 64k");
    io(&top, "read -P 0x5a 64k 1984k");
    // imago over the same chain sees the same.
    let d = disk(&top, vec![File::open(&base).unwrap()]);
    let mut buf = vec![0u8; 128 * K];
    d.read_bytes(&mut buf, 0).unwrap();
    assert!(buf[..64 * K].iter().all(|b| *b == 0x11));
    assert!(buf[64 * K..].iter().all(|b| *b == 0x5a));
    drop(d);
    internal::delete_path(&top, "s").unwrap();
    check(&top);
    assert_eq!(std::fs::read(&base).unwrap(), vec![0x5au8; 2 << 20]);
}

#[test]
fn writes_through_imago_after_a_snapshot_leave_it_intact() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.qcow2", "1M", "");
    io(&img, "write -P 0xaa 0 1M");
    internal::create_path(&img, "s").unwrap();
    // Whole clusters, a partial one, and one across two clusters.
    disk_write(&img, 0, &vec![0xbb; 64 * K]);
    disk_write(&img, 100 * K as u64, &[0xcc; 1000]);
    disk_write(&img, (192 * K - 512) as u64, &[0xdd; 1024]);
    check(&img);
    assert!(
        snapshot_bytes(&img, "s") == vec![0xaa; 1 << 20],
        "COW broke"
    );
    let now = disk_read(&img, 0, 1 << 20);
    assert!(now[..64 * K].iter().all(|b| *b == 0xbb));
    assert!(now[100 * K..100 * K + 1000].iter().all(|b| *b == 0xcc));
    assert!(now[192 * K - 512..192 * K + 512].iter().all(|b| *b == 0xdd));
    assert!(now[300 * K..].iter().all(|b| *b == 0xaa));

    internal::revert_path(&img, "s").unwrap();
    assert!(disk_read(&img, 0, 1 << 20) == vec![0xaa; 1 << 20]);
    // After the revert every cluster is shared again: a write copies.
    disk_write(&img, 512 * K as u64, &[0xee; 4096]);
    check(&img);
    assert!(
        snapshot_bytes(&img, "s") == vec![0xaa; 1 << 20],
        "COW broke"
    );
    internal::delete_path(&img, "s").unwrap();
    // Sole owner again: written in place, still consistent.
    disk_write(&img, 0, &[0xff; 4096]);
    check(&img);
    let now = disk_read(&img, 0, 1 << 20);
    assert!(now[..4096].iter().all(|b| *b == 0xff));
    assert!(now[512 * K..512 * K + 4096].iter().all(|b| *b == 0xee));
}

#[test]
fn a_name_in_use_or_unknown_is_refused_and_changes_nothing() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.qcow2", "1M", "");
    io(&img, "write -P 0xaa 0 64k");
    internal::create_path(&img, "s").unwrap();
    let before = std::fs::read(&img).unwrap();
    let e = internal::create_path(&img, "s");
    assert!(
        matches!(&e, Err(InternalSnapshotError::DuplicateName { name }) if name == "s"),
        "{e:?}"
    );
    let e = internal::revert_path(&img, "nope");
    assert!(
        matches!(&e, Err(InternalSnapshotError::NotFound { name }) if name == "nope"),
        "{e:?}"
    );
    let e = internal::delete_path(&img, "nope");
    assert!(
        matches!(&e, Err(InternalSnapshotError::NotFound { .. })),
        "{e:?}"
    );
    assert!(matches!(
        internal::create_path(&img, ""),
        Err(InternalSnapshotError::BadName { .. })
    ));
    assert!(std::fs::read(&img).unwrap() == before, "a refusal wrote");
    // The message names the snapshot.
    let e = internal::create_path(&img, "s").unwrap_err();
    assert!(e.to_string().contains("'s'"), "{e}");
    check(&img);
}

#[test]
fn revert_restores_the_snapshots_virtual_size() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.qcow2", "1M", "cluster_size=4096");
    io(&img, "write -P 0x11 0 1M");
    internal::create_path(&img, "small").unwrap();
    // 1 MiB is two L2 tables' reach at 4 KiB clusters: the L1 grows.
    run("qemu-img", &["resize", "-q", "-f", "qcow2", s(&img), "5M"]);
    io(&img, "write -P 0x22 3M 1M");
    let big = internal::create_path(&img, "big").unwrap();
    assert_eq!(big.disk_size, 5 << 20);
    let size = |p: &Path| {
        let info = run("qemu-img", &["info", "--output=json", s(p)]);
        info.contains(&format!("\"virtual-size\": {}", 1 << 20)) as u8
            + 2 * info.contains(&format!("\"virtual-size\": {}", 5 << 20)) as u8
    };
    internal::revert_path(&img, "small").unwrap();
    check(&img);
    assert_eq!(size(&img), 1, "virtual size after reverting to 'small'");
    io(&img, "read -P 0x11 0 1M");
    assert_eq!(internal::list_path(&img).unwrap()[0].disk_size, 1 << 20);
    internal::revert_path(&img, "big").unwrap();
    check(&img);
    assert_eq!(size(&img), 2, "virtual size after reverting to 'big'");
    io(&img, "read -P 0x11 0 1M");
    io(&img, "read -P 0x22 3M 1M");
    io(&img, "read -P 0 1M 2M");
    assert_eq!(
        disk(&img, Vec::new()).sectors() * 512,
        5 << 20,
        "imago's view"
    );
}

/// Create, write, create, write, revert to each, delete both: the data
/// each snapshot held comes back and `qemu-img check` stays clean.
fn round_trip(img: &Path) {
    io(img, "write -P 0x11 0 256k");
    internal::create_path(img, "a").unwrap();
    check(img);
    io(img, "write -P 0x22 64k 128k");
    internal::create_path(img, "b").unwrap();
    io(img, "write -P 0x33 0 64k");
    io(img, "write -P 0x44 512k 64k");
    check(img);
    internal::revert_path(img, "a").unwrap();
    check(img);
    io(img, "read -P 0x11 0 256k");
    io(img, "read -P 0 256k 768k");
    internal::revert_path(img, "b").unwrap();
    check(img);
    io(img, "read -P 0x11 0 64k");
    io(img, "read -P 0x22 64k 128k");
    io(img, "read -P 0 512k 64k");
    internal::delete_path(img, "a").unwrap();
    check(img);
    io(img, "write -P 0x55 192k 64k");
    internal::delete_path(img, "b").unwrap();
    check(img);
    io(img, "read -P 0x22 64k 128k");
    io(img, "read -P 0x55 192k 64k");
    assert!(names(img).is_empty());
}

#[test]
fn images_of_every_shape_qemu_makes() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    for options in [
        "compat=0.10",
        "compat=0.10,cluster_size=512",
        // 512-byte clusters: a refcount block covers 128 KiB, so new
        // clusters need new refcount blocks.
        "cluster_size=512",
        "cluster_size=16k,extended_l2=on",
        "cluster_size=2M",
        "refcount_bits=8",
        "refcount_bits=64",
        "refcount_bits=4,cluster_size=4096",
        "lazy_refcounts=on",
        "preallocation=metadata",
        "preallocation=full,cluster_size=4096",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), "a.qcow2", "1M", options);
        eprintln!("{options}");
        round_trip(&img);
    }
}

#[test]
fn compressed_clusters_are_shared_and_freed_like_the_rest() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("data.raw");
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i / 4096 % 7) as u8).collect();
    std::fs::write(&raw, &data).unwrap();
    let img = dir.path().join("c.qcow2");
    run(
        "qemu-img",
        &[
            "convert",
            "-q",
            "-c",
            "-f",
            "raw",
            "-O",
            "qcow2",
            "-o",
            "cluster_size=4096",
            s(&raw),
            s(&img),
        ],
    );
    internal::create_path(&img, "s").unwrap();
    check(&img);
    io(&img, "write -P 0x22 0 64k");
    disk_write(&img, 300 * K as u64, &[0x33; 5000]);
    check(&img);
    assert!(
        snapshot_bytes(&img, "s") == data,
        "compressed snapshot data"
    );
    internal::revert_path(&img, "s").unwrap();
    check(&img);
    assert!(disk_read(&img, 0, 1 << 20) == data);
    io(&img, "write -P 0x44 8k 4k");
    internal::delete_path(&img, "s").unwrap();
    check(&img);
    let mut want = data;
    want[8 * K..12 * K].fill(0x44);
    assert!(disk_read(&img, 0, 1 << 20) == want);
}

#[test]
fn narrow_refcounts_refuse_one_snapshot_too_many_without_writing() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (bits, fits) in [(1, 0), (2, 2)] {
        let img = image(
            dir.path(),
            &format!("r{bits}.qcow2"),
            "1M",
            &format!("refcount_bits={bits}"),
        );
        io(&img, "write -P 0x11 0 128k");
        for i in 0..fits {
            internal::create_path(&img, &format!("s{i}")).unwrap();
        }
        let before = std::fs::read(&img).unwrap();
        let e = internal::create_path(&img, "over");
        assert!(
            matches!(&e, Err(InternalSnapshotError::RefcountOverflow { bits: b, .. }) if *b == bits),
            "{e:?}"
        );
        let after = std::fs::read(&img).unwrap();
        assert!(
            after == before,
            "{bits}-bit: a refusal wrote ({} -> {} bytes, first change at {:?})",
            before.len(),
            after.len(),
            before.iter().zip(&after).position(|(a, b)| a != b)
        );
        check(&img);
    }
}

/// Sets `mask` in the big-endian u64 at `at` of the file.
fn set_bits(path: &Path, at: u64, mask: u64) {
    use std::os::unix::fs::FileExt;
    let f = open_rw(path);
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&(u64::from_be_bytes(b) | mask).to_be_bytes(), at)
        .unwrap();
}

#[test]
fn images_it_cannot_change_safely_are_refused_untouched() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    use InternalSnapshotError as E;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let refused = |img: &Path, want: fn(&E) -> bool| {
        let before = std::fs::read(img).unwrap();
        for e in [
            internal::create_path(img, "x").map(drop),
            internal::revert_path(img, "x"),
            internal::delete_path(img, "x"),
        ] {
            let e = e.unwrap_err();
            assert!(want(&e), "{}: {e:?}", img.display());
        }
        assert!(std::fs::read(img).unwrap() == before, "a refusal wrote");
    };
    let img = image(d, "dirty.qcow2", "1M", "");
    set_bits(&img, 72, 1);
    refused(&img, |e| matches!(e, E::Dirty));
    let img = image(d, "corrupt.qcow2", "1M", "");
    set_bits(&img, 72, 2);
    refused(&img, |e| matches!(e, E::MarkedCorrupt));
    let img = image(d, "future.qcow2", "1M", "");
    set_bits(&img, 72, 1 << 40);
    refused(
        &img,
        |e| matches!(e, E::IncompatibleFeatures(b) if *b == 1 << 40),
    );
    let img = image(d, "aes.qcow2", "1M", "");
    // crypt_method (bytes 32-35) = 1, AES.
    set_bits(&img, 32, 1 << 32);
    refused(&img, |e| matches!(e, E::Encrypted(1)));
    let data = d.join("data.raw");
    let img = image(d, "ext.qcow2", "1M", &format!("data_file={}", s(&data)));
    refused(&img, |e| matches!(e, E::ExternalDataFile));
    let img = image(d, "bitmap.qcow2", "1M", "");
    run("qemu-img", &["bitmap", "--add", s(&img), "b0"]);
    refused(&img, |e| matches!(e, E::Bitmaps));
    let raw = d.join("plain.raw");
    std::fs::write(&raw, vec![0u8; 4096]).unwrap();
    refused(&raw, |e| matches!(e, E::NotQcow2 { .. }));
    // Listing a dirty image reads only.
    let img = image(d, "dirty2.qcow2", "1M", "");
    internal::create_path(&img, "s").unwrap();
    set_bits(&img, 72, 1);
    assert_eq!(names(&img), ["s"]);
}

/// The proptest's image: `SLOTS` clusters of 4 KiB spread over two L2
/// tables.
const SLOTS: usize = 8;
const CLUSTER: usize = 4096;

fn slot(k: usize) -> u64 {
    (k * 512 * K + (k % 3) * CLUSTER) as u64
}

#[derive(Debug, Clone)]
enum Op {
    /// Fill slot `.0` with `.1` through imago.
    Write(usize, u8),
    Create,
    /// A snapshot taken by `qemu-img snapshot -c`.
    QemuCreate,
    /// Revert to / delete the (index mod count)th snapshot, ours or by
    /// `qemu-img snapshot -a` / `-d`.
    Revert(usize),
    Delete(usize),
    QemuRevert(usize),
    QemuDelete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..SLOTS, 1..=255u8).prop_map(|(k, p)| Op::Write(k, p)),
        2 => Just(Op::Create),
        1 => Just(Op::QemuCreate),
        2 => (0..8usize).prop_map(Op::Revert),
        2 => (0..8usize).prop_map(Op::Delete),
        1 => (0..8usize).prop_map(Op::QemuRevert),
        1 => (0..8usize).prop_map(Op::QemuDelete),
    ]
}

fn model_case(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "p.qcow2", "4M", "cluster_size=4096");
    let mut now = [0u8; SLOTS];
    let mut snaps: Vec<(String, [u8; SLOTS])> = Vec::new();
    let mut made = 0;
    for op in ops {
        match *op {
            Op::Write(k, p) => {
                disk_write(&img, slot(k), &[p; CLUSTER]);
                now[k] = p;
            }
            Op::Create | Op::QemuCreate => {
                made += 1;
                let name = format!("s{made}");
                if matches!(op, Op::Create) {
                    internal::create_path(&img, &name).unwrap();
                } else {
                    run("qemu-img", &["snapshot", "-c", &name, s(&img)]);
                }
                snaps.push((name, now));
            }
            Op::Revert(i) | Op::QemuRevert(i) if !snaps.is_empty() => {
                let (name, data) = &snaps[i % snaps.len()];
                if matches!(op, Op::Revert(_)) {
                    internal::revert_path(&img, name).unwrap();
                } else {
                    run("qemu-img", &["snapshot", "-a", name, s(&img)]);
                }
                now = *data;
            }
            Op::Delete(i) | Op::QemuDelete(i) if !snaps.is_empty() => {
                let (name, _) = snaps.remove(i % snaps.len());
                if matches!(op, Op::Delete(_)) {
                    internal::delete_path(&img, &name).unwrap();
                } else {
                    run("qemu-img", &["snapshot", "-d", &name, s(&img)]);
                }
            }
            Op::Revert(_) | Op::Delete(_) | Op::QemuRevert(_) | Op::QemuDelete(_) => {}
        }
    }
    let d = disk(&img, Vec::new());
    for (k, p) in now.iter().enumerate() {
        let mut buf = vec![0u8; CLUSTER];
        d.read_bytes(&mut buf, slot(k)).unwrap();
        prop_assert!(buf.iter().all(|b| b == p), "active slot {k}: want {p:#x}");
    }
    drop(d);
    let want: Vec<String> = snaps.iter().map(|(n, _)| n.clone()).collect();
    prop_assert_eq!(names(&img), want);
    for (name, data) in &snaps {
        let bytes = snapshot_bytes(&img, name);
        for (k, p) in data.iter().enumerate() {
            let at = slot(k) as usize;
            prop_assert!(
                bytes[at..at + CLUSTER].iter().all(|b| b == p),
                "snapshot {name} slot {k}: want {p:#x}"
            );
        }
    }
    let out = Command::new("qemu-img")
        .args(["check", "-f", "qcow2", s(&img)])
        .output()
        .unwrap();
    prop_assert!(
        out.status.success(),
        "qemu-img check: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Random sequences of writes (through imago), creates, reverts and
/// deletes (ours and QEMU's), against a model of what each holds: the
/// active image read through imago, each snapshot by `qemu-img convert`,
/// then `qemu-img check`. Failures shrink to the shortest sequence.
#[test]
fn random_sequences_match_a_model() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    let config = ProptestConfig {
        cases: 24,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(op(), 1..14), |ops| model_case(&ops));
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// With 512-byte clusters one refcount table cluster covers 8 MiB of
/// file: snapshots of an image just below that make the table grow.
#[test]
fn the_refcount_table_grows_when_new_clusters_need_it() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.qcow2", "16M", "cluster_size=512");
    io(&img, "write -P 0x11 0 8000k");
    let table_clusters = |p: &Path| {
        let b = std::fs::read(p).unwrap();
        u32::from_be_bytes(b[56..60].try_into().unwrap())
    };
    assert_eq!(table_clusters(&img), 1);
    let mut made = 0;
    while table_clusters(&img) == 1 {
        internal::create_path(&img, &format!("s{made}")).unwrap();
        made += 1;
        check(&img);
        assert!(made < 64, "the table never grew");
    }
    io(&img, "write -P 0x22 0 1M");
    internal::create_path(&img, "last").unwrap();
    check(&img);
    internal::revert_path(&img, "s0").unwrap();
    check(&img);
    io(&img, "read -P 0x11 0 8000k");
    for i in 0..made {
        internal::delete_path(&img, &format!("s{i}")).unwrap();
    }
    check(&img);
    assert!(snapshot_bytes(&img, "last")[..1 << 20] == vec![0x22; 1 << 20]);
    disk_write(&img, 0, &[0x33; 4096]);
    check(&img);
}

/// The VMM's way: one descriptor it already holds, several calls on it,
/// imago dropped in between.
#[test]
fn one_open_file_takes_every_operation() {
    if !qemu_tools("internal snapshots checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.qcow2", "1M", "");
    io(&img, "write -P 0xaa 0 1M");
    let file = open_rw(&img);
    let a = internal::create(&file, "a").unwrap();
    disk_write(&img, 0, &[0xbb; 8192]);
    let b = internal::create(&file, "b").unwrap();
    assert_eq!(internal::list(&file).unwrap(), [a, b]);
    internal::revert(&file, "a").unwrap();
    internal::delete(&file, "b").unwrap();
    assert!(matches!(
        internal::delete(&file, "b"),
        Err(InternalSnapshotError::NotFound { .. })
    ));
    file.sync_all().unwrap();
    drop(file);
    check(&img);
    io(&img, "read -P 0xaa 0 1M");
    assert_eq!(qemu_names(&img), ["a"]);
}
