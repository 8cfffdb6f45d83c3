//! The plugins compiled into the `wirt` binary.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::{Error, Limits, Plugin};

/// The test driver component, built by `build.rs`.
pub const TEST_DRIVER_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/test_driver.wasm"));

/// The storage-dir driver component ("dir" pools), built by `build.rs`.
pub const STORAGE_DIR_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/storage_dir.wasm"));

/// The bridge network driver (kvm: networks), built by `build.rs`.
pub const NETWORK_BRIDGE_WASM: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/network_bridge.wasm"));

type Cell = OnceLock<Result<Arc<Plugin>, String>>;

/// The test driver, compiled once per process (and cached on disk across
/// processes).
pub fn test_driver() -> Result<Arc<Plugin>, Error> {
    static PLUGIN: Cell = OnceLock::new();
    load_once(&PLUGIN, "test-driver", TEST_DRIVER_WASM, Limits::default())
}

/// The storage-dir driver. Its calls do I/O proportional to a volume's size
/// (preallocation, wipe, clone), so its call deadline is generous.
pub fn storage_dir() -> Result<Arc<Plugin>, Error> {
    static PLUGIN: Cell = OnceLock::new();
    let limits = Limits {
        memory_bytes: 64 << 20,
        call_timeout: Duration::from_secs(3600),
        ..Limits::default()
    };
    load_once(&PLUGIN, "storage-dir", STORAGE_DIR_WASM, limits)
}

/// The bridge network driver. A start may wait for dnsmasq to come up.
pub fn network_bridge() -> Result<Arc<Plugin>, Error> {
    static PLUGIN: Cell = OnceLock::new();
    let limits = Limits {
        memory_bytes: 32 << 20,
        call_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    load_once(&PLUGIN, "network-bridge", NETWORK_BRIDGE_WASM, limits)
}

fn load_once(
    cell: &'static Cell,
    name: &str,
    wasm: &[u8],
    limits: Limits,
) -> Result<Arc<Plugin>, Error> {
    cell.get_or_init(|| {
        Plugin::load(name, env!("CARGO_PKG_VERSION"), wasm, limits).map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            msg
        })
    })
    .clone()
    .map_err(|e| Error::Runtime(e.into()))
}
