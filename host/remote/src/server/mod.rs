//! wirtd's server: libvirt's remote protocol over unix sockets, TLS with
//! client certificates (`tls`), and TCP on loopback for tests, answering
//! with the public API of [`wirt::connect`].
//!
//! Tokio accepts connections and waits for SIGTERM; each client then gets a
//! thread of its own that reads its calls and runs them, because the API is
//! synchronous and may block (plugins, VMMs, files): no API call runs on a
//! tokio worker. A synchronous client gets one wake-up per call, the least
//! latency a daemon can give. Connection states are shared per URI by
//! `Connect::open`, so every client of `test:///default` sees one host.
//!
//! Families of procedures live in their own files: `host` (connect-level),
//! `domain`, `snapshot`, `network`, `storage` (with `stream` for volume
//! upload/download), and `events`.

mod access;
mod block_events;
mod blockjob;
mod client;
pub mod conf;
mod device_events;
mod domain;
mod events;
mod handles;
mod host;
mod iface;
mod keyed_events;
mod migrate;
mod monitor;
mod network;
mod nodedev;
mod nodedev_events;
pub mod peer;
mod pool_events;
mod secret;
mod secret_events;
mod session;
mod snapshot;
mod stats;
mod storage;
mod stream;
#[cfg(test)]
mod tests;
mod tls;
mod tunnel;
mod wire;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::socket::Stream;
use peer::{Peer, Policy};
use wirt::error::ErrorCode;

pub use tls::TlsListen;

/// What can stop the daemon from serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A socket path is taken by a daemon that answers.
    #[error("{} is in use by another daemon", .0.display())]
    InUse(PathBuf),
    /// A socket could not be created.
    #[error("cannot listen on {}", .path.display())]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// TCP without authentication is for tests on this machine only.
    #[error(
        "refusing to listen on {0}: TCP is unauthenticated, only loopback addresses are allowed"
    )]
    NotLoopback(SocketAddr),
    /// The TCP socket could not be created.
    #[error("cannot listen on {addr}")]
    Tcp {
        /// The address.
        addr: SocketAddr,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The TLS credentials cannot be used.
    #[error("cannot set up TLS")]
    Tls(#[source] crate::tls::TlsError),
    /// The async runtime or a signal handler could not start.
    #[error("cannot start the daemon's runtime")]
    Runtime(#[source] std::io::Error),
}

impl ServerError {
    /// libvirt's error number for it.
    pub fn code(&self) -> ErrorCode {
        match self {
            ServerError::InUse(_) => ErrorCode::OPERATION_INVALID,
            ServerError::NotLoopback(_) => ErrorCode::OPERATION_DENIED,
            ServerError::Tls(e) => e.code(),
            _ => ErrorCode::SYSTEM_ERROR,
        }
    }
}

/// Where and how the daemon listens.
#[derive(Debug, Clone)]
pub struct Config {
    /// The read-write socket (mode `rw_perms`).
    pub socket: Option<PathBuf>,
    /// The read-only socket (mode `ro_perms`): every mutating call is refused.
    pub ro_socket: Option<PathBuf>,
    /// Mode of the read-write socket (libvirtd's `unix_sock_rw_perms`).
    pub rw_perms: u32,
    /// Mode of the read-only socket (libvirtd's `unix_sock_ro_perms`).
    pub ro_perms: u32,
    /// Who may use the read-write socket besides root and the daemon's
    /// user; its group (`unix_sock_group`) also owns both sockets.
    pub policy: Policy,
    /// TCP on a loopback address, read-write, no authentication.
    pub tcp: Option<SocketAddr>,
    /// TLS with client certificates, on any address, read-write.
    pub tls: Option<TlsListen>,
    /// What a client opening the default URI (no name) gets.
    pub default_uri: String,
    /// Log connections and refused calls on stderr.
    pub verbose: bool,
    /// Most clients served at once (libvirtd's `max_clients`); a connection
    /// over it is closed as soon as it is accepted.
    pub max_clients: usize,
    /// How long a client may take to finish a packet it has begun; an idle
    /// client (between packets) may stay.
    pub packet_timeout: Duration,
    /// Pings for clients that support keepalive; None sends none.
    pub keepalive: Option<Keepalive>,
    /// Most calls running at once, all clients together (libvirtd's
    /// `max_workers`); more wait for one to finish.
    pub max_workers: usize,
    /// Most long calls (a migration, a save, a block job's end) one client
    /// has running while its other calls are answered (libvirtd's
    /// `max_client_requests`); past it, calls wait their turn.
    pub max_client_requests: usize,
}

/// libvirtd's keepalive: a client that asked about
/// `VIR_DRV_FEATURE_PROGRAM_KEEPALIVE` is sent a PING after `interval` of
/// silence, and again every `interval`; after `count` unanswered it is
/// dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Silence before a PING (`keepalive_interval`).
    pub interval: Duration,
    /// PINGs left unanswered before the client is dropped (`keepalive_count`).
    pub count: u32,
}

/// libvirtd's default keepalive: a PING after 5 s of silence, dropped after
/// 5 unanswered (30 s in all).
pub const DEFAULT_KEEPALIVE: Keepalive = Keepalive {
    interval: Duration::from_secs(5),
    count: 5,
};
/// libvirtd's default `max_workers`.
pub const DEFAULT_MAX_WORKERS: usize = 20;
/// libvirtd's default `max_client_requests`.
pub const DEFAULT_MAX_CLIENT_REQUESTS: usize = 5;

/// The read-write socket's default mode: the daemon's user only.
pub const DEFAULT_RW_PERMS: u32 = 0o600;
/// The read-only socket's default mode: anyone may connect.
pub const DEFAULT_RO_PERMS: u32 = 0o666;

/// libvirtd's default `max_clients`.
pub const DEFAULT_MAX_CLIENTS: usize = 5000;
/// A packet of libvirt's 32 MiB limit arrives well within this on any link
/// a local daemon serves.
pub const DEFAULT_PACKET_TIMEOUT: Duration = Duration::from_secs(60);

/// The first wait after a failed accept, and the longest.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// Daemon-wide facts every client thread reads.
pub(crate) struct Shared {
    pub default_uri: String,
    pub verbose: bool,
    pub packet_timeout: Duration,
    pub keepalive: Option<Keepalive>,
    pub workers: Workers,
    /// Long calls one client may have running at once.
    pub max_client_requests: usize,
    policy: Policy,
    /// The daemon's effective uid, always admitted to the read-write socket.
    owner: u32,
    max_clients: usize,
    clients: AtomicUsize,
    next_client: AtomicU64,
}

/// At most `max_workers` calls run at once; a client thread waits here for
/// a turn, leaving its further calls in its socket (back-pressure).
pub(crate) struct Workers {
    /// Calls running, and client threads waiting for a turn.
    count: std::sync::Mutex<(usize, usize)>,
    free: std::sync::Condvar,
    max: usize,
}

impl Workers {
    fn new(max: usize) -> Workers {
        Workers {
            count: std::sync::Mutex::new((0, 0)),
            free: std::sync::Condvar::new(),
            max: max.max(1),
        }
    }

    /// Waits for a turn, given back when the guard drops.
    pub fn turn(&self) -> Turn<'_> {
        let mut count = self.count.lock().unwrap_or_else(|p| p.into_inner());
        while count.0 >= self.max {
            count.1 += 1;
            count = self.free.wait(count).unwrap_or_else(|p| p.into_inner());
            count.1 -= 1;
        }
        count.0 += 1;
        Turn(self)
    }
}

/// A running call's place under `max_workers`.
pub(crate) struct Turn<'a>(&'a Workers);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let waiting = {
            let mut count = self.0.count.lock().unwrap_or_else(|p| p.into_inner());
            count.0 -= 1;
            count.1
        };
        // A notify is a system call even with nobody waiting: once per
        // call, it was a tenth of a small call's daemon time.
        if waiting > 0 {
            self.0.free.notify_one();
        }
    }
}

impl Shared {
    fn next_id(&self) -> u64 {
        self.next_client.fetch_add(1, Ordering::Relaxed)
    }
}

/// A client's place under `max_clients`, given back when it is dropped.
struct Slot(Arc<Shared>);

impl Slot {
    fn take(shared: &Arc<Shared>) -> Option<Slot> {
        shared
            .clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < shared.max_clients).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(shared.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Which listener a client came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Unix {
        read_only: bool,
    },
    Tcp,
    /// A client whose certificate the TLS handshake verified.
    Tls,
}

/// Serves until SIGTERM or SIGINT, then removes the sockets.
pub fn run(config: Config) -> Result<(), ServerError> {
    if let Some(addr) = config.tcp
        && !addr.ip().is_loopback()
    {
        return Err(ServerError::NotLoopback(addr));
    }
    let mut sockets = Vec::new();
    let result = (|| {
        let tls = match &config.tls {
            Some(listen) => {
                let acceptor = tls::Acceptor::new(listen)?;
                let addr = listen.addr;
                let listener = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|source| ServerError::Tcp { addr, source })?;
                Some((listener, acceptor))
            }
            None => None,
        };
        let tcp = match config.tcp {
            Some(addr) => Some(
                std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|source| ServerError::Tcp { addr, source })?,
            ),
            None => None,
        };
        // Unix sockets last: once they answer, every listener is up.
        let mut unix = Vec::new();
        for (path, read_only) in [(&config.socket, false), (&config.ro_socket, true)] {
            if let Some(path) = path {
                let mode = if read_only {
                    config.ro_perms
                } else {
                    config.rw_perms
                };
                unix.push((bind_unix(path, mode, config.policy.rw_group)?, read_only));
                sockets.push(path.clone());
            }
        }
        let shared = Arc::new(Shared {
            default_uri: config.default_uri.clone(),
            verbose: config.verbose,
            packet_timeout: config.packet_timeout,
            keepalive: config.keepalive,
            workers: Workers::new(config.max_workers),
            max_client_requests: config.max_client_requests.max(1),
            policy: config.policy.clone(),
            owner: peer::daemon_uid(),
            max_clients: config.max_clients,
            clients: AtomicUsize::new(0),
            next_client: AtomicU64::new(1),
        });
        // Time too: the accept loop backs off with a timer.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_io()
            .enable_time()
            .build()
            .map_err(ServerError::Runtime)?;
        runtime.block_on(serve(unix, tcp, tls, shared))
    })();
    for path in &sockets {
        let _ = std::fs::remove_file(path);
    }
    result
}

async fn serve(
    unix: Vec<(UnixListener, bool)>,
    tcp: Option<std::net::TcpListener>,
    tls: Option<(std::net::TcpListener, tls::Acceptor)>,
    shared: Arc<Shared>,
) -> Result<(), ServerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(ServerError::Runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServerError::Runtime)?;
    for (listener, read_only) in unix {
        let listener =
            tokio::net::UnixListener::from_std(listener).map_err(ServerError::Runtime)?;
        let origin = Origin::Unix { read_only };
        tokio::spawn(listen(Listener::Unix(listener), origin, shared.clone()));
    }
    if let Some(listener) = tcp {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(ServerError::Runtime)?;
        tokio::spawn(listen(Listener::Tcp(listener), Origin::Tcp, shared.clone()));
    }
    if let Some((listener, acceptor)) = tls {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(ServerError::Runtime)?;
        let tls = Listener::Tls(listener, acceptor);
        tokio::spawn(listen(tls, Origin::Tls, shared.clone()));
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
    Tls(tokio::net::TcpListener, tls::Acceptor),
}

/// A connection as accepted: ready to serve, or to handshake first.
enum Accepted {
    Ready(Stream),
    Tls(tokio::net::TcpStream, Option<SocketAddr>, tls::Acceptor),
}

impl Listener {
    async fn accept(&self) -> std::io::Result<Accepted> {
        Ok(match self {
            Listener::Unix(l) => Accepted::Ready(Stream::Unix(l.accept().await?.0.into_std()?)),
            Listener::Tcp(l) => Accepted::Ready(Stream::Tcp(l.accept().await?.0.into_std()?)),
            Listener::Tls(l, acceptor) => {
                let (tcp, from) = l.accept().await?;
                Accepted::Tls(tcp, Some(from), acceptor.clone())
            }
        })
    }
}

/// Accepts for as long as the daemon runs. No error ends it: out of
/// descriptors (EMFILE, ENFILE) or memory, it waits, longer each time up to
/// a second, for clients to leave; the listener stays open meanwhile.
async fn listen(listener: Listener, origin: Origin, shared: Arc<Shared>) {
    let mut backoff = ACCEPT_BACKOFF.0;
    loop {
        match listener.accept().await {
            Ok(Accepted::Ready(stream)) => {
                backoff = ACCEPT_BACKOFF.0;
                hand_over(stream, origin, &shared);
            }
            Ok(Accepted::Tls(tcp, from, acceptor)) => {
                backoff = ACCEPT_BACKOFF.0;
                // The place is taken before the handshake, so that peers
                // that never finish one count under max_clients too.
                if let Some(slot) = take_slot(&shared) {
                    tokio::spawn(tls::serve(tcp, from, acceptor, slot, shared.clone()));
                }
            }
            Err(e) => {
                eprintln!("wirtd: accept failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
            }
        }
    }
}

/// Gives an accepted connection its own thread, in blocking mode, or
/// closes it when `max_clients` are already served.
fn hand_over(stream: Stream, origin: Origin, shared: &Arc<Shared>) {
    if let Some(slot) = take_slot(shared) {
        start_client(stream, origin, slot, shared);
    }
}

/// A place under `max_clients`, or None (logged) when all are taken.
fn take_slot(shared: &Arc<Shared>) -> Option<Slot> {
    let slot = Slot::take(shared);
    if slot.is_none() && shared.verbose {
        eprintln!(
            "wirtd: refused a connection: {} clients",
            shared.max_clients
        );
    }
    slot
}

/// Serves a connection on a thread of its own, in blocking mode.
fn start_client(stream: Stream, origin: Origin, slot: Slot, shared: &Arc<Shared>) {
    let blocking = match &stream {
        Stream::Unix(s) => s.set_nonblocking(false),
        Stream::Tcp(s) => s.set_nonblocking(false),
    };
    if let Err(e) = blocking {
        eprintln!("wirtd: cannot set up a connection: {e}");
        return;
    }
    let (peer, refused) = admit(&stream, origin, shared);
    let shared = shared.clone();
    let id = shared.next_id();
    let spawned = std::thread::Builder::new()
        .name(format!("wirtd-client-{id}"))
        .spawn(move || {
            let _slot = slot;
            client::serve(stream, origin, peer, refused, id, shared)
        });
    if let Err(e) = spawned {
        eprintln!("wirtd: cannot start a client thread: {e}");
    }
}

/// Who the peer of a unix socket is, and why it may not be served, if it
/// may not: read-write unix clients pass the policy, or every call they
/// make is refused and they are disconnected. A peer whose credentials
/// cannot be read is refused too.
fn admit(stream: &Stream, origin: Origin, shared: &Shared) -> (Option<Peer>, Option<String>) {
    // TLS clients were checked by their certificate; TCP is loopback only.
    let (Stream::Unix(unix), Origin::Unix { .. }) = (stream, origin) else {
        return (None, None);
    };
    let peer = Peer::of(unix);
    let refused = match (&peer, origin) {
        (_, Origin::Unix { read_only: true }) => None,
        (Ok(p), _) => shared.policy.refuses(p, shared.owner),
        (Err(e), _) => Some(format!("cannot identify the peer: {e}")),
    };
    (peer.ok(), refused)
}

/// Binds a unix socket with `mode`, atomically: it is created under a
/// temporary name, given its mode, then renamed into place, so it is never
/// reachable with the umask's permissions. A stale socket (nobody answers)
/// is replaced; a live one is refused.
fn bind_unix(path: &Path, mode: u32, group: Option<u32>) -> Result<UnixListener, ServerError> {
    let bind_err = |source| ServerError::Bind {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(bind_err)?;
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(ServerError::InUse(path.to_path_buf()));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp).map_err(bind_err)?;
    let placed = std::os::unix::fs::chown(&tmp, None, group)
        .and_then(|()| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(bind_err(e));
    }
    listener.set_nonblocking(true).map_err(bind_err)?;
    Ok(listener)
}
