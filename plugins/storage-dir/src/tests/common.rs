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
    }
}

/// Bytes the file occupies on disk (`st_blocks * 512`).
pub fn allocated(path: &Path) -> u64 {
    fs::metadata(path).unwrap().blocks() * 512
}

/// Whether `tool` can be run; prints a note when it cannot.
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: {tool} not found: skipping its checks");
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
    let field = |key: &str| {
        let at = text
            .find(&format!("\"{key}\": "))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            + key.len()
            + 4;
        text[at..]
            .split([',', '\n'])
            .next()
            .unwrap()
            .trim()
            .trim_matches('"')
            .to_string()
    };
    (field("format"), field("virtual-size").parse().unwrap())
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
