//! Fixtures: a driver over a temporary root with started pools, and the
//! qemu-img / qemu-io checks (skipped, with a note, when they are missing).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::{Driver, PoolConfig, VolumeConfig};

pub const UUID: &str = "efc17fd8-7a13-4208-864f-8686bd066d33";
pub const UUID2: &str = "0b3f1b52-5d0e-4c7e-9d0c-0a8b2b6c1f10";
pub const TARGET: &str = "/srv/images/dirpool";
pub const TARGET2: &str = "/srv/images/other";
pub const MIB: u64 = 1 << 20;

pub struct Env {
    pub _tmp: TempDir,
    pub root: PathBuf,
    pub driver: Driver,
}

impl Env {
    /// Pool `UUID` (target `TARGET`) and `UUID2` (`TARGET2`), both started.
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("pools");
        fs::create_dir(&root).unwrap();
        let mut driver = Driver::new(&root);
        for (uuid, target) in [(UUID, TARGET), (UUID2, TARGET2)] {
            fs::create_dir(root.join(uuid)).unwrap();
            driver.pool_start(&pool(uuid, target)).unwrap();
        }
        Env {
            _tmp: tmp,
            root,
            driver,
        }
    }

    /// The file of volume `name` of pool `UUID`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(UUID).join(name)
    }

    pub fn create(&self, name: &str, capacity: u64, allocation: u64, format: &str) {
        self.driver
            .pool(UUID)
            .unwrap()
            .create(&vol(name, capacity, allocation, format), 0)
            .unwrap();
    }

    /// Writes `data` at `offset` through the driver.
    pub fn write(&self, name: &str, offset: u64, data: &[u8]) {
        self.driver
            .pool(UUID)
            .unwrap()
            .write(name, offset, data)
            .unwrap();
    }

    /// The whole volume file, read through the driver in chunks.
    pub fn read_all(&self, uuid: &str, name: &str) -> Vec<u8> {
        let pool = self.driver.pool(uuid).unwrap();
        let mut out = Vec::new();
        loop {
            let chunk = pool.read(name, out.len() as u64, 1 << 22).unwrap();
            if chunk.is_empty() {
                return out;
            }
            out.extend_from_slice(&chunk);
        }
    }
}

pub fn pool(uuid: &str, target: &str) -> PoolConfig {
    PoolConfig {
        uuid: uuid.into(),
        name: format!("pool-{}", &uuid[..4]),
        pool_type: "dir".into(),
        target_path: Some(target.into()),
        source_path: None,
        mode: Some(0o711),
    }
}

pub fn vol(name: &str, capacity: u64, allocation: u64, format: &str) -> VolumeConfig {
    VolumeConfig {
        name: name.into(),
        capacity,
        allocation,
        format: format.into(),
        backing: None,
    }
}

/// Bytes the file occupies on disk (`st_blocks * 512`).
pub fn allocated(path: &Path) -> u64 {
    fs::metadata(path).unwrap().blocks() * 512
}

/// Whether `tool` (from qemu-utils, which `scripts/setup.sh` installs) can
/// be run; when it cannot, records the skip of its checks (a failure under
/// `WIRT_TEST_STRICT=1`).
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        wirt_testkit::require(
            tool,
            "the image checks that use it are skipped (qemu-utils)",
        );
    }
    ok
}

/// `qemu-img check`: must pass. Returns its output.
pub fn qemu_img_check(path: &Path) -> String {
    let out = Command::new("qemu-img")
        .arg("check")
        .arg(path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "qemu-img check {}: {text}",
        path.display()
    );
    assert!(
        text.contains("No errors were found on the image."),
        "{text}"
    );
    text
}

/// `qemu-img info --output=json`: (format, virtual size).
pub fn qemu_img_info(path: &Path) -> (String, u64) {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "qemu-img info: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format_and_size(&text)
}

/// The image's own format and virtual size from `qemu-img info
/// --output=json`: the top-level fields. qemu-img 8 and later also print a
/// `children` array (the protocol layer, whose format is `file`) before them.
pub fn format_and_size(text: &str) -> (String, u64) {
    let json: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("qemu-img info: {e}: {text}"));
    let format = json["format"]
        .as_str()
        .unwrap_or_else(|| panic!("no top-level format in {text}"));
    let size = json["virtual-size"]
        .as_u64()
        .unwrap_or_else(|| panic!("no top-level virtual-size in {text}"));
    (format.to_string(), size)
}

#[test]
fn qemu_img_8_info_is_read_by_its_top_level_fields() {
    // As qemu-img 8.2 (Debian bookworm-backports, trixie) prints it.
    let v8 = r#"{
    "children": [
        {
            "name": "file",
            "info": {
                "children": [
                ],
                "virtual-size": 197120,
                "filename": "img.qcow2",
                "format": "file",
                "actual-size": 200704,
                "format-specific": {
                    "type": "file",
                    "data": {
                    }
                },
                "dirty-flag": false
            }
        }
    ],
    "virtual-size": 1073741824,
    "filename": "img.qcow2",
    "cluster-size": 65536,
    "format": "qcow2",
    "actual-size": 200704,
    "dirty-flag": false
}"#;
    assert_eq!(format_and_size(v8), ("qcow2".to_string(), 1 << 30));
    // qemu-img 7 (Debian bookworm): no children.
    let v7 = r#"{"virtual-size": 2097152, "filename": "a.raw", "format": "raw",
                 "actual-size": 0, "dirty-flag": false}"#;
    assert_eq!(format_and_size(v7), ("raw".to_string(), 2 << 20));
}

/// `qemu-io -c <command>` on a qcow2 image: must succeed.
pub fn qemu_io(path: &Path, command: &str) -> String {
    let out = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", command])
        .arg(path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !text.contains("Pattern verification failed"),
        "qemu-io {command}: {text}"
    );
    text
}
