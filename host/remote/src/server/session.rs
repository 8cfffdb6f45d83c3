//! One client's state: its socket, its connection, its event callbacks.

use std::collections::VecDeque;
use std::sync::Arc;

use wirt::connect::{Connect, Result};
use wirt::error::ErrorCode;

use super::events::Events;
use super::wire::{Writer, rpc_error, source_text, wire_error};
use super::{Origin, Shared};
use crate::packet::{Header, MessageError, Packet, encode_message};
use crate::protocol::Reply;

pub(super) struct Session {
    pub id: u64,
    pub origin: Origin,
    pub shared: Arc<Shared>,
    pub writer: Arc<Writer>,
    pub conn: Option<Connect>,
    pub events: Events,
    /// Calls that arrived while a stream was being read, run after it.
    pub deferred: VecDeque<Packet>,
    /// Why the access policy refuses this peer: its first call is answered
    /// with that and the connection ends.
    pub refused: Option<String>,
    /// The client asked about keepalive, so it answers PINGs.
    pub keepalive: bool,
    /// PINGs sent since the client last sent anything.
    pub unanswered: u32,
    /// Long calls of this client running on threads of their own.
    pub in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

impl Session {
    pub(super) fn read_only(&self) -> bool {
        self.origin == Origin::Unix { read_only: true }
            || self.conn.as_ref().is_some_and(Connect::is_read_only)
    }

    pub(super) fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.shared.verbose {
            eprintln!("wirtd: client {}: {what}", self.id);
        }
    }

    /// Sends the answer to `call`; false once the client is gone.
    pub(super) fn answer(&self, call: &Header, result: Result<Reply>) -> bool {
        answer_on(&self.writer, self.conn.as_ref(), call, result)
    }

    pub(super) fn answer_error(&self, call: &Header, err: &MessageError) -> bool {
        match Packet::error_reply(call, err).and_then(|p| p.to_bytes()) {
            Ok(bytes) => self.writer.send(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}

/// Sends the answer to `call` on `writer` (from any thread).
pub(super) fn answer_on(
    writer: &Writer,
    conn: Option<&Connect>,
    call: &Header,
    result: Result<Reply>,
) -> bool {
    {
        let bytes = match result {
            Ok(reply) => encode_message(&call.reply(), &reply).or_else(|e| {
                // A reply over a protocol limit (say, a list too long).
                let err = rpc_error(ErrorCode::RPC, &format!("{e}: {}", source_text(&e)));
                Packet::error_reply(call, &err).and_then(|p| p.to_bytes())
            }),
            Err(e) => Packet::error_reply(call, &wire_error(&e, conn)).and_then(|p| p.to_bytes()),
        };
        match bytes {
            Ok(bytes) => writer.send(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}
