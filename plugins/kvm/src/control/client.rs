//! A blocking control-protocol client, for the host's KVM adapter and tests.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use vmm_sys_util::sock_ctrl_msg::ScmSocket;

use super::protocol::{Envelope, ErrorBody, Event, Request, Response};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket failed.
    #[error("control socket I/O failed")]
    Io(#[source] io::Error),
    /// The VMM closed the connection.
    #[error("the VMM closed the control connection")]
    Closed,
    /// A line was not valid protocol JSON.
    #[error("invalid message from the VMM")]
    Json(#[source] serde_json::Error),
    /// The VMM refused the request.
    #[error("VMM error ({}): {}", .0.kind, .0.message)]
    Vmm(ErrorBody),
    /// No answer in time.
    #[error("timed out waiting for the VMM")]
    Timeout,
}

/// A connection to a VMM.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    next_id: u64,
    events: VecDeque<Event>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Line {
    Event(Event),
    Response(Response),
}

impl Client {
    /// Wraps a connected stream.
    pub fn new(stream: UnixStream) -> Self {
        Client {
            reader: BufReader::new(stream),
            next_id: 1,
            events: VecDeque::new(),
        }
    }

    /// Connects to a VMM's listening socket.
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        Ok(Self::new(
            UnixStream::connect(path).map_err(ClientError::Io)?,
        ))
    }

    /// The underlying stream and any bytes already read past the last
    /// message (after `console`, the start of the console stream).
    pub fn into_parts(self) -> (UnixStream, Vec<u8>) {
        let buffered = self.reader.buffer().to_vec();
        (self.reader.into_inner(), buffered)
    }

    fn read_line(&mut self, deadline: Option<Instant>) -> Result<Line, ClientError> {
        let timeout = match deadline {
            Some(d) => Some(
                d.checked_duration_since(Instant::now())
                    .filter(|t| !t.is_zero())
                    .ok_or(ClientError::Timeout)?,
            ),
            None => None,
        };
        self.reader
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(ClientError::Io)?;
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err(ClientError::Closed),
            Ok(_) => serde_json::from_str(&line).map_err(ClientError::Json),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(ClientError::Timeout)
            }
            Err(e) => Err(ClientError::Io(e)),
        }
    }

    /// Sends `request` with `fds` attached (SCM_RIGHTS; refer to them as
    /// `{"passed": n}`) and waits up to `timeout` for the response.
    pub fn request_with_fds(
        &mut self,
        request: Request,
        fds: &[RawFd],
        timeout: Duration,
    ) -> Result<serde_json::Value, ClientError> {
        let id = self.send_with_fds(request, fds)?;
        self.wait_response(id, timeout)
    }

    /// Sends `request` with `fds` attached and returns its id for
    /// [`Client::wait_response`]: the caller can close its copies of the
    /// descriptors meanwhile (a migration's connection must be closed on
    /// the host for the peers to see each other go).
    pub fn send_with_fds(&mut self, request: Request, fds: &[RawFd]) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = serde_json::to_vec(&Envelope {
            id: Some(id),
            request,
        })
        .map_err(ClientError::Json)?;
        line.push(b'\n');
        let stream = self.reader.get_ref();
        if fds.is_empty() {
            let mut s = stream;
            s.write_all(&line).map_err(ClientError::Io)?;
        } else {
            let n = stream
                .send_with_fds(&[&line[..]], fds)
                .map_err(|e| ClientError::Io(io::Error::from_raw_os_error(e.errno())))?;
            let mut s = stream;
            s.write_all(&line[n..]).map_err(ClientError::Io)?;
        }
        Ok(id)
    }

    /// Waits up to `timeout` for the response to request `id`.
    pub fn wait_response(
        &mut self,
        id: u64,
        timeout: Duration,
    ) -> Result<serde_json::Value, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.read_line(Some(deadline))? {
                Line::Event(e) => self.events.push_back(e),
                Line::Response(r) if r.id == Some(id) => {
                    return match (r.ok, r.error) {
                        (true, _) => Ok(r.result.unwrap_or(serde_json::Value::Null)),
                        (false, Some(e)) => Err(ClientError::Vmm(e)),
                        (false, None) => Err(ClientError::Vmm(ErrorBody {
                            kind: "failed".into(),
                            message: "no error detail".into(),
                        })),
                    };
                }
                Line::Response(_) => {}
            }
        }
    }

    /// Sends `request` and waits up to 30 s for the response.
    pub fn request(&mut self, request: Request) -> Result<serde_json::Value, ClientError> {
        self.request_with_fds(request, &[], Duration::from_secs(30))
    }

    /// Waits up to `timeout` for the next event (buffered ones first).
    pub fn next_event(&mut self, timeout: Duration) -> Result<Event, ClientError> {
        if let Some(e) = self.events.pop_front() {
            return Ok(e);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Line::Event(e) = self.read_line(Some(deadline))? {
                return Ok(e);
            }
        }
    }
}
