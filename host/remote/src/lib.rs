//! libvirt's RPC protocol for wirt. Call [`install`] once so that
//! `wirt::Connect::open` reaches daemons (`test+unix:///default?socket=S`,
//! `kvm+tcp://host/session`, `test+tls://host/default`); the `server`
//! feature adds wirtd's server.
//!
//! libvirt's RPC protocol on the wire: the XDR codec ([`xdr`]), packet framing
//! and the error struct ([`packet`]), and the typed procedures of
//! `remote_protocol.x` ([`protocol`], generated from libvirt 9.0's file by
//! `wirt-xdrgen`). No policy and no I/O beyond
//! `std::io::Read`/`Write`: the daemon and the client build on these.
//!
//! - **Server**: get [`packet::Packet`]s from [`packet::read_packet`] or, in an
//!   event loop, from [`packet::PacketDecoder`]; answer keepalive PINGs
//!   ([`packet::Header::is_ping`]) with [`packet::Packet::pong`]; for a `CALL`
//!   of [`protocol::REMOTE_PROGRAM`], answer `VIR_ERR_NO_SUPPORT` for a
//!   procedure you do not serve, then [`protocol::Call::decode`] gives a typed
//!   call (`UnknownProcedure` is a number libvirt does not have); reply
//!   with [`packet::Packet::reply`] (any `*Ret` or a [`protocol::Reply`]) or
//!   [`packet::Packet::error_reply`]; write with [`packet::write_packet`], or
//!   frame straight into one buffer with [`packet::encode_message`].
//! - **Client**: [`packet::Packet::call`] with the args and a serial, then read
//!   until the `REPLY` with that serial; [`packet::Packet::error`] tells an
//!   error reply, [`packet::Packet::decode`] gives the `*Ret`. `MESSAGE`
//!   packets in between are events ([`protocol::Event::decode`]) or keepalive.
//! - **Streams** (volume upload/download): after the call's OK reply, `STREAM`
//!   packets with the call's procedure and serial ([`packet::Packet::stream_data`],
//!   `stream_finish`, `stream_abort`, `stream_error`, `stream_hole`).
//!
//! `tests/flow.rs` runs all of this between a client and a server thread.
//!
//! Built on these: [`server`], wirtd's dispatcher (the `wirtd` binary is a
//! thin front to [`server::run`]), and [`client`], which `Connect::open`
//! uses for URIs with a transport; [`socket`] is the byte stream both sides
//! share, [`tls`] libvirt's `+tls` transport for both, and `refs` maps
//! wire references to API handles and back.

#![warn(missing_docs)]

pub mod client;
pub(crate) mod migrate_params;
pub mod packet;
pub mod protocol;
pub(crate) mod refs;
#[cfg(feature = "server")]
pub mod server;
pub mod socket;
pub mod tls;
pub mod xdr;

/// Lets `wirt::Connect::open` open URIs with a transport through this
/// crate's client. Safe to call more than once.
pub fn install() {
    wirt::set_transport(client::open_backend);
}

#[cfg(test)]
mod tests;
