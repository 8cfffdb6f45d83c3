//! Volume upload and download, and a domain's console, as libvirt streams.
//!
//! The call is answered only when the transfer really starts (the first
//! read or write of the API's source or sink), so a refused transfer gets
//! an error reply, as from libvirtd. Upload: the client's data packets, its
//! STREAM/OK, ours. Download: our data packets, an empty one for the end,
//! the client's STREAM/OK, ours. A failure after the reply is a
//! STREAM/ERROR. Calls that arrive meanwhile wait their turn.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::handles::domain;
use super::session::Session;
use super::storage::vol;
use super::wire::{Reader, Writer, wire_error};
use crate::packet::{
    Header, KEEPALIVE_PROGRAM, MessageError, MessageStatus, MessageType, Packet, StreamHole,
    encode_message,
};
use crate::protocol::*;
use wirt::connect::{Connect, Error};
use wirt::driver::ConsoleStream;
use wirt::error::ErrorCode;

/// Stream data per packet: libvirt's legacy payload limit, which every
/// client accepts.
pub(super) const CHUNK: usize = 256 * 1024 - 24;
/// Calls a client may queue behind a stream before it is cut off.
const MAX_DEFERRED: usize = 64;

/// The reply to the call, sent once.
struct Reply<'a> {
    writer: &'a Writer,
    call: Header,
    sent: bool,
}

impl Reply<'_> {
    fn send(&mut self) -> io::Result<()> {
        if !self.sent {
            self.sent = true;
            let bytes = encode_message(&self.call.reply(), &()).map_err(io::Error::other)?;
            self.writer.send(&bytes)?;
        }
        Ok(())
    }
}

/// What a client sent while a stream was open.
pub(super) enum Incoming {
    Data(Vec<u8>),
    Hole(u64),
    Finished,
    Aborted,
}

/// Reads until the next packet of stream `call`, answering keepalive and
/// queueing calls. `None` when the client hung up.
pub(super) fn next_stream_packet(
    reader: &mut Reader,
    writer: &Writer,
    deferred: &mut VecDeque<Packet>,
    call: &Header,
    limit: std::time::Duration,
) -> io::Result<Incoming> {
    loop {
        // A packet begun must be finished in time here too.
        let Some(p) = super::wire::next_packet(reader, limit).map_err(io::Error::other)? else {
            return Err(io::ErrorKind::UnexpectedEof.into());
        };
        let h = p.header;
        if h.program == KEEPALIVE_PROGRAM {
            if h.is_ping() {
                writer.send(&Packet::pong().to_bytes().map_err(io::Error::other)?)?;
            }
            continue;
        }
        if h.msg_type == MessageType::Call {
            if deferred.len() >= MAX_DEFERRED {
                return Err(io::Error::other("too many calls queued behind a stream"));
            }
            deferred.push_back(p);
            continue;
        }
        if h.serial != call.serial || h.procedure != call.procedure {
            continue;
        }
        return Ok(match (h.msg_type, h.status) {
            (MessageType::Stream, MessageStatus::Continue) => Incoming::Data(p.payload),
            (MessageType::Stream, MessageStatus::Ok) => Incoming::Finished,
            (MessageType::StreamHole, _) => {
                let hole: StreamHole = p.decode().map_err(io::Error::other)?;
                Incoming::Hole(u64::try_from(hole.length).unwrap_or(0))
            }
            _ => Incoming::Aborted,
        });
    }
}

/// The upload's data as a `Read` for `StorageVol::upload`.
struct Source<'a> {
    reply: Reply<'a>,
    reader: &'a mut Reader,
    deferred: &'a mut VecDeque<Packet>,
    limit: std::time::Duration,
    data: Vec<u8>,
    pos: usize,
    zeros: u64,
    finished: bool,
    aborted: bool,
}

impl Read for Source<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.reply.send()?;
        loop {
            if self.pos < self.data.len() {
                let n = out.len().min(self.data.len() - self.pos);
                out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.zeros > 0 {
                let n = (out.len() as u64).min(self.zeros) as usize;
                out[..n].fill(0);
                self.zeros -= n as u64;
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            let writer = self.reply.writer;
            let (call, limit) = (&self.reply.call, self.limit);
            match next_stream_packet(self.reader, writer, self.deferred, call, limit)? {
                Incoming::Data(data) => {
                    self.data = data;
                    self.pos = 0;
                }
                Incoming::Hole(len) => self.zeros = len,
                Incoming::Finished => self.finished = true,
                Incoming::Aborted => {
                    self.aborted = true;
                    return Err(io::Error::other("the client aborted the stream"));
                }
            }
        }
    }
}

/// `STORAGE_VOL_UPLOAD`. Returns false once the client is gone.
pub(super) fn upload(
    session: &mut Session,
    reader: &mut Reader,
    conn: &Connect,
    call: Header,
    args: StorageVolUploadArgs,
) -> bool {
    let writer = session.writer.clone();
    let volume = match vol(conn, args.vol) {
        Ok(v) => v,
        Err(e) => return session.answer(&call, Err(e)),
    };
    let mut source = Source {
        reply: Reply {
            writer: &writer,
            call,
            sent: false,
        },
        reader,
        deferred: &mut session.deferred,
        limit: session.shared.packet_timeout,
        data: Vec::new(),
        pos: 0,
        zeros: 0,
        finished: false,
        aborted: false,
    };
    let result = volume.upload(args.offset, args.length, &mut source, &mut |_, _| {});
    let (sent, aborted) = (source.reply.sent, source.aborted);
    match result {
        Err(e) if !sent => session.answer(&call, Err(e)),
        Err(_) if aborted => true,
        Err(e) => send_stream_error(&writer, &call, &wire_error(&e, Some(conn))),
        Ok(_) => {
            // The API stops at `length`; the client still ends with STREAM/OK.
            while !source.finished {
                let limit = source.limit;
                let next =
                    next_stream_packet(source.reader, &writer, source.deferred, &call, limit);
                match next {
                    Ok(Incoming::Finished) => source.finished = true,
                    Ok(Incoming::Aborted) => return true,
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
            source.reply.send().is_ok() && finish(&writer, &call)
        }
    }
}

/// The download's destination as a `Write` for `StorageVol::download`.
struct Sink<'a> {
    reply: Reply<'a>,
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.reply.send()?;
        for chunk in buf.chunks(CHUNK) {
            let packet = Packet::stream_data(&self.reply.call, chunk.to_vec())
                .and_then(|p| p.to_bytes())
                .map_err(io::Error::other)?;
            self.reply.writer.send(&packet)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `STORAGE_VOL_DOWNLOAD`. Returns false once the client is gone.
pub(super) fn download(
    session: &mut Session,
    reader: &mut Reader,
    conn: &Connect,
    call: Header,
    args: StorageVolDownloadArgs,
) -> bool {
    let writer = session.writer.clone();
    let volume = match vol(conn, args.vol) {
        Ok(v) => v,
        Err(e) => return session.answer(&call, Err(e)),
    };
    let mut sink = Sink {
        reply: Reply {
            writer: &writer,
            call,
            sent: false,
        },
    };
    let result = volume.download(args.offset, args.length, &mut sink, &mut |_, _| {});
    let sent = sink.reply.sent;
    if let Err(e) = result {
        return if sent {
            send_stream_error(&writer, &call, &wire_error(&e, Some(conn)))
        } else {
            session.answer(&call, Err(e))
        };
    }
    // The end of data is an empty data packet; the client then confirms.
    let end = Packet::stream_data(&call, Vec::new()).and_then(|p| p.to_bytes());
    if sink.reply.send().is_err() || !end.is_ok_and(|b| writer.send(&b).is_ok()) {
        return false;
    }
    loop {
        let limit = session.shared.packet_timeout;
        match next_stream_packet(reader, &writer, &mut session.deferred, &call, limit) {
            Ok(Incoming::Finished) => return finish(&writer, &call),
            Ok(Incoming::Aborted) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// `DOMAIN_OPEN_CONSOLE`: the guest's serial console both ways, until the
/// client finishes or aborts the stream. When the console ends first (the
/// guest stopped), the client is told so by the end of data, as libvirtd
/// does, and then finishes. Calls the client makes meanwhile wait, as
/// behind any stream. Returns false once the client is gone.
pub(super) fn console(
    session: &mut Session,
    reader: &mut Reader,
    conn: &Connect,
    call: Header,
    args: DomainOpenConsoleArgs,
) -> bool {
    let writer = session.writer.clone();
    // One serial console: libvirt's names for it, or none (the first).
    if let Some(dev) = args
        .dev_name
        .as_deref()
        .filter(|d| !matches!(*d, "serial0" | "console0"))
    {
        let e = Error::api(
            ErrorCode::OPERATION_FAILED,
            format!("cannot find character device {dev}"),
        );
        return session.answer(&call, Err(e));
    }
    let ConsoleStream {
        reader: mut output,
        writer: mut input,
    } = match domain(conn, args.dom).open_console() {
        Ok(c) => c,
        Err(e) => return session.answer(&call, Err(e)),
    };
    let mut reply = Reply {
        writer: &writer,
        call,
        sent: false,
    };
    if reply.send().is_err() {
        return false;
    }
    // The guest's output goes out from a thread of its own; `open` stops it
    // from writing into a stream the client has closed.
    let open = Arc::new(AtomicBool::new(true));
    let pump = {
        let (writer, open) = (writer.clone(), open.clone());
        std::thread::Builder::new()
            .name("wirtd-console".into())
            .spawn(move || {
                let mut buf = vec![0u8; 4096];
                let send = |data: Vec<u8>| {
                    open.load(Ordering::SeqCst)
                        && Packet::stream_data(&call, data)
                            .and_then(|p| p.to_bytes())
                            .is_ok_and(|b| writer.send(&b).is_ok())
                };
                loop {
                    match output.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if !send(buf[..n].to_vec()) {
                                return;
                            }
                        }
                    }
                }
                send(Vec::new());
            })
    };
    if pump.is_err() {
        return send_stream_error(
            &writer,
            &call,
            &MessageError::new(
                ErrorCode::INTERNAL_ERROR.0 as i32,
                0,
                "cannot start the console thread",
            ),
        );
    }
    let limit = session.shared.packet_timeout;
    let alive = loop {
        match next_stream_packet(reader, &writer, &mut session.deferred, &call, limit) {
            // Typing into a console that ended is lost, as on a real line.
            Ok(Incoming::Data(data)) => {
                let _ = input.write_all(&data).and_then(|()| input.flush());
            }
            Ok(Incoming::Hole(_)) => {}
            Ok(Incoming::Finished) => break finish(&writer, &call),
            Ok(Incoming::Aborted) => break true,
            Err(_) => break false,
        }
    };
    open.store(false, Ordering::SeqCst);
    // Dropping the input ends the driver's console connection, and with it
    // the output the thread reads.
    drop(input);
    alive
}

pub(super) fn finish(writer: &Writer, call: &Header) -> bool {
    Packet::stream_finish(call)
        .to_bytes()
        .is_ok_and(|b| writer.send(&b).is_ok())
}

fn send_stream_error(writer: &Writer, call: &Header, e: &MessageError) -> bool {
    Packet::stream_error(call, e)
        .and_then(|p| p.to_bytes())
        .is_ok_and(|b| writer.send(&b).is_ok())
}
