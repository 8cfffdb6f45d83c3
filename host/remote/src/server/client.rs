//! One client of the daemon, on its own thread: read a packet, run the call,
//! write the answer. The rules of libvirtd's dispatcher apply: keepalive is
//! answered whatever the state, AUTH_* and the keepalive feature work before
//! CONNECT_OPEN and nothing else does, a procedure libvirt has but wirt does
//! not answers NO_SUPPORT (clients fall back), an unknown number or program
//! is an RPC error, and a read-only client is refused every mutating call.
//! A peer the access policy refuses gets "authentication failed" for its
//! first call and is disconnected: nothing it sends is run.

use std::collections::VecDeque;
use std::io::BufReader;
use std::sync::Arc;

use wirt::connect::{Connect, Error, ParsedUri};
use wirt::error::ErrorCode;

use super::events::Events;
use super::peer::Peer;
use super::session::Session;
use super::wire::{
    Reader, Routed, WRITE_TIMEOUT, Writer, next_packet, rpc_error, source_text, wait_for_client,
};
use super::{Origin, Shared, access};
use crate::client::VIR_CONNECT_RO;
use crate::packet::{Header, KEEPALIVE_PROGRAM, MessageError, MessageType, Packet};
use crate::protocol::*;
use crate::socket::Stream;

impl Session {
    /// Handles one packet; false ends the connection.
    fn handle(&mut self, reader: &mut Reader, packet: Packet) -> bool {
        let h = packet.header;
        if let Some(why) = &self.refused {
            self.log(format_args!("refused: {why}"));
            if matches!(h.msg_type, MessageType::Call | MessageType::CallWithFds) {
                let _ = self.answer_error(&h, &rpc_error(ErrorCode::AUTH_FAILED, why));
            }
            return false;
        }
        if h.program == KEEPALIVE_PROGRAM {
            return !h.is_ping()
                || Packet::pong()
                    .to_bytes()
                    .is_ok_and(|b| self.writer.send(&b).is_ok());
        }
        // Descriptors are never read from the socket (the kernel closes
        // them), so such a call cannot be served; it still gets an answer.
        if h.msg_type == MessageType::CallWithFds {
            let err = rpc_error(ErrorCode::NO_SUPPORT, "file descriptor passing");
            return self.answer_error(&h, &err);
        }
        // Stream packets of a finished or aborted stream are dropped, as
        // libvirtd does; only calls start anything.
        if h.msg_type != MessageType::Call {
            return true;
        }
        if h.program != REMOTE_PROGRAM || h.version != REMOTE_PROTOCOL_VERSION {
            let detail = format!("Cannot find program {} version {}", h.program, h.version);
            return self.answer_error(&h, &rpc_error(ErrorCode::RPC, &detail));
        }
        let procedure = h.procedure;
        if !access::served(procedure) {
            let err = if procedure_name(procedure).is_some() {
                self.log(format_args!("unsupported {}", access::api_name(procedure)));
                rpc_error(ErrorCode::NO_SUPPORT, &access::api_name(procedure))
            } else {
                rpc_error(ErrorCode::RPC, &format!("unknown procedure: {procedure}"))
            };
            return self.answer_error(&h, &err);
        }
        let call = match Call::decode(procedure, &packet.payload) {
            Ok(call) => call,
            Err(e) => {
                let detail = format!("{e}: {}", source_text(&e));
                return self.answer_error(&h, &rpc_error(ErrorCode::RPC, &detail));
            }
        };
        self.dispatch(reader, h, call)
    }

    fn dispatch(&mut self, reader: &mut Reader, h: Header, call: Call) -> bool {
        let before_open = match call {
            Call::AuthList(()) => Some(Ok(Reply::AuthList(AuthListRet {
                types: vec![AuthType::None],
            }))),
            // Only `none` is advertised, because only it is performed; a
            // client asking for polkit anyway is refused, as libvirtd
            // refuses an auth type it was not set up for.
            Call::AuthPolkit(()) => {
                let err = rpc_error(ErrorCode::AUTH_FAILED, "polkit is not performed");
                return self.answer_error(&h, &err);
            }
            Call::ConnectSupportsFeature(ref a)
                if a.feature == VIR_DRV_FEATURE_PROGRAM_KEEPALIVE =>
            {
                // As libvirtd: a client that asks answers PINGs, so it gets them.
                self.keepalive = true;
                Some(Ok(Reply::ConnectSupportsFeature(
                    ConnectSupportsFeatureRet { supported: 1 },
                )))
            }
            Call::ConnectOpen(ref a) => Some(self.open(a)),
            _ => None,
        };
        if let Some(result) = before_open {
            return self.answer(&h, result);
        }
        let Some(conn) = self.conn.clone() else {
            let err = rpc_error(ErrorCode::INTERNAL_ERROR, "hypervisor connection not open");
            return self.answer_error(&h, &err);
        };
        if self.read_only() && !access::read_only_allowed(&call) {
            let name = access::api_name(h.procedure);
            self.log(format_args!("denied {name} to a read-only client"));
            let detail = format!("read only access prevents {name}");
            let err = MessageError::new(
                ErrorCode::OPERATION_DENIED.0 as i32,
                access::api_domain(h.procedure).0 as i32,
                ErrorCode::OPERATION_DENIED.describe(&detail),
            );
            return self.answer_error(&h, &err);
        }
        match call {
            Call::StorageVolUpload(args) => super::stream::upload(self, reader, &conn, h, args),
            Call::StorageVolDownload(args) => super::stream::download(self, reader, &conn, h, args),
            Call::DomainOpenConsole(args) => super::stream::console(self, reader, &conn, h, args),
            Call::DomainMigratePrepareTunnel3Params(args) => {
                super::tunnel::prepare(self, reader, &conn, h, args)
            }
            Call::ConnectClose(()) => {
                self.events.stop();
                self.conn = None;
                self.answer(&h, Ok(Reply::ConnectClose(())))
            }
            call if long_running(&call) && self.start_long(&h, &conn, &call) => true,
            call => {
                let shared = self.shared.clone();
                let turn = shared.workers.turn();
                let result = self.route(&conn, call);
                drop(turn);
                self.answer(&h, result)
            }
        }
    }

    /// Runs a long call on a thread of its own, so that this client's
    /// other calls (a migration's progress, a suspend that makes it
    /// converge, keepalive) are answered meanwhile, as libvirtd's worker
    /// pool does. False when the client has `max_client_requests` running
    /// already: the call then runs here and the next ones wait.
    fn start_long(&self, h: &Header, conn: &Connect, call: &Call) -> bool {
        let in_flight = self.in_flight.clone();
        let max = self.shared.max_client_requests;
        if in_flight
            .fetch_update(
                std::sync::atomic::Ordering::AcqRel,
                std::sync::atomic::Ordering::Acquire,
                |n| (n < max).then_some(n + 1),
            )
            .is_err()
        {
            return false;
        }
        let (h, conn, call) = (*h, conn.clone(), call.clone());
        let (shared, writer) = (self.shared.clone(), self.writer.clone());
        let done = in_flight.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("wirtd-call-{}", self.id))
            .spawn(move || {
                let turn = shared.workers.turn();
                let result = route_call(&conn, call);
                drop(turn);
                super::session::answer_on(&writer, Some(&conn), &h, result);
                done.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            });
        if spawned.is_err() {
            in_flight.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            return false;
        }
        true
    }

    fn route(&mut self, conn: &Connect, call: Call) -> wirt::connect::Result<Reply> {
        let call = match super::host::dispatch(self, conn, call) {
            Routed::Done(r) => return r,
            Routed::Pass(c) => c,
        };
        route_call(conn, call)
    }
}

/// Calls that may take long (a migration, a save or restore, a block
/// job's end, a snapshot of a large guest) and need nothing of the
/// session but its connection.
fn long_running(call: &Call) -> bool {
    matches!(
        call,
        Call::DomainMigratePerform3Params(_)
            | Call::DomainMigratePerform3(_)
            | Call::DomainMigratePerform(_)
            | Call::DomainSave(_)
            | Call::DomainSaveFlags(_)
            | Call::DomainManagedSave(_)
            | Call::DomainRestore(_)
            | Call::DomainRestoreFlags(_)
            | Call::DomainSaveParams(_)
            | Call::DomainRestoreParams(_)
            | Call::DomainSnapshotCreateXml(_)
            | Call::DomainRevertToSnapshot(_)
            | Call::DomainSnapshotDelete(_)
            | Call::DomainBlockJobAbort(_)
            | Call::DomainBlockRebase(_)
            | Call::DomainBlockPull(_)
    )
}

/// The call families that need only the connection.
fn route_call(conn: &Connect, call: Call) -> wirt::connect::Result<Reply> {
    {
        let call = match super::domain::dispatch(conn, call) {
            Routed::Done(r) => return r,
            Routed::Pass(c) => c,
        };
        let call = match super::migrate::dispatch(conn, call) {
            Routed::Done(r) => return r,
            Routed::Pass(c) => c,
        };
        let call = match super::stats::dispatch(conn, call) {
            Routed::Done(r) => return r,
            Routed::Pass(c) => c,
        };
        let call = match super::snapshot::dispatch(conn, call) {
            Routed::Done(r) => return r,
            Routed::Pass(c) => c,
        };
        let call = match super::network::dispatch(conn, call) {
            Routed::Done(r) => return r,
            Routed::Pass(c) => c,
        };
        let call = match super::storage::dispatch(conn, call) {
            Routed::Done(r) => return r,
            Routed::Pass(c) => c,
        };
        let call = match super::monitor::dispatch(conn, call) {
            Routed::Done(r) => return r,
            Routed::Pass(c) => c,
        };
        let call = match super::blockjob::dispatch(conn, call) {
            Routed::Done(r) => return r,
            Routed::Pass(c) => c,
        };
        let call = match super::secret::dispatch(conn, call) {
            Routed::Done(r) => return r,
            Routed::Pass(c) => c,
        };
        let call = match super::nodedev::dispatch(conn, call) {
            Routed::Done(r) => return r,
            Routed::Pass(c) => c,
        };
        let call = match super::iface::dispatch(conn, call) {
            Routed::Done(r) => return r,
            Routed::Pass(c) => c,
        };
        Err(Error::api(
            ErrorCode::NO_SUPPORT,
            access::api_name(call.procedure()),
        ))
    }
}

impl Session {
    fn open(&mut self, args: &ConnectOpenArgs) -> wirt::connect::Result<Reply> {
        if self.conn.is_some() {
            return Err(Error::api(
                ErrorCode::INTERNAL_ERROR,
                "connection already open",
            ));
        }
        let uri = args
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.shared.default_uri.clone());
        let parsed = ParsedUri::parse(&uri)?;
        // A daemon serves its own drivers; forwarding could loop back to itself.
        if parsed.transport.is_some() {
            return Err(Error::api(ErrorCode::NO_CONNECT, uri));
        }
        let read_only =
            self.origin == (Origin::Unix { read_only: true }) || args.flags & VIR_CONNECT_RO != 0;
        // `test:///PATH` makes the daemon read PATH: a read-only client
        // (anyone, through the 0666 socket) must not choose what it reads.
        let node_file = parsed.scheme == "test" && parsed.path != "/default";
        if node_file && read_only {
            self.log(format_args!("denied node file {uri} to a read-only client"));
            return Err(Error::api(
                ErrorCode::OPERATION_DENIED,
                "read only access prevents opening a test node file",
            ));
        }
        let opened = if read_only {
            Connect::open_read_only(&uri)
        } else {
            Connect::open(&uri)
        };
        // A parse error quotes the file's lines; the client gets only where.
        let conn = opened.map_err(|e| match e {
            Error::Xml(wirt::xml::Error::Syntax { line, column, .. }) if node_file => Error::api(
                ErrorCode::XML_ERROR,
                format!("cannot parse test node file at line {line}, column {column}"),
            ),
            e => e,
        })?;
        self.log(format_args!(
            "opened {uri}{}",
            if read_only { " read-only" } else { "" }
        ));
        self.conn = Some(conn);
        Ok(Reply::ConnectOpen(()))
    }
}

impl Session {
    /// Waits for the client's next packet, sending keepalive PINGs while
    /// it is silent if it supports them; false once it has left `count`
    /// of them unanswered. A refused peer gets the packet timeout to send
    /// its first call, so that it cannot hold a place under `max_clients`.
    fn alive(&mut self, reader: &mut Reader) -> bool {
        if self.refused.is_some() {
            let spoke = wait_for_client(reader, self.shared.packet_timeout).unwrap_or(false);
            if !spoke {
                self.log(format_args!("dropped: refused and silent"));
            }
            return spoke;
        }
        let Some(ka) = self.shared.keepalive.filter(|_| self.keepalive) else {
            return true;
        };
        loop {
            match wait_for_client(reader, ka.interval) {
                Ok(true) => return true,
                Ok(false) if self.unanswered >= ka.count => {
                    self.log(format_args!(
                        "dropped: {} keepalive PINGs unanswered",
                        self.unanswered
                    ));
                    return false;
                }
                Ok(false) => {
                    let sent = Packet::ping()
                        .to_bytes()
                        .is_ok_and(|b| self.writer.send(&b).is_ok());
                    if !sent {
                        return false;
                    }
                    self.unanswered += 1;
                }
                Err(e) => {
                    self.log(format_args!("dropped: {e}"));
                    return false;
                }
            }
        }
    }
}

/// Serves one client until it hangs up.
pub(super) fn serve(
    stream: Stream,
    origin: Origin,
    peer: Option<Peer>,
    refused: Option<String>,
    id: u64,
    shared: Arc<Shared>,
) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let _ = write_half.set_write_timeout(Some(WRITE_TIMEOUT));
    stream.set_nodelay();
    let writer = Arc::new(Writer::new(write_half));
    let mut session = Session {
        id,
        origin,
        shared,
        writer: writer.clone(),
        conn: None,
        events: Events::new(writer.clone()),
        deferred: VecDeque::new(),
        refused,
        keepalive: false,
        unanswered: 0,
        in_flight: Arc::default(),
    };
    match peer {
        Some(p) => {
            tracing::info!(
                client = id,
                ?origin,
                uid = p.uid,
                gid = p.gid,
                pid = p.pid,
                "connected"
            );
            session.log(format_args!(
                "connected ({origin:?}, uid {} gid {} pid {})",
                p.uid, p.gid, p.pid
            ));
        }
        None => {
            tracing::info!(client = id, ?origin, "connected");
            session.log(format_args!("connected ({origin:?})"));
        }
    }
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    loop {
        let packet = match session.deferred.pop_front() {
            Some(p) => p,
            None if !session.alive(&mut reader) => break,
            None => match next_packet(&mut reader, session.shared.packet_timeout) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    session.log(format_args!("dropped: {e}"));
                    break;
                }
            },
        };
        session.unanswered = 0;
        if !session.handle(&mut reader, packet) {
            break;
        }
    }
    session.events.stop();
    writer.shutdown();
    session.log(format_args!("disconnected"));
}
