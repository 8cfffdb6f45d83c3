//! A tunnelled migration's stream, from the source's side: the reply to
//! `DOMAIN_MIGRATE_PREPARE_TUNNEL3_PARAMS`, then the bytes of the source's
//! VMM (its socket pair's other end is `local`) go out as stream data and
//! the destination VMM's answers (its acknowledgement) come back the same
//! way. wirt's daemons use the stream both ways, as a console does: the
//! VMMs' handshake needs the way back.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use super::{RemoteConn, Session, decode_reply, wait};
use crate::migrate_params::to_wire;
use crate::packet::{Header, MessageStatus, MessageType, Packet};
use crate::protocol::*;
use wirt::connect::{Error, MigrateParams, Prepared};

/// Stream data per packet: libvirt's legacy payload limit.
const CHUNK: usize = 256 * 1024 - 24;

impl RemoteConn {
    pub(super) fn migrate_prepare_tunnel(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        local: UnixStream,
    ) -> Result<Prepared, Error> {
        let session = self.session()?;
        let args = DomainMigratePrepareTunnel3ParamsArgs {
            params: to_wire(params),
            cookie_in: cookie.to_vec(),
            flags,
        };
        let (call, rx) = session.start(REMOTE_PROC_DOMAIN_MIGRATE_PREPARE_TUNNEL3_PARAMS, &args)?;
        let ret =
            wait(&rx, None).and_then(|p| decode_reply::<DomainMigratePrepareTunnel3ParamsRet>(&p));
        let ret = match ret {
            Ok(r) => r,
            Err(e) => {
                session.finish(call.serial);
                return Err(e.into());
            }
        };
        pump(session, call, rx, local).map_err(|e| {
            Error::api(
                wirt::ErrorCode::SYSTEM_ERROR,
                format!("cannot start the migration tunnel: {e}"),
            )
        })?;
        Ok(Prepared {
            cookie: ret.cookie_out,
            uri: None,
        })
    }
}

/// Carries bytes between `local` and the stream of `call`, both ways, on
/// two threads: out until `local` ends (then the stream is finished, or
/// aborted on an error), in until the daemon ends or confirms the stream.
fn pump(
    session: Arc<Session>,
    call: Header,
    rx: Receiver<Packet>,
    local: UnixStream,
) -> io::Result<()> {
    let mut reader = local.try_clone()?;
    let out = {
        let session = session.clone();
        move || {
            let mut buf = vec![0u8; CHUNK];
            let ended = loop {
                match reader.read(&mut buf) {
                    Ok(0) => break Packet::stream_finish(&call),
                    Ok(n) => {
                        let sent = Packet::stream_data(&call, buf[..n].to_vec())
                            .and_then(|p| p.to_bytes())
                            .is_ok_and(|b| session.send(&b).is_ok());
                        if !sent {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break Packet::stream_abort(&call),
                }
            };
            if let Ok(b) = ended.to_bytes() {
                let _ = session.send(&b);
            }
        }
    };
    let back = move || {
        let mut local = local;
        // The session gone ends the stream too.
        while let Ok(p) = rx.recv() {
            match (p.header.msg_type, p.header.status) {
                // The destination's end of data: its VMM closed.
                (MessageType::Stream, MessageStatus::Continue) if p.payload.is_empty() => {
                    let _ = local.shutdown(std::net::Shutdown::Write);
                }
                (MessageType::Stream, MessageStatus::Continue) => {
                    // A VMM that went away takes no more; the rest is dropped.
                    let _ = local.write_all(&p.payload);
                }
                // The daemon confirmed our finish: the stream is over.
                (MessageType::Stream, MessageStatus::Ok) => break,
                _ => break,
            }
        }
        // Whatever is still blocked on `local` (the outgoing half) ends.
        let _ = local.shutdown(std::net::Shutdown::Both);
        session.finish(call.serial);
    };
    std::thread::Builder::new()
        .name("wirt-tunnel-out".into())
        .spawn(out)?;
    std::thread::Builder::new()
        .name("wirt-tunnel-in".into())
        .spawn(back)?;
    Ok(())
}
