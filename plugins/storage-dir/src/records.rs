//! The records a `storage` call passes (mirrors of the contract's types),
//! and libvirt's flag check: what both the driver and the volume code use.

use crate::error::Error;

/// The pool a `storage` call names (mirrors `types.pool-config`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolConfig {
    pub uuid: String,
    pub name: String,
    pub pool_type: String,
    /// The pool directory's path on the host: used for reporting only.
    pub target_path: Option<String>,
    pub source_path: Option<String>,
    pub mode: Option<u32>,
}

/// Mirrors `types.pool-usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolUsage {
    pub capacity: u64,
    pub allocation: u64,
    pub available: u64,
}

/// Mirrors `types.volume-config`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeConfig {
    pub name: String,
    pub capacity: u64,
    pub allocation: u64,
    pub format: String,
    /// For a qcow2 overlay: (backing path, backing format).
    pub backing: Option<(String, String)>,
}

/// Mirrors `types.volume-info`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeInfo {
    pub name: String,
    pub key: String,
    pub path: String,
    pub kind: u32,
    pub capacity: u64,
    pub allocation: u64,
    pub format: String,
}

/// What a scan of a pool directory found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refresh {
    /// The volumes, by name.
    pub volumes: Vec<VolumeInfo>,
    /// Entries that are not volumes (subdirectories, links leaving the pool,
    /// names that are not valid volume names...), each with the reason.
    pub skipped: Vec<(String, String)>,
}

/// libvirt's `virCheckFlags`: bits outside `allowed` are an invalid argument.
pub fn check_flags(flags: u32, allowed: u32, function: &str) -> Result<(), Error> {
    if flags & !allowed != 0 {
        return Err(Error::InvalidArg(format!(
            "unsupported flags (0x{:x}) in function {function}",
            flags & !allowed
        )));
    }
    Ok(())
}
