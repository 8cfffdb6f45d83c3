//! The VMM's control loop: one thread polling the guest-event eventfd, the
//! listening socket, JSON clients and raw console clients.
//!
//! Losing every client is fine: the VMM keeps running and the host comes
//! back through the listening socket. Descriptors sent with SCM_RIGHTS are
//! attached to the request line they arrived with.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};

use vmm_sys_util::sock_ctrl_msg::ScmSocket;

use super::protocol::{Envelope, ErrorBody, Event, Request, Response};
use crate::vmm::{Vmm, error_chain};

const MAX_LINE: usize = 1 << 20;
const MAX_FDS: usize = 16;
const TICK_MS: i32 = 100;

struct Client {
    stream: UnixStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    fds: Vec<OwnedFd>,
    closed: bool,
    /// Set once a `console` request was answered: the stream moves to the console.
    to_console: Option<bool>,
}

impl Client {
    fn new(stream: UnixStream) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        Ok(Client {
            stream,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            fds: Vec::new(),
            closed: false,
            to_console: None,
        })
    }

    fn read(&mut self) {
        let mut buf = [0u8; 8192];
        let mut fds = [-1 as RawFd; MAX_FDS];
        let mut iov = [libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        }];
        // SAFETY: the iovec points at `buf`, which outlives the call.
        match unsafe { self.stream.recv_with_fds(&mut iov, &mut fds) } {
            Ok((0, 0)) => self.closed = true,
            Ok((n, nfds)) => {
                for fd in &fds[..nfds] {
                    // SAFETY: the kernel just installed these descriptors for us.
                    self.fds.push(unsafe { OwnedFd::from_raw_fd(*fd) });
                }
                self.rbuf.extend_from_slice(&buf[..n]);
                if self.rbuf.len() > MAX_LINE && !self.rbuf.contains(&b'\n') {
                    self.closed = true;
                }
            }
            Err(e) if e.errno() == libc::EAGAIN || e.errno() == libc::EINTR => {}
            Err(_) => self.closed = true,
        }
    }

    fn send_line<T: serde::Serialize>(&mut self, msg: &T) {
        if let Ok(mut line) = serde_json::to_vec(msg) {
            line.push(b'\n');
            self.wbuf.extend_from_slice(&line);
        }
        // A client that stops reading must not grow us without bound.
        if self.wbuf.len() > 16 * MAX_LINE {
            self.closed = true;
        }
    }

    fn flush(&mut self) {
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(0) => {
                    self.closed = true;
                    return;
                }
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }
}

fn respond(id: Option<u64>, r: Result<serde_json::Value, crate::vmm::VmmError>) -> Response {
    match r {
        Ok(v) => Response {
            id,
            ok: true,
            result: Some(v),
            error: None,
        },
        Err(e) => Response {
            id,
            ok: false,
            result: None,
            error: Some(ErrorBody {
                kind: e.kind().into(),
                message: error_chain(&e),
            }),
        },
    }
}

fn handle_lines(vmm: &mut Vmm, c: &mut Client, events: &mut Vec<Event>) {
    while c.to_console.is_none() {
        let Some(pos) = c.rbuf.iter().position(|b| *b == b'\n') else {
            return;
        };
        let line: Vec<u8> = c.rbuf.drain(..=pos).collect();
        let mut passed: Vec<Option<OwnedFd>> = c.fds.drain(..).map(Some).collect();
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let resp = match serde_json::from_str::<Envelope>(&text) {
            Ok(env) => {
                let console = match env.request {
                    Request::Console { replay } => Some(replay),
                    _ => None,
                };
                // Only the connection that asks for a migration in counts:
                // a status asked on another one in between must not
                // replace it.
                if matches!(env.request, Request::MigrateReceive(_)) {
                    crate::vmm::migrate::set_requester(c.stream.as_raw_fd());
                }
                let r = vmm.handle(env.request, &mut passed);
                if r.is_ok() {
                    c.to_console = console;
                }
                // Guest events may have been consumed by the request (e.g. a
                // reset); broadcast whatever the VMM now reports.
                events.extend(vmm.on_vm_events());
                respond(env.id, r)
            }
            Err(e) => Response {
                id: None,
                ok: false,
                result: None,
                error: Some(ErrorBody {
                    kind: "invalid-request".into(),
                    message: format!("cannot parse request: {e}"),
                }),
            },
        };
        c.send_line(&resp);
        if vmm.quitting() {
            return;
        }
    }
}

fn poll_fd(fd: RawFd, out: bool) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN | if out { libc::POLLOUT } else { 0 },
        revents: 0,
    }
}

/// Runs the control loop until a `quit` request, publishing the guest's
/// state through `publisher` whenever it changes.
pub fn run(
    vmm: &mut Vmm,
    control: Option<UnixStream>,
    listener: Option<UnixListener>,
    mut publisher: Option<super::published::Publisher>,
) -> io::Result<()> {
    if let Some(l) = &listener {
        l.set_nonblocking(true)?;
    }
    let mut clients: Vec<Client> = control
        .into_iter()
        .map(Client::new)
        .collect::<io::Result<_>>()?;
    // Input sides of attached consoles, and whether each has hung up.
    let mut consoles: Vec<(UnixStream, bool)> = Vec::new();
    loop {
        let mut fds = vec![poll_fd(vmm.events().fd().as_raw_fd(), false)];
        if let Some(l) = &listener {
            fds.push(poll_fd(l.as_raw_fd(), false));
        }
        let first_client = fds.len();
        fds.extend(
            clients
                .iter()
                .map(|c| poll_fd(c.stream.as_raw_fd(), !c.wbuf.is_empty())),
        );
        let first_console = fds.len();
        fds.extend(consoles.iter().map(|(c, _)| poll_fd(c.as_raw_fd(), false)));
        // SAFETY: `fds` is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, TICK_MS) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
            continue;
        }
        let mut events = Vec::new();
        if fds[0].revents != 0 {
            events.extend(vmm.on_vm_events());
        }
        let polled = clients.len();
        if let Some(l) = listener.as_ref().filter(|_| fds[1].revents != 0) {
            while let Ok((s, _)) = l.accept() {
                if let Ok(c) = Client::new(s) {
                    clients.push(c);
                }
            }
        }
        for (i, c) in clients.iter_mut().enumerate() {
            // Just-accepted clients were not polled; a non-blocking read is harmless.
            let ready = i >= polled
                || fds[first_client + i].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR)
                    != 0;
            if ready {
                c.read();
            }
            handle_lines(vmm, c, &mut events);
        }
        for (i, (c, closed)) in consoles.iter_mut().enumerate() {
            if fds[first_console + i].revents != 0 {
                let mut buf = [0u8; 256];
                match c.read(&mut buf) {
                    Ok(0) => *closed = true,
                    Ok(n) => {
                        let _ = vmm.handle(
                            Request::ConsoleInput {
                                data: String::from_utf8_lossy(&buf[..n]).into_owned(),
                            },
                            &mut [],
                        );
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => *closed = true,
                }
            }
        }
        consoles.retain(|(_, closed)| !closed);
        for c in clients.iter_mut() {
            for e in &events {
                c.send_line(e);
            }
            c.flush();
        }
        // Hand answered console requests over to the console.
        let mut i = 0;
        while i < clients.len() {
            if let Some(replay) = clients[i].to_console.filter(|_| clients[i].wbuf.is_empty()) {
                let c = clients.swap_remove(i);
                if let Ok(input) = c.stream.try_clone()
                    && vmm.console().attach(c.stream, replay).is_ok()
                {
                    consoles.push((input, false));
                }
                continue;
            }
            i += 1;
        }
        clients.retain(|c| !c.closed);
        if let Some(p) = publisher.as_mut() {
            let (state, reason) = vmm.state();
            if let Err(e) = p.publish(state, reason) {
                // Readers fall back to asking over the socket.
                eprintln!("wirt-vmm: cannot publish the state: {e}");
                publisher = None;
            }
        }
        vmm.release_stopped();
        vmm.tick();
        if vmm.quitting() {
            for c in clients.iter_mut() {
                let _ = c.stream.set_nonblocking(false);
                c.flush();
            }
            return Ok(());
        }
    }
}
