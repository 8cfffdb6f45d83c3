//! Helpers shared by the binaries' integration tests: the core's test hosts,
//! plus where the workspace is.

use std::path::Path;

#[path = "../../../core/tests/all/support.rs"]
mod core_support;
pub use core_support::*;

/// The workspace root (`host/cli/` is two levels below it).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("host/cli/ lives two levels below the workspace root")
}

/// `Connect::open` with wirt-remote's transports installed, as the binaries
/// have them.
pub fn open(uri: &str) -> wirt::connect::Result<wirt::Connect> {
    wirt_remote::install();
    wirt::Connect::open(uri)
}
