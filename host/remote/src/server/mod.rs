//! wirtd's server: libvirt's remote protocol over unix sockets (and TCP on
//! loopback for tests), answering with the public API of [`wirt::connect`].
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
mod client;
mod domain;
mod events;
mod handles;
mod host;
mod network;
mod session;
mod snapshot;
mod storage;
mod stream;
#[cfg(test)]
mod tests;
mod wire;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::socket::Stream;
use wirt::error::ErrorCode;

/// What can stop the daemon from serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A socket path is taken by a daemon that answers.
    #[error("{} is in use by another daemon", .0.display())]
    InUse(PathBuf),
    /// A socket could not be created.
    #[error("cannot listen on {}", .path.display())]
    Bind {
        path: PathBuf,
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
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The async runtime or a signal handler could not start.
    #[error("cannot start the daemon's runtime")]
    Runtime(#[source] std::io::Error),
}

impl ServerError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ServerError::InUse(_) => ErrorCode::OPERATION_INVALID,
            ServerError::NotLoopback(_) => ErrorCode::OPERATION_DENIED,
            _ => ErrorCode::SYSTEM_ERROR,
        }
    }
}

/// Where and how the daemon listens.
#[derive(Debug, Clone)]
pub struct Config {
    /// The read-write socket (mode 0600).
    pub socket: Option<PathBuf>,
    /// The read-only socket (mode 0666): every mutating call is refused.
    pub ro_socket: Option<PathBuf>,
    /// TCP on a loopback address, read-write, no authentication.
    pub tcp: Option<SocketAddr>,
    /// What a client opening the default URI (no name) gets.
    pub default_uri: String,
    /// Log connections and refused calls on stderr.
    pub verbose: bool,
}

/// Daemon-wide facts every client thread reads.
pub(crate) struct Shared {
    pub default_uri: String,
    pub verbose: bool,
    next_client: AtomicU64,
}

impl Shared {
    fn next_id(&self) -> u64 {
        self.next_client.fetch_add(1, Ordering::Relaxed)
    }
}

/// Which listener a client came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Unix { read_only: bool },
    Tcp,
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
        let mut unix = Vec::new();
        for (path, read_only) in [(&config.socket, false), (&config.ro_socket, true)] {
            if let Some(path) = path {
                let mode = if read_only { 0o666 } else { 0o600 };
                unix.push((bind_unix(path, mode)?, read_only));
                sockets.push(path.clone());
            }
        }
        let tcp = match config.tcp {
            Some(addr) => Some(
                std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|source| ServerError::Tcp { addr, source })?,
            ),
            None => None,
        };
        let shared = Arc::new(Shared {
            default_uri: config.default_uri.clone(),
            verbose: config.verbose,
            next_client: AtomicU64::new(1),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_io()
            .build()
            .map_err(ServerError::Runtime)?;
        runtime.block_on(serve(unix, tcp, shared))
    })();
    for path in &sockets {
        let _ = std::fs::remove_file(path);
    }
    result
}

async fn serve(
    unix: Vec<(UnixListener, bool)>,
    tcp: Option<std::net::TcpListener>,
    shared: Arc<Shared>,
) -> Result<(), ServerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(ServerError::Runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServerError::Runtime)?;
    for (listener, read_only) in unix {
        let listener =
            tokio::net::UnixListener::from_std(listener).map_err(ServerError::Runtime)?;
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => match stream.into_std() {
                        Ok(s) => hand_over(Stream::Unix(s), Origin::Unix { read_only }, &shared),
                        Err(e) => eprintln!("wirtd: cannot take over a connection: {e}"),
                    },
                    // Out of descriptors, most likely: let some close.
                    Err(e) => {
                        eprintln!("wirtd: accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    if let Some(listener) = tcp {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(ServerError::Runtime)?;
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => match stream.into_std() {
                        Ok(s) => hand_over(Stream::Tcp(s), Origin::Tcp, &shared),
                        Err(e) => eprintln!("wirtd: cannot take over a connection: {e}"),
                    },
                    Err(e) => {
                        eprintln!("wirtd: accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Gives an accepted connection its own thread, in blocking mode.
fn hand_over(stream: Stream, origin: Origin, shared: &Arc<Shared>) {
    let blocking = match &stream {
        Stream::Unix(s) => s.set_nonblocking(false),
        Stream::Tcp(s) => s.set_nonblocking(false),
    };
    if let Err(e) = blocking {
        eprintln!("wirtd: cannot set up a connection: {e}");
        return;
    }
    let shared = shared.clone();
    let id = shared.next_id();
    let spawned = std::thread::Builder::new()
        .name(format!("wirtd-client-{id}"))
        .spawn(move || client::serve(stream, origin, id, shared));
    if let Err(e) = spawned {
        eprintln!("wirtd: cannot start a client thread: {e}");
    }
}

/// Binds a unix socket with `mode`, atomically: it is created under a
/// temporary name, given its mode, then renamed into place, so it is never
/// reachable with the umask's permissions. A stale socket (nobody answers)
/// is replaced; a live one is refused.
fn bind_unix(path: &Path, mode: u32) -> Result<UnixListener, ServerError> {
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
    let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(bind_err(e));
    }
    listener.set_nonblocking(true).map_err(bind_err)?;
    Ok(listener)
}
