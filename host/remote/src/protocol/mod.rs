//! libvirt's `remote_protocol.x` (program `REMOTE_PROGRAM` 0x20008086,
//! version 1) as Rust: every procedure number of libvirt 9.0, and typed
//! `*Args` / `*Ret` / `*Msg` structs for the procedures wirt serves and uses.
//!
//! Layouts are copied field by field from `remote_protocol.x`; libvirt keeps
//! them stable because old clients depend on them. Names drop the `remote_`
//! prefix and become CamelCase (`remote_domain_get_state_ret` is
//! [`DomainGetStateRet`]); where libvirt has many structs of one shape there is
//! one struct plus aliases with libvirt's names.

mod call;
mod connect;
mod domain;
mod event;
mod network;
pub mod procedures;
mod snapshot;
mod storage;
mod types;

pub use call::{
    CALL_PROCEDURES, Call, EVENT_PROCEDURES, Event, ProtocolError, REPLY_PROCEDURES, Reply,
    StreamDirection, stream_direction,
};
pub use connect::*;
pub use domain::*;
pub use event::*;
pub use network::*;
pub use procedures::*;
pub use snapshot::*;
pub use storage::*;
pub use types::*;

/// `REMOTE_PROGRAM`: the program number of libvirt's main remote protocol.
pub const REMOTE_PROGRAM: u32 = 0x2000_8086;
/// `REMOTE_PROTOCOL_VERSION`.
pub const REMOTE_PROTOCOL_VERSION: u32 = 1;
/// `QEMU_PROGRAM`: libvirt's QEMU-specific side protocol (not served by wirt).
pub const QEMU_PROGRAM: u32 = 0x2000_8087;
