//! wirt-vmm's disk backend on images qemu-img made: qcow2 read and write,
//! backing chains, unallocated and zero clusters, discard and write-zeroes,
//! flush; checked against raw references with `qemu-img check` and
//! `qemu-img compare`. No guest: the backend is driven through guest memory
//! the way the virtio-blk request path drives it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::common::{qemu_tools, run_ok as run};
use vm_memory::{Bytes, GuestAddress};
use wirt_kvm::control::protocol::DiskFormat;
use wirt_kvm::devices::virtio::block::Disk;
use wirt_kvm::devices::virtio::block::chain::open_backing_chain;
use wirt_kvm::memory::GuestMemoryMmap;

const CLUSTER: u64 = 64 << 10;
const BUF: GuestAddress = GuestAddress(0);

fn qemu_img(args: &[&str]) {
    run("qemu-img", args);
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn memory() -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 8 << 20)]).unwrap()
}

/// Opens `path` as the host and VMM together do: the host walks the chain,
/// the VMM builds the image from the files it is handed.
fn open(path: &Path, format: DiskFormat, readonly: bool) -> Disk {
    let backing = open_backing_chain(
        path,
        format,
        &[Path::new(path).parent().unwrap().to_path_buf()],
    )
    .unwrap();
    let file = OpenOptions::new()
        .read(true)
        .write(!readonly)
        .open(path)
        .unwrap();
    Disk::open(
        format,
        file,
        backing.into_iter().map(|b| b.file).collect(),
        readonly,
        "test",
    )
    .unwrap()
}

fn write(disk: &Disk, mem: &GuestMemoryMmap, offset: u64, data: &[u8]) {
    mem.write_slice(data, BUF).unwrap();
    disk.write(mem, &[(BUF, data.len() as u32)], offset)
        .unwrap();
}

fn read(disk: &Disk, mem: &GuestMemoryMmap, offset: u64, len: usize) -> Vec<u8> {
    // Stale bytes in the buffer would hide a read that wrote nothing.
    mem.write_slice(&vec![0xeeu8; len], BUF).unwrap();
    disk.read(mem, &[(BUF, len as u32)], offset).unwrap();
    let mut out = vec![0u8; len];
    mem.read_slice(&mut out, BUF).unwrap();
    out
}

fn filled(len: u64, byte: u8) -> Vec<u8> {
    vec![byte; len as usize]
}

/// A raw file of `len` bytes of `byte`.
fn raw_file(path: &Path, len: u64, byte: u8) {
    std::fs::write(path, filled(len, byte)).unwrap();
}

/// Writes `data` at `offset` to a raw reference file.
fn write_ref(path: &Path, offset: u64, data: &[u8]) {
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(data, offset).unwrap();
}

fn check_clean(image: &Path) {
    qemu_img(&["check", "-f", "qcow2", path_str(image)]);
}

fn compare_with_raw(image: &Path, reference: &Path) {
    qemu_img(&[
        "compare",
        "-f",
        "qcow2",
        "-F",
        "raw",
        path_str(image),
        path_str(reference),
    ]);
}

fn qcow2(dir: &Path, name: &str, size: &str, backing: Option<(&str, &str)>) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec!["create", "-q", "-f", "qcow2", "-o", "cluster_size=65536"];
    if let Some((file, format)) = backing {
        args.extend(["-b", file, "-F", format]);
    }
    args.extend([path_str(&path), size]);
    qemu_img(&args);
    path
}

/// A pattern that differs from sector to sector, so misplaced data shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i / 512) as u8 ^ (i as u8).wrapping_mul(7) ^ seed)
        .collect()
}

#[test]
fn qcow2_from_qemu_img_reads_writes_and_stays_clean() {
    if !qemu_tools("qcow2 images made and checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = qcow2(dir.path(), "disk.qcow2", "8M", None);
    let reference = dir.path().join("reference.raw");
    raw_file(&reference, 8 << 20, 0);
    // Data QEMU wrote: allocated clusters wirt must find.
    run(
        "qemu-io",
        &[
            "-f",
            "qcow2",
            "-c",
            "write -P 0x11 0 128k",
            path_str(&image),
        ],
    );
    write_ref(&reference, 0, &filled(128 << 10, 0x11));

    let mem = memory();
    let disk = open(&image, DiskFormat::Qcow2, false);
    assert_eq!(disk.sectors(), (8 << 20) / 512);
    assert_eq!(disk.format(), DiskFormat::Qcow2);
    assert_eq!(read(&disk, &mem, 0, 128 << 10), filled(128 << 10, 0x11));
    assert_eq!(read(&disk, &mem, 128 << 10, 4096), filled(4096, 0));

    let writes: [(u64, Vec<u8>); 5] = [
        // Inside an allocated cluster.
        (4096, pattern(8192, 0x22)),
        // Across a cluster boundary, sector aligned but not cluster aligned.
        (3 * CLUSTER - 512, pattern(1024, 0x33)),
        // Several fresh clusters at once.
        (1 << 20, pattern(300 << 10, 0x44)),
        // The disk's last sector.
        ((8 << 20) - 512, pattern(512, 0x55)),
        // Overwriting part of an earlier write.
        ((1 << 20) + 4096, pattern(4096, 0x66)),
    ];
    for (offset, data) in &writes {
        write(&disk, &mem, *offset, data);
        write_ref(&reference, *offset, data);
    }
    disk.flush().unwrap();
    let expected = std::fs::read(&reference).unwrap();
    for start in (0..8 << 20).step_by(1 << 20) {
        assert_eq!(
            read(&disk, &mem, start as u64, 1 << 20),
            expected[start..start + (1 << 20)],
            "MiB at {start}"
        );
    }
    drop(disk);
    check_clean(&image);
    compare_with_raw(&image, &reference);
    // And wirt reads back what it wrote after a fresh open.
    let disk = open(&image, DiskFormat::Qcow2, true);
    assert_eq!(
        read(&disk, &mem, 1 << 20, 300 << 10),
        expected[1 << 20..(1 << 20) + (300 << 10)]
    );
}

#[test]
fn flush_leaves_the_image_consistent_while_the_vmm_runs_on() {
    if !qemu_tools("qcow2 images made and checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = qcow2(dir.path(), "disk.qcow2", "4M", None);
    let reference = dir.path().join("reference.raw");
    raw_file(&reference, 4 << 20, 0);
    let mem = memory();
    let disk = open(&image, DiskFormat::Qcow2, false);
    for i in 0..8u64 {
        let data = pattern(4096, i as u8);
        write(&disk, &mem, i * 3 * CLUSTER + 512, &data);
        write_ref(&reference, i * 3 * CLUSTER + 512, &data);
    }
    disk.flush().unwrap();
    // The disk is still open: everything acknowledged by the flush must be
    // in the file (a VMM killed now loses nothing). -U: imago takes no lock
    // but say so anyway.
    qemu_img(&["check", "-U", "-f", "qcow2", path_str(&image)]);
    qemu_img(&[
        "compare",
        "-U",
        "-f",
        "qcow2",
        "-F",
        "raw",
        path_str(&image),
        path_str(&reference),
    ]);
    drop(disk);
}

#[test]
fn a_chain_of_ten_overlays_reads_every_layer_through_the_top() {
    if !qemu_tools("qcow2 images made and checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    raw_file(&base, 16 * CLUSTER, 0xb0);
    let reference = dir.path().join("reference.raw");
    raw_file(&reference, 16 * CLUSTER, 0xb0);
    let mem = memory();
    let mut below = ("base.raw".to_string(), "raw");
    let mut layers = Vec::new();
    for layer in 1..=10u8 {
        let name = format!("layer{layer}.qcow2");
        // Relative backing names: resolved against the overlay's directory.
        let path = qcow2(dir.path(), &name, "1M", Some((&below.0, below.1)));
        let disk = open(&path, DiskFormat::Qcow2, false);
        let data = filled(CLUSTER, layer);
        write(&disk, &mem, u64::from(layer) * CLUSTER, &data);
        write_ref(&reference, u64::from(layer) * CLUSTER, &data);
        drop(disk);
        below = (name, "qcow2");
        layers.push(path);
    }
    let top = layers.last().unwrap();
    let chain = open_backing_chain(
        top,
        DiskFormat::Qcow2,
        &[Path::new(top).parent().unwrap().to_path_buf()],
    )
    .unwrap();
    assert_eq!(chain.len(), 10);
    assert!(chain[..9].iter().all(|b| b.format == DiskFormat::Qcow2));
    assert_eq!(chain[9].format, DiskFormat::Raw);
    assert_eq!(chain[0].path, dir.path().join("layer9.qcow2"));

    let disk = open(top, DiskFormat::Qcow2, true);
    assert_eq!(
        read(&disk, &mem, 0, CLUSTER as usize),
        filled(CLUSTER, 0xb0)
    );
    for layer in 1..=10u8 {
        assert_eq!(
            read(&disk, &mem, u64::from(layer) * CLUSTER, CLUSTER as usize),
            filled(CLUSTER, layer),
            "cluster written in layer {layer}"
        );
    }
    assert_eq!(
        read(&disk, &mem, 11 * CLUSTER, 5 * CLUSTER as usize),
        filled(5 * CLUSTER, 0xb0)
    );
    // One read spanning all layers at once.
    let all = read(&disk, &mem, 0, 16 * CLUSTER as usize);
    assert_eq!(all, std::fs::read(&reference).unwrap());
    drop(disk);
    for layer in &layers {
        check_clean(layer);
    }
    compare_with_raw(top, &reference);
}

#[test]
fn unallocated_clusters_read_the_backing_file_or_zeroes() {
    if !qemu_tools("qcow2 images made and checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A backing file shorter than the overlay: past its end reads zeroes.
    let base = dir.path().join("base.raw");
    raw_file(&base, 1 << 20, 0xaa);
    let overlay = qcow2(dir.path(), "overlay.qcow2", "4M", Some(("base.raw", "raw")));
    // An explicit zero cluster over backing data.
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "write -z 64k 64k", path_str(&overlay)],
    );
    let mem = memory();
    let disk = open(&overlay, DiskFormat::Qcow2, true);
    assert_eq!(read(&disk, &mem, 0, 64 << 10), filled(64 << 10, 0xaa));
    assert_eq!(read(&disk, &mem, 64 << 10, 64 << 10), filled(64 << 10, 0));
    assert_eq!(read(&disk, &mem, 128 << 10, 4096), filled(4096, 0xaa));
    // Straddling the backing file's end.
    let edge = read(&disk, &mem, (1 << 20) - 4096, 8192);
    assert_eq!(edge[..4096], filled(4096, 0xaa)[..]);
    assert_eq!(edge[4096..], filled(4096, 0)[..]);
    assert_eq!(read(&disk, &mem, 3 << 20, 1 << 20), filled(1 << 20, 0));

    let alone = qcow2(dir.path(), "alone.qcow2", "1M", None);
    let disk = open(&alone, DiskFormat::Qcow2, true);
    assert_eq!(read(&disk, &mem, 0, 1 << 20), filled(1 << 20, 0));
}

#[test]
fn discard_and_write_zeroes_read_back_as_zeroes_and_stay_clean() {
    if !qemu_tools("qcow2 images made and checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    raw_file(&base, 2 << 20, 0xaa);
    let overlay = qcow2(dir.path(), "overlay.qcow2", "2M", Some(("base.raw", "raw")));
    let reference = dir.path().join("reference.raw");
    raw_file(&reference, 2 << 20, 0xaa);
    let mem = memory();
    let disk = open(&overlay, DiskFormat::Qcow2, false);
    let data = filled(4 * CLUSTER, 0x55);
    write(&disk, &mem, 0, &data);
    write_ref(&reference, 0, &data);

    let zeroed: [(u64, u64, &str); 5] = [
        (0, CLUSTER, "write-zeroes"),
        (CLUSTER, CLUSTER, "write-zeroes unmap"),
        (2 * CLUSTER, CLUSTER, "discard"),
        // Not allocated in the overlay: the backing file's data must not
        // show through afterwards.
        (8 * CLUSTER, CLUSTER, "discard"),
        // Smaller than a cluster, not aligned to one.
        (3 * CLUSTER + 512, 1024, "write-zeroes"),
    ];
    for (offset, len, how) in zeroed {
        match how {
            "write-zeroes" => disk.write_zeroes(offset, len, false).unwrap(),
            "write-zeroes unmap" => disk.write_zeroes(offset, len, true).unwrap(),
            _ => disk.discard(offset, len).unwrap(),
        }
        write_ref(&reference, offset, &filled(len, 0));
        assert_eq!(
            read(&disk, &mem, offset, len as usize),
            filled(len, 0),
            "{how} at {offset}"
        );
    }
    // A cluster zeroed with its allocation kept reads its new data after a
    // write (the zero flag must go, not just the bytes land).
    let fresh = pattern(1024, 0x99);
    write(&disk, &mem, 512, &fresh);
    write_ref(&reference, 512, &fresh);
    let head = read(&disk, &mem, 0, 4096);
    assert_eq!(head[..512], filled(512, 0)[..]);
    assert_eq!(head[512..1536], fresh[..]);
    assert_eq!(head[1536..], filled(4096 - 1536, 0)[..]);
    assert_eq!(read(&disk, &mem, 3 * CLUSTER, 512), filled(512, 0x55));
    assert_eq!(
        read(&disk, &mem, 3 * CLUSTER + 1536, 512),
        filled(512, 0x55)
    );
    assert_eq!(read(&disk, &mem, 9 * CLUSTER, 512), filled(512, 0xaa));
    // Beyond the end is refused, not clipped.
    assert!(disk.discard((2 << 20) - 512, 1024).is_err());
    assert!(disk.write_zeroes(2 << 20, 512, false).is_err());
    disk.flush().unwrap();
    drop(disk);
    check_clean(&overlay);
    compare_with_raw(&overlay, &reference);
}

/// Changes the type of `image`'s backing-format header extension to one
/// nobody knows (readers skip unknown extensions): an overlay that names
/// its backing file but not its format, which qemu-img refuses to create.
fn drop_backing_format(image: &Path) {
    const BACKING_FORMAT: u32 = 0xe279_2aca;
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .unwrap();
    let mut word = [0u8; 4];
    f.read_exact_at(&mut word, 100).unwrap();
    let mut at = u64::from(u32::from_be_bytes(word));
    loop {
        let mut ext = [0u8; 8];
        f.read_exact_at(&mut ext, at).unwrap();
        let kind = u32::from_be_bytes(ext[..4].try_into().unwrap());
        let len = u64::from(u32::from_be_bytes(ext[4..].try_into().unwrap()));
        assert_ne!(
            kind,
            0,
            "no backing-format extension in {}",
            image.display()
        );
        if kind == BACKING_FORMAT {
            f.write_all_at(&0x7769_7274u32.to_be_bytes(), at).unwrap();
            return;
        }
        at += 8 + len.next_multiple_of(8);
    }
}

#[test]
fn formats_are_never_probed_from_content() {
    if !qemu_tools("qcow2 images made and checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = qcow2(dir.path(), "base.qcow2", "1M", None);
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "write -P 0x77 0 64k", path_str(&base)],
    );
    let overlay = qcow2(
        dir.path(),
        "overlay.qcow2",
        "1M",
        Some(("base.qcow2", "qcow2")),
    );
    let mem = memory();
    let disk = open(&overlay, DiskFormat::Qcow2, true);
    assert_eq!(read(&disk, &mem, 0, 512), filled(512, 0x77));
    drop(disk);

    // Without a backing format the backing file is raw, even though it is
    // a qcow2 image: the guest sees its header bytes, not its contents.
    drop_backing_format(&overlay);
    let chain = open_backing_chain(
        &overlay,
        DiskFormat::Qcow2,
        &[Path::new(&overlay).parent().unwrap().to_path_buf()],
    )
    .unwrap();
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].format, DiskFormat::Raw);
    let disk = open(&overlay, DiskFormat::Qcow2, true);
    assert_eq!(read(&disk, &mem, 0, 4), b"QFI\xfb");

    // A raw disk that holds a qcow2 header (what a guest can write) is
    // served raw: its "backing file" is never looked at.
    let disk = open(&base, DiskFormat::Raw, true);
    assert_eq!(disk.format(), DiskFormat::Raw);
    assert_eq!(read(&disk, &mem, 0, 4), b"QFI\xfb");
    assert!(
        open_backing_chain(
            &base,
            DiskFormat::Raw,
            &[Path::new(&base).parent().unwrap().to_path_buf()]
        )
        .unwrap()
        .is_empty()
    );
}

#[test]
fn chains_that_do_not_match_their_headers_are_refused() {
    if !qemu_tools("qcow2 images made and checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    raw_file(&dir.path().join("base.raw"), 1 << 20, 1);
    let overlay = qcow2(dir.path(), "overlay.qcow2", "1M", Some(("base.raw", "raw")));
    let file = || {
        File::options()
            .read(true)
            .write(true)
            .open(&overlay)
            .unwrap()
    };
    let base = || File::open(dir.path().join("base.raw")).unwrap();
    let message = |e: wirt_kvm::devices::virtio::block::DiskError| e.to_string();

    let missing = Disk::open(DiskFormat::Qcow2, file(), Vec::new(), false, "t").unwrap_err();
    assert_eq!(
        message(missing),
        "backing file 'base.raw' of the image was not passed (only 0 backing files given)"
    );
    let extra =
        Disk::open(DiskFormat::Qcow2, file(), vec![base(), base()], false, "t").unwrap_err();
    assert_eq!(
        message(extra),
        "1 backing files passed beyond the end of the chain"
    );
    let raw = Disk::open(DiskFormat::Raw, base(), vec![base()], false, "t").unwrap_err();
    assert_eq!(message(raw), "a raw image has no backing files, 1 given");
    // A raw file given as qcow2 is refused, not served.
    assert!(Disk::open(DiskFormat::Qcow2, base(), Vec::new(), false, "t").is_err());
    assert!(
        open_backing_chain(
            &dir.path().join("base.raw"),
            DiskFormat::Qcow2,
            &[dir.path().to_path_buf()]
        )
        .is_err()
    );

    // A backing file that is missing on the host names itself.
    std::fs::remove_file(dir.path().join("base.raw")).unwrap();
    let err = open_backing_chain(
        &overlay,
        DiskFormat::Qcow2,
        &[Path::new(&overlay).parent().unwrap().to_path_buf()],
    )
    .unwrap_err();
    assert!(err.to_string().contains("base.raw"), "{err}");
}

/// Issue 16: a header is data. An image naming a file outside the
/// directories its domain's disks live in (here /etc/passwd, directly or
/// through a symbolic link or `..`) is refused, naming both files; so is a
/// backing file that is not an image (a FIFO).
#[test]
fn backing_chains_stay_inside_the_allowed_directories() {
    if !qemu_tools("qcow2 images made and checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let allowed = [dir.path().to_path_buf()];
    let overlay = |name: &str, backing: &str| {
        let path = dir.path().join(name);
        qemu_img(&[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-u",
            "-b",
            backing,
            "-F",
            "raw",
            path.to_str().unwrap(),
            "1M",
        ]);
        path
    };
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.raw")).unwrap();
    for (name, backing) in [
        ("abs.qcow2", "/etc/passwd"),
        ("link.qcow2", "link.raw"),
        ("dots.qcow2", "../../../../../../etc/passwd"),
    ] {
        let top = overlay(name, backing);
        let err = open_backing_chain(&top, DiskFormat::Qcow2, &allowed).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/etc/passwd") && text.contains(name) && text.contains("outside"),
            "{name}: {text}"
        );
    }
    // Inside, but not an image.
    let fifo = dir.path().join("fifo.raw");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let top = overlay("fifo.qcow2", "fifo.raw");
    let err = open_backing_chain(&top, DiskFormat::Qcow2, &allowed).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    // And a file inside is served.
    std::fs::write(dir.path().join("ok.raw"), vec![0u8; 1 << 20]).unwrap();
    let top = overlay("ok.qcow2", "ok.raw");
    assert_eq!(
        open_backing_chain(&top, DiskFormat::Qcow2, &allowed)
            .unwrap()
            .len(),
        1
    );
}

/// The test guest on a qcow2 overlay of a raw disk, under the sandbox as
/// deployed (`trap`: a system call the disk path needs and the filter
/// lacks kills the VMM with its number instead of failing one request).
#[test]
fn the_test_guest_reads_and_writes_a_qcow2_overlay() {
    crate::common::require_kvm!();
    if !qemu_tools("qcow2 images made and checked by QEMU's tools") {
        return;
    }
    use wirt_kvm::control::protocol::FdRef;
    use wirt_kvm::guest::{READY, pattern_sector, range_checksum};

    use crate::commands::command;
    use crate::common::{Vmm, hex_after, make_disk};

    let dir = tempfile::tempdir().unwrap();
    let (base, data) = make_disk(dir.path(), "base.raw", 256);
    let overlay = qcow2(
        dir.path(),
        "overlay.qcow2",
        "128K",
        Some(("base.raw", "raw")),
    );
    let mut vmm = Vmm::spawn_with(&[&overlay, &base], wirt_kvm::seccomp::Mode::Trap, None);
    let (top, below) = (vmm.disk_fds[0], vmm.disk_fds[1]);
    vmm.boot(|b| {
        b.disks.truncate(1);
        b.disks[0].fd = FdRef::Fd(top);
        b.disks[0].format = DiskFormat::Qcow2;
        b.disks[0].backing = vec![FdRef::Fd(below)];
    });
    let console = vmm.wait_console(READY);
    assert_eq!(hex_after(&console, "blk: capacity "), 256);

    // Unallocated in the overlay: the raw backing file's data.
    assert_eq!(
        command(&mut vmm, "sum 0 128 16", "sum 0 128 16: "),
        format!(
            "sum 0 128 16: {:016x}",
            range_checksum(&data[128 * 512..144 * 512])
        )
    );
    assert_eq!(
        command(&mut vmm, "fill 0 8 100 42", "fill 0 8 100: "),
        "fill 0 8 100: ok"
    );
    assert_eq!(command(&mut vmm, "flush 0", "flush 0: "), "flush 0: ok");
    // The guest's boot self-test wrote sector 0's complement to sector 1
    // (through the overlay) and read it back.
    let mut expected = data.clone();
    for i in 0..512 {
        expected[512 + i] = !data[i];
    }
    assert_eq!(
        hex_after(&console, "blk: sector 1 sum "),
        range_checksum(&expected[512..1024])
    );
    for s in 8..108u64 {
        expected[s as usize * 512..(s as usize + 1) * 512].copy_from_slice(&pattern_sector(42, s));
    }
    // The flush made it all durable while the guest runs on; the backing
    // file is untouched.
    let reference = dir.path().join("expected.raw");
    std::fs::write(&reference, &expected).unwrap();
    qemu_img(&["check", "-U", "-f", "qcow2", path_str(&overlay)]);
    qemu_img(&[
        "compare",
        "-U",
        "-f",
        "qcow2",
        "-F",
        "raw",
        path_str(&overlay),
        path_str(&reference),
    ]);
    assert_eq!(std::fs::read(&base).unwrap(), data);
    assert_eq!(
        command(&mut vmm, "sum 0 0 256", "sum 0 0 256: "),
        format!("sum 0 0 256: {:016x}", range_checksum(&expected))
    );
    vmm.quit();
    check_clean(&overlay);
    compare_with_raw(&overlay, &reference);
}

/// Requests whose data is split over several guest buffers (a chain with
/// more than one data descriptor) land in order on qcow2 too.
#[test]
fn scattered_guest_buffers_read_and_write_in_order() {
    if !qemu_tools("qcow2 images made and checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = qcow2(dir.path(), "disk.qcow2", "1M", None);
    let mem = memory();
    let disk = open(&image, DiskFormat::Qcow2, false);
    let data = pattern(4096, 0x5c);
    let parts = [
        (GuestAddress(0x10_0000), 1024u32),
        (GuestAddress(0x30_0000), 512),
        (GuestAddress(0x20_0000), 2560),
    ];
    let mut at = 0usize;
    for (addr, len) in parts {
        mem.write_slice(&data[at..at + len as usize], addr).unwrap();
        at += len as usize;
    }
    // Across a cluster boundary as well.
    let offset = CLUSTER - 1024;
    disk.write(&mem, &parts, offset).unwrap();
    assert_eq!(read(&disk, &mem, offset, 4096), data);

    for (addr, len) in parts {
        mem.write_slice(&vec![0u8; len as usize], addr).unwrap();
    }
    disk.read(&mem, &parts, offset).unwrap();
    let mut at = 0usize;
    for (addr, len) in parts {
        let mut got = vec![0u8; len as usize];
        mem.read_slice(&mut got, addr).unwrap();
        assert_eq!(got, data[at..at + len as usize]);
        at += len as usize;
    }
    drop(disk);
    check_clean(&image);
}
