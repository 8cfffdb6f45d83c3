//! Storage pool handles: lookups and definitions on [`Connect`], the rest
//! on [`StoragePool`].

use serde::Serialize;
use uuid::Uuid;

use super::{Connect, PoolRef, Result, StorageVol, VolRef};

/// libvirt's flag bits for pool calls.
pub mod pool_flags {
    use wirt_vocab::flags::{ListPools, PoolBuild};

    /// `VIR_CONNECT_LIST_STORAGE_POOLS_INACTIVE`.
    pub const LIST_INACTIVE: u32 = ListPools::INACTIVE.bits();
    /// `VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE`.
    pub const LIST_ACTIVE: u32 = ListPools::ACTIVE.bits();
    /// `VIR_CONNECT_LIST_STORAGE_POOLS_PERSISTENT`.
    pub const LIST_PERSISTENT: u32 = ListPools::PERSISTENT.bits();
    /// `VIR_CONNECT_LIST_STORAGE_POOLS_TRANSIENT`.
    pub const LIST_TRANSIENT: u32 = ListPools::TRANSIENT.bits();
    /// `VIR_CONNECT_LIST_STORAGE_POOLS_AUTOSTART`.
    pub const LIST_AUTOSTART: u32 = ListPools::AUTOSTART.bits();
    /// `VIR_CONNECT_LIST_STORAGE_POOLS_NO_AUTOSTART`.
    pub const LIST_NO_AUTOSTART: u32 = ListPools::NO_AUTOSTART.bits();
    /// Every `VIR_CONNECT_LIST_STORAGE_POOLS_*` bit (the pool types included).
    pub const LIST_ALL: u32 = ListPools::all().bits();
    /// `VIR_STORAGE_POOL_BUILD_NO_OVERWRITE`.
    pub const BUILD_NO_OVERWRITE: u32 = PoolBuild::NO_OVERWRITE.bits();
    /// `VIR_STORAGE_POOL_BUILD_OVERWRITE`.
    pub const BUILD_OVERWRITE: u32 = PoolBuild::OVERWRITE.bits();
}

/// libvirt's `virStoragePoolInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PoolInfo {
    /// 0 inactive, 2 running (libvirt's `virStoragePoolState`).
    pub state: u32,
    /// Bytes the pool can hold.
    pub capacity: u64,
    /// Bytes its volumes use.
    pub allocation: u64,
    /// Bytes still free.
    pub available: u64,
}

/// A handle to a storage pool.
#[derive(Clone, Debug)]
pub struct StoragePool {
    conn: Connect,
    r: PoolRef,
}

impl Connect {
    /// A handle to the pool `r` names, without a lookup.
    pub fn pool(&self, r: PoolRef) -> StoragePool {
        StoragePool {
            conn: self.clone(),
            r,
        }
    }

    /// The pool named `name`.
    pub fn lookup_pool_by_name(&self, name: &str) -> Result<StoragePool> {
        Ok(self.pool(self.backend().lookup_pool_by_name(name)?))
    }

    /// The pool with UUID `uuid`.
    pub fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<StoragePool> {
        Ok(self.pool(self.backend().lookup_pool_by_uuid(uuid)?))
    }

    /// The `storagepoolCapabilities` XML: which pool types this host
    /// serves, and the volume formats of each (`virsh pool-capabilities`).
    pub fn storage_pool_capabilities(&self, flags: u32) -> Result<String> {
        self.backend().storage_pool_capabilities(flags)
    }

    /// The pool whose `<target><path>` is `path`, duplicate and trailing
    /// slashes aside (`virStoragePoolLookupByTargetPath`).
    pub fn lookup_pool_by_target_path(&self, path: &str) -> Result<StoragePool> {
        fn clean(p: &str) -> String {
            let mut out = String::new();
            for part in p.split('/').filter(|s| !s.is_empty()) {
                out.push('/');
                out.push_str(part);
            }
            if out.is_empty() { "/".into() } else { out }
        }
        let want = clean(path);
        for pool in self.list_all_pools(0)? {
            let def = crate::xml::PoolDef::parse(&pool.xml_desc(0)?)?;
            if def.target_path.as_deref().map(clean).as_deref() == Some(want.as_str()) {
                return Ok(pool);
            }
        }
        Err(super::Error::api(
            crate::error::ErrorCode::NO_STORAGE_POOL,
            format!("no storage pool with matching target path '{path}'"),
        ))
    }

    /// Pools matching libvirt's `VIR_CONNECT_LIST_STORAGE_POOLS_*` flags, by name.
    pub fn list_all_pools(&self, flags: u32) -> Result<Vec<StoragePool>> {
        let mut refs = self.backend().list_all_pools(flags)?;
        refs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(refs.into_iter().map(|r| self.pool(r)).collect())
    }

    /// Defines (or redefines) a persistent pool.
    pub fn define_pool_xml(&self, xml: &str) -> Result<StoragePool> {
        self.check_writable()?;
        Ok(self.pool(self.backend().define_pool_xml(xml)?))
    }

    /// Creates and starts a transient pool.
    pub fn create_pool_xml(&self, xml: &str) -> Result<StoragePool> {
        self.check_writable()?;
        Ok(self.pool(self.backend().create_pool_xml(xml)?))
    }
}

impl StoragePool {
    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.r.name
    }

    /// The pool's UUID.
    pub fn uuid(&self) -> Uuid {
        self.r.uuid
    }

    /// What this handle names.
    pub fn reference(&self) -> &PoolRef {
        &self.r
    }

    /// The connection the handle belongs to.
    pub fn connect(&self) -> &Connect {
        &self.conn
    }

    /// A handle to volume `name` of this pool, without a lookup.
    pub fn volume(&self, name: String) -> StorageVol {
        StorageVol::new(
            self.clone(),
            VolRef {
                pool: self.r.clone(),
                name,
            },
        )
    }

    fn writable(&self) -> Result<&dyn super::Backend> {
        self.conn.check_writable()?;
        Ok(self.conn.backend())
    }

    /// Whether the pool is active.
    pub fn is_active(&self) -> Result<bool> {
        self.conn.backend().pool_is_active(&self.r)
    }

    /// Whether the pool has a persistent definition.
    pub fn is_persistent(&self) -> Result<bool> {
        self.conn.backend().pool_is_persistent(&self.r)
    }

    /// Whether the pool starts with its host.
    pub fn autostart(&self) -> Result<bool> {
        self.conn.backend().pool_autostart(&self.r)
    }

    /// libvirt's `virStoragePoolInfo`.
    pub fn info(&self) -> Result<PoolInfo> {
        self.conn.backend().pool_info(&self.r)
    }

    /// The pool XML.
    pub fn xml_desc(&self, flags: u32) -> Result<String> {
        self.conn.backend().pool_xml_desc(&self.r, flags)
    }

    /// Creates the pool's backing (for dir pools, the directory).
    pub fn build(&self, flags: u32) -> Result<()> {
        self.writable()?.pool_build(&self.r, flags)
    }

    /// Starts a defined pool.
    pub fn create(&self, flags: u32) -> Result<()> {
        self.writable()?.pool_create(&self.r, flags)
    }

    /// Stops an active pool.
    pub fn destroy(&self) -> Result<()> {
        self.writable()?.pool_destroy(&self.r)
    }

    /// Removes the pool's backing; the pool must be inactive.
    pub fn delete(&self, flags: u32) -> Result<()> {
        self.writable()?.pool_delete(&self.r, flags)
    }

    /// Removes the persistent definition.
    pub fn undefine(&self) -> Result<()> {
        self.writable()?.pool_undefine(&self.r)
    }

    /// Rescans the pool: external changes appear only now.
    pub fn refresh(&self) -> Result<()> {
        self.conn.backend().pool_refresh(&self.r)
    }

    /// Sets whether the pool starts with its host.
    pub fn set_autostart(&self, autostart: bool) -> Result<()> {
        self.writable()?.pool_set_autostart(&self.r, autostart)
    }

    /// The pool's target directory, if it has one.
    pub fn target_path(&self) -> Result<Option<String>> {
        self.conn.backend().pool_target_path(&self.r)
    }

    /// The pool's type ("dir", ...).
    pub fn pool_type(&self) -> Result<String> {
        self.conn.backend().pool_type(&self.r)
    }

    /// Volumes as of the last refresh, by name.
    pub fn list_all_volumes(&self) -> Result<Vec<StorageVol>> {
        let refs = self.conn.backend().list_all_volumes(&self.r)?;
        Ok(refs.into_iter().map(|v| self.volume(v.name)).collect())
    }

    /// The volume named `name`.
    pub fn lookup_vol_by_name(&self, name: &str) -> Result<StorageVol> {
        let r = self.conn.backend().lookup_vol_by_name(&self.r, name)?;
        Ok(self.volume(r.name))
    }

    /// Creates a volume from `<volume>` XML.
    pub fn create_volume_xml(&self, xml: &str, flags: u32) -> Result<StorageVol> {
        let r = self.writable()?.create_volume_xml(&self.r, xml, flags)?;
        Ok(self.volume(r.name))
    }

    /// Creates a volume from `<volume>` XML with the content of `source`.
    pub fn create_volume_xml_from(
        &self,
        xml: &str,
        source: &StorageVol,
        flags: u32,
    ) -> Result<StorageVol> {
        let r = self
            .writable()?
            .create_volume_xml_from(&self.r, xml, source.reference(), flags)?;
        Ok(self.volume(r.name))
    }
}
