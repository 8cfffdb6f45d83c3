//! wirt's bridge network driver: libvirt's virtual networks on a Linux host,
//! built as a WASM component exporting `network`.
//!
//! The plugin decides *what* a network needs — a bridge, its addresses, the
//! firewall rules of its forward mode, a dnsmasq config for DHCP and DNS —
//! and asks the host for each piece through `netcap`, which acts only on
//! bridges this plugin created. Its files (dnsmasq configs, hosts files,
//! leases, which bridge serves which network) live in its one granted
//! directory, so a fresh instance, or a host restarted while networks run,
//! finds them again.
//!
//! The logic here is plain Rust over the [`Netcap`] trait and a directory,
//! so it builds and is tested natively; only `component` (the wit-bindgen
//! glue) is compiled for wasm32.

mod config;
mod driver;
mod error;
mod leases;

#[cfg(all(target_arch = "wasm32", not(test)))]
mod component;

pub use config::{DhcpHost, DnsHost, IpConfig, NetworkConfig};
pub use driver::{Driver, Netcap, Rule};
pub use error::Error;
pub use leases::Lease;

/// Where the host mounts the plugin's directory.
pub const GUEST_DIR: &str = "/net";

/// libvirt error numbers (`virErrorNumber`) the driver answers with.
pub mod code {
    pub const NO_SUPPORT: u32 = 3;
    pub const INVALID_ARG: u32 = 8;
    pub const OPERATION_FAILED: u32 = 9;
    pub const SYSTEM_ERROR: u32 = 38;
    pub const NO_NETWORK: u32 = 43;
    pub const OPERATION_INVALID: u32 = 55;
    pub const CONFIG_UNSUPPORTED: u32 = 67;
}
