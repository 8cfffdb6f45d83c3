//! Inside WASI, with exactly the grants the host gives the plugin. Built by
//! `cargo test --target wasm32-wasip2 --no-run` and run by the runner in
//! `sandbox/` (see README.md), which preopens a fixture directory read-write
//! at `/pools/<UUID>` and nothing else. The fixture holds `real.raw`
//! ("real data") and three links out of the pool: `passwd` -> `/etc/passwd`,
//! `up.raw` -> `../outside.raw`, `abs.raw` -> the absolute host path of
//! `outside.raw`; the runner checks afterwards that nothing outside changed.

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use crate::{Driver, GUEST_POOLS_ROOT, PoolConfig, VolumeConfig, code};

const UUID: &str = "efc17fd8-7a13-4208-864f-8686bd066d33";
/// Not granted by the runner.
const UUID2: &str = "0b3f1b52-5d0e-4c7e-9d0c-0a8b2b6c1f10";
const POOL: &str = "/pools/efc17fd8-7a13-4208-864f-8686bd066d33";
const LINKS: [&str; 3] = ["passwd", "up.raw", "abs.raw"];
const MIB: u64 = 1 << 20;

fn config(uuid: &str) -> PoolConfig {
    PoolConfig {
        uuid: uuid.into(),
        name: "sandboxed".into(),
        pool_type: "dir".into(),
        target_path: Some("/srv/images/sandboxed".into()),
        source_path: None,
        mode: None,
    }
}

fn vol(name: &str, capacity: u64, allocation: u64, format: &str) -> VolumeConfig {
    VolumeConfig {
        name: name.into(),
        capacity,
        allocation,
        format: format.into(),
        backing: None,
    }
}

#[test]
fn plugin_code_cannot_open_anything_outside_its_preopen() {
    assert_eq!(
        fs::read(format!("{POOL}/real.raw")).unwrap(),
        b"real data",
        "the fixture is granted"
    );
    // Absolute paths elsewhere.
    assert!(File::open("/etc/passwd").is_err());
    assert!(fs::read_dir("/etc").is_err());
    assert!(fs::metadata("/").is_err() || fs::read_dir("/").is_err());
    assert!(File::open("/pools").is_err());
    assert!(File::open(format!("/pools/{UUID2}")).is_err());
    // `..` out of the preopen, to read or to create.
    assert!(File::open(format!("{POOL}/../outside.raw")).is_err());
    assert!(File::open(format!("{POOL}/../../etc/passwd")).is_err());
    assert!(File::create(format!("{POOL}/../escaped.raw")).is_err());
    assert!(fs::create_dir(format!("{POOL}/../escaped-dir")).is_err());
    // Relative paths: no working directory is granted.
    assert!(File::open("../x").is_err());
    assert!(File::open("x").is_err());
    assert!(File::create("escaped.raw").is_err());
    // Links out of the pool: never followed, to read or to write...
    for link in LINKS {
        let path = format!("{POOL}/{link}");
        assert!(File::open(&path).is_err(), "{link}");
        assert!(
            OpenOptions::new().write(true).open(&path).is_err(),
            "{link}"
        );
        assert!(fs::metadata(&path).is_err(), "{link}");
        // ...though the link itself can be looked at.
        assert!(
            fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{link}"
        );
    }
    // wasmtime does not even reveal an absolute link's target; a relative one
    // it does, and refuses to follow it.
    assert!(fs::read_link(format!("{POOL}/passwd")).is_err());
    assert!(fs::read_link(format!("{POOL}/abs.raw")).is_err());
    assert_eq!(
        fs::read_link(format!("{POOL}/up.raw")).unwrap(),
        Path::new("../outside.raw")
    );
}

#[test]
fn the_driver_works_through_the_preopen_only() {
    let mut driver = Driver::new(GUEST_POOLS_ROOT);
    let e = driver.pool_start(&config(UUID2)).unwrap_err();
    assert_eq!(e.code(), code::SYSTEM_ERROR, "{e}");
    assert_eq!(
        driver.pool_build(&config(UUID2), 0).unwrap_err().code(),
        code::SYSTEM_ERROR
    );
    driver.pool_start(&config(UUID)).unwrap();

    let refresh = driver.pool_refresh(UUID).unwrap();
    let real = refresh
        .volumes
        .iter()
        .find(|v| v.name == "real.raw")
        .expect("real.raw is a volume");
    assert_eq!(
        (real.path.as_str(), real.capacity),
        ("/srv/images/sandboxed/real.raw", 9)
    );
    for link in LINKS {
        assert!(
            refresh.volumes.iter().all(|v| v.name != link),
            "{link} listed"
        );
        assert!(
            refresh.skipped.iter().any(|(n, _)| n == link),
            "{link} not skipped"
        );
    }

    let pool = driver.pool(UUID).unwrap();
    for link in LINKS {
        assert_eq!(
            pool.info(link).unwrap_err().code(),
            code::NO_STORAGE_VOL,
            "{link}"
        );
        assert_eq!(
            pool.read(link, 0, 10).unwrap_err().code(),
            code::NO_STORAGE_VOL,
            "{link}"
        );
        assert_eq!(
            pool.write(link, 0, b"x").unwrap_err().code(),
            code::NO_STORAGE_VOL,
            "{link}"
        );
        assert_eq!(
            pool.wipe(link, 0, 0).unwrap_err().code(),
            code::NO_STORAGE_VOL,
            "{link}"
        );
    }
    for name in ["../outside.raw", "/etc/passwd", ".."] {
        assert_eq!(
            pool.info(name).unwrap_err().code(),
            code::INVALID_ARG,
            "{name}"
        );
        assert_eq!(
            pool.create(&vol(name, MIB, 0, "raw"), 0)
                .unwrap_err()
                .code(),
            code::INVALID_ARG
        );
    }

    // The whole volume life cycle, through WASI's file system.
    let info = pool
        .create(&vol("wasi.raw", 8 * MIB, MIB, "raw"), 0)
        .unwrap();
    assert_eq!((info.capacity, info.format.as_str()), (8 * MIB, "raw"));
    assert_eq!(
        pool.create(&vol("wasi.raw", MIB, 0, "raw"), 0)
            .unwrap_err()
            .code(),
        code::STORAGE_VOL_EXIST
    );
    pool.write("wasi.raw", 3 * MIB + 1, b"through wasi")
        .unwrap();
    assert_eq!(
        pool.read("wasi.raw", 3 * MIB, 13).unwrap(),
        b"\0through wasi"
    );
    assert_eq!(
        pool.write("wasi.raw", 8 * MIB, b"x").unwrap_err().code(),
        code::OPERATION_FAILED
    );
    let copy = pool
        .clone_from(&vol("wasi-copy.raw", 0, 0, ""), pool, "wasi.raw", 0)
        .unwrap();
    assert_eq!(copy.capacity, 8 * MIB);
    assert_eq!(
        pool.read("wasi-copy.raw", 3 * MIB, 13).unwrap(),
        b"\0through wasi"
    );
    assert_eq!(
        pool.resize("wasi.raw", 16 * MIB, 1).unwrap().capacity,
        16 * MIB
    );
    pool.wipe("wasi.raw", 0, 0).unwrap();
    assert_eq!(pool.read("wasi.raw", 3 * MIB, 13).unwrap(), [0; 13]);
    let img = pool
        .create(&vol("wasi.qcow2", 1 << 30, 0, "qcow2"), 0)
        .unwrap();
    assert_eq!((img.capacity, img.format.as_str()), (1 << 30, "qcow2"));
    assert_eq!(
        pool.resize("wasi.qcow2", 2 << 30, 0).unwrap().capacity,
        2 << 30
    );
    for name in ["wasi.raw", "wasi-copy.raw", "wasi.qcow2"] {
        pool.delete(name, 0).unwrap();
    }
    let usage = driver.pool_usage(UUID).unwrap();
    assert_eq!(usage.allocation, 9);

    driver.pool_stop(UUID).unwrap();
    let e = driver.pool_delete(&config(UUID), 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to remove pool '/srv/images/sandboxed': Directory not empty"
    );
}
