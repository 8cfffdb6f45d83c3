//! Issue 16: snapshots of kvm: guests with writable qcow2 disks. The guest
//! writes known patterns, a snapshot is taken, it writes more, the revert
//! brings the checksums of the snapshot point back; deleting a snapshot
//! merges its overlay so nothing written is lost.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::kvm::{Kvm, kvm};

/// A domain on a qcow2 volume of a dir pool; returns its XML file and the
/// pool's directory.
pub(crate) fn qcow2_domain(k: &Kvm, name: &str) -> (PathBuf, PathBuf) {
    let pool = k.dir.path().join("pool");
    if !pool.exists() {
        k.ok(&format!(
            "pool-define-as pool dir --target {}; pool-build pool; pool-start pool",
            pool.display()
        ));
    }
    k.ok(&format!(
        "vol-create-as pool {name}.qcow2 1M --format qcow2"
    ));
    let xml = format!(
        "<domain type='kvm'><name>{name}</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os><devices><disk type='volume' device='disk'>\
         <driver name='qemu' type='qcow2'/><source pool='pool' volume='{name}.qcow2'/>\
         <target dev='vda' bus='virtio'/></disk></devices></domain>"
    );
    let file = k.dir.path().join(format!("{name}.xml"));
    std::fs::write(&file, xml).unwrap();
    (file, pool)
}

/// Runs a guest command and returns its answer. The console replays its
/// history and these answers repeat word for word, so a ping goes first:
/// the answer is the first one after the last pong.
pub(crate) fn ask(k: &Kvm, dom: &str, line: &str, answer: &str) -> String {
    use std::io::Write as _;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut child = k
            .command(env!("CARGO_BIN_EXE_wirt"))
            .args(["-c", "kvm:///session", "console", dom])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(format!("p!{line}\n").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
        let after_pong = lines
            .iter()
            .rposition(|l| l.starts_with("guest: pong"))
            .and_then(|pong| lines[pong..].iter().find(|l| l.starts_with(answer)));
        if let Some(found) = after_pong {
            return found.to_string();
        }
        assert!(Instant::now() < deadline, "no answer to {line}: {out}");
    }
}

/// Fills sectors 16..24 of the guest's disk from `seed` and returns the
/// checksum the guest reads back.
pub(crate) fn fill_and_sum(k: &Kvm, dom: &str, seed: u32) -> String {
    let done = ask(k, dom, &format!("fill 0 16 8 {seed}"), "fill 0 16 8: ");
    assert!(done.ends_with("ok"), "{done}");
    sum(k, dom)
}

pub(crate) fn sum(k: &Kvm, dom: &str) -> String {
    let line = ask(k, dom, "sum 0 16 8", "sum 0 16 8: ");
    line.rsplit(' ').next().unwrap().to_string()
}

pub(crate) fn qemu_img_check(path: &Path) {
    if !wirt_testkit::have("qemu-img", "--version") {
        wirt_testkit::require("qemu-img", "images are checked with qemu-img check");
        return;
    }
    let out = Command::new("qemu-img")
        .args(["check", "-f", "qcow2"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn kvm_running_guest_on_qcow2_is_snapshotted_reverted_and_merged() {
    let Some(k) = kvm() else { return };
    let (xml, pool) = qcow2_domain(&k, "sg");
    k.ok(&format!("define {}; start sg", xml.display()));
    k.wait_console("sg", "guest: ready");
    let at_snapshot = fill_and_sum(&k, "sg", 1);

    let out = k.ok("snapshot-create-as sg s1");
    assert!(out.contains("Domain snapshot s1 created"), "{out}");
    let overlay = pool.join("sg.s1");
    assert!(overlay.is_file(), "no overlay {}", overlay.display());
    assert_eq!(k.state("sg"), "running (booted)");
    let blk = k.ok("domblklist sg");
    assert!(blk.contains(&overlay.display().to_string()), "{blk}");
    let dump = k.ok("snapshot-dumpxml sg s1");
    assert!(dump.contains("<memory snapshot='external' file="), "{dump}");
    assert!(
        dump.contains("<disk name='vda' snapshot='external' type='file'>"),
        "{dump}"
    );
    // The snapshot's domain is the guest as it was: on the volume.
    assert!(dump.contains("volume='sg.qcow2'"), "{dump}");

    let after = fill_and_sum(&k, "sg", 2);
    assert_ne!(after, at_snapshot);

    k.ok("snapshot-revert sg s1");
    assert_eq!(k.state("sg"), "running (from snapshot)");
    assert_eq!(sum(&k, "sg"), at_snapshot, "the revert restores the disk");
    // A fresh overlay over the snapshot's image; the one discarded is gone.
    let fresh = pool.join("sg.s1.1");
    assert!(k.ok("domblklist sg").contains(&fresh.display().to_string()));
    assert!(!overlay.exists());

    // Deleting the snapshot while the guest runs merges the overlay down:
    // what the guest wrote since stays, and the disk is the volume again.
    let kept = fill_and_sum(&k, "sg", 3);
    k.ok("snapshot-delete sg s1");
    assert!(!fresh.exists(), "the merged overlay is gone");
    assert_eq!(sum(&k, "sg"), kept, "nothing written is lost");
    assert!(k.ok("domblklist sg").contains("sg.qcow2"));
    assert!(k.ok("snapshot-list sg --name").trim().is_empty());
    k.ok("destroy sg");
    qemu_img_check(&pool.join("sg.qcow2"));
    // The merged data is in the volume itself.
    k.ok("start sg");
    k.wait_console("sg", "guest: ready");
    assert_eq!(sum(&k, "sg"), kept);
    k.ok("destroy sg; undefine sg");
    k.assert_no_vmms_left();
}

#[test]
fn kvm_disk_only_snapshots_of_a_shut_off_guest_and_their_errors() {
    let Some(k) = kvm() else { return };
    let (xml, pool) = qcow2_domain(&k, "so");
    k.ok(&format!("define {}; start so", xml.display()));
    k.wait_console("so", "guest: ready");
    let first = fill_and_sum(&k, "so", 7);
    k.ok("destroy so");

    // What cannot be taken is refused before anything is made.
    for (args, error) in [
        (
            "--diskspec vda,file=/tmp/elsewhere.qcow2",
            "must be in the directory of",
        ),
        ("--diskspec vdz", "no disk named 'vdz'"),
        ("--memspec /tmp/mem", "has no memory state"),
    ] {
        let out = k.wirt(&format!("snapshot-create-as so bad {args}"));
        assert!(!out.ok, "{args}");
        assert!(out.stderr.contains(error), "{args}: {}", out.stderr);
    }
    let taken = pool.join("so.taken");
    std::fs::write(&taken, b"x").unwrap();
    let out = k.wirt(&format!(
        "snapshot-create-as so taken --disk-only --diskspec vda,file={}",
        taken.display()
    ));
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert_eq!(std::fs::read(&taken).unwrap(), b"x");
    assert!(k.ok("snapshot-list so --name").trim().is_empty());

    let overlay = pool.join("so.one");
    k.ok(&format!(
        "snapshot-create-as so s1 --disk-only --diskspec vda,file={}",
        overlay.display()
    ));
    let dump = k.ok("snapshot-dumpxml so s1");
    assert!(dump.contains("<state>shutoff</state>"), "{dump}");
    assert!(dump.contains("<memory snapshot='no'/>"), "{dump}");
    qemu_img_check(&overlay);

    k.ok("start so");
    k.wait_console("so", "guest: ready");
    assert_eq!(sum(&k, "so"), first, "the overlay reads through");
    let second = fill_and_sum(&k, "so", 8);
    // A disk-only snapshot of the running guest.
    k.ok("snapshot-create-as so s2 --disk-only");
    let dump = k.ok("snapshot-dumpxml so s2");
    assert!(dump.contains("<state>disk-snapshot</state>"), "{dump}");
    fill_and_sum(&k, "so", 9);
    k.ok("destroy so");

    // Back to s1: shut off, the disk as it was then.
    k.ok("snapshot-revert so s1 --running");
    assert_eq!(k.state("so"), "running (from snapshot)");
    k.wait_console("so", "guest: ready");
    assert_eq!(sum(&k, "so"), first);
    k.ok("destroy so");
    k.ok("snapshot-revert so s2");
    assert_eq!(k.state("so"), "shut off (from snapshot)");

    // s1 has a child: its overlay is s2's base and cannot merge away alone.
    let out = k.wirt("snapshot-delete so s1");
    assert!(!out.ok);
    assert!(out.stderr.contains("with children"), "{}", out.stderr);
    // Both go, children first; the volume ends up holding s2's point.
    k.ok("snapshot-delete so s1 --children");
    assert!(k.ok("snapshot-list so --name").trim().is_empty());
    let left: Vec<String> = std::fs::read_dir(&pool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("so.") && n != "so.qcow2" && n != "so.taken")
        .collect();
    assert!(left.is_empty(), "overlays left: {left:?}");
    qemu_img_check(&pool.join("so.qcow2"));
    k.ok("start so");
    k.wait_console("so", "guest: ready");
    assert_eq!(sum(&k, "so"), second);
    k.ok("destroy so; undefine so");
    k.assert_no_vmms_left();
}

/// Block jobs as virsh users run them: an overlay taken without metadata
/// and committed back with `blockcommit --active --pivot`, a copy kept
/// beside the disk (`--finish`) and one pivoted to, job info and abort.
#[test]
fn kvm_block_commit_and_copy_keep_every_write() {
    let Some(k) = kvm() else { return };
    let (xml, pool) = qcow2_domain(&k, "bj");
    k.ok(&format!("define {}; start bj", xml.display()));
    k.wait_console("bj", "guest: ready");
    fill_and_sum(&k, "bj", 1);
    let top = pool.join("bj.tmp");
    k.ok(&format!(
        "snapshot-create-as bj tmp --disk-only --no-metadata --diskspec vda,file={}",
        top.display()
    ));
    assert!(k.ok("snapshot-list bj --name").trim().is_empty());
    let in_overlay = fill_and_sum(&k, "bj", 2);

    // A job that is started, looked at and ended without a pivot leaves
    // the guest where it was. Its copy runs beside the guest: it reports
    // its progress until its first pass is over.
    let out = k.ok("blockcommit bj vda --active");
    assert!(out.contains("Active Block Commit started"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = k.ok("blockjob bj vda --info");
        assert!(info.contains("Active Block Commit: ["), "{info}");
        if info.contains("[100 %]") {
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {info}");
    }
    let again = k.wirt("blockcopy bj vda /nonexistent --wait");
    assert!(
        again.stderr.contains("already in active block job"),
        "{}",
        again.stderr
    );
    k.ok("blockjob bj vda --abort");
    assert!(
        k.ok("blockjob bj vda --info")
            .contains("No current block job for vda")
    );
    assert!(k.ok("domblklist bj").contains(&top.display().to_string()));

    let out = k.ok("blockcommit bj vda --active --pivot --delete --verbose");
    assert!(out.contains("Successfully pivoted"), "{out}");
    assert!(!top.exists(), "--delete removes the committed overlay");
    assert!(k.ok("domblklist bj").contains("bj.qcow2"));
    assert_eq!(sum(&k, "bj"), in_overlay, "the commit keeps every write");

    // A copy beside the disk, the guest staying where it is.
    let beside = pool.join("beside.qcow2");
    let out = k.ok(&format!(
        "blockcopy bj vda {} --format qcow2 --finish",
        beside.display()
    ));
    assert!(out.contains("Successfully copied"), "{out}");
    assert!(k.ok("domblklist bj").contains("bj.qcow2"));
    qemu_img_check(&beside);
    // And one the guest moves to, raw this time.
    let moved = pool.join("moved.raw");
    let after = fill_and_sum(&k, "bj", 3);
    let out = k.ok(&format!(
        "blockcopy bj vda {} --format raw --pivot --verbose",
        moved.display()
    ));
    assert!(out.contains("Successfully pivoted"), "{out}");
    assert!(k.ok("domblklist bj").contains(&moved.display().to_string()));
    assert_eq!(sum(&k, "bj"), after, "the copy holds every write");
    // Grown while it runs: the image and what the host reports.
    let out = k.ok("blockresize bj vda 2M");
    assert!(out.contains("Block device 'vda' is resized"), "{out}");
    let info = k.ok("domblkinfo bj vda");
    assert!(info.contains("Capacity:       2097152"), "{info}");
    let shrink = k.wirt("blockresize bj vda 1M");
    assert!(
        shrink.stderr.contains("can't shrink disk 'vda'"),
        "{}",
        shrink.stderr
    );
    assert_eq!(std::fs::metadata(&moved).unwrap().len(), 2 << 20);
    assert_eq!(sum(&k, "bj"), after, "the data stays");
    // A pull makes the top image stand alone, under its own name.
    let top = pool.join("bj.pulled");
    k.ok(&format!(
        "snapshot-create-as bj p --disk-only --no-metadata --diskspec vda,file={}",
        top.display()
    ));
    let pulled = fill_and_sum(&k, "bj", 4);
    let out = k.ok("blockpull bj vda --wait");
    assert!(out.contains("Pull complete"), "{out}");
    assert!(k.ok("domblklist bj").contains(&top.display().to_string()));
    assert_eq!(sum(&k, "bj"), pulled);
    // The pulled image stands alone: nothing is beneath it any more.
    let partial = k.wirt(&format!("blockpull bj vda --base {}", moved.display()));
    assert!(
        partial.stderr.contains("could not find image") && partial.stderr.contains("beneath"),
        "{}",
        partial.stderr
    );
    k.ok("destroy bj");
    if wirt_testkit::have("qemu-img", "--version") {
        let info = Command::new("qemu-img")
            .args(["info", "-U"])
            .arg(&top)
            .output()
            .unwrap();
        let info = String::from_utf8_lossy(&info.stdout);
        assert!(!info.contains("backing file"), "{info}");
        qemu_img_check(&top);
    }
    qemu_img_check(&pool.join("bj.qcow2"));
    if wirt_testkit::have("qemu-img", "--version") {
        // The copy kept beside holds the disk as it was before seed 3.
        let out = Command::new("qemu-img")
            .args(["compare", "-q", "-f", "qcow2", "-F", "qcow2"])
            .arg(&beside)
            .arg(pool.join("bj.qcow2"))
            .status()
            .unwrap();
        assert!(
            !out.success(),
            "the guest wrote after the copy was finished"
        );
    }
    k.ok("undefine bj");
    k.assert_no_vmms_left();
}

/// Real virsh drives the block jobs through wirtd, waiting on wirtd's
/// block job events: `snapshot-create-as --disk-only --no-metadata`, then
/// `blockcommit --active --pivot --wait --verbose`; `blockcopy --finish`
/// (virDomainBlockCopy) and `blockcopy --pivot` (virDomainBlockRebase).
#[test]
fn virsh_runs_block_jobs_through_wirtd() {
    if !wirt_testkit::kvm_or_skip() || !crate::remote::have_virsh() {
        return;
    }
    if !wirt_testkit::have("qemu-img", "--version") {
        wirt_testkit::require("qemu-img", "the guest's disk is made by qemu-img");
        return;
    }
    let d = crate::remote::Daemon::start();
    let uri = format!("kvm+unix:///session?socket={}", d.sock().display());
    let images = d.dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    let base = images.join("vm.qcow2");
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&base)
        .arg("1M")
        .status()
        .unwrap();
    assert!(made.success());
    let xml = images.join("vm.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain type='kvm'><name>vm</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
             <os><type>hvm</type></os><devices><disk type='file' device='disk'>\
             <driver name='qemu' type='qcow2'/><source file='{}'/>\
             <target dev='vda' bus='virtio'/></disk></devices></domain>",
            base.display()
        ),
    )
    .unwrap();
    let virsh = |script: &str| {
        let out = Command::new("virsh")
            .args(["-c", &uri])
            .args(script.split(' '))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "virsh {script}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    virsh(&format!("define {}", xml.display()));
    virsh("start vm");
    let top = images.join("vm.top");
    virsh(&format!(
        "snapshot-create-as vm top --disk-only --no-metadata --atomic --diskspec vda,file={}",
        top.display()
    ));
    assert!(virsh("domblklist vm").contains(&top.display().to_string()));
    let out = virsh("blockcommit vm vda --active --pivot --wait --verbose --delete");
    assert!(out.contains("Successfully pivoted"), "{out}");
    assert!(!top.exists());
    assert!(virsh("domblklist vm").contains(&base.display().to_string()));
    let copy = images.join("copy.qcow2");
    let out = virsh(&format!(
        "blockcopy vm vda {} --format qcow2 --wait --finish",
        copy.display()
    ));
    assert!(out.contains("Successfully copied"), "{out}");
    let moved = images.join("moved.qcow2");
    let out = virsh(&format!("blockcopy vm vda {} --pivot", moved.display()));
    assert!(out.contains("Successfully pivoted"), "{out}");
    assert!(virsh("domblklist vm").contains(&moved.display().to_string()));
    assert!(virsh("blockjob vm vda --info").contains("No current block job for vda"));
    virsh("destroy vm");
}

/// Bytes written by process `pid` so far (`wchar` of /proc/PID/io).
fn written(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("wchar: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The VMM killed (SIGKILL) in the middle of an active commit: the domain
/// is left on its overlay, the chain opens clean under qemu-img and holds
/// every acknowledged write, and the guest boots on it and reads them.
#[test]
fn kvm_vmm_killed_during_a_commit_leaves_a_chain_with_every_write() {
    let Some(k) = kvm() else { return };
    if !wirt_testkit::have("qemu-io", "--version") || !wirt_testkit::have("qemu-img", "--version") {
        wirt_testkit::require("qemu-io", "the overlay is filled with qemu-io");
        return;
    }
    const MIB: usize = 1 << 20;
    let dir = k.dir.path().join("kc");
    std::fs::create_dir(&dir).unwrap();
    let base = dir.join("base.raw");
    let overlay = dir.join("top.qcow2");
    let base_data: Vec<u8> = (0..64 * MIB).map(|i| (i % 251) as u8).collect();
    std::fs::write(&base, &base_data).unwrap();
    let run = |program: &str, args: &[&str]| {
        let out = Command::new(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let overlay_s = overlay.to_string_lossy().into_owned();
    run(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            &base.to_string_lossy(),
            "-F",
            "raw",
            &overlay_s,
        ],
    );
    // 48 MiB for the commit to copy: long enough to be caught in the middle.
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "write -q -P 0x5a 0 48M", &overlay_s],
    );
    let xml = k.dir.path().join("kc.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain type='kvm'><name>kc</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
             <os><type>hvm</type></os><devices><disk type='file' device='disk'>\
             <driver name='qemu' type='qcow2'/><source file='{overlay_s}'/>\
             <target dev='vda' bus='virtio'/></disk></devices></domain>"
        ),
    )
    .unwrap();
    k.ok(&format!("define {}; start kc", xml.display()));
    k.wait_console("kc", "guest: ready");
    let acknowledged = fill_and_sum(&k, "kc", 7);
    let [vmm] = k.vmms()[..] else {
        panic!("one VMM expected: {:?}", k.vmms())
    };
    let before = written(vmm);
    let commit = k
        .command(env!("CARGO_BIN_EXE_wirt"))
        .args([
            "-c",
            "kvm:///session",
            "blockcommit kc vda --active --pivot",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Killed once a quarter of the data is in the base.
    let deadline = Instant::now() + Duration::from_secs(60);
    while written(vmm) < before + 12 * MIB as u64 {
        assert!(Instant::now() < deadline, "the commit wrote nothing");
        std::thread::sleep(Duration::from_micros(200));
    }
    let killed = Command::new("kill")
        .args(["-9", &vmm.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = commit.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "the commit finished before the kill: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !k.state("kc").starts_with("shut off") {
        assert!(Instant::now() < deadline, "kc is {}", k.state("kc"));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        k.ok("domblklist kc").contains(&overlay_s),
        "the domain stays on its overlay"
    );

    // The chain: clean (leaked clusters at most), and what was written.
    let check = Command::new("qemu-img")
        .args(["check", "-f", "qcow2", &overlay_s])
        .output()
        .unwrap();
    assert!(
        matches!(check.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let mut expected = base_data;
    expected[..48 * MIB].fill(0x5a);
    // The guest's boot self-test: sector 1 gets sector 0's complement.
    expected[512..1024].fill(!0x5a);
    for s in 16..24u64 {
        let at = s as usize * 512;
        expected[at..at + 512].copy_from_slice(&wirt_kvm::guest::pattern_sector(7, s));
    }
    let reference = dir.join("expected.raw");
    std::fs::write(&reference, &expected).unwrap();
    let compare = Command::new("qemu-img")
        .args(["compare", "-f", "qcow2", "-F", "raw", &overlay_s])
        .arg(&reference)
        .output()
        .unwrap();
    assert!(
        compare.status.success(),
        "the chain lost data: {}",
        String::from_utf8_lossy(&compare.stdout)
    );
    k.ok("start kc");
    k.wait_console("kc", "guest: ready");
    assert_eq!(sum(&k, "kc"), acknowledged);
    k.ok("destroy kc");
    k.assert_no_vmms_left();
}

/// The sum the guest reads over sectors `first..first + count` of disk 0.
fn sum_range(k: &Kvm, dom: &str, first: u32, count: u32) -> String {
    let line = ask(
        k,
        dom,
        &format!("sum 0 {first} {count}"),
        &format!("sum 0 {first} {count}: "),
    );
    line.rsplit(' ').next().unwrap().to_string()
}

fn fill_range(k: &Kvm, dom: &str, first: u32, seed: u32) {
    let done = ask(
        k,
        dom,
        &format!("fill 0 {first} 8 {seed}"),
        &format!("fill 0 {first} 8: "),
    );
    assert!(done.ends_with("ok"), "{done}");
}

/// The image a qcow2 image's header names below it.
fn backing(path: &Path) -> Option<String> {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(path)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    info["full-backing-filename"].as_str().map(str::to_string)
}

/// Layers out of the middle of a running guest's chain: a partial pull
/// (`blockpull --base`) folds the layers above the base into the active
/// image, a commit below the active layer (`blockcommit --top --base
/// --delete`) folds them into the base; the guest reads the same data
/// before and after, each chain is what libvirt would leave, and qemu-img
/// finds every image clean.
#[test]
fn kvm_partial_pull_and_commit_below_the_active_layer() {
    let Some(k) = kvm() else { return };
    if !wirt_testkit::have("qemu-img", "--version") {
        wirt_testkit::require("qemu-img", "the chains are read with qemu-img info");
        return;
    }
    let (xml, pool) = qcow2_domain(&k, "rs");
    let base = pool.join("rs.qcow2");
    k.ok(&format!("define {}; start rs", xml.display()));
    k.wait_console("rs", "guest: ready");
    // base <- mid <- top, each holding sectors of its own.
    fill_range(&k, "rs", 16, 1);
    let (mid, top) = (pool.join("rs.mid"), pool.join("rs.top"));
    for (file, first, seed) in [(&mid, 24, 2), (&top, 32, 3)] {
        k.ok(&format!(
            "snapshot-create-as rs s{seed} --disk-only --no-metadata --diskspec vda,file={}",
            file.display()
        ));
        fill_range(&k, "rs", first, seed);
    }
    let all = sum_range(&k, "rs", 16, 24);
    let b = base.display().to_string();

    // Not in the chain, or the active image itself: refused.
    let out = k.wirt("blockpull rs vda --base /nowhere.qcow2");
    assert!(
        out.stderr
            .contains("could not find image '/nowhere.qcow2' beneath"),
        "{}",
        out.stderr
    );
    // Pull mid into top: top stands on the base, mid is out of the chain.
    k.ok(&format!("blockpull rs vda --base {b} --wait"));
    assert_eq!(backing(&top).as_deref(), Some(b.as_str()));
    assert!(k.ok("domblklist rs").contains(&top.display().to_string()));
    assert_eq!(
        sum_range(&k, "rs", 16, 24),
        all,
        "the pull kept every write"
    );
    qemu_img_check(&top);

    // base <- top <- active: commit top into the base, the active image
    // then stands on the base, and top is deleted.
    let active = pool.join("rs.active");
    k.ok(&format!(
        "snapshot-create-as rs s4 --disk-only --no-metadata --diskspec vda,file={}",
        active.display()
    ));
    fill_range(&k, "rs", 40, 4);
    let all = sum_range(&k, "rs", 16, 32);
    let out = k.wirt(&format!(
        "blockcommit rs vda --top {} --base {} --wait",
        active.display(),
        top.display()
    ));
    assert!(!out.ok, "a base above the top is refused");
    let out = k.ok(&format!(
        "blockcommit rs vda --top {} --base {b} --delete --wait --verbose",
        top.display()
    ));
    assert!(out.contains("Commit complete"), "{out}");
    assert!(!top.exists(), "--delete removes the committed image");
    assert_eq!(backing(&active).as_deref(), Some(b.as_str()));
    assert_eq!(
        sum_range(&k, "rs", 16, 32),
        all,
        "the commit kept every write"
    );
    qemu_img_check(&active);
    qemu_img_check(&base);
    // The base alone now holds what the committed layers did.
    let reboot_sum = {
        k.ok("destroy rs");
        k.ok("start rs");
        k.wait_console("rs", "guest: ready");
        sum_range(&k, "rs", 16, 32)
    };
    assert_eq!(reboot_sum, all);
    k.ok("destroy rs");
    k.assert_no_vmms_left();
}

/// A block copy runs beside the guest: at 1 MiB/s a 32 MiB disk would take
/// half a minute, during which `blockjob --info` shows it under way and the
/// guest answers and writes; `blockjob --bandwidth 0` lifts the limit on
/// the copy under way; the pivot then moves the guest onto a copy that is
/// the source byte for byte, writes made meanwhile included.
#[test]
fn kvm_block_copy_runs_beside_the_guest_with_progress() {
    let Some(k) = kvm() else { return };
    let dir = k.dir.path();
    let src = dir.join("bg.img");
    let data: Vec<u8> = (0..32u32 << 20)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 25) as u8)
        .collect();
    std::fs::write(&src, &data).unwrap();
    let xml = dir.join("bg.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain type='kvm'><name>bg</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
             <os><type>hvm</type></os><devices><disk type='file' device='disk'>\
             <source file='{}'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
            src.display()
        ),
    )
    .unwrap();
    k.ok(&format!("create {}", xml.display()));
    k.wait_console("bg", "guest: ready");
    let dest = dir.join("bg-copy.img");
    let out = k.ok(&format!(
        "blockcopy bg vda {} --format raw --bandwidth 1",
        dest.display()
    ));
    assert!(out.contains("Block Copy started"), "{out}");
    let info = k.ok("blockjob bg vda --info");
    let percent: u32 = info
        .split('[')
        .nth(1)
        .and_then(|r| r.split('%').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no progress in {info:?}"));
    assert!(percent < 100, "a 32 s copy is under way: {info}");
    // The guest runs meanwhile, and what it writes reaches the copy.
    let written = fill_and_sum(&k, "bg", 6);
    k.ok("blockjob bg vda --bandwidth 0");
    // Unthrottled, the rest takes well under the half minute it had left.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !k.ok("blockjob bg vda --info").contains("[100 %]") {
        assert!(Instant::now() < deadline, "the copy never got ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    k.ok("blockjob bg vda --pivot");
    assert!(k.ok("domblklist bg").contains(&dest.display().to_string()));
    assert!(
        std::fs::read(&src).unwrap() == std::fs::read(&dest).unwrap(),
        "the copy differs from the source"
    );
    assert_eq!(sum(&k, "bg"), written);
    k.ok("destroy bg");
    k.assert_no_vmms_left();
}
