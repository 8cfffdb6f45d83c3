//! The control channel: newline-delimited JSON over a unix socket
//! (PROTOCOL.md). [`protocol`] holds the message types, [`server`] the
//! VMM's event loop and [`client`] a blocking client for the host and tests;
//! [`published`] the state file a host reads without connecting.

pub mod client;
pub mod protocol;
pub mod published;
pub mod server;
