//! A guest's console over the wire (`virDomainOpenConsole`): the call, then
//! a libvirt stream both ways on the session, as virsh uses it.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use super::{RemoteConn, Session, decode_reply, wait};
use crate::packet::{Header, MessageStatus, MessageType, Packet};
use crate::protocol::*;
use crate::refs::wire_domain;
use wirt::connect::{DomainRef, Error};
use wirt::driver::ConsoleStream;

/// The stream's call, ended (aborted, as virsh does on its escape key) when
/// both halves are dropped.
struct Stream {
    session: Arc<Session>,
    call: Header,
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Ok(bytes) = Packet::stream_abort(&self.call).to_bytes() {
            let _ = self.session.send(&bytes);
        }
        self.session.finish(self.call.serial);
    }
}

/// The guest's output: stream data until the daemon's end of data.
struct Output {
    /// Keeps the call open while output is read.
    _stream: Arc<Stream>,
    rx: Receiver<Packet>,
    data: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl Read for Output {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.data.len() {
            if self.ended {
                return Ok(0);
            }
            // The session gone is the end too.
            let Ok(p) = self.rx.recv() else {
                return Ok(0);
            };
            match (p.header.msg_type, p.header.status) {
                (MessageType::Stream, MessageStatus::Continue) if p.payload.is_empty() => {
                    self.ended = true;
                }
                (MessageType::Stream, MessageStatus::Continue) => {
                    self.data = p.payload;
                    self.pos = 0;
                }
                (MessageType::Stream, MessageStatus::Ok) => self.ended = true,
                _ => {
                    self.ended = true;
                    return Err(io::Error::other(
                        "the daemon ended the console with an error",
                    ));
                }
            }
        }
        let n = out.len().min(self.data.len() - self.pos);
        out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Typing into the guest's console.
struct Input(Arc<Stream>);

impl Write for Input {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bytes = Packet::stream_data(&self.0.call, buf.to_vec())
            .and_then(|p| p.to_bytes())
            .map_err(io::Error::other)?;
        self.0
            .session
            .send(&bytes)
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl RemoteConn {
    pub(super) fn open_console(&self, dom: &DomainRef) -> Result<ConsoleStream, Error> {
        let session = self.session()?;
        let args = DomainOpenConsoleArgs {
            dom: wire_domain(dom),
            dev_name: None,
            flags: 0,
        };
        let (call, rx) = session.start(REMOTE_PROC_DOMAIN_OPEN_CONSOLE, &args)?;
        if let Err(e) = wait(&rx, None).and_then(|p| decode_reply::<()>(&p)) {
            session.finish(call.serial);
            return Err(e.into());
        }
        let stream = Arc::new(Stream { session, call });
        Ok(ConsoleStream {
            reader: Box::new(Output {
                _stream: stream.clone(),
                rx,
                data: Vec::new(),
                pos: 0,
                ended: false,
            }),
            writer: Box::new(Input(stream)),
        })
    }
}
