//! wirt: a virtualization manager in the shape of libvirt, built as a host
//! for sandboxed driver plugins.
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
#![forbid(unsafe_code)]

pub mod cli;
pub mod connect;
pub mod driver;
pub mod error;
pub mod events;
pub mod lifecycle;
pub mod plugin;
pub mod registry;
pub mod remote;
pub mod xml;

pub use connect::{Connect, Domain, DomainInfo, Error, Network, Snapshot, StoragePool, StorageVol};
pub use error::{ErrorCode, ErrorDomain};
pub use events::{DomainEvent, EventStream};
