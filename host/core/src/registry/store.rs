//! Persistence of a connection's objects in a state directory. Every file is
//! written atomically (temporary file, fsync, rename, fsync of the
//! directory), so a crash leaves either the old or the new version.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;

use super::{Error, Result, StateLock};

/// A state directory: where a connection's objects persist, one file each.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
    /// Where records of running domains live (lost on reboot, as they should be).
    runtime: Option<PathBuf>,
    /// The lock other processes share: every write announces itself there.
    lock: Option<Arc<StateLock>>,
}

/// Mode of the files wirt keeps: definitions hold secrets (graphics
/// passwords) and images hold guest memory, so only the owner reads them,
/// as with libvirt.
pub const PRIVATE_FILE: u32 = 0o600;
/// Mode of the directories wirt creates for them.
pub const PRIVATE_DIR: u32 = 0o700;

/// Creates `dir` and its missing parents, private.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)
}

/// Writes `data` to `path` atomically, readable by the owner only.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic_mode(path, data, PRIVATE_FILE)
}

/// The same with `mode` (for what other users must read: plugins).
pub fn write_atomic_mode(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let werr = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    if mode == PRIVATE_FILE {
        create_private_dir(dir).map_err(werr)?;
    } else {
        fs::create_dir_all(dir).map_err(werr)?;
    }
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    let result = (|| {
        // The mode is set at creation: never readable by others, not even
        // for a moment (a stale temporary of a crash is replaced whole).
        let _ = fs::remove_file(&tmp);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(werr)
}

impl StateDir {
    /// The state directory at `root`, with no runtime directory and no lock.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StateDir {
            root: root.into(),
            runtime: None,
            lock: None,
        }
    }

    /// Writes announce themselves to other processes through `lock`.
    pub fn with_lock(mut self, lock: Arc<StateLock>) -> Self {
        self.lock = Some(lock);
        self
    }

    /// The lock of this dir, if it has one.
    pub fn lock(&self) -> Option<&Arc<StateLock>> {
        self.lock.as_ref()
    }

    /// The records of running domains, sharing this dir's lock.
    pub fn runtime_store(&self) -> Option<StateDir> {
        Some(StateDir {
            root: self.runtime.clone()?,
            runtime: None,
            lock: self.lock.clone(),
        })
    }

    /// Tells other processes, before a write, that the state changes.
    pub fn announce(&self) {
        if let Some(lock) = &self.lock {
            lock.bump();
        }
    }

    /// Records of running domains go to `runtime`.
    pub fn with_runtime(mut self, runtime: impl Into<PathBuf>) -> Self {
        self.runtime = Some(runtime.into());
        self
    }

    /// Where records of running domains go, if anywhere.
    pub fn runtime(&self) -> Option<&Path> {
        self.runtime.as_deref()
    }

    /// Writes any file atomically (save images, exported state), 0600.
    pub fn write_file(path: &Path, data: &[u8]) -> Result<()> {
        write_atomic(path, data)
    }

    /// Writes a file other users may read (installed plugins), atomically.
    pub fn write_shared_file(path: &Path, data: &[u8]) -> Result<()> {
        write_atomic_mode(path, data, 0o644)
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of object `uuid` of `kind` ("domains", "networks", "pools")
    /// with extension `ext`.
    pub fn object_path(&self, kind: &str, uuid: &Uuid, ext: &str) -> PathBuf {
        self.root.join(kind).join(format!("{uuid}.{ext}"))
    }

    /// Where the snapshots of domain `uuid` are kept.
    pub fn snapshot_dir(&self, uuid: &Uuid) -> PathBuf {
        self.root.join("snapshots").join(uuid.to_string())
    }

    /// Where every domain's snapshot directory lives.
    pub fn snapshots_root(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    /// Stores object `uuid` of `kind` with extension `ext`, atomically.
    pub fn write(&self, kind: &str, uuid: &Uuid, ext: &str, data: &[u8]) -> Result<()> {
        self.announce();
        write_atomic(&self.object_path(kind, uuid, ext), data)
    }

    /// Removes the file of object `uuid` of `kind` with extension `ext`, if
    /// there is one.
    pub fn remove(&self, kind: &str, uuid: &Uuid, ext: &str) -> Result<()> {
        let path = self.object_path(kind, uuid, ext);
        if path.exists() {
            self.announce();
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Write { path, source }),
        }
    }

    /// Every stored object of `kind` with extension `ext`: (uuid, content).
    pub fn list(&self, kind: &str, ext: &str) -> Result<Vec<(Uuid, Vec<u8>)>> {
        let dir = self.root.join(kind);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(Error::Read { path: dir, source }),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Read {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix(&format!(".{ext}")) else {
                continue;
            };
            let Ok(uuid) = Uuid::parse_str(stem) else {
                continue;
            };
            let data = fs::read(&path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            out.push((uuid, data));
        }
        out.sort_by_key(|(u, _)| *u);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateDir::new(dir.path());
        let uuid = Uuid::new_v4();
        store.write("domains", &uuid, "xml", b"one").unwrap();
        store.write("domains", &uuid, "xml", b"two").unwrap();
        let listed = store.list("domains", "xml").unwrap();
        assert_eq!(listed, vec![(uuid, b"two".to_vec())]);
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path().join("domains")).unwrap().count(), 1);
        store.remove("domains", &uuid, "xml").unwrap();
        store.remove("domains", &uuid, "xml").unwrap();
        assert!(store.list("domains", "xml").unwrap().is_empty());
    }
}
