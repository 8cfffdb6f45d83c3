//! Where a volume file holds data. WASI cannot tell a hole from zeros
//! without reading it, so the host answers (SEEK_DATA/SEEK_HOLE) through
//! `host.file-data-ranges`; without an answer the plugin reads everything.

use std::path::Path;
use std::sync::OnceLock;

/// Asks for the data ranges of a file, by the path the plugin sees.
pub type Provider = fn(&str) -> Option<Vec<(u64, u64)>>;

static PROVIDER: OnceLock<Provider> = OnceLock::new();

/// Installs the host's answer (the component glue does, once).
#[cfg_attr(not(all(target_arch = "wasm32", not(test))), allow(dead_code))]
pub fn set_provider(provider: Provider) {
    let _ = PROVIDER.set(provider);
}

/// The data ranges (offset, length) of `path`, if the host can tell.
pub fn data_ranges(path: &Path) -> Option<Vec<(u64, u64)>> {
    let provider = PROVIDER.get()?;
    provider(path.to_str()?)
}
