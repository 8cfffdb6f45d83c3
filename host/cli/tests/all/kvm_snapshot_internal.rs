//! Issue 16: internal snapshots of kvm: guests, kept inside their qcow2
//! images. The guest writes known patterns; the snapshot is taken while it
//! runs (with its memory) and while it is off; reverts bring the checksums
//! of the snapshot point back; deletes keep what was written since; QEMU's
//! tools list the snapshots and find the images clean.

use std::path::Path;
use std::process::Command;

use crate::kvm::kvm;
use crate::kvm_snapshot::{fill_and_sum, qcow2_domain, qemu_img_check, sum};

/// The internal snapshots QEMU's tools see in `image` (it may be in use).
fn qemu_snapshots(image: &Path) -> Option<Vec<String>> {
    if !wirt_testkit::have("qemu-img", "--version") {
        wirt_testkit::require("qemu-img", "QEMU lists the snapshots wirt wrote");
        return None;
    }
    let out = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Some(
        info["snapshots"]
            .as_array()
            .map(|s| {
                s.iter()
                    .map(|s| s["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default(),
    )
}

fn assert_snapshots(image: &Path, want: &[&str]) {
    if let Some(names) = qemu_snapshots(image) {
        assert_eq!(names, want, "snapshots inside {}", image.display());
    }
}

#[test]
fn kvm_internal_snapshots_running_and_shut_off() {
    let Some(k) = kvm() else { return };
    let (xml, pool) = qcow2_domain(&k, "ig");
    let image = pool.join("ig.qcow2");
    k.ok(&format!("define {}; start ig", xml.display()));
    k.wait_console("ig", "guest: ready");
    let at_i1 = fill_and_sum(&k, "ig", 1);

    // Running, with memory: nothing new on disk but the image's table.
    let out = k.ok("snapshot-create-as ig i1 --diskspec vda,snapshot=internal");
    assert!(out.contains("Domain snapshot i1 created"), "{out}");
    assert_eq!(k.state("ig"), "running (booted)");
    let dump = k.ok("snapshot-dumpxml ig i1");
    assert!(dump.contains("<memory snapshot='internal'/>"), "{dump}");
    assert!(
        dump.contains("<disk name='vda' snapshot='internal'/>"),
        "{dump}"
    );
    assert!(k.ok("domblklist ig").contains("ig.qcow2"));
    let files: Vec<_> = std::fs::read_dir(&pool).unwrap().collect();
    assert_eq!(files.len(), 1, "no overlay: {files:?}");
    assert_snapshots(&image, &["i1"]);

    assert_ne!(fill_and_sum(&k, "ig", 2), at_i1);
    k.ok("snapshot-revert ig i1");
    assert_eq!(k.state("ig"), "running (from snapshot)");
    assert_eq!(sum(&k, "ig"), at_i1, "the revert restores the disk");

    // Disk-only while running; then the first snapshot goes while the
    // guest runs, keeping what it wrote since.
    let at_i2 = fill_and_sum(&k, "ig", 3);
    k.ok("snapshot-create-as ig i2 --disk-only --diskspec vda,snapshot=internal");
    assert!(k.ok("snapshot-info ig i2").contains("disk-snapshot"));
    let kept = fill_and_sum(&k, "ig", 4);
    k.ok("snapshot-delete ig i1");
    assert_eq!(sum(&k, "ig"), kept, "nothing written is lost");
    assert_snapshots(&image, &["i2"]);
    k.ok("destroy ig");
    qemu_img_check(&image);

    // A disk-only snapshot reverts to a guest that is off; it boots on the
    // disk as it was.
    k.ok("snapshot-revert ig i2");
    assert_eq!(k.state("ig"), "shut off (from snapshot)");
    k.ok("start ig");
    k.wait_console("ig", "guest: ready");
    assert_eq!(sum(&k, "ig"), at_i2);

    // Shut off: the image alone.
    k.ok("destroy ig");
    k.ok("snapshot-create-as ig i3 --diskspec vda,snapshot=internal");
    assert!(
        k.ok("snapshot-dumpxml ig i3")
            .contains("<memory snapshot='no'/>")
    );
    k.ok("start ig");
    k.wait_console("ig", "guest: ready");
    assert_ne!(fill_and_sum(&k, "ig", 5), at_i2);
    k.ok("snapshot-revert ig i3 --running");
    assert_eq!(k.state("ig"), "running (from snapshot)");
    k.wait_console("ig", "guest: ready");
    assert_eq!(sum(&k, "ig"), at_i2);

    // Memory kept internally takes the writable disks with it (virsh's
    // `--memspec snapshot=internal`), as libvirt's qemu driver does.
    let at_i4 = fill_and_sum(&k, "ig", 6);
    k.ok("snapshot-create-as ig i4 --memspec snapshot=internal");
    let dump = k.ok("snapshot-dumpxml ig i4");
    assert!(dump.contains("<memory snapshot='internal'/>"), "{dump}");
    assert!(
        dump.contains("<disk name='vda' snapshot='internal'/>"),
        "{dump}"
    );
    assert_snapshots(&image, &["i2", "i3", "i4"]);
    assert_ne!(fill_and_sum(&k, "ig", 7), at_i4);
    k.ok("snapshot-revert ig i4");
    assert_eq!(sum(&k, "ig"), at_i4);
    k.ok("snapshot-delete ig i4");

    // Refused as libvirt refuses them, changing nothing.
    let err =
        k.wirt("snapshot-create-as ig bad --diskspec vda,snapshot=internal --memspec file=/tmp/m");
    assert!(!err.ok);
    assert!(
        err.stderr.contains("mixing internal and external"),
        "{}",
        err.stderr
    );
    assert_snapshots(&image, &["i2", "i3"]);

    k.ok("destroy ig; snapshot-delete ig i2; snapshot-delete ig i3");
    assert_snapshots(&image, &[]);
    qemu_img_check(&image);
    k.ok("undefine ig");
    k.assert_no_vmms_left();
}

#[test]
fn kvm_internal_snapshot_needs_qcow2() {
    let Some(k) = kvm() else { return };
    let xml = k.domain("rg");
    k.ok(&format!("define {}", xml.display()));
    let err = k.wirt("snapshot-create-as rg s --diskspec vda,snapshot=internal");
    assert!(!err.ok);
    assert!(
        err.stderr
            .contains("internal snapshot for disk vda unsupported for storage type raw"),
        "{}",
        err.stderr
    );
    assert!(k.ok("snapshot-list rg --name").trim().is_empty());
}
