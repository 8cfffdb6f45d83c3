//! The WASM adapter: drives a plugin component through the driver traits.
//! Calls go through the plugin's supervisor, so a trapping plugin fails one
//! call and comes back fresh on the next.

use std::io::{Read, Write};
use std::sync::Arc;

use wasmtime::Store;

use super::*;
use crate::plugin::bindings::exports::wirt::driver::{hypervisor, network, storage};
use crate::plugin::bindings::wirt::driver::types;
use crate::plugin::{HostState, PluginHandle};

/// Bulk data moves in chunks of this size: bounded memory on both sides.
pub const CHUNK: u32 = 4 << 20;

/// A WASM plugin as a driver: every trait call becomes a call of the
/// component's export, on the plugin's own thread.
#[derive(Debug, Clone)]
pub struct WasmDriver {
    handle: Arc<PluginHandle>,
}

type Guest<'a, G> = (&'a G, &'a mut Store<HostState>);

fn driver_error(e: types::Error) -> Error {
    Error::Driver {
        code: ErrorCode(e.code),
        message: e.message,
    }
}

impl WasmDriver {
    /// The driver of the plugin `handle` runs.
    pub fn new(handle: Arc<PluginHandle>) -> Self {
        WasmDriver { handle }
    }

    /// The plugin's handle.
    pub fn handle(&self) -> &Arc<PluginHandle> {
        &self.handle
    }

    fn not_exported(&self, interface: &'static str) -> Error {
        let plugin = self.handle.plugin();
        Error::Plugin(crate::plugin::Error::NotExported {
            plugin: plugin.name.clone(),
            version: plugin.version.clone(),
            interface,
        })
    }

    fn hv<R>(
        &self,
        f: impl FnOnce(
            Guest<'_, hypervisor::Guest>,
        ) -> wasmtime::Result<std::result::Result<R, types::Error>>,
    ) -> Result<R> {
        if !self.handle.plugin().exports_hypervisor() {
            return Err(self.not_exported("wirt:driver/hypervisor"));
        }
        self.handle
            .call(|i| {
                f((
                    i.hypervisor.as_ref().expect("export checked at load"),
                    &mut i.store,
                ))
            })?
            .map_err(driver_error)
    }

    fn st<R>(
        &self,
        f: impl FnOnce(
            Guest<'_, storage::Guest>,
        ) -> wasmtime::Result<std::result::Result<R, types::Error>>,
    ) -> Result<R> {
        if !self.handle.plugin().exports_storage() {
            return Err(self.not_exported("wirt:driver/storage"));
        }
        self.handle
            .call(|i| {
                f((
                    i.storage.as_ref().expect("export checked at load"),
                    &mut i.store,
                ))
            })?
            .map_err(driver_error)
    }

    fn net<R>(
        &self,
        f: impl FnOnce(
            Guest<'_, network::Guest>,
        ) -> wasmtime::Result<std::result::Result<R, types::Error>>,
    ) -> Result<R> {
        if !self.handle.plugin().exports_network() {
            return Err(self.not_exported("wirt:driver/network"));
        }
        self.handle
            .call(|i| {
                f((
                    i.network.as_ref().expect("export checked at load"),
                    &mut i.store,
                ))
            })?
            .map_err(driver_error)
    }
}

impl HypervisorDriver for WasmDriver {
    fn open(&self, uri: &str) -> Result<HypervisorInfo> {
        self.hv(|(g, s)| g.call_open(s, uri, 0))
    }
    fn node_info(&self) -> Result<NodeInfo> {
        self.hv(|(g, s)| g.call_get_node_info(s))
    }
    fn capabilities(&self) -> Result<Capabilities> {
        self.hv(|(g, s)| g.call_get_capabilities(s))
    }
    fn start(&self, config: &DomainConfig, flags: u32) -> Result<DomainStatus> {
        self.hv(|(g, s)| g.call_domain_start(s, config, flags))
    }
    fn adopt(&self, config: &DomainConfig, status: &DomainStatus) -> Result<()> {
        self.hv(|(g, s)| g.call_domain_adopt(s, config, *status))
    }
    fn status(&self, uuid: &str) -> Result<DomainStatus> {
        self.hv(|(g, s)| g.call_get_domain_status(s, uuid))
    }
    fn shutdown(&self, uuid: &str, flags: u32) -> Result<DomainStatus> {
        self.hv(|(g, s)| g.call_domain_shutdown(s, uuid, flags))
    }
    fn destroy(&self, uuid: &str, flags: u32) -> Result<DomainStatus> {
        self.hv(|(g, s)| g.call_domain_destroy(s, uuid, flags))
    }
    fn suspend(&self, uuid: &str) -> Result<DomainStatus> {
        self.hv(|(g, s)| g.call_domain_suspend(s, uuid))
    }
    fn resume(&self, uuid: &str) -> Result<DomainStatus> {
        self.hv(|(g, s)| g.call_domain_resume(s, uuid))
    }
    fn reboot(&self, uuid: &str, flags: u32) -> Result<DomainStatus> {
        self.hv(|(g, s)| g.call_domain_reboot(s, uuid, flags))
    }
    fn reset(&self, uuid: &str, flags: u32) -> Result<DomainStatus> {
        self.hv(|(g, s)| g.call_domain_reset(s, uuid, flags))
    }
    fn set_memory(&self, uuid: &str, memory_kib: u64) -> Result<DomainStatus> {
        self.hv(|(g, s)| g.call_domain_set_memory(s, uuid, memory_kib))
    }
    fn set_vcpus(&self, uuid: &str, vcpus: u32) -> Result<DomainStatus> {
        self.hv(|(g, s)| g.call_domain_set_vcpus(s, uuid, vcpus))
    }

    fn save(&self, uuid: &str, flags: u32, sink: &mut dyn Write) -> Result<u64> {
        let size = self.hv(|(g, s)| g.call_domain_save(s, uuid, flags))?;
        let copied = (|| {
            let mut offset = 0u64;
            while offset < size {
                let chunk = self.hv(|(g, s)| g.call_domain_save_read(s, uuid, offset, CHUNK))?;
                if chunk.is_empty() {
                    return Err(Error::driver(
                        ErrorCode::OPERATION_FAILED,
                        format!("driver returned a short save image ({offset} of {size} bytes)"),
                    ));
                }
                sink.write_all(&chunk).map_err(|source| Error::Io {
                    what: "the save image".into(),
                    source,
                })?;
                offset += chunk.len() as u64;
            }
            Ok(offset)
        })();
        // Always let the driver drop its staged copy, even when writing failed.
        let _ = self.handle.call(|i| {
            i.hypervisor
                .as_ref()
                .expect("export checked")
                .call_domain_save_release(&mut i.store, uuid)
        });
        copied
    }

    fn restore(
        &self,
        config: &DomainConfig,
        source: &mut dyn Read,
        size: u64,
        flags: u32,
    ) -> Result<DomainStatus> {
        self.hv(|(g, s)| g.call_domain_restore_begin(s, config, size))?;
        let mut offset = 0u64;
        let mut buf = vec![0u8; CHUNK as usize];
        while offset < size {
            let want = (size - offset).min(u64::from(CHUNK)) as usize;
            source
                .read_exact(&mut buf[..want])
                .map_err(|source| Error::Io {
                    what: "the save image".into(),
                    source,
                })?;
            let chunk = &buf[..want];
            self.hv(|(g, s)| g.call_domain_restore_write(s, &config.uuid, offset, chunk))?;
            offset += want as u64;
        }
        self.hv(|(g, s)| g.call_domain_restore_finish(s, &config.uuid, flags))
    }

    fn snapshot_create(&self, uuid: &str, name: &str, flags: u32) -> Result<()> {
        self.hv(|(g, s)| g.call_domain_snapshot_create(s, uuid, name, flags))
    }
    fn snapshot_revert(
        &self,
        config: &DomainConfig,
        name: &str,
        state: u32,
        flags: u32,
    ) -> Result<DomainStatus> {
        self.hv(|(g, s)| g.call_domain_snapshot_revert(s, config, name, state, flags))
    }
    fn snapshot_delete(&self, uuid: &str, name: &str, flags: u32) -> Result<()> {
        self.hv(|(g, s)| g.call_domain_snapshot_delete(s, uuid, name, flags))
    }
}

impl StorageDriver for WasmDriver {
    fn pool_types(&self) -> Result<Vec<String>> {
        if !self.handle.plugin().exports_storage() {
            return Err(self.not_exported("wirt:driver/storage"));
        }
        Ok(self.handle.call(|i| {
            i.storage
                .as_ref()
                .expect("checked")
                .call_pool_types(&mut i.store)
        })?)
    }
    fn pool_build(&self, pool: &PoolConfig, flags: u32) -> Result<()> {
        self.st(|(g, s)| g.call_pool_build(s, pool, flags))
    }
    fn pool_start(&self, pool: &PoolConfig) -> Result<()> {
        self.st(|(g, s)| g.call_pool_start(s, pool))
    }
    fn pool_stop(&self, uuid: &str) -> Result<()> {
        self.st(|(g, s)| g.call_pool_stop(s, uuid))
    }
    fn pool_delete(&self, pool: &PoolConfig, flags: u32) -> Result<()> {
        self.st(|(g, s)| g.call_pool_delete(s, pool, flags))
    }
    fn pool_usage(&self, uuid: &str) -> Result<PoolUsage> {
        self.st(|(g, s)| g.call_get_pool_usage(s, uuid))
    }
    fn pool_refresh(&self, uuid: &str) -> Result<Vec<VolumeInfo>> {
        self.st(|(g, s)| g.call_pool_refresh(s, uuid))
    }
    fn volume_create(&self, pool: &str, config: &VolumeConfig, flags: u32) -> Result<VolumeInfo> {
        self.st(|(g, s)| g.call_volume_create(s, pool, config, flags))
    }
    fn volume_clone(
        &self,
        pool: &str,
        config: &VolumeConfig,
        source_pool: &str,
        source: &str,
        flags: u32,
    ) -> Result<VolumeInfo> {
        self.st(|(g, s)| g.call_volume_clone(s, pool, config, source_pool, source, flags))
    }
    fn volume_delete(&self, pool: &str, name: &str, flags: u32) -> Result<()> {
        self.st(|(g, s)| g.call_volume_delete(s, pool, name, flags))
    }
    fn volume_info(&self, pool: &str, name: &str) -> Result<VolumeInfo> {
        self.st(|(g, s)| g.call_get_volume_info(s, pool, name))
    }
    fn volume_resize(
        &self,
        pool: &str,
        name: &str,
        capacity: u64,
        flags: u32,
    ) -> Result<VolumeInfo> {
        self.st(|(g, s)| g.call_volume_resize(s, pool, name, capacity, flags))
    }
    fn volume_wipe(&self, pool: &str, name: &str, algorithm: u32, flags: u32) -> Result<()> {
        self.st(|(g, s)| g.call_volume_wipe(s, pool, name, algorithm, flags))
    }
    fn volume_read(&self, pool: &str, name: &str, offset: u64, max_len: u32) -> Result<Vec<u8>> {
        self.st(|(g, s)| g.call_volume_read(s, pool, name, offset, max_len.min(CHUNK)))
    }
    fn volume_write(&self, pool: &str, name: &str, offset: u64, data: &[u8]) -> Result<()> {
        self.st(|(g, s)| g.call_volume_write(s, pool, name, offset, data))
    }
}

impl NetworkDriver for WasmDriver {
    fn network_start(&self, config: &NetworkConfig, flags: u32) -> Result<()> {
        self.net(|(g, s)| g.call_network_start(s, config, flags))
    }
    fn network_stop(&self, uuid: &str) -> Result<()> {
        self.net(|(g, s)| g.call_network_stop(s, uuid))
    }
    fn network_update(&self, config: &NetworkConfig, flags: u32) -> Result<()> {
        self.net(|(g, s)| g.call_network_update(s, config, flags))
    }
    fn network_dhcp_leases(&self, uuid: &str) -> Result<Vec<DhcpLease>> {
        self.net(|(g, s)| g.call_network_dhcp_leases(s, uuid))
    }
}
