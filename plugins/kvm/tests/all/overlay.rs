//! The host's image operations behind external snapshots: overlays made by
//! `overlay::create_overlay` and merged down by `overlay::commit`, checked
//! with QEMU's own tools (`qemu-img check`, `compare`, `info`; data
//! written with `qemu-io`).

use std::path::Path;

use crate::common::{qemu_tools, run_text as run};
use wirt_kvm::control::protocol::DiskFormat;
use wirt_kvm::devices::virtio::block::overlay::{self, OverlayError};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn io(image: &Path, format: &str, command: &str) {
    run("qemu-io", &["-f", format, "-c", command, s(image)]);
}

#[test]
fn an_overlay_reads_through_and_qemu_img_sees_its_backing_file() {
    if !qemu_tools("images checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    std::fs::write(&base, vec![0x5au8; 1 << 20]).unwrap();
    let top = dir.path().join("top.qcow2");
    overlay::create_overlay(&top, &base, DiskFormat::Raw).unwrap();
    let info = run("qemu-img", &["info", "--output=json", s(&top)]);
    assert!(
        info.contains("\"backing-filename-format\": \"raw\""),
        "{info}"
    );
    assert!(
        info.contains(&format!("\"backing-filename\": \"{}\"", s(&base))),
        "{info}"
    );
    assert!(info.contains("\"virtual-size\": 1048576"), "{info}");
    run("qemu-img", &["check", "-f", "qcow2", s(&top)]);
    run(
        "qemu-img",
        &["compare", "-f", "qcow2", "-F", "raw", s(&top), s(&base)],
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&top).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "an image is its owner's only");
    // Never over an existing file.
    assert!(matches!(
        overlay::create_overlay(&top, &base, DiskFormat::Raw),
        Err(OverlayError::Exists(_))
    ));
}

#[test]
fn commit_copies_data_and_zeroes_and_leaves_the_rest() {
    if !qemu_tools("images checked by QEMU's tools") {
        return;
    }
    for base_format in ["qcow2", "raw"] {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join(format!("base.{base_format}"));
        run(
            "qemu-img",
            &["create", "-q", "-f", base_format, s(&base), "4M"],
        );
        io(&base, base_format, "write -P 0x11 0 4M");
        let top = dir.path().join("top.qcow2");
        let format = if base_format == "raw" {
            DiskFormat::Raw
        } else {
            DiskFormat::Qcow2
        };
        overlay::create_overlay(&top, &base, format).unwrap();
        // Data in one cluster, a partial cluster, explicit zeroes; the
        // rest reads through.
        io(&top, "qcow2", "write -P 0x22 64k 64k");
        io(&top, "qcow2", "write -P 0x33 1000k 5k");
        io(&top, "qcow2", "write -z 2M 128k");
        let expected = dir.path().join("expected.raw");
        run(
            "qemu-img",
            &["convert", "-f", "qcow2", "-O", "raw", s(&top), s(&expected)],
        );
        overlay::commit(
            std::slice::from_ref(&top),
            &base,
            format,
            &[dir.path().to_path_buf()],
        )
        .unwrap();
        run(
            "qemu-img",
            &[
                "compare",
                "-f",
                base_format,
                "-F",
                "raw",
                s(&base),
                s(&expected),
            ],
        );
        if base_format == "qcow2" {
            run("qemu-img", &["check", "-f", "qcow2", s(&base)]);
        }
    }
}

#[test]
fn commit_refuses_an_image_that_is_not_the_overlays_backing_file() {
    if !qemu_tools("images checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    let other = dir.path().join("other.raw");
    std::fs::write(&base, vec![1u8; 1 << 20]).unwrap();
    std::fs::write(&other, vec![2u8; 1 << 20]).unwrap();
    let top = dir.path().join("top.qcow2");
    overlay::create_overlay(&top, &base, DiskFormat::Raw).unwrap();
    io(&top, "qcow2", "write -P 0x22 0 64k");
    let err = overlay::commit(
        std::slice::from_ref(&top),
        &other,
        DiskFormat::Raw,
        &[dir.path().to_path_buf()],
    );
    assert!(
        matches!(err, Err(OverlayError::NotAnOverlay { .. })),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&other).unwrap(), vec![2u8; 1 << 20]);
}

/// Two layers at once: committed into the image below them, or copied
/// into a fresh overlay over it (what a partial pull makes); the result
/// reads as the top layer did, by `qemu-img compare`. A chain given out of
/// order is refused.
#[test]
fn layers_commit_into_the_image_below_or_a_fresh_overlay_over_it() {
    if !qemu_tools("images checked by QEMU's tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let allowed = [dir.path().to_path_buf()];
    let setup = || {
        let base = p("base.raw");
        std::fs::write(&base, vec![0x11u8; 4 << 20]).unwrap();
        let _ = std::fs::remove_file(p("mid.qcow2"));
        let _ = std::fs::remove_file(p("top.qcow2"));
        overlay::create_overlay(&p("mid.qcow2"), &base, DiskFormat::Raw).unwrap();
        io(&p("mid.qcow2"), "qcow2", "write -P 0x22 0 1M");
        io(&p("mid.qcow2"), "qcow2", "write -z 3M 64k");
        overlay::create_overlay(&p("top.qcow2"), &p("mid.qcow2"), DiskFormat::Qcow2).unwrap();
        io(&p("top.qcow2"), "qcow2", "write -P 0x33 512k 1M");
        run(
            "qemu-img",
            &[
                "convert",
                "-f",
                "qcow2",
                "-O",
                "raw",
                s(&p("top.qcow2")),
                s(&p("expected.raw")),
            ],
        );
    };
    let layers = [p("top.qcow2"), p("mid.qcow2")];
    // Into the image below both.
    setup();
    overlay::commit(&layers, &p("base.raw"), DiskFormat::Raw, &allowed).unwrap();
    run(
        "qemu-img",
        &[
            "compare",
            "-f",
            "raw",
            "-F",
            "raw",
            s(&p("base.raw")),
            s(&p("expected.raw")),
        ],
    );
    // Into a fresh overlay over it: the base is untouched.
    setup();
    let fresh = p("fresh.qcow2");
    overlay::create_overlay(&fresh, &p("base.raw"), DiskFormat::Raw).unwrap();
    overlay::commit(&layers, &fresh, DiskFormat::Qcow2, &allowed).unwrap();
    run(
        "qemu-img",
        &[
            "compare",
            "-f",
            "qcow2",
            "-F",
            "raw",
            s(&fresh),
            s(&p("expected.raw")),
        ],
    );
    run("qemu-img", &["check", "-f", "qcow2", s(&fresh)]);
    assert_eq!(std::fs::read(p("base.raw")).unwrap(), vec![0x11u8; 4 << 20]);
    // Out of order: refused.
    let err = overlay::commit(
        &[p("mid.qcow2"), p("top.qcow2")],
        &p("base.raw"),
        DiskFormat::Raw,
        &allowed,
    );
    assert!(
        matches!(err, Err(OverlayError::NotAnOverlay { .. })),
        "{err:?}"
    );
}
