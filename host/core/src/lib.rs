//! wirt: a virtualization manager in the shape of libvirt, built as a host
//! for sandboxed driver plugins. This crate is the embeddable core: the
//! public API ([`Connect`] and its handles), the lifecycle rules, the
//! registry of objects, the XML models, events, the driver traits and the
//! WASM plugin runtime. The wire protocol (`wirt-remote`) and the binaries
//! (`wirt-cli`) build on it; see `docs/architecture.md`.
//!
//! ```
//! use wirt::{Connect, lifecycle::State};
//!
//! let conn = Connect::open("test:///default")?;
//! let xml = "<domain type='test'><name>doc-example</name>\
//!            <memory unit='MiB'>128</memory><vcpu>1</vcpu>\
//!            <os><type>hvm</type></os></domain>";
//! let dom = conn.define_domain_xml(xml, 0)?;
//! dom.start(0)?;
//! assert_eq!(dom.state()?.0, State::Running);
//! dom.destroy()?;
//! dom.undefine(0)?;
//! # Ok::<(), wirt::Error>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod connect;
pub mod driver;
pub mod error;
pub mod events;
pub mod lifecycle;
mod local;
mod open;
pub mod plugin;
pub mod registry;
pub mod xml;

pub use connect::{Connect, Domain, DomainInfo, Error, Network, Snapshot, StoragePool, StorageVol};
pub use error::{ErrorCode, ErrorDomain};
pub use events::{DomainEvent, EventStream};
pub use local::LocalDirs;
pub use open::{TransportOpener, set_transport};
/// libvirt's numbers (states, reasons, events, flag sets, error codes).
pub use wirt_vocab as vocab;
