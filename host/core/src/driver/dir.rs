//! "dir" storage pools: the storage-dir WASM plugin does the volume work,
//! sandboxed to one granted directory per active pool (`/pools/<uuid>`);
//! the host does what WASI cannot: create and remove the pool directory,
//! measure the file system (statvfs) and real allocations (st_blocks), and
//! find the data ranges of sparse files for the plugin.

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::wasm::WasmDriver;
use super::*;
use crate::plugin::{PluginHandle, Preopen};

/// Where the plugin sees pool `uuid`.
pub fn guest_path(uuid: &str) -> String {
    format!("/pools/{uuid}")
}

/// libvirt's default mode for a dir pool's directory.
const DEFAULT_MODE: u32 = 0o711;

/// The storage driver of "dir" pools: the storage-dir plugin, with the
/// host's help.
pub struct DirStorage {
    plugin: WasmDriver,
    /// Active pools by uuid: what the plugin is granted and told about.
    active: Arc<Mutex<BTreeMap<String, PoolConfig>>>,
    /// The volumes each active pool was last seen to hold, as the host
    /// knows them between refreshes.
    known: Mutex<BTreeMap<String, BTreeMap<String, VolumeInfo>>>,
    /// Where the active set and the known volumes are recorded for the
    /// next host process, so a new process sees what the last one saw
    /// (external changes still appear only after a refresh).
    record: Option<PathBuf>,
}

fn volume_json(v: &VolumeInfo) -> serde_json::Value {
    serde_json::json!({
        "name": v.name, "key": v.key, "path": v.path, "kind": v.kind,
        "capacity": v.capacity, "allocation": v.allocation, "format": v.format,
    })
}

fn volume_from_json(v: &serde_json::Value) -> Option<VolumeInfo> {
    Some(VolumeInfo {
        name: v["name"].as_str()?.to_string(),
        key: v["key"].as_str()?.to_string(),
        path: v["path"].as_str()?.to_string(),
        kind: v["kind"].as_u64()? as u32,
        capacity: v["capacity"].as_u64()?,
        allocation: v["allocation"].as_u64()?,
        format: v["format"].as_str()?.to_string(),
    })
}

impl std::fmt::Debug for DirStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirStorage").finish_non_exhaustive()
    }
}

fn target(pool: &PoolConfig) -> Result<PathBuf> {
    pool.target_path
        .as_deref()
        .filter(|p| p.starts_with('/'))
        .map(PathBuf::from)
        .ok_or_else(|| {
            Error::driver(
                ErrorCode::INVALID_ARG,
                format!("storage pool '{}' needs an absolute target path", pool.name),
            )
        })
}

fn io(what: String, source: std::io::Error) -> Error {
    Error::Io { what, source }
}

/// The pools the previous host process left active, as recorded in
/// `record`, with the volumes it knew them to hold.
pub fn recorded_active(record: &std::path::Path) -> Vec<(String, Vec<VolumeInfo>)> {
    let record: serde_json::Value = std::fs::read(record)
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or(serde_json::Value::Null);
    record
        .as_object()
        .map(|pools| {
            pools
                .iter()
                .map(|(uuid, vols)| {
                    let vols = vols
                        .as_array()
                        .map(|a| a.iter().filter_map(volume_from_json).collect())
                        .unwrap_or_default();
                    (uuid.clone(), vols)
                })
                .collect()
        })
        .unwrap_or_default()
}

impl DirStorage {
    /// Wraps the storage-dir plugin's handle. Every fresh instance is told
    /// the active pools again, because it is granted them anew.
    pub fn new(handle: Arc<PluginHandle>, record: Option<PathBuf>) -> Result<Self> {
        let active: Arc<Mutex<BTreeMap<String, PoolConfig>>> =
            Arc::new(Mutex::new(BTreeMap::new()));
        let pools = active.clone();
        handle.add_initializer(Box::new(move |instance| {
            let storage = instance.storage.as_ref().ok_or_else(|| {
                wasmtime::format_err!("the storage-dir plugin exports no storage")
            })?;
            let pools: Vec<PoolConfig> = pools
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .cloned()
                .collect();
            for pool in pools {
                storage
                    .call_pool_start(&mut instance.store, &pool)?
                    .map_err(|e| wasmtime::format_err!("pool {}: {}", pool.name, e.message))?;
            }
            Ok(())
        }))?;
        Ok(DirStorage {
            plugin: WasmDriver::new(handle),
            active,
            known: Mutex::new(BTreeMap::new()),
            record,
        })
    }

    /// Resumes a pool the previous host process left active, with the
    /// volumes it knew (no rescan).
    pub fn resume_pool(&self, pool: &PoolConfig, volumes: Vec<VolumeInfo>) -> Result<()> {
        self.pool_start(pool)?;
        self.set_known(&pool.uuid, volumes);
        Ok(())
    }

    fn set_known(&self, pool: &str, volumes: Vec<VolumeInfo>) {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).insert(
            pool.to_string(),
            volumes.into_iter().map(|v| (v.name.clone(), v)).collect(),
        );
        self.save_record();
    }

    fn note(&self, pool: &str, change: impl FnOnce(&mut BTreeMap<String, VolumeInfo>)) {
        if let Some(vols) = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(pool)
        {
            change(vols);
        }
        self.save_record();
    }

    fn save_record(&self) {
        let Some(record) = &self.record else {
            return;
        };
        let active: Vec<String> = self.pools().keys().cloned().collect();
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = serde_json::Map::new();
        for uuid in active {
            let vols: Vec<serde_json::Value> = known
                .get(&uuid)
                .map(|v| v.values().map(volume_json).collect())
                .unwrap_or_default();
            out.insert(uuid, serde_json::Value::Array(vols));
        }
        if let Err(e) = crate::registry::StateDir::write_file(
            record,
            serde_json::Value::Object(out).to_string().as_bytes(),
        ) {
            tracing::warn!(error = %e, "cannot record the active pools");
        }
    }

    fn pools(&self) -> MutexGuard<'_, BTreeMap<String, PoolConfig>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Grants the plugin exactly the active pools' directories, and records
    /// them for the next host process.
    fn regrant(&self) {
        self.save_record();
        let preopens = self
            .pools()
            .values()
            .filter_map(|p| {
                Some(Preopen {
                    host: PathBuf::from(p.target_path.as_ref()?),
                    guest: guest_path(&p.uuid),
                    read_only: false,
                })
            })
            .collect();
        self.plugin.handle().set_preopens(preopens);
    }

    fn host_path(&self, pool: &str) -> Result<PathBuf> {
        self.pools()
            .get(pool)
            .and_then(|p| p.target_path.clone())
            .map(PathBuf::from)
            .ok_or_else(|| {
                Error::driver(ErrorCode::OPERATION_INVALID, "storage pool is not active")
            })
    }

    /// The plugin cannot see block counts: report what the disk really holds.
    fn real_allocation(&self, pool: &str, mut info: VolumeInfo) -> VolumeInfo {
        if let Ok(dir) = self.host_path(pool)
            && let Ok(meta) = std::fs::symlink_metadata(dir.join(&info.name))
        {
            info.allocation = meta.blocks() * 512;
        }
        info
    }
}

impl StorageDriver for DirStorage {
    fn pool_types(&self) -> Result<Vec<String>> {
        Ok(vec!["dir".into()])
    }

    /// Creates the pool directory (mode 0711 unless the pool says otherwise).
    fn pool_build(&self, pool: &PoolConfig, flags: u32) -> Result<()> {
        let dir = target(pool)?;
        if flags & 4 != 0 && flags & 8 != 0 {
            return Err(Error::driver(
                ErrorCode::INVALID_ARG,
                "Overwrite and no overwrite flags are mutually exclusive",
            ));
        }
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| io(format!("cannot create directory '{}'", parent.display()), e))?;
        }
        std::fs::DirBuilder::new()
            .mode(pool.mode.unwrap_or(DEFAULT_MODE))
            .create(&dir)
            .map_err(|e| io(format!("cannot create path '{}'", dir.display()), e))?;
        // The umask must not narrow the pool's mode.
        std::fs::set_permissions(
            &dir,
            std::os::unix::fs::PermissionsExt::from_mode(pool.mode.unwrap_or(DEFAULT_MODE)),
        )
        .map_err(|e| io(format!("cannot set mode of '{}'", dir.display()), e))
    }

    fn pool_start(&self, pool: &PoolConfig) -> Result<()> {
        let dir = target(pool)?;
        if !dir.is_dir() {
            return Err(Error::driver(
                ErrorCode::OPERATION_INVALID,
                format!(
                    "cannot open directory '{}': No such file or directory",
                    dir.display()
                ),
            ));
        }
        self.pools().insert(pool.uuid.clone(), pool.clone());
        self.regrant();
        // The fresh instance's initialiser tells the plugin; check it took.
        if let Err(e) = self.plugin.pool_usage(&pool.uuid) {
            self.pools().remove(&pool.uuid);
            self.regrant();
            return Err(e);
        }
        Ok(())
    }

    fn pool_stop(&self, uuid: &str) -> Result<()> {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uuid);
        if self.pools().remove(uuid).is_none() {
            return Err(Error::driver(
                ErrorCode::OPERATION_INVALID,
                "storage pool is not active",
            ));
        }
        self.regrant();
        Ok(())
    }

    /// Removes the (inactive) pool's directory; refuses a non-empty one.
    fn pool_delete(&self, pool: &PoolConfig, flags: u32) -> Result<()> {
        if flags != 0 {
            return Err(Error::driver(
                ErrorCode::INVALID_ARG,
                format!("unsupported flags (0x{flags:x}) in function virStoragePoolDelete"),
            ));
        }
        let dir = target(pool)?;
        std::fs::remove_dir(&dir).map_err(|e| {
            let reason = e.to_string();
            let reason = reason.split(" (os error").next().unwrap_or(&reason);
            Error::driver(
                ErrorCode::OPERATION_FAILED,
                format!("failed to remove pool '{}': {reason}", dir.display()),
            )
        })
    }

    /// The file system's figures, as libvirt reports a dir pool.
    fn pool_usage(&self, uuid: &str) -> Result<PoolUsage> {
        let dir = self.host_path(uuid)?;
        let st = nix::sys::statvfs::statvfs(&dir).map_err(|e| {
            io(
                format!("cannot statvfs path '{}'", dir.display()),
                std::io::Error::from_raw_os_error(e as i32),
            )
        })?;
        let frsize = st.fragment_size();
        Ok(PoolUsage {
            capacity: st.blocks() * frsize,
            allocation: (st.blocks() - st.blocks_free()) * frsize,
            available: st.blocks_available() * frsize,
        })
    }

    fn pool_refresh(&self, uuid: &str) -> Result<Vec<VolumeInfo>> {
        let vols: Vec<VolumeInfo> = self
            .plugin
            .pool_refresh(uuid)?
            .into_iter()
            .map(|v| self.real_allocation(uuid, v))
            .collect();
        self.set_known(uuid, vols.clone());
        Ok(vols)
    }

    fn volume_create(&self, pool: &str, config: &VolumeConfig, flags: u32) -> Result<VolumeInfo> {
        let info = self.plugin.volume_create(pool, config, flags)?;
        restrict_mode(&self.host_path(pool)?.join(&info.name));
        let info = self.real_allocation(pool, info);
        self.note(pool, |v| {
            v.insert(info.name.clone(), info.clone());
        });
        Ok(info)
    }

    fn volume_clone(
        &self,
        pool: &str,
        config: &VolumeConfig,
        source_pool: &str,
        source: &str,
        flags: u32,
    ) -> Result<VolumeInfo> {
        let info = self
            .plugin
            .volume_clone(pool, config, source_pool, source, flags)?;
        restrict_mode(&self.host_path(pool)?.join(&info.name));
        let info = self.real_allocation(pool, info);
        self.note(pool, |v| {
            v.insert(info.name.clone(), info.clone());
        });
        Ok(info)
    }

    fn volume_delete(&self, pool: &str, name: &str, flags: u32) -> Result<()> {
        self.plugin.volume_delete(pool, name, flags)?;
        self.note(pool, |v| {
            v.remove(name);
        });
        Ok(())
    }

    fn volume_info(&self, pool: &str, name: &str) -> Result<VolumeInfo> {
        let info = self.plugin.volume_info(pool, name)?;
        let info = self.real_allocation(pool, info);
        self.note(pool, |v| {
            if let Some(slot) = v.get_mut(name) {
                *slot = info.clone();
            }
        });
        Ok(info)
    }

    fn volume_resize(
        &self,
        pool: &str,
        name: &str,
        capacity: u64,
        flags: u32,
    ) -> Result<VolumeInfo> {
        let info = self.plugin.volume_resize(pool, name, capacity, flags)?;
        let info = self.real_allocation(pool, info);
        self.note(pool, |v| {
            v.insert(name.to_string(), info.clone());
        });
        Ok(info)
    }

    fn volume_wipe(&self, pool: &str, name: &str, algorithm: u32, flags: u32) -> Result<()> {
        self.plugin.volume_wipe(pool, name, algorithm, flags)
    }

    fn volume_read(&self, pool: &str, name: &str, offset: u64, max_len: u32) -> Result<Vec<u8>> {
        self.plugin.volume_read(pool, name, offset, max_len)
    }

    fn volume_write(&self, pool: &str, name: &str, offset: u64, data: &[u8]) -> Result<()> {
        self.plugin.volume_write(pool, name, offset, data)
    }

    /// A raw volume of a dir pool is the file of its name in the pool's
    /// directory, which the host granted the plugin: the host opens it
    /// itself for transfers, as it reads its allocation. The plugin still
    /// says (in `info`) whether the volume exists and what it holds; qcow2 keeps going
    /// through it. A symbolic link is never followed: a volume must not
    /// lead the host to a file outside the pool.
    fn volume_file(
        &self,
        pool: &str,
        info: &VolumeInfo,
        write: bool,
    ) -> Result<Option<std::fs::File>> {
        let name = info.name.as_str();
        if info.format != "raw" || info.kind != 0 || name.contains('/') {
            return Ok(None);
        }
        let path = self.host_path(pool)?.join(name);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| {
                Error::driver(
                    ErrorCode::OPERATION_FAILED,
                    format!("cannot open volume '{name}' ({}): {e}", path.display()),
                )
            })?;
        // A FIFO or device planted under a volume's name is not a volume.
        let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        if !regular {
            return Err(Error::driver(
                ErrorCode::OPERATION_FAILED,
                format!("volume '{name}' ({}) is not a regular file", path.display()),
            ));
        }
        Ok(Some(file))
    }
}

/// libvirt creates volumes 0600; WASI cannot set modes, so the host does.
fn restrict_mode(path: &Path) {
    let _ = std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600));
}
