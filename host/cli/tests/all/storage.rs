//! "dir" pools on the local host (kvm:///session), served by the
//! storage-dir WASM plugin sandboxed to each pool's directory. Every step is
//! its own `wirt` process: pool state survives between them.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Host {
    dir: tempfile::TempDir,
}

struct Out {
    stdout: String,
    stderr: String,
    ok: bool,
}

impl Host {
    fn new() -> Host {
        Host {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn wirt(&self, script: &str) -> Out {
        let out = Command::new(env!("CARGO_BIN_EXE_wirt"))
            .args(["-c", "kvm:///session", script])
            .env("WIRT_STATE_DIR", self.path("state"))
            .env("WIRT_RUNTIME_DIR", self.path("run"))
            .output()
            .unwrap();
        Out {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            ok: out.status.success(),
        }
    }

    fn ok(&self, script: &str) -> String {
        let out = self.wirt(script);
        assert!(out.ok, "`{script}` failed: {}", out.stderr);
        out.stdout
    }

    fn fails(&self, script: &str) -> String {
        let out = self.wirt(script);
        assert!(!out.ok, "`{script}` should have failed: {}", out.stdout);
        out.stderr
    }

    fn pool(&self) -> PathBuf {
        let target = self.path("images/pool1");
        self.ok(&format!(
            "pool-define-as pool1 dir --target {}; pool-build pool1; pool-start pool1",
            target.display()
        ));
        target
    }
}

fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn dir_pool_volumes_end_to_end() {
    let h = Host::new();
    let target = h.pool();
    let mode = std::fs::metadata(&target).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o711, "pool-build makes the directory 0711");
    let info = h.ok("pool-info pool1");
    assert!(info.contains("State:          running"), "{info}");

    h.ok("vol-create-as pool1 sparse.raw 1G --allocation 0 --format raw; vol-create-as pool1 full.raw 8M --format raw; vol-create-as pool1 part.raw 8M --allocation 2M");
    assert_eq!(
        allocated(&target.join("sparse.raw")),
        0,
        "allocation 0 is sparse"
    );
    assert!(
        allocated(&target.join("full.raw")) >= 8 << 20,
        "allocation = capacity is preallocated"
    );
    let part = allocated(&target.join("part.raw"));
    assert!(((2 << 20)..(3 << 20)).contains(&part), "{part}");
    let list = h.ok("vol-list pool1 --details");
    assert!(
        list.contains(" sparse.raw   ") && list.contains("1.00 GiB   0.00 B"),
        "{list}"
    );
    let mode = std::fs::metadata(target.join("full.raw")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Upload and download at an offset, byte-identical.
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(h.path("up.bin"), &data).unwrap();
    let down = h.path("down.bin");
    h.ok(&format!(
        "vol-upload sparse.raw {} --pool pool1 --offset 4097; vol-download sparse.raw {} --pool pool1 --offset 4097 --length {}",
        h.path("up.bin").display(),
        down.display(),
        data.len()
    ));
    assert_eq!(std::fs::read(&down).unwrap(), data);

    // Resize: grow, refuse shrink without --shrink, never below allocation.
    h.ok("vol-resize full.raw 16M --pool pool1");
    let err = h.fails("vol-resize full.raw 4M --pool pool1 --shrink");
    assert!(
        err.contains("can't shrink capacity below existing allocation"),
        "{err}"
    );
    let err = h.fails("vol-resize sparse.raw 512M --pool pool1");
    assert!(
        err.contains("unless shrink flag explicitly specified"),
        "{err}"
    );
    h.ok("vol-resize sparse.raw 512M --pool pool1 --shrink");
    assert!(
        h.ok("vol-info sparse.raw --pool pool1 --bytes")
            .contains("Capacity:       536870912 bytes")
    );

    // Wipe keeps a sparse volume sparse; clone copies data, not holes.
    let before = allocated(&target.join("sparse.raw"));
    h.ok("vol-wipe sparse.raw --pool pool1");
    assert_eq!(
        allocated(&target.join("sparse.raw")),
        before,
        "wipe neither allocates nor frees"
    );
    let zeros = std::fs::read(target.join("sparse.raw")).unwrap();
    assert!(zeros.iter().all(|&b| b == 0));
    h.ok(&format!(
        "vol-upload part.raw {} --pool pool1",
        h.path("up.bin").display()
    ));
    h.ok("vol-clone part.raw copy.raw --pool pool1");
    assert_eq!(
        std::fs::read(target.join("copy.raw")).unwrap(),
        std::fs::read(target.join("part.raw")).unwrap()
    );
    assert!(allocated(&target.join("copy.raw")) < allocated(&target.join("part.raw")) + (1 << 20));

    // qcow2 written by wirt is a valid image.
    h.ok("vol-create-as pool1 disk.qcow2 1G --format qcow2");
    if Path::new("/usr/bin/qemu-img").exists() {
        let check = Command::new("qemu-img")
            .args(["check", &target.join("disk.qcow2").display().to_string()])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
        let info = Command::new("qemu-img")
            .args([
                "info",
                "--output=json",
                &target.join("disk.qcow2").display().to_string(),
            ])
            .output()
            .unwrap();
        // The image's own fields are the top-level ones (qemu-img 8 and
        // later print a `children` array with the `file` layer's first).
        let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
        assert_eq!(info["format"], "qcow2", "{info}");
        assert_eq!(info["virtual-size"], 1u64 << 30, "{info}");
    } else {
        wirt_testkit::require("qemu-img", "the qcow2 volume is not checked with qemu-img");
    }

    // External changes appear only after a refresh.
    std::fs::write(target.join("outside-made.raw"), b"x").unwrap();
    assert!(!h.ok("vol-list pool1").contains("outside-made.raw"));
    assert!(
        h.ok("pool-refresh pool1; vol-list pool1")
            .contains("outside-made.raw")
    );

    // Delete, and the pool's own lifecycle.
    h.ok("vol-delete copy.raw --pool pool1");
    assert!(!target.join("copy.raw").exists());
    let err = h.fails("vol-delete nope.raw --pool pool1");
    assert!(err.contains("error: failed to get vol 'nope.raw'"), "{err}");
    h.ok("pool-destroy pool1");
    let err = h.fails("vol-list pool1");
    assert!(err.contains("storage pool 'pool1' is not active"), "{err}");
    let err = h.fails("pool-delete pool1");
    assert!(err.contains("Directory not empty"), "{err}");
    assert!(target.join("full.raw").exists(), "nothing is lost");
}

#[test]
fn bad_names_symlinks_and_duplicates_are_refused() {
    let h = Host::new();
    let target = h.pool();
    let err = h.fails("vol-create-as pool1 x/y.raw 1M");
    assert!(
        err.contains("volume name 'x/y.raw' cannot contain '/'"),
        "{err}"
    );
    for bad in ["..", "."] {
        let err = h.fails(&format!("vol-create-as pool1 {bad} 1M"));
        assert!(err.contains("is not allowed"), "{err}");
    }
    h.ok("vol-create-as pool1 a.raw 1M");
    let err = h.fails("vol-create-as pool1 a.raw 1M");
    assert!(
        err.contains("storage volume 'a.raw' exists already"),
        "{err}"
    );

    // A symlink pointing out of the pool is never followed out of the sandbox.
    std::os::unix::fs::symlink("/etc/passwd", target.join("escape.raw")).unwrap();
    let outside = h.path("outside.raw");
    std::fs::write(&outside, vec![7u8; 4096]).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("escape2.raw")).unwrap();
    let list = h.ok("pool-refresh pool1; vol-list pool1");
    assert!(!list.contains("escape"), "{list}");
    let err = h.fails(&format!(
        "vol-download escape.raw {} --pool pool1",
        h.path("stolen").display()
    ));
    assert!(err.contains("failed to get vol 'escape.raw'"), "{err}");
    assert_eq!(std::fs::read(&outside).unwrap(), vec![7u8; 4096]);

    // A listed raw volume swapped for a symlink afterwards: transfers (which
    // the host moves itself for raw volumes) neither read nor write through it.
    h.ok("vol-create-as pool1 swapped.raw 4096");
    let listed = h.ok("vol-list pool1");
    assert!(listed.contains("swapped.raw"), "{listed}");
    std::fs::remove_file(target.join("swapped.raw")).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("swapped.raw")).unwrap();
    let stolen = h.path("stolen2");
    h.fails(&format!(
        "vol-download swapped.raw {} --pool pool1",
        stolen.display()
    ));
    assert!(
        std::fs::read(&stolen).map_or(true, |b| b.is_empty()),
        "data read through a symlink"
    );
    let zeros = h.path("zeros");
    std::fs::write(&zeros, vec![0u8; 4096]).unwrap();
    h.fails(&format!(
        "vol-upload swapped.raw {} --pool pool1",
        zeros.display()
    ));
    assert_eq!(std::fs::read(&outside).unwrap(), vec![7u8; 4096]);
}
