//! wirt's test driver: a whole simulated host, the way libvirt's test driver
//! is, built as a WASM component exporting `hypervisor`, `storage` and
//! `network`. Nothing here touches the real machine: domains, pools, volume
//! contents and networks live in this instance's memory.
//!
//! The host enforces the lifecycle rules before calling in; the checks here
//! are the driver's own preconditions, answered with libvirt's error codes.

mod domains;
mod networks;
mod storage;

wit_bindgen::generate!({
    world: "test-driver",
    path: "../../wit",
});

use wirt::driver::types::Error;

struct TestDriver;

export!(TestDriver);

/// libvirt error numbers the driver answers with.
pub(crate) mod code {
    use wirt_vocab::ErrorCode;

    pub const NO_SUPPORT: u32 = ErrorCode::NO_SUPPORT.0;
    pub const INVALID_ARG: u32 = ErrorCode::INVALID_ARG.0;
    pub const OPERATION_FAILED: u32 = ErrorCode::OPERATION_FAILED.0;
    pub const NO_STORAGE_POOL: u32 = ErrorCode::NO_STORAGE_POOL.0;
    pub const NO_STORAGE_VOL: u32 = ErrorCode::NO_STORAGE_VOL.0;
    pub const OPERATION_INVALID: u32 = ErrorCode::OPERATION_INVALID.0;
    pub const NO_NETWORK: u32 = ErrorCode::NO_NETWORK.0;
    pub const STORAGE_VOL_EXIST: u32 = ErrorCode::STORAGE_VOL_EXIST.0;
}

pub(crate) fn err(code: u32, message: impl Into<String>) -> Error {
    Error {
        code,
        message: message.into(),
    }
}
