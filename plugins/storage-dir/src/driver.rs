//! The driver: which pools are active in this instance, and where each one's
//! directory is mounted. Volume operations are in `volume`.
//!
//! Pool `<uuid>` is the directory `<root>/<uuid>`: inside the component the
//! root is `/pools` and each pool directory is a WASI preopen the host
//! granted; in the native tests it is a temporary directory.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use crate::error::Error;
use crate::flags::{BUILD_NO_OVERWRITE, BUILD_OVERWRITE};
use crate::records::check_flags;
pub use crate::records::{PoolConfig, PoolUsage, Refresh, VolumeConfig, VolumeInfo};
use crate::volume::Pool;

/// The driver's state: the pools started in this instance.
#[derive(Debug)]
pub struct Driver {
    root: PathBuf,
    active: HashMap<String, Pool>,
}

impl Driver {
    /// A driver whose pool `<uuid>` is mounted at `<root>/<uuid>`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Driver {
            root: root.into(),
            active: HashMap::new(),
        }
    }

    pub fn pool_types() -> Vec<String> {
        vec!["dir".to_string()]
    }

    /// Checks what the host did for `pool-build`: it creates the directory
    /// (mode 0711 unless the config says otherwise) and grants it; the
    /// plugin validates the config and flags and that the grant is a
    /// directory.
    pub fn pool_build(&mut self, config: &PoolConfig, flags: u32) -> Result<(), Error> {
        check_flags(
            flags,
            BUILD_NO_OVERWRITE | BUILD_OVERWRITE,
            "virStoragePoolBuild",
        )?;
        if flags & BUILD_NO_OVERWRITE != 0 && flags & BUILD_OVERWRITE != 0 {
            return Err(Error::InvalidArg(
                "Options VIR_STORAGE_POOL_BUILD_OVERWRITE and VIR_STORAGE_POOL_BUILD_NO_OVERWRITE are mutually exclusive"
                    .into(),
            ));
        }
        let target = check_config(config)?;
        if self.active.contains_key(&config.uuid) {
            return Err(Error::OperationInvalid(format!(
                "storage pool '{}' is already active",
                config.name
            )));
        }
        self.check_mount(&config.uuid, &target)
    }

    /// Starts serving the pool. Idempotent: the host calls it again for every
    /// active pool each time it instantiates the plugin.
    pub fn pool_start(&mut self, config: &PoolConfig) -> Result<(), Error> {
        let target = check_config(config)?;
        self.check_mount(&config.uuid, &target)?;
        let dir = self.root.join(&config.uuid);
        self.active
            .insert(config.uuid.clone(), Pool::new(&config.name, dir, &target));
        Ok(())
    }

    /// Stops serving the pool. The plugin keeps no open files between calls,
    /// so there is nothing to release; the host then drops the grant.
    pub fn pool_stop(&mut self, uuid: &str) -> Result<(), Error> {
        check_uuid(uuid)?;
        match self.active.remove(uuid) {
            Some(_) => Ok(()),
            None => Err(Error::NotActive(uuid.to_string())),
        }
    }

    /// Checks that an inactive pool's directory is empty, so that the host
    /// may remove it. Refuses with libvirt's message when it is not.
    pub fn pool_delete(&mut self, config: &PoolConfig, flags: u32) -> Result<(), Error> {
        check_flags(flags, 0, "virStoragePoolDelete")?;
        let target = check_config(config)?;
        if self.active.contains_key(&config.uuid) {
            return Err(Error::OperationInvalid(format!(
                "storage pool '{}' is still active",
                config.name
            )));
        }
        self.check_mount(&config.uuid, &target)?;
        let dir = self.root.join(&config.uuid);
        let mut entries =
            fs::read_dir(&dir).map_err(Error::io(format!("cannot open directory '{target}'")))?;
        if entries.next().is_some() {
            return Err(Error::OperationFailed(format!(
                "failed to remove pool '{target}': Directory not empty"
            )));
        }
        Ok(())
    }

    /// What the plugin can know of the pool's usage: `allocation` is the sum
    /// of its volumes' allocations; `capacity` and `available` are 0 (WASI
    /// has no statvfs): the host fills all three from the file system.
    pub fn pool_usage(&self, uuid: &str) -> Result<PoolUsage, Error> {
        let allocation = self
            .pool(uuid)?
            .refresh()?
            .volumes
            .iter()
            .map(|v| v.allocation)
            .sum();
        Ok(PoolUsage {
            capacity: 0,
            allocation,
            available: 0,
        })
    }

    pub fn pool_refresh(&self, uuid: &str) -> Result<Refresh, Error> {
        self.pool(uuid)?.refresh()
    }

    /// An active pool, for a volume operation.
    pub fn pool(&self, uuid: &str) -> Result<&Pool, Error> {
        check_uuid(uuid)?;
        self.active
            .get(uuid)
            .ok_or_else(|| Error::NotActive(uuid.to_string()))
    }

    /// The pool's mount must be a directory the host granted.
    fn check_mount(&self, uuid: &str, target: &str) -> Result<(), Error> {
        let dir = self.root.join(uuid);
        let meta = fs::metadata(&dir).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::Io {
                what: format!("cannot open directory '{target}' (not granted to the plugin)"),
                source: e,
            },
            _ => Error::Io {
                what: format!("cannot open directory '{target}'"),
                source: e,
            },
        })?;
        if !meta.is_dir() {
            return Err(Error::OperationFailed(format!(
                "'{target}' is not a directory"
            )));
        }
        Ok(())
    }
}

/// A dir pool's config must name its uuid and an absolute target path.
/// Returns the target path without trailing slashes ("/" stays "/").
fn check_config(config: &PoolConfig) -> Result<String, Error> {
    check_uuid(&config.uuid)?;
    if config.pool_type != "dir" {
        return Err(Error::NoSupport(format!(
            "storage pool type '{}' is not served by the storage-dir driver",
            config.pool_type
        )));
    }
    let target = config
        .target_path
        .as_deref()
        .ok_or_else(|| Error::InvalidArg("missing storage pool target path".into()))?;
    if !target.starts_with('/') {
        return Err(Error::InvalidArg(format!(
            "storage pool target path '{target}' must be absolute"
        )));
    }
    let trimmed = target.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.into()
    })
}

/// A pool uuid is the canonical 36-character form: it becomes a path
/// component, so nothing else may pass.
fn check_uuid(uuid: &str) -> Result<(), Error> {
    let ok = uuid.len() == 36
        && uuid.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if ok {
        Ok(())
    } else {
        Err(Error::NoPool(uuid.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_canonical() {
        assert!(check_uuid("efc17fd8-7a13-4208-864f-8686bd066d33").is_ok());
        assert!(check_uuid("EFC17FD8-7A13-4208-864F-8686BD066D33").is_ok());
        for bad in [
            "",
            "..",
            "../../etc/passwd00000000000000000000",
            "efc17fd8/7a13-4208-864f-8686bd066d33",
            "efc17fd8-7a13-4208-864f-8686bd066d3",
        ] {
            assert_eq!(
                check_uuid(bad).unwrap_err().code(),
                crate::code::NO_STORAGE_POOL,
                "{bad}"
            );
        }
    }

    #[test]
    fn target_paths_are_normalised() {
        let mut c = PoolConfig {
            uuid: "efc17fd8-7a13-4208-864f-8686bd066d33".into(),
            pool_type: "dir".into(),
            target_path: Some("/srv/images/".into()),
            ..Default::default()
        };
        assert_eq!(check_config(&c).unwrap(), "/srv/images");
        c.target_path = Some("/".into());
        assert_eq!(check_config(&c).unwrap(), "/");
        c.target_path = Some("relative".into());
        assert_eq!(
            check_config(&c).unwrap_err().code(),
            crate::code::INVALID_ARG
        );
        c.target_path = None;
        assert_eq!(
            check_config(&c).unwrap_err().code(),
            crate::code::INVALID_ARG
        );
        c.pool_type = "logical".into();
        assert_eq!(
            check_config(&c).unwrap_err().code(),
            crate::code::NO_SUPPORT
        );
    }
}
