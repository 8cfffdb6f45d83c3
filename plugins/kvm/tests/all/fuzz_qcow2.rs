//! Fuzz target: the qcow2 reader, on mutated images (header fields, L1/L2
//! entries, refcount tables, the backing file name and format extension,
//! cluster bits, sizes), opened as the host and the VMM open them: the
//! host's walk of the backing chain (which must never leave the allowed
//! directory, whatever the header says), `backing_of` and `commit`, and
//! `Disk::open` read-only and writable with a few bounded reads and one
//! write. Errors are fine; panics and hangs are not.
//!
//! A panic inside imago (the qcow2 library) is not wirt's to fix: it is
//! caught here, counted and reported (`imago panic` on stderr, the input
//! saved under `$WIRT_FUZZ_FINDINGS` when set) instead of failing the run.
//! A panic anywhere else fails it. A bounded slice runs here;
//! `scripts/fuzz.sh` runs it for minutes.

use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use imago::qcow2::Qcow2;
use imago::{FormatCreateBuilder, StorageOpenOptions};
use wirt_kvm::control::protocol::DiskFormat;
use wirt_kvm::devices::virtio::block::chain::open_backing_chain;
use wirt_kvm::devices::virtio::block::{Disk, overlay};
use wirt_testkit::fuzz;

/// Inputs are cut to this: an image of any shape, opened in microseconds.
const MAX_IMAGE: usize = 1 << 20;
const SIZE: u64 = 64 << 10;
const BASE: &[u8] = &[0x42; SIZE as usize];

thread_local! {
    /// Where this thread's last panic came from (source file).
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records each panic's source file, then panics as before.
fn install_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let file = info.location().map(|l| l.file().to_string());
        PANIC_AT.with(|p| *p.borrow_mut() = file);
        previous(info)
    }));
}

/// Runs `f`; a panic inside imago comes back as `None` (and is counted),
/// any other panic goes on.
fn guard<T>(panics: &Cell<u64>, input: &[u8], f: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(payload) => {
            let at = PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_default();
            if !at.contains("/imago-") {
                std::panic::resume_unwind(payload);
            }
            panics.set(panics.get() + 1);
            if panics.get() <= 3 {
                eprintln!("imago panic at {at} on a {}-byte image", input.len());
            }
            save_finding(input, panics.get());
            None
        }
    }
}

/// Keeps the `n`th crashing input in `$WIRT_FUZZ_FINDINGS`: the first few
/// only, as one bug makes thousands.
fn save_finding(input: &[u8], n: u64) {
    if n > 20 {
        return;
    }
    if let Ok(dir) = std::env::var("WIRT_FUZZ_FINDINGS") {
        let name = format!("imago-{}-{n}.qcow2", std::process::id());
        let _ = std::fs::write(Path::new(&dir).join(name), input);
    }
}

/// Set (to the allowed directory) when the test binary runs as the child
/// that does one case's writable open and write.
const STEP_ENV: &str = "WIRT_FUZZ_QCOW2_STEP";
/// Left in the allowed directory by a child whose imago panicked.
const IMAGO_PANICKED: &str = "imago-panicked";

/// A qcow2 image made by imago at `path`: small clusters so every part of
/// the metadata is within a few KiB, some data written through a `Disk`.
fn make(path: &Path, cluster: usize, refcount_bits: usize, backing: Option<(&str, &str)>) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    let storage = imago::file::File::from_open_file(
        file.try_clone().unwrap(),
        StorageOpenOptions::new().write(true),
    )
    .unwrap();
    let mut builder = Qcow2::<imago::file::File>::create_builder(storage)
        .size(SIZE)
        .cluster_size(cluster)
        .refcount_width(refcount_bits);
    if let Some((name, format)) = backing {
        builder = builder.backing(name.into(), format.into());
    }
    builder.create().unwrap();
    drop(file);
    // Data without a backing file to keep: the host would hand one over.
    if backing.is_none() {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let disk = Disk::open(DiskFormat::Qcow2, file, Vec::new(), false, "seed").unwrap();
        for at in [0u64, 4096, 60_000] {
            disk.write_bytes(&[0x17; 1024], at).unwrap();
        }
        disk.flush().unwrap();
    }
}

/// The corpus: images imago made (and qemu-img, when it is here: other
/// extensions, compressed clusters, version 2 headers), with backing names
/// that stay inside the allowed directory and ones that try to leave it.
fn seeds(allowed: &Path, scratch: &Path) -> Vec<Vec<u8>> {
    let base = allowed.join("base.raw");
    let base_abs = base.to_str().unwrap();
    let mut seeds = Vec::new();
    let mut add = |cluster, bits, backing: Option<(&str, &str)>| {
        let path = scratch.join("seed.qcow2");
        make(&path, cluster, bits, backing);
        seeds.push(std::fs::read(&path).unwrap());
    };
    add(512, 16, None);
    add(4096, 1, None);
    add(512, 64, None);
    add(512, 16, Some(("base.raw", "raw")));
    add(512, 16, Some((base_abs, "raw")));
    add(512, 16, Some(("mid.qcow2", "qcow2")));
    add(512, 16, Some(("../outside/secret", "raw")));
    add(512, 16, Some(("/etc/passwd", "raw")));
    add(512, 16, Some(("top.qcow2", "qcow2")));
    add(512, 16, Some(("base.raw", "vmdk")));
    // Kept inputs (tests/corpus/qcow2).
    let kept = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/qcow2");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&kept)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "qcow2"))
        .collect();
    files.sort();
    seeds.extend(files.iter().map(|p| std::fs::read(p).unwrap()));
    if wirt_testkit::have("qemu-img", "--version") {
        let raw = scratch.join("pattern.raw");
        std::fs::write(&raw, [[0x11u8; 4096], [0u8; 4096]].concat().repeat(8)).unwrap();
        let out = scratch.join("qemu.qcow2");
        for args in [
            vec!["convert", "-c", "-f", "raw", "-O", "qcow2", "-o"],
            vec!["convert", "-f", "raw", "-O", "qcow2", "-o"],
        ] {
            for opts in [
                "cluster_size=512",
                "cluster_size=4096,compat=0.10",
                "cluster_size=512,lazy_refcounts=on",
            ] {
                let _ = std::fs::remove_file(&out);
                let ok = std::process::Command::new("qemu-img")
                    .args(&args)
                    .arg(opts)
                    .arg(&raw)
                    .arg(&out)
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    seeds.push(std::fs::read(&out).unwrap());
                }
            }
        }
    } else {
        wirt_testkit::require("qemu-img (qemu-utils)", "qcow2 seeds made by QEMU");
    }
    seeds
}

fn open(path: &Path, write: bool) -> File {
    OpenOptions::new()
        .read(true)
        .write(write)
        .open(path)
        .unwrap()
}

/// A few reads (first, middle and last 4 KiB), bounded whatever the size.
fn read_some(disk: &Disk) {
    let size = disk.sectors() * 512;
    let mut buf = vec![0u8; 4096];
    for at in [0, size / 2, size.saturating_sub(4096)] {
        let len = (size - at.min(size)).min(4096) as usize;
        let _ = disk.read_bytes(&mut buf[..len], at);
    }
}

#[test]
fn fuzz_qcow2_reader() {
    install_hook();
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed");
    let outside = dir.path().join("outside");
    let scratch = dir.path().join("scratch");
    for d in [&allowed, &outside, &scratch] {
        std::fs::create_dir(d).unwrap();
    }
    let allowed = std::fs::canonicalize(&allowed).unwrap();
    std::fs::write(outside.join("secret"), b"not for guests").unwrap();
    let base = allowed.join("base.raw");
    std::fs::write(&base, BASE).unwrap();
    make(
        &allowed.join("mid.qcow2"),
        512,
        16,
        Some(("base.raw", "raw")),
    );
    let top = allowed.join("top.qcow2");
    let chain_list = allowed.join("chain.list");
    let panics = Cell::new(0u64);
    let dirs = [allowed.clone()];
    fuzz::run(
        "qcow2",
        fuzz::inputs(seeds(&allowed, &scratch)),
        |mut input| {
            input.truncate(MAX_IMAGE);
            let started = Instant::now();
            std::fs::write(&top, &input).unwrap();
            guard(&panics, &input, || {
                let _ = overlay::backing_of(&top);
            });
            // The host's walk: whatever the header says, nothing outside.
            let chain = guard(&panics, &input, || {
                open_backing_chain(&top, DiskFormat::Qcow2, &dirs).ok()
            });
            let chain = chain.flatten();
            for b in chain.iter().flatten() {
                assert!(
                    b.path.starts_with(&allowed),
                    "the chain left {}: {}",
                    allowed.display(),
                    b.path.display()
                );
            }
            // The VMM's side, with the files the host found (or none).
            let files = |chain: &Option<Vec<_>>| -> Vec<File> {
                chain
                    .iter()
                    .flatten()
                    .map(|b: &wirt_kvm::devices::virtio::block::chain::BackingFile| {
                        b.file.try_clone().unwrap()
                    })
                    .collect()
            };
            guard(&panics, &input, || {
                let disk = Disk::open(
                    DiskFormat::Qcow2,
                    open(&top, false),
                    files(&chain),
                    true,
                    "ro",
                );
                if let Ok(disk) = disk {
                    read_some(&disk);
                }
            });
            // commit writes into base.raw: only within its size.
            guard(&panics, &input, || {
                let _ = overlay::commit(std::slice::from_ref(&top), &base, DiskFormat::Raw, &dirs);
            });
            assert_eq!(
                std::fs::metadata(&base).unwrap().len(),
                SIZE,
                "commit changed the base's size"
            );
            std::fs::write(&base, BASE).unwrap();
            // Writes can send imago into unbounded recursion (see
            // `write_step`): in a child process, whose crash is counted.
            let paths: Vec<PathBuf> = chain.iter().flatten().map(|b| b.path.clone()).collect();
            std::fs::write(
                &chain_list,
                paths
                    .iter()
                    .map(|p| format!("{}\n", p.display()))
                    .collect::<String>(),
            )
            .unwrap();
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "fuzz_qcow2::write_step",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(STEP_ENV, &allowed)
                .env_remove("WIRT_FUZZ_SECS")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            if allowed.join(IMAGO_PANICKED).exists() || out.status.code().is_none() {
                let _ = std::fs::remove_file(allowed.join(IMAGO_PANICKED));
                panics.set(panics.get() + 1);
                let what = stderr
                    .lines()
                    .find(|l| l.contains("overflowed") || l.contains("panicked"))
                    .unwrap_or("");
                // The first few, then only the count at the end.
                if panics.get() <= 3 {
                    eprintln!(
                        "imago crash ({:?}) writing a {}-byte image: {what}",
                        out.status,
                        input.len()
                    );
                }
                save_finding(&input, panics.get());
            } else {
                assert!(out.status.success(), "the write step failed: {stderr}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "a {}-byte image took {:?}",
                input.len(),
                started.elapsed()
            );
        },
    );
    let found = panics.get();
    if found > 0 {
        eprintln!("fuzz qcow2: {found} inputs crashed imago (reported, not failed)");
    }
    // The seeds' own walk reaches the chain's end inside the directory.
    let top_ok = scratch.join("ok.qcow2");
    make(&top_ok, 512, 16, Some(("mid.qcow2", "qcow2")));
    let moved = allowed.join("ok.qcow2");
    std::fs::rename(&top_ok, &moved).unwrap();
    let chain = open_backing_chain(&moved, DiskFormat::Qcow2, &dirs).unwrap();
    let paths: Vec<PathBuf> = chain.into_iter().map(|b| b.path).collect();
    assert_eq!(paths, [allowed.join("mid.qcow2"), base]);
}

/// One case's writable open, a write and a few reads, run in a child
/// process by [`fuzz_qcow2_reader`] (a no-op otherwise): imago 0.2.6 can
/// recurse without bound allocating refcount blocks for a write into an
/// image with a corrupt refcount structure (`Allocator::ensure_rb` ->
/// `allocate_clusters` -> `ensure_rb`...), and a stack overflow aborts
/// the process it happens in.
#[test]
fn write_step() {
    let Ok(allowed) = std::env::var(STEP_ENV) else {
        return;
    };
    install_hook();
    let allowed = PathBuf::from(allowed);
    let top = allowed.join("top.qcow2");
    let input = std::fs::read(&top).unwrap();
    let backing: Vec<File> = std::fs::read_to_string(allowed.join("chain.list"))
        .unwrap()
        .lines()
        .map(|p| open(Path::new(p), false))
        .collect();
    let panics = Cell::new(0);
    guard(&panics, &input, || {
        let disk = Disk::open(DiskFormat::Qcow2, open(&top, true), backing, false, "rw");
        if let Ok(disk) = disk {
            if disk.sectors() > 0 {
                let _ = disk.write_bytes(&[0x99; 512], 0);
            }
            read_some(&disk);
            let _ = disk.flush();
        }
    });
    if panics.get() > 0 {
        std::fs::write(allowed.join(IMAGO_PANICKED), b"").unwrap();
    }
}

/// Found by this target: a chain that loops (an image naming itself, with
/// a large L1 table) was walked 256 times over, loading the same tables
/// each time (seconds of host CPU per open). Refused at the first repeat,
/// hard links included.
#[test]
fn a_backing_chain_that_loops_is_refused_at_once() {
    use wirt_kvm::devices::virtio::block::chain::ChainError;
    let dir = tempfile::tempdir().unwrap();
    let d = std::fs::canonicalize(dir.path()).unwrap();
    make(
        &d.join("self.qcow2"),
        512,
        16,
        Some(("self.qcow2", "qcow2")),
    );
    make(&d.join("a.qcow2"), 512, 16, Some(("b.qcow2", "qcow2")));
    make(&d.join("b.qcow2"), 512, 16, Some(("a.qcow2", "qcow2")));
    make(&d.join("c.qcow2"), 512, 16, Some(("link.qcow2", "qcow2")));
    std::fs::hard_link(d.join("c.qcow2"), d.join("link.qcow2")).unwrap();
    for (top, again) in [
        ("self.qcow2", "self.qcow2"),
        ("a.qcow2", "a.qcow2"),
        ("c.qcow2", "link.qcow2"),
    ] {
        let got = open_backing_chain(&d.join(top), DiskFormat::Qcow2, std::slice::from_ref(&d));
        match got {
            Err(ChainError::Loop { again: a, .. }) => assert_eq!(a, d.join(again), "{top}"),
            other => panic!("{top}: {other:?}"),
        }
    }
}
