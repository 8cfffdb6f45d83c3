//! The bridge network driver of `kvm:` hosts: the `network-bridge` plugin,
//! granted its directory and host networking (`netcap`) for bridges named
//! `virbr*`, as libvirt's own bridge driver names them.

use std::path::Path;
use std::sync::Arc;

use super::wasm::WasmDriver;
use super::{DhcpLease, NetworkConfig, NetworkDriver, Result};
use crate::plugin::{NetGrant, NetHost, PluginHandle, Preopen, builtin};

/// Where the plugin sees its directory.
const GUEST_DIR: &str = "/net";
/// The bridge names the plugin may create.
pub const BRIDGE_PREFIX: &str = "virbr";

/// The network driver of `kvm:` hosts: the network-bridge plugin, on bridges
/// named [`BRIDGE_PREFIX`]`*`.
#[derive(Debug)]
pub struct BridgeNetworks {
    wasm: WasmDriver,
}

impl BridgeNetworks {
    /// The driver keeping its files in `state_dir` (configs, leases) and
    /// dnsmasq's pid files in `run_dir`.
    pub fn open(state_dir: &Path, run_dir: &Path) -> Result<BridgeNetworks> {
        for dir in [state_dir, run_dir] {
            crate::registry::create_private_dir(dir).map_err(|e| {
                super::Error::driver(
                    crate::error::ErrorCode::SYSTEM_ERROR,
                    format!("cannot create {}: {e}", dir.display()),
                )
            })?;
        }
        let plugin = builtin::network_bridge()?;
        let handle = Arc::new(PluginHandle::new(plugin.clone(), None));
        handle.track();
        handle.set_preopens(vec![Preopen {
            host: state_dir.to_path_buf(),
            guest: GUEST_DIR.into(),
            read_only: false,
        }]);
        handle.set_net_host(NetHost::new(
            &plugin.name,
            NetGrant {
                bridge_prefix: BRIDGE_PREFIX.into(),
                run_dir: run_dir.to_path_buf(),
            },
        ));
        Ok(BridgeNetworks {
            wasm: WasmDriver::new(handle),
        })
    }
}

impl NetworkDriver for BridgeNetworks {
    fn network_start(&self, config: &NetworkConfig, flags: u32) -> Result<()> {
        self.wasm.network_start(config, flags)
    }
    fn network_stop(&self, uuid: &str) -> Result<()> {
        self.wasm.network_stop(uuid)
    }
    fn network_update(&self, config: &NetworkConfig, flags: u32) -> Result<()> {
        self.wasm.network_update(config, flags)
    }
    fn network_dhcp_leases(&self, uuid: &str) -> Result<Vec<DhcpLease>> {
        self.wasm.network_dhcp_leases(uuid)
    }
    fn assigns_bridges(&self) -> bool {
        true
    }
}
