//! The plugins compiled into the `wirt` binary.

use std::sync::{Arc, OnceLock};

use super::{Error, Limits, Plugin};

/// The test driver component, built by `build.rs`.
pub const TEST_DRIVER_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/test_driver.wasm"));

/// The test driver, compiled once per process (and cached on disk across
/// processes).
pub fn test_driver() -> Result<Arc<Plugin>, Error> {
    static PLUGIN: OnceLock<Result<Arc<Plugin>, String>> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            Plugin::load(
                "test-driver",
                env!("CARGO_PKG_VERSION"),
                TEST_DRIVER_WASM,
                Limits::default(),
            )
            .map_err(|e| {
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
