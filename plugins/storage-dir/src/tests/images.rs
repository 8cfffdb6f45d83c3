//! qcow2 volumes, checked with qemu-img and qemu-io when they are installed.

use std::fs;

use super::common::*;
use crate::code;
use crate::flags::{RESIZE_ALLOCATE, RESIZE_SHRINK};

const GIB: u64 = 1 << 30;

#[test]
fn create_qcow2_accepted_by_qemu_img() {
    let env = Env::new();
    let pool = env.driver.pool(UUID).unwrap();
    // As libvirt: the default allocation (= capacity) is not preallocated.
    let info = pool
        .create(&vol("img.qcow2", GIB, GIB, "qcow2"), 0)
        .unwrap();
    assert_eq!(
        (info.capacity, info.format.as_str(), info.kind),
        (GIB, "qcow2", 0)
    );
    assert_eq!(info.path, "/srv/images/dirpool/img.qcow2");
    // Same size as `qemu-img create -f qcow2 img.qcow2 1G`.
    assert_eq!(info.allocation, 196_624);
    assert_eq!(fs::metadata(env.file("img.qcow2")).unwrap().len(), 196_624);
    let odd = pool.create(&vol("odd.qcow2", 1000, 0, "qcow2"), 0).unwrap();
    assert_eq!(odd.capacity, 1024, "rounded up to whole sectors");
    let zero = pool.create(&vol("zero.qcow2", 0, 0, "qcow2"), 0).unwrap();
    assert_eq!(zero.capacity, 0);
    let huge = pool
        .create(&vol("huge.qcow2", 3 << 40, 0, "qcow2"), 0)
        .unwrap();
    assert_eq!(huge.capacity, 3 << 40);
    let e = pool
        .create(&vol("toolarge.qcow2", u64::MAX, 0, "qcow2"), 0)
        .unwrap_err();
    assert_eq!(e.code(), code::INVALID_ARG);
    assert!(!env.file("toolarge.qcow2").exists());
    assert_eq!(
        pool.create(&vol("meta.qcow2", GIB, 0, "qcow2"), 1)
            .unwrap_err()
            .code(),
        code::NO_SUPPORT
    );

    if !have("qemu-img") {
        return;
    }
    for (name, size) in [
        ("img.qcow2", GIB),
        ("odd.qcow2", 1024),
        ("zero.qcow2", 0),
        ("huge.qcow2", 3 << 40),
    ] {
        let report = qemu_img_check(&env.file(name));
        eprintln!("qemu-img check {name}:\n{report}");
        assert_eq!(
            qemu_img_info(&env.file(name)),
            ("qcow2".to_string(), size),
            "{name}"
        );
    }
}

#[test]
fn qemu_can_use_the_image() {
    if !have("qemu-io") || !have("qemu-img") {
        return;
    }
    let env = Env::new();
    env.create("img.qcow2", GIB, 0, "qcow2");
    let path = env.file("img.qcow2");
    // qemu allocates L2 tables, data clusters and refcounts in our layout.
    qemu_io(&path, "write -P 0xab 0 64k");
    qemu_io(&path, "write -P 0xcd 1000M 128k");
    qemu_img_check(&path);
    qemu_io(&path, "read -P 0xab 0 64k");
    qemu_io(&path, "read -P 0xcd 1000M 128k");
    qemu_io(&path, "read -P 0 64k 64k");
    // The driver sees the image as before, with a longer file.
    let info = env.driver.pool(UUID).unwrap().info("img.qcow2").unwrap();
    assert_eq!((info.capacity, info.format.as_str()), (GIB, "qcow2"));
    assert!(info.allocation > 196_624);
}

#[test]
fn resize_qcow2_grows_in_place() {
    let env = Env::new();
    env.create("img.qcow2", GIB, 0, "qcow2");
    let pool = env.driver.pool(UUID).unwrap();
    let qemu = have("qemu-img") && have("qemu-io");
    if qemu {
        qemu_io(&env.file("img.qcow2"), "write -P 0x11 512M 64k");
    }
    let info = pool.resize("img.qcow2", 5 * GIB + 1, 0).unwrap();
    assert_eq!(info.capacity, 5 * GIB + 512);
    assert_eq!(
        pool.resize("img.qcow2", GIB, RESIZE_SHRINK)
            .unwrap_err()
            .code(),
        code::NO_SUPPORT
    );
    assert_eq!(
        pool.resize("img.qcow2", GIB, 0).unwrap_err().code(),
        code::INVALID_ARG
    );
    assert_eq!(
        pool.resize("img.qcow2", 6 * GIB, RESIZE_ALLOCATE)
            .unwrap_err()
            .code(),
        code::NO_SUPPORT
    );
    // Beyond what one L1 cluster maps (4 TiB), the L1 table would have to move.
    assert_eq!(
        pool.resize("img.qcow2", 5 << 40, 0).unwrap_err().code(),
        code::NO_SUPPORT
    );
    assert_eq!(pool.info("img.qcow2").unwrap().capacity, 5 * GIB + 512);
    if qemu {
        qemu_img_check(&env.file("img.qcow2"));
        assert_eq!(qemu_img_info(&env.file("img.qcow2")).1, 5 * GIB + 512);
        qemu_io(&env.file("img.qcow2"), "read -P 0x11 512M 64k");
        qemu_io(&env.file("img.qcow2"), "write -P 0x22 5G 512");
        qemu_img_check(&env.file("img.qcow2"));
    }
    // A qemu-made image grows the same way.
    if have("qemu-img") {
        let path = env.file("qemu.qcow2");
        let out = std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&path)
            .arg("1G")
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            pool.resize("qemu.qcow2", 3 * GIB, 0).unwrap().capacity,
            3 * GIB
        );
        qemu_img_check(&path);
        assert_eq!(qemu_img_info(&path).1, 3 * GIB);
    }
}

#[test]
fn wipe_qcow2_leaves_an_empty_valid_image() {
    let env = Env::new();
    env.create("img.qcow2", 2 * GIB, 0, "qcow2");
    let qemu = have("qemu-img") && have("qemu-io");
    if qemu {
        qemu_io(&env.file("img.qcow2"), "write -P 0x5a 1G 1M");
    }
    let pool = env.driver.pool(UUID).unwrap();
    pool.wipe("img.qcow2", 0, 0).unwrap();
    let info = pool.info("img.qcow2").unwrap();
    assert_eq!(
        (info.capacity, info.format.as_str(), info.allocation),
        (2 * GIB, "qcow2", 196_640)
    );
    if qemu {
        qemu_img_check(&env.file("img.qcow2"));
        qemu_io(&env.file("img.qcow2"), "read -P 0 1G 1M");
    }
}

#[test]
fn clone_qcow2_copies_the_image() {
    let env = Env::new();
    env.create("base.qcow2", GIB, 0, "qcow2");
    let qemu = have("qemu-img") && have("qemu-io");
    if qemu {
        qemu_io(&env.file("base.qcow2"), "write -P 0x77 300M 256k");
    }
    let pool = env.driver.pool(UUID).unwrap();
    let other = env.driver.pool(UUID2).unwrap();
    let info = other
        .clone_from(&vol("copy.qcow2", 0, 0, "qcow2"), pool, "base.qcow2", 0)
        .unwrap();
    assert_eq!((info.capacity, info.format.as_str()), (GIB, "qcow2"));
    assert_eq!(
        env.read_all(UUID2, "copy.qcow2"),
        env.read_all(UUID, "base.qcow2")
    );
    // An empty format means the source's; a larger capacity grows the copy.
    let info = pool
        .clone_from(&vol("big.qcow2", 4 * GIB, 0, ""), pool, "base.qcow2", 0)
        .unwrap();
    assert_eq!((info.capacity, info.format.as_str()), (4 * GIB, "qcow2"));
    let e = pool
        .clone_from(&vol("flat.raw", GIB, 0, "raw"), pool, "base.qcow2", 0)
        .unwrap_err();
    assert_eq!(e.code(), code::NO_SUPPORT);
    if qemu {
        for path in [
            env.root.join(UUID2).join("copy.qcow2"),
            env.file("big.qcow2"),
        ] {
            qemu_img_check(&path);
            qemu_io(&path, "read -P 0x77 300M 256k");
        }
        assert_eq!(qemu_img_info(&env.file("big.qcow2")).1, 4 * GIB);
    }
}

#[test]
fn refresh_detects_formats() {
    let env = Env::new();
    env.create("img.qcow2", GIB, 0, "qcow2");
    env.create("disk.raw", 3 * MIB, 0, "raw");
    // Too short to hold a qcow header: raw.
    fs::write(env.file("short"), b"QFI").unwrap();
    let refresh = env.driver.pool_refresh(UUID).unwrap();
    let got: Vec<_> = refresh
        .volumes
        .iter()
        .map(|v| (v.name.as_str(), v.format.as_str(), v.capacity))
        .collect();
    assert_eq!(
        got,
        [
            ("disk.raw", "raw", 3 * MIB),
            ("img.qcow2", "qcow2", GIB),
            ("short", "raw", 3)
        ]
    );
}

/// An overlay names its backing file and format in its header (the format
/// as an extension, so qemu-img never probes it) and reads as its backing
/// where it holds nothing; a raw volume cannot have a backing store.
#[test]
fn qcow2_overlays_name_their_backing_store() {
    let env = Env::new();
    let pool = env.driver.pool(UUID).unwrap();
    pool.create(&vol("base.raw", 1 << 20, 1 << 20, "raw"), 0)
        .unwrap();
    let base = env.file("base.raw");
    let mut data = vec![0u8; 1 << 20];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    fs::write(&base, &data).unwrap();
    let mut overlay = vol("top.qcow2", 1 << 20, 0, "qcow2");
    overlay.backing = Some((base.to_string_lossy().into_owned(), "raw".into()));
    pool.create(&overlay, 0).unwrap();
    let mut raw = vol("top.raw", 1 << 20, 0, "raw");
    raw.backing = overlay.backing.clone();
    assert_eq!(pool.create(&raw, 0).unwrap_err().code(), code::NO_SUPPORT);

    if !have("qemu-img") {
        return;
    }
    let top = env.file("top.qcow2");
    qemu_img_check(&top);
    let out = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&top)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        info["backing-filename"],
        base.to_string_lossy().as_ref(),
        "{info}"
    );
    assert_eq!(info["backing-filename-format"], "raw", "{info}");
    // qemu-img sees the base's bytes through the overlay.
    let cmp = std::process::Command::new("qemu-img")
        .args(["compare", "-f", "qcow2", "-F", "raw"])
        .arg(&top)
        .arg(&base)
        .output()
        .unwrap();
    assert!(
        cmp.status.success(),
        "{}",
        String::from_utf8_lossy(&cmp.stdout)
    );
}
