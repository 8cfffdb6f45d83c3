//! wirt's storage-dir driver: libvirt "dir" storage pools, whose volumes are
//! the files of one directory, built as a WASM component exporting `storage`.
//!
//! The plugin sees nothing but the pools the host grants it: one WASI
//! preopened directory per pool, mounted at `/pools/<pool-uuid>`. Every file
//! access goes through that mount; the pool's host path (`target-path`) is
//! used only to report volume paths and keys. See `README.md` for the whole
//! contract with the host.
//!
//! The filesystem logic (`driver`, `volume`, `names`, `blocks`, `qcow2`) is
//! plain Rust over a root directory, so it builds and is tested natively;
//! only `component` (the wit-bindgen glue) is compiled for wasm32.

mod blocks;
mod driver;
mod error;
mod extents;
mod names;
mod qcow2;
mod records;
mod volume;

// Not in wasm32 test builds: those are WASI commands (run by `sandbox/`),
// which must not export `storage` nor import `host`.
#[cfg(all(target_arch = "wasm32", not(test)))]
mod component;

#[cfg(test)]
mod tests;

pub use driver::{Driver, PoolConfig, PoolUsage, Refresh, VolumeConfig, VolumeInfo};
pub use error::Error;

/// libvirt error numbers (`virErrorNumber`) the driver answers with.
pub mod code {
    pub const NO_SUPPORT: u32 = 3;
    pub const INVALID_ARG: u32 = 8;
    pub const OPERATION_FAILED: u32 = 9;
    pub const SYSTEM_ERROR: u32 = 38;
    pub const NO_STORAGE_POOL: u32 = 49;
    pub const NO_STORAGE_VOL: u32 = 50;
    pub const OPERATION_INVALID: u32 = 55;
    pub const STORAGE_VOL_EXIST: u32 = 90;
}

/// libvirt's flag values the driver understands.
pub mod flags {
    /// `VIR_STORAGE_POOL_BUILD_NO_OVERWRITE`.
    pub const BUILD_NO_OVERWRITE: u32 = 4;
    /// `VIR_STORAGE_POOL_BUILD_OVERWRITE`.
    pub const BUILD_OVERWRITE: u32 = 8;
    /// `VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA`.
    pub const CREATE_PREALLOC_METADATA: u32 = 1;
    /// `VIR_STORAGE_VOL_CREATE_REFLINK`.
    pub const CREATE_REFLINK: u32 = 2;
    /// `VIR_STORAGE_VOL_RESIZE_ALLOCATE`.
    pub const RESIZE_ALLOCATE: u32 = 1;
    /// `VIR_STORAGE_VOL_RESIZE_DELTA`.
    pub const RESIZE_DELTA: u32 = 2;
    /// `VIR_STORAGE_VOL_RESIZE_SHRINK`.
    pub const RESIZE_SHRINK: u32 = 4;
}

/// Where the host mounts pool `<uuid>` inside the guest: `/pools/<uuid>`.
pub const GUEST_POOLS_ROOT: &str = "/pools";

/// Largest chunk one `volume-read` returns or one `volume-write` accepts.
pub const MAX_TRANSFER: u32 = 4 * 1024 * 1024;
