//! libvirt's numbers, declared once: domain states and their reasons,
//! lifecycle events and their details, the flag sets of the calls, and the
//! error codes and domains. The host, the KVM driver and its control
//! protocol, the test driver and the example drivers all use these; only the
//! conformance suite keeps its own copy, on purpose, so that it checks the
//! host against an independent reading of libvirt.
//!
//! Numbers travel as `u32` (on the plugin contract and on the wire, where
//! libvirt keeps adding values); these types convert them with checks: an
//! unknown number is `None`, never a silent default.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod event;
pub mod flags;
pub mod monitor;
pub mod state;

pub use error::{ErrorCode, ErrorDomain};
pub use event::{Event, detail};
pub use state::{Reason, State, reason};
