//! Raw volumes: create (sparse and preallocated), names, clone, wipe,
//! resize, read and write, delete.

use std::fs;

use super::common::*;
use crate::code;
use crate::flags::{RESIZE_ALLOCATE, RESIZE_DELTA, RESIZE_SHRINK};

#[test]
fn create_sparse_raw() {
    let env = Env::new();
    let info = env
        .driver
        .pool(UUID)
        .unwrap()
        .create(&vol("sparse.raw", 1 << 30, 0, "raw"), 0)
        .unwrap();
    assert_eq!(info.name, "sparse.raw");
    assert_eq!(info.path, "/srv/images/dirpool/sparse.raw");
    assert_eq!(info.key, info.path);
    assert_eq!(
        (info.kind, info.capacity, info.format.as_str()),
        (0, 1 << 30, "raw")
    );
    // The plugin reports the apparent size; the file itself is a hole.
    assert_eq!(info.allocation, 1 << 30);
    assert_eq!(fs::metadata(env.file("sparse.raw")).unwrap().len(), 1 << 30);
    assert!(
        allocated(&env.file("sparse.raw")) < 64 * 1024,
        "a sparse volume must stay a hole"
    );
    // An empty format is raw.
    let info = env
        .driver
        .pool(UUID)
        .unwrap()
        .create(&vol("default", MIB, 0, ""), 0)
        .unwrap();
    assert_eq!(info.format, "raw");
}

#[test]
fn create_preallocated_raw() {
    let env = Env::new();
    env.create("full.raw", 8 * MIB, 8 * MIB, "raw");
    env.create("part.raw", 8 * MIB, 2 * MIB, "raw");
    env.create("odd.raw", 3 * MIB + 5, 3 * MIB + 5, "raw");
    assert!(allocated(&env.file("full.raw")) >= 8 * MIB);
    let part = allocated(&env.file("part.raw"));
    assert!(
        (2 * MIB..3 * MIB).contains(&part),
        "part.raw allocates {part}"
    );
    assert_eq!(fs::metadata(env.file("part.raw")).unwrap().len(), 8 * MIB);
    assert_eq!(
        fs::metadata(env.file("odd.raw")).unwrap().len(),
        3 * MIB + 5
    );
    assert!(env.read_all(UUID, "part.raw").iter().all(|&b| b == 0));

    let pool = env.driver.pool(UUID).unwrap();
    let e = pool
        .create(&vol("big.raw", MIB, 2 * MIB, "raw"), 0)
        .unwrap_err();
    assert_eq!(e.code(), code::INVALID_ARG);
    assert!(!env.file("big.raw").exists());
    let e = pool.create(&vol("meta.raw", MIB, 0, "raw"), 1).unwrap_err();
    assert_eq!(e.code(), code::NO_SUPPORT);
    let e = pool
        .create(&vol("flags.raw", MIB, 0, "raw"), 0x10)
        .unwrap_err();
    assert_eq!(e.code(), code::INVALID_ARG);
    assert_eq!(
        e.to_string(),
        "unsupported flags (0x10) in function virStorageVolCreateXML"
    );
    let e = pool
        .create(&vol("disk.vmdk", MIB, 0, "vmdk"), 0)
        .unwrap_err();
    assert_eq!(e.code(), code::NO_SUPPORT);
    assert!(!env.file("disk.vmdk").exists());
}

#[test]
fn bad_names_and_duplicates() {
    let env = Env::new();
    let pool = env.driver.pool(UUID).unwrap();
    let e = pool.create(&vol("x/y.raw", MIB, 0, "raw"), 0).unwrap_err();
    assert_eq!(e.code(), code::INVALID_ARG);
    assert_eq!(e.to_string(), "volume name 'x/y.raw' cannot contain '/'");
    for bad in [
        "",
        ".",
        "..",
        "../x",
        "/etc/passwd",
        "nul\0.raw",
        "line\n.raw",
        "esc\x1b.raw",
    ] {
        let e = pool.create(&vol(bad, MIB, 0, "raw"), 0).unwrap_err();
        assert_eq!(e.code(), code::INVALID_ARG, "{bad:?}");
        assert_eq!(
            pool.info(bad).unwrap_err().code(),
            code::INVALID_ARG,
            "{bad:?}"
        );
        assert_eq!(
            pool.read(bad, 0, 1).unwrap_err().code(),
            code::INVALID_ARG,
            "{bad:?}"
        );
    }
    assert_eq!(fs::read_dir(env.root.join(UUID)).unwrap().count(), 0);
    assert!(!env.root.join("x").exists());

    env.create("a.raw", MIB, 0, "raw");
    env.write("a.raw", 0, b"keep me");
    let e = pool
        .create(&vol("a.raw", 2 * MIB, 0, "raw"), 0)
        .unwrap_err();
    assert_eq!(e.code(), code::STORAGE_VOL_EXIST);
    assert_eq!(e.to_string(), "storage vol 'a.raw' already exists");
    assert_eq!(&env.read_all(UUID, "a.raw")[..7], b"keep me");
    assert_eq!(fs::metadata(env.file("a.raw")).unwrap().len(), MIB);
    // Anything under the name, even a dangling link or a directory, is taken.
    std::os::unix::fs::symlink("/nonexistent/target", env.file("dangling")).unwrap();
    fs::create_dir(env.file("subdir")).unwrap();
    for taken in ["dangling", "subdir"] {
        let e = pool.create(&vol(taken, MIB, 0, "raw"), 0).unwrap_err();
        assert_eq!(e.code(), code::STORAGE_VOL_EXIST, "{taken}");
    }
    assert!(!std::path::Path::new("/nonexistent/target").exists());
}

#[test]
fn read_write_round_trips_in_bounded_chunks() {
    let env = Env::new();
    env.create("data.raw", 9 * MIB, 0, "raw");
    let pattern: Vec<u8> = (0..5 * MIB as usize).map(|i| (i * 7 % 251) as u8).collect();
    let pool = env.driver.pool(UUID).unwrap();
    // At most 4 MiB per write.
    let e = pool.write("data.raw", 0, &pattern).unwrap_err();
    assert_eq!(e.code(), code::INVALID_ARG);
    for (i, chunk) in pattern.chunks(1 << 20).enumerate() {
        pool.write("data.raw", 3 * MIB + (i as u64) * MIB, chunk)
            .unwrap();
    }
    // At most 4 MiB per read, whatever is asked for.
    assert_eq!(pool.read("data.raw", 0, u32::MAX).unwrap().len(), 4 << 20);
    let all = env.read_all(UUID, "data.raw");
    assert_eq!(all.len() as u64, 9 * MIB);
    assert!(all[..3 * MIB as usize].iter().all(|&b| b == 0));
    assert_eq!(&all[3 * MIB as usize..8 * MIB as usize], &pattern[..]);
    assert!(all[8 * MIB as usize..].iter().all(|&b| b == 0));
    // Unaligned offsets; the end of the volume.
    pool.write("data.raw", 12345, b"hello").unwrap();
    assert_eq!(pool.read("data.raw", 12344, 7).unwrap(), b"\0hello\0");
    assert_eq!(pool.read("data.raw", 9 * MIB - 2, 100).unwrap(), [0, 0]);
    assert!(pool.read("data.raw", 9 * MIB, 100).unwrap().is_empty());
    assert!(pool.read("data.raw", u64::MAX, 100).unwrap().is_empty());
    // A write never goes past the capacity.
    pool.write("data.raw", 9 * MIB - 3, b"end").unwrap();
    let e = pool.write("data.raw", 9 * MIB - 2, b"end").unwrap_err();
    assert_eq!(e.code(), code::OPERATION_FAILED);
    assert!(e.to_string().contains("No space left on device"), "{e}");
    assert_eq!(
        pool.write("data.raw", u64::MAX, b"x").unwrap_err().code(),
        code::OPERATION_FAILED
    );
    assert_eq!(fs::metadata(env.file("data.raw")).unwrap().len(), 9 * MIB);
    assert_eq!(
        pool.read("missing.raw", 0, 1).unwrap_err().code(),
        code::NO_STORAGE_VOL
    );
    assert_eq!(
        pool.write("missing.raw", 0, b"x").unwrap_err().code(),
        code::NO_STORAGE_VOL
    );
}

#[test]
fn clone_is_sparse_aware_and_crosses_pools() {
    let env = Env::new();
    env.create("src.raw", 64 * MIB, 0, "raw");
    env.write("src.raw", 0, &[1; 4096]);
    env.write("src.raw", 10 * MIB + 100, b"middle");
    env.write("src.raw", 64 * MIB - 5, b"tail!");
    let dst = env.driver.pool(UUID2).unwrap();
    let info = dst
        .clone_from(
            &vol("copy.raw", 0, 64 * MIB, "raw"),
            env.driver.pool(UUID).unwrap(),
            "src.raw",
            0,
        )
        .unwrap();
    assert_eq!(info.path, "/srv/images/other/copy.raw");
    assert_eq!((info.capacity, info.format.as_str()), (64 * MIB, "raw"));
    assert_eq!(
        env.read_all(UUID2, "copy.raw"),
        env.read_all(UUID, "src.raw")
    );
    let copy = env.root.join(UUID2).join("copy.raw");
    assert!(
        allocated(&copy) <= 64 * 1024,
        "the clone allocates {}",
        allocated(&copy)
    );

    // A larger capacity extends the copy (sparsely); a smaller one is ignored.
    let pool = env.driver.pool(UUID).unwrap();
    let info = pool
        .clone_from(&vol("bigger.raw", 100 * MIB, 0, "raw"), pool, "src.raw", 0)
        .unwrap();
    assert_eq!(info.capacity, 100 * MIB);
    assert_eq!(
        &env.read_all(UUID, "bigger.raw")[..64 * MIB as usize],
        &env.read_all(UUID, "src.raw")[..]
    );
    let info = pool
        .clone_from(&vol("smaller.raw", MIB, 0, ""), pool, "src.raw", 0)
        .unwrap();
    assert_eq!(info.capacity, 64 * MIB);

    let e = pool
        .clone_from(&vol("src.raw", MIB, 0, "raw"), pool, "src.raw", 0)
        .unwrap_err();
    assert_eq!(e.code(), code::STORAGE_VOL_EXIST);
    let e = pool
        .clone_from(&vol("new.raw", MIB, 0, "raw"), pool, "missing.raw", 0)
        .unwrap_err();
    assert_eq!(e.code(), code::NO_STORAGE_VOL);
    let e = pool
        .clone_from(&vol("new.qcow2", MIB, 0, "qcow2"), pool, "src.raw", 0)
        .unwrap_err();
    assert_eq!(e.code(), code::NO_SUPPORT);
    let e = pool
        .clone_from(&vol("new.raw", MIB, 0, "raw"), pool, "src.raw", 2)
        .unwrap_err();
    assert_eq!(e.code(), code::NO_SUPPORT);
    assert!(!env.file("new.raw").exists() && !env.file("new.qcow2").exists());
}

#[test]
fn wipe_zeroes_data_and_keeps_holes() {
    let env = Env::new();
    env.create("sparse.raw", 256 * MIB, 0, "raw");
    env.write("sparse.raw", 5 * MIB, &[0xaa; 8192]);
    env.write("sparse.raw", 256 * MIB - 1, &[0xbb]);
    let before = allocated(&env.file("sparse.raw"));
    let pool = env.driver.pool(UUID).unwrap();
    pool.wipe("sparse.raw", 0, 0).unwrap();
    assert!(env.read_all(UUID, "sparse.raw").iter().all(|&b| b == 0));
    assert_eq!(
        allocated(&env.file("sparse.raw")),
        before,
        "holes must not become data"
    );
    assert_eq!(
        fs::metadata(env.file("sparse.raw")).unwrap().len(),
        256 * MIB
    );

    env.create("full.raw", 4 * MIB, 4 * MIB, "raw");
    env.write("full.raw", 1000, b"secret");
    pool.wipe("full.raw", 0, 0).unwrap();
    assert!(env.read_all(UUID, "full.raw").iter().all(|&b| b == 0));
    assert!(
        allocated(&env.file("full.raw")) >= 4 * MIB,
        "allocated stays allocated"
    );

    for alg in 1..=9 {
        assert_eq!(
            pool.wipe("full.raw", alg, 0).unwrap_err().code(),
            code::NO_SUPPORT,
            "{alg}"
        );
    }
    assert_eq!(
        pool.wipe("full.raw", 10, 0).unwrap_err().code(),
        code::INVALID_ARG
    );
    assert_eq!(
        pool.wipe("full.raw", 0, 1).unwrap_err().code(),
        code::INVALID_ARG
    );
    assert_eq!(
        pool.wipe("missing", 0, 0).unwrap_err().code(),
        code::NO_STORAGE_VOL
    );
}

#[test]
fn resize_raw() {
    let env = Env::new();
    env.create("part.raw", 64 * MIB, 16 * MIB, "raw");
    env.write("part.raw", 0, b"data");
    let pool = env.driver.pool(UUID).unwrap();
    // Grow sparsely.
    let info = pool.resize("part.raw", 128 * MIB, 0).unwrap();
    assert_eq!(info.capacity, 128 * MIB);
    assert!(allocated(&env.file("part.raw")) < 17 * MIB);
    // Grow with allocation: the new range is written.
    let info = pool.resize("part.raw", 160 * MIB, RESIZE_ALLOCATE).unwrap();
    assert_eq!(info.capacity, 160 * MIB);
    assert!(allocated(&env.file("part.raw")) >= 16 * MIB + 32 * MIB);
    // Relative sizes.
    assert_eq!(
        pool.resize("part.raw", 16 * MIB, RESIZE_DELTA)
            .unwrap()
            .capacity,
        176 * MIB
    );
    let both = RESIZE_DELTA | RESIZE_SHRINK;
    assert_eq!(
        pool.resize("part.raw", 16 * MIB, both).unwrap().capacity,
        160 * MIB
    );
    assert_eq!(
        pool.resize("part.raw", 200 * MIB, both).unwrap_err().code(),
        code::INVALID_ARG
    );
    // Shrinking needs the flag.
    let e = pool.resize("part.raw", MIB, 0).unwrap_err();
    assert_eq!(e.code(), code::INVALID_ARG);
    assert_eq!(
        e.to_string(),
        "Can't shrink capacity below current capacity unless shrink flag explicitly specified"
    );
    assert_eq!(
        pool.resize("part.raw", MIB, RESIZE_SHRINK)
            .unwrap()
            .capacity,
        MIB
    );
    assert_eq!(fs::metadata(env.file("part.raw")).unwrap().len(), MIB);
    assert_eq!(&env.read_all(UUID, "part.raw")[..4], b"data");
    // Shrink then grow reads zeros where data was cut off.
    pool.resize("part.raw", 2, RESIZE_SHRINK).unwrap();
    pool.resize("part.raw", 8, 0).unwrap();
    assert_eq!(env.read_all(UUID, "part.raw"), b"da\0\0\0\0\0\0");
    assert_eq!(
        pool.resize("part.raw", 8, 8).unwrap_err().code(),
        code::INVALID_ARG
    );
    assert_eq!(
        pool.resize("missing", 8, 0).unwrap_err().code(),
        code::NO_STORAGE_VOL
    );
}

#[test]
fn delete_and_info() {
    let env = Env::new();
    env.create("a.raw", MIB, 0, "raw");
    let pool = env.driver.pool(UUID).unwrap();
    let info = pool.info("a.raw").unwrap();
    assert_eq!((info.capacity, info.allocation, info.kind), (MIB, MIB, 0));
    assert_eq!(
        pool.delete("a.raw", 1).unwrap_err().code(),
        code::INVALID_ARG
    );
    pool.delete("a.raw", 0).unwrap();
    assert!(!env.file("a.raw").exists());
    let e = pool.delete("a.raw", 0).unwrap_err();
    assert_eq!(e.code(), code::NO_STORAGE_VOL);
    assert_eq!(e.to_string(), "no storage vol with matching name 'a.raw'");
    assert_eq!(pool.info("a.raw").unwrap_err().code(), code::NO_STORAGE_VOL);
    // A directory is not a volume, and is not removed.
    fs::create_dir(env.file("dir")).unwrap();
    assert_eq!(
        pool.delete("dir", 0).unwrap_err().code(),
        code::NO_STORAGE_VOL
    );
    assert!(env.file("dir").is_dir());
}
