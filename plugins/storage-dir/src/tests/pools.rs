//! Pools: start, stop, build, delete, usage, refresh; and the symlink rules
//! (a link that leaves the pool is never followed).

use std::fs;
use std::os::unix::fs::symlink;

use super::common::*;
use crate::{Driver, code};

#[test]
fn pool_lifecycle() {
    let tmp = tempfile::tempdir().unwrap();
    let mut driver = Driver::new(tmp.path());
    assert_eq!(Driver::pool_types(), ["dir"]);
    let config = pool(UUID, TARGET);

    // Not granted: the directory is missing.
    let e = driver.pool_start(&config).unwrap_err();
    assert_eq!(e.code(), code::SYSTEM_ERROR);
    assert!(
        e.to_string()
            .starts_with("cannot open directory '/srv/images/dirpool'"),
        "{e}"
    );
    assert!(!e.to_string().contains("os error"), "{e}");
    assert_eq!(
        driver.pool(UUID).unwrap_err().code(),
        code::OPERATION_INVALID
    );
    // Granted, but not a directory.
    fs::write(tmp.path().join(UUID), b"").unwrap();
    assert_eq!(
        driver.pool_start(&config).unwrap_err().code(),
        code::OPERATION_FAILED
    );
    fs::remove_file(tmp.path().join(UUID)).unwrap();
    fs::create_dir(tmp.path().join(UUID)).unwrap();

    driver.pool_start(&config).unwrap();
    driver.pool_start(&config).unwrap(); // idempotent: the host replays starts
    assert!(driver.pool(UUID).is_ok());
    assert_eq!(
        driver.pool_build(&config, 0).unwrap_err().code(),
        code::OPERATION_INVALID
    );
    assert_eq!(
        driver.pool_delete(&config, 0).unwrap_err().code(),
        code::OPERATION_INVALID
    );
    driver.pool_stop(UUID).unwrap();
    let e = driver.pool_stop(UUID).unwrap_err();
    assert_eq!(e.code(), code::OPERATION_INVALID);
    let e = driver.pool(UUID).unwrap_err();
    assert_eq!(e.code(), code::OPERATION_INVALID);
    assert_eq!(
        driver.pool_refresh(UUID).unwrap_err().code(),
        code::OPERATION_INVALID
    );
    assert_eq!(
        driver.pool_usage(UUID).unwrap_err().code(),
        code::OPERATION_INVALID
    );

    // Malformed uuids never become paths.
    for bad in [
        "..",
        "../etc",
        "",
        "efc17fd8-7a13-4208-864f-8686bd066d33/..",
        "/etc",
    ] {
        assert_eq!(
            driver.pool(bad).unwrap_err().code(),
            code::NO_STORAGE_POOL,
            "{bad}"
        );
        assert_eq!(
            driver
                .pool_start(&pool(&format!("{bad}xxxx"), TARGET))
                .unwrap_err()
                .code(),
            code::NO_STORAGE_POOL
        );
    }
    // Other pool types and a missing target.
    let mut logical = pool(UUID, TARGET);
    logical.pool_type = "logical".into();
    assert_eq!(
        driver.pool_start(&logical).unwrap_err().code(),
        code::NO_SUPPORT
    );
    let mut no_target = pool(UUID, TARGET);
    no_target.target_path = None;
    assert_eq!(
        driver.pool_start(&no_target).unwrap_err().code(),
        code::INVALID_ARG
    );
}

#[test]
fn build_and_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let mut driver = Driver::new(tmp.path());
    let config = pool(UUID, TARGET);
    // The host creates (mode 0711) and grants the directory before pool-build.
    assert_eq!(
        driver.pool_build(&config, 0).unwrap_err().code(),
        code::SYSTEM_ERROR
    );
    fs::create_dir(tmp.path().join(UUID)).unwrap();
    driver.pool_build(&config, 0).unwrap();
    driver.pool_build(&config, 4).unwrap();
    driver.pool_build(&config, 8).unwrap();
    assert_eq!(
        driver.pool_build(&config, 12).unwrap_err().code(),
        code::INVALID_ARG
    );
    assert_eq!(
        driver.pool_build(&config, 1).unwrap_err().code(),
        code::INVALID_ARG
    );

    driver.pool_start(&config).unwrap();
    driver
        .pool(UUID)
        .unwrap()
        .create(&vol("a.raw", MIB, 0, "raw"), 0)
        .unwrap();
    driver.pool_stop(UUID).unwrap();
    let e = driver.pool_delete(&config, 0).unwrap_err();
    assert_eq!(e.code(), code::OPERATION_FAILED);
    assert_eq!(
        e.to_string(),
        "failed to remove pool '/srv/images/dirpool': Directory not empty"
    );
    // Any entry counts, not only volumes.
    fs::remove_file(tmp.path().join(UUID).join("a.raw")).unwrap();
    fs::create_dir(tmp.path().join(UUID).join(".hidden")).unwrap();
    assert_eq!(
        driver.pool_delete(&config, 0).unwrap_err().code(),
        code::OPERATION_FAILED
    );
    fs::remove_dir(tmp.path().join(UUID).join(".hidden")).unwrap();
    assert_eq!(
        driver.pool_delete(&config, 1).unwrap_err().code(),
        code::INVALID_ARG
    );
    driver.pool_delete(&config, 0).unwrap();
    // The plugin only checks: the host removes the directory.
    assert!(tmp.path().join(UUID).is_dir());
}

#[test]
fn usage_sums_volume_allocations() {
    let env = Env::new();
    env.create("a.raw", 3 * MIB, 0, "raw");
    env.create("b.qcow2", 1 << 30, 0, "qcow2");
    let usage = env.driver.pool_usage(UUID).unwrap();
    assert_eq!(usage.allocation, 3 * MIB + 196_624);
    // WASI has no statvfs: the host fills these in.
    assert_eq!((usage.capacity, usage.available), (0, 0));
    assert_eq!(env.driver.pool_usage(UUID2).unwrap().allocation, 0);
}

#[test]
fn refresh_sees_external_changes_and_skips_non_volumes() {
    let env = Env::new();
    let dir = env.root.join(UUID);
    env.create("b.raw", MIB, 0, "raw");
    fs::write(dir.join("a-external.img"), vec![1u8; 5000]).unwrap();
    fs::write(dir.join(".hidden"), b"x").unwrap();
    fs::create_dir(dir.join("subdir")).unwrap();
    fs::write(dir.join("subdir").join("nested.raw"), b"x").unwrap();
    fs::write(env.root.join("outside.raw"), b"outside the pool").unwrap();
    symlink("/etc/passwd", dir.join("passwd")).unwrap();
    symlink("../outside.raw", dir.join("up.raw")).unwrap();
    symlink(env.root.join("outside.raw"), dir.join("abs-out.raw")).unwrap();
    symlink("subdir/nested.raw", dir.join("via-subdir.raw")).unwrap();
    symlink("b.raw", dir.join("alias.raw")).unwrap();
    symlink("./alias.raw", dir.join("alias2.raw")).unwrap();
    symlink(format!("{TARGET}/b.raw"), dir.join("abs-in.raw")).unwrap();
    symlink("missing.raw", dir.join("dangling.raw")).unwrap();
    symlink("loop2", dir.join("loop1")).unwrap();
    symlink("loop1", dir.join("loop2")).unwrap();

    let refresh = env.driver.pool_refresh(UUID).unwrap();
    let names: Vec<_> = refresh.volumes.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            ".hidden",
            "a-external.img",
            "abs-in.raw",
            "alias.raw",
            "alias2.raw",
            "b.raw"
        ]
    );
    let alias = &refresh.volumes[3];
    assert_eq!(
        (alias.path.as_str(), alias.capacity),
        ("/srv/images/dirpool/alias.raw", MIB)
    );
    let skipped: Vec<_> = refresh.skipped.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        skipped,
        [
            "abs-out.raw",
            "dangling.raw",
            "loop1",
            "loop2",
            "passwd",
            "subdir",
            "up.raw",
            "via-subdir.raw"
        ]
    );
    let why = |name: &str| {
        refresh
            .skipped
            .iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .clone()
    };
    assert!(
        why("passwd").contains("outside the pool: not followed"),
        "{}",
        why("passwd")
    );
    assert!(why("loop1").contains("too many levels"), "{}", why("loop1"));
    assert_eq!(why("subdir"), "a directory");
}

#[test]
fn links_out_of_the_pool_are_never_followed() {
    let env = Env::new();
    let dir = env.root.join(UUID);
    let outside = env.root.join("outside.raw");
    fs::write(&outside, b"precious data outside the pool").unwrap();
    symlink(&outside, dir.join("abs.raw")).unwrap();
    symlink("../outside.raw", dir.join("rel.raw")).unwrap();
    symlink("/etc/passwd", dir.join("passwd")).unwrap();
    let pool = env.driver.pool(UUID).unwrap();
    for name in ["abs.raw", "rel.raw", "passwd"] {
        assert_eq!(
            pool.info(name).unwrap_err().code(),
            code::NO_STORAGE_VOL,
            "{name}"
        );
        assert_eq!(
            pool.read(name, 0, 100).unwrap_err().code(),
            code::NO_STORAGE_VOL,
            "{name}"
        );
        assert_eq!(
            pool.write(name, 0, b"x").unwrap_err().code(),
            code::NO_STORAGE_VOL,
            "{name}"
        );
        assert_eq!(
            pool.wipe(name, 0, 0).unwrap_err().code(),
            code::NO_STORAGE_VOL,
            "{name}"
        );
        assert_eq!(
            pool.resize(name, 0, 4).unwrap_err().code(),
            code::NO_STORAGE_VOL,
            "{name}"
        );
        assert_eq!(
            pool.delete(name, 0).unwrap_err().code(),
            code::NO_STORAGE_VOL,
            "{name}"
        );
        let e = pool
            .clone_from(&vol("copy.raw", 0, 0, ""), pool, name, 0)
            .unwrap_err();
        assert_eq!(e.code(), code::NO_STORAGE_VOL, "{name}");
        let e = pool.create(&vol(name, MIB, 0, "raw"), 0).unwrap_err();
        assert_eq!(e.code(), code::STORAGE_VOL_EXIST, "{name}");
        assert!(
            fs::symlink_metadata(dir.join(name))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
    // Names cannot reach outside either.
    for name in ["../outside.raw", "/etc/passwd", ".."] {
        assert_eq!(
            pool.info(name).unwrap_err().code(),
            code::INVALID_ARG,
            "{name}"
        );
        assert_eq!(
            pool.write(name, 0, b"x").unwrap_err().code(),
            code::INVALID_ARG,
            "{name}"
        );
    }
    assert_eq!(
        fs::read(&outside).unwrap(),
        b"precious data outside the pool"
    );
    assert!(!dir.join("copy.raw").exists());

    // An in-pool link is a volume; deleting it removes the link, not the file.
    env.create("real.raw", MIB, 0, "raw");
    symlink("real.raw", dir.join("link.raw")).unwrap();
    pool.write("link.raw", 0, b"through the link").unwrap();
    assert_eq!(&pool.read("real.raw", 0, 16).unwrap(), b"through the link");
    pool.delete("link.raw", 0).unwrap();
    assert!(dir.join("real.raw").exists() && !dir.join("link.raw").exists());
}
