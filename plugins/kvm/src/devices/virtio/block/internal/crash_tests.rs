//! Crashes simulated at every sync of create, revert and delete: the
//! operation stops there, and the file is checked twice, once with every
//! write before the crash on disk and once with none since the last sync
//! (the two extremes of what a crash keeps). The image must open;
//! `qemu-img check` may find leaks and, in create's one window, COPIED
//! flags missing on clusters of refcount 1 (never set on shared ones);
//! every snapshot and the active image must read as before or as after;
//! repaired, the image takes the operation again.

use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use super::InternalSnapshotError;

thread_local! {
    /// Syncs left before the simulated crash.
    static CRASH_AFTER: Cell<Option<u32>> = const { Cell::new(None) };
    /// The file as of the last completed sync while a crash is armed.
    static SYNCED: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// At each sync: `Err` to crash here, else whether a crash is armed (the
/// sync's result is then recorded by [`synced`]).
pub(super) fn at_sync() -> Result<bool, ()> {
    let left = CRASH_AFTER.with(|c| {
        let left = c.get();
        c.set(left.and_then(|n| n.checked_sub(1)));
        left
    });
    match left {
        Some(0) => Err(()),
        left => Ok(left.is_some()),
    }
}

/// Records what a completed sync made durable.
pub(super) fn synced(file: &File) {
    let len = file.metadata().unwrap().len();
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0).unwrap();
    SYNCED.with(|s| *s.borrow_mut() = Some(bytes));
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tools() -> bool {
    let ok =
        wirt_testkit::have("qemu-img", "--version") && wirt_testkit::have("qemu-io", "--version");
    if !ok {
        wirt_testkit::require("qemu-img / qemu-io (qemu-utils)", "crash ordering");
    }
    ok
}

fn raw(img: &Path, snapshot: Option<&str>) -> Vec<u8> {
    let out = img.with_extension("raw");
    let spec = snapshot.map(|s| format!("snapshot.name={s}"));
    let mut args = vec!["qemu-img", "convert", "-f", "qcow2", "-O", "raw"];
    if let Some(spec) = &spec {
        args.extend(["-l", spec.as_str()]);
    }
    args.extend([img.to_str().unwrap(), out.to_str().unwrap()]);
    ok(&args);
    std::fs::read(out).unwrap()
}

/// What `qemu-img check` may report after a crash: leaks, and COPIED
/// flags missing on clusters of refcount 1.
fn check_after_crash(img: &Path, at: &str) {
    let out = run(&["qemu-img", "check", "-f", "qcow2", img.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    let harmless = stderr
        .lines()
        .filter(|l| l.starts_with("ERROR"))
        .all(|l| l.contains("OFLAG_COPIED") && l.ends_with("refcount=1"));
    assert!(
        matches!(code, Some(0 | 3)) || (code == Some(2) && harmless),
        "{at}: qemu-img check: {}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn names(img: &Path) -> Vec<String> {
    super::list_path(img)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect()
}

type Op = fn(&File) -> Result<(), InternalSnapshotError>;
/// Checks an image after a crash; returns whether the operation committed.
type Verify<'a> = &'a dyn Fn(&Path, &str) -> bool;

/// Runs `op` on `img` (restored from `pristine`) with a crash at each sync
/// in turn; after each crash, calls `verify` on the image as the crash
/// left it (both extremes), which returns whether the operation had
/// committed. Returns the number of syncs.
fn crash_everywhere(img: &Path, pristine: &[u8], what: &str, op: Op, verify: Verify<'_>) -> u32 {
    for n in 0.. {
        std::fs::write(img, pristine).unwrap();
        let file = OpenOptions::new().read(true).write(true).open(img).unwrap();
        SYNCED.with(|s| *s.borrow_mut() = None);
        CRASH_AFTER.with(|c| c.set(Some(n)));
        let result = op(&file);
        CRASH_AFTER.with(|c| c.set(None));
        drop(file);
        match result {
            Ok(()) => {
                ok(&["qemu-img", "check", "-f", "qcow2", img.to_str().unwrap()]);
                return n;
            }
            Err(e) => assert!(
                format!("{e:?}").contains("simulated crash"),
                "{what}, sync {n}: {e:?}"
            ),
        }
        let everything = std::fs::read(img).unwrap();
        let last_sync = SYNCED
            .with(|s| s.borrow_mut().take())
            .unwrap_or_else(|| pristine.to_vec());
        for (kept, bytes) in [("all writes", everything), ("synced writes", last_sync)] {
            let at = format!("{what}, crash at sync {n} keeping {kept}");
            std::fs::write(img, &bytes).unwrap();
            check_after_crash(img, &at);
            let committed = verify(img, &at);
            ok(&[
                "qemu-img",
                "check",
                "-q",
                "-r",
                "all",
                img.to_str().unwrap(),
            ]);
            ok(&["qemu-img", "check", "-f", "qcow2", img.to_str().unwrap()]);
            if !committed {
                let file = OpenOptions::new().read(true).write(true).open(img).unwrap();
                op(&file).unwrap_or_else(|e| panic!("{at}, again: {e:?}"));
                drop(file);
                ok(&["qemu-img", "check", "-f", "qcow2", img.to_str().unwrap()]);
            }
        }
    }
    unreachable!()
}

#[test]
fn a_crash_at_any_sync_leaves_a_usable_image() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A 1 MiB image (4 KiB clusters) with data, QEMU's snapshot q1 of it,
    // more data, QEMU's snapshot q2 of that, and data the active image
    // alone holds (COPIED set: create must clear it before it commits).
    let img = dir.path().join("c.qcow2");
    let p = img.to_str().unwrap();
    ok(&[
        "qemu-img",
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=4096",
        p,
        "1M",
    ]);
    ok(&["qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 256k", p]);
    ok(&["qemu-img", "snapshot", "-c", "q1", p]);
    ok(&["qemu-io", "-f", "qcow2", "-c", "write -P 0x22 64k 64k", p]);
    ok(&["qemu-img", "snapshot", "-c", "q2", p]);
    ok(&["qemu-io", "-f", "qcow2", "-c", "write -P 0x33 512k 64k", p]);
    let pristine = std::fs::read(&img).unwrap();
    let active = raw(&img, None);
    let q1 = raw(&img, Some("q1"));
    let q2 = raw(&img, Some("q2"));
    let before = ["q1".to_string(), "q2".to_string()];
    // Every snapshot listed reads as it should.
    let snapshots_intact = |img: &Path, at: &str| {
        for name in names(img) {
            let want = match name.as_str() {
                "q1" => &q1,
                "q2" => &q2,
                _ => &active,
            };
            assert!(raw(img, Some(&name)) == *want, "{at}: snapshot {name}");
        }
    };
    let ops: [(&str, Op, Verify<'_>); 3] = [
        ("create", |f| super::create(f, "c").map(drop), &|img, at| {
            assert!(raw(img, None) == active, "{at}: active image changed");
            snapshots_intact(img, at);
            let listed = names(img);
            assert!(listed.starts_with(&before), "{at}: {listed:?}");
            listed.len() == 3
        }),
        ("revert", |f| super::revert(f, "q1"), &|img, at| {
            let now = raw(img, None);
            assert!(now == active || now == q1, "{at}: active image");
            snapshots_intact(img, at);
            assert_eq!(names(img), before, "{at}");
            // Reverting again is harmless either way.
            false
        }),
        ("delete", |f| super::delete(f, "q1"), &|img, at| {
            assert!(raw(img, None) == active, "{at}: active image changed");
            snapshots_intact(img, at);
            let listed = names(img);
            assert!(listed == before || listed == ["q2"], "{at}: {listed:?}");
            listed.len() == 1
        }),
    ];
    for (what, op, verify) in ops {
        let n = crash_everywhere(&img, &pristine, what, op, verify);
        assert!(n > 2, "{what} syncs only {n} times");
        eprintln!("{what}: crashed at each of its {n} syncs");
    }
}

/// The same for a create that grows the refcount table (512-byte clusters,
/// 3 clusters short of the 8 MiB one table cluster covers).
#[test]
fn a_crash_while_the_refcount_table_grows_leaves_a_usable_image() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("g.qcow2");
    let p = img.to_str().unwrap();
    ok(&[
        "qemu-img",
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=512",
        p,
        "16M",
    ]);
    ok(&["qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 8028k", p]);
    let pristine = std::fs::read(&img).unwrap();
    let table_clusters = |p: &Path| {
        let b = std::fs::read(p).unwrap();
        u32::from_be_bytes(b[56..60].try_into().unwrap())
    };
    assert_eq!(table_clusters(&img), 1);
    let active = raw(&img, None);
    let n = crash_everywhere(
        &img,
        &pristine,
        "growing create",
        |f| super::create(f, "c").map(drop),
        &|img, at| {
            assert!(raw(img, None) == active, "{at}: active image changed");
            let listed = names(img);
            if listed == ["c"] {
                assert!(raw(img, Some("c")) == active, "{at}: snapshot c");
                return true;
            }
            assert!(listed.is_empty(), "{at}: {listed:?}");
            false
        },
    );
    assert!(table_clusters(&img) > 1, "the table did not grow");
    eprintln!("growing create: crashed at each of its {n} syncs");
}
