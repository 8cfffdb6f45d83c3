//! `DOMAIN_MIGRATE_PREPARE_TUNNEL3_PARAMS`: a tunnelled migration's
//! destination. Prepare gets one end of a socket pair (the VMM made ready
//! here reads it); after the reply the client's stream data goes into the
//! other end, and what the VMM answers (its acknowledgement) goes back as
//! stream data, so the stream carries the VMMs' handshake both ways. The
//! client's STREAM/OK ends it; its Finish call, queued meanwhile, comes
//! next.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::session::Session;
use super::stream::{CHUNK, Incoming, finish, next_stream_packet};
use super::wire::Reader;
use crate::migrate_params::from_wire;
use crate::packet::{Header, Packet};
use crate::protocol::*;
use wirt::connect::{Connect, Error};
use wirt::error::ErrorCode;

/// Returns false once the client is gone.
pub(super) fn prepare(
    session: &mut Session,
    reader: &mut Reader,
    conn: &Connect,
    call: Header,
    args: DomainMigratePrepareTunnel3ParamsArgs,
) -> bool {
    let writer = session.writer.clone();
    let (ours, theirs) = match UnixStream::pair() {
        Ok(p) => p,
        Err(e) => {
            let e = Error::api(
                ErrorCode::SYSTEM_ERROR,
                format!("cannot make the migration tunnel: {e}"),
            );
            return session.answer(&call, Err(e));
        }
    };
    let prepared = from_wire(&args.params).and_then(|params| {
        conn.migrate_prepare_tunnel(&params, &args.cookie_in, args.flags, theirs)
    });
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => return session.answer(&call, Err(e)),
    };
    let reply = Reply::DomainMigratePrepareTunnel3Params(DomainMigratePrepareTunnel3ParamsRet {
        cookie_out: prepared.cookie,
    });
    if !session.answer(&call, Ok(reply)) {
        return false;
    }
    // The VMM's answers go back from a thread of their own; `open` stops
    // it writing into a stream that has ended.
    let open = Arc::new(AtomicBool::new(true));
    let back = match ours.try_clone() {
        Ok(mut from_vmm) => {
            let (writer, open) = (writer.clone(), open.clone());
            std::thread::Builder::new()
                .name("wirtd-tunnel".into())
                .spawn(move || {
                    let mut buf = vec![0u8; CHUNK];
                    let mut carried = 0u64;
                    let send = |data: Vec<u8>| {
                        open.load(Ordering::SeqCst)
                            && Packet::stream_data(&call, data)
                                .and_then(|p| p.to_bytes())
                                .is_ok_and(|b| writer.send(&b).is_ok())
                    };
                    loop {
                        match from_vmm.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if !send(buf[..n].to_vec()) {
                                    return carried;
                                }
                                carried += n as u64;
                            }
                        }
                    }
                    // The end of data: the VMM closed its end.
                    send(Vec::new());
                    carried
                })
                .ok()
        }
        Err(_) => None,
    };
    let mut to_vmm = &ours;
    let limit = session.shared.packet_timeout;
    let mut carried = 0u64;
    let alive = loop {
        match next_stream_packet(reader, &writer, &mut session.deferred, &call, limit) {
            // A VMM that gave up takes no more; the rest is dropped until
            // the client ends the stream.
            Ok(Incoming::Data(data)) => {
                if to_vmm.write_all(&data).is_ok() {
                    carried += data.len() as u64;
                }
            }
            Ok(Incoming::Hole(_)) => {}
            Ok(Incoming::Finished) => break Some(true),
            Ok(Incoming::Aborted) => break Some(false),
            Err(_) => break None,
        }
    };
    open.store(false, Ordering::SeqCst);
    // The VMM reads what was written, then the end; the thread's read ends.
    let _ = ours.shutdown(std::net::Shutdown::Both);
    let back = back.and_then(|t| t.join().ok()).unwrap_or(0);
    // The daemon's log, as for a migration's figures: what the tunnel
    // carried each way.
    eprintln!("wirtd: migration tunnel closed: {carried} bytes in, {back} bytes out");
    match alive {
        Some(true) => finish(&writer, &call),
        Some(false) => true,
        None => false,
    }
}
