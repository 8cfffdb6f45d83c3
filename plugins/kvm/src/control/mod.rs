//! The control channel: newline-delimited JSON over a unix socket
//! (PROTOCOL.md). [`protocol`] holds the message types, [`server`] the
//! VMM's event loop and [`client`] a blocking client for the host and tests.

pub mod client;
pub mod protocol;
pub mod server;
