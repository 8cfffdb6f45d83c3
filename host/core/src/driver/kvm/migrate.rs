//! Live migration's host side for KVM (`plugins/kvm/PROTOCOL.md`, "Live
//! migration"). VMMs cannot open sockets, so the hosts make the TCP
//! connection and hand one end to each VMM: the destination listens,
//! spawns a VMM and gives it the accepted connection with
//! `migrate-receive`; the source connects and gives its VMM the other end
//! with `migrate-send`. Both requests answer when the migration is over;
//! the hosts close their own copies as soon as the VMMs have them, so each
//! VMM sees its peer go away. A tunnelled migration gives each VMM one
//! end of a socket pair instead, whose other end the daemons carry.

use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::thread::JoinHandle;

use wirt_kvm::control::protocol::{MigrateSendRequest, MigrationProgress};

use super::*;

/// How long a destination waits for the source to connect.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a source waits to reach the destination.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pre-copy rounds before the source pauses the guest anyway.
const MAX_ROUNDS: u32 = 30;

/// An incoming migration between Prepare and Finish.
struct Incoming {
    vm: Arc<Vm>,
    cancel: Arc<AtomicBool>,
    /// Accepts the source's connection and runs `migrate-receive`.
    receiver: JoinHandle<Result<Value>>,
}

/// A migration connection between two VMMs: TCP between the hosts, or
/// one end of a tunnel through the daemons.
pub(super) enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    fn try_clone(&self) -> std::io::Result<Conn> {
        Ok(match self {
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
        })
    }

    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Unix(s) => s.as_raw_fd(),
        }
    }

    fn shutdown(&self) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Conn::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        }
    }
}

/// What the host keeps of an outgoing migration.
struct Outgoing {
    /// A copy of the connection, to shut it down when the job is aborted.
    conn: Option<Conn>,
    /// The write end of the VMM's `converge` pipe.
    converge: std::io::PipeWriter,
    /// The last progress line the VMM wrote.
    progress: Arc<Mutex<Option<MigrateProgress>>>,
}

/// Outgoing migrations by VMM socket path.
fn outgoing() -> MutexGuard<'static, HashMap<PathBuf, Outgoing>> {
    static MAP: OnceLock<Mutex<HashMap<PathBuf, Outgoing>>> = OnceLock::new();
    MAP.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Incoming migrations by VMM socket path (unique per host and domain).
fn incoming() -> MutexGuard<'static, HashMap<PathBuf, Incoming>> {
    static MAP: OnceLock<Mutex<HashMap<PathBuf, Incoming>>> = OnceLock::new();
    MAP.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn bad_uri(uri: &str) -> Error {
    Error::driver(
        ErrorCode::INVALID_ARG,
        format!("unsupported migration URI '{uri}': expected tcp://host[:port]"),
    )
}

/// `tcp://host[:port]` (or libvirt's `tcp:host:port`) as host and port.
fn parse_tcp(uri: &str) -> Result<(String, u16)> {
    let rest = uri
        .strip_prefix("tcp://")
        .or_else(|| uri.strip_prefix("tcp:"))
        .ok_or_else(|| bad_uri(uri))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse::<u16>().map_err(|_| bad_uri(uri))?)
        }
        _ => (rest, 0),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad_uri(uri));
    }
    Ok((host.to_string(), port))
}

fn format_uri(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("tcp://[{host}]:{port}")
    } else {
        format!("tcp://{host}:{port}")
    }
}

impl KvmDriver {
    /// Listens, spawns a VMM for `config` and lets it take the source's
    /// connection in the background; returns the URI to send to.
    pub(super) fn migrate_prepare(
        &self,
        config: &DomainConfig,
        listen: Option<&str>,
        mode: IncomingMode,
    ) -> Result<String> {
        self.check_not_running(&config.uuid)?;
        let (listener, advertised) = match listen {
            Some(uri) => {
                let (host, port) = parse_tcp(uri)?;
                let listener = TcpListener::bind((host.as_str(), port))
                    .map_err(|e| io_error(format!("cannot listen on {host}:{port}"), e))?;
                (listener, host)
            }
            None => {
                // As libvirt: every address, advertised by host name.
                let listener = TcpListener::bind(("::", 0))
                    .or_else(|_| TcpListener::bind(("0.0.0.0", 0)))
                    .map_err(|e| io_error("cannot listen for the migration", e))?;
                (listener, crate::connect::local_hostname())
            }
        };
        let port = listener
            .local_addr()
            .map_err(|e| io_error("cannot read the listening port", e))?
            .port();
        listener
            .set_nonblocking(true)
            .map_err(|e| io_error("cannot set up the listening socket", e))?;
        self.receive_from(config, Source::Listener(listener), mode)?;
        Ok(format_uri(&advertised, port))
    }

    /// As `migrate_prepare`, the data coming through `tunnel`.
    pub(super) fn migrate_prepare_tunnel(
        &self,
        config: &DomainConfig,
        tunnel: UnixStream,
        mode: IncomingMode,
    ) -> Result<()> {
        self.check_not_running(&config.uuid)?;
        self.receive_from(config, Source::Tunnel(tunnel), mode)
    }

    /// Spawns a VMM for `config` and lets it take the migration from
    /// `from` in the background.
    fn receive_from(&self, config: &DomainConfig, from: Source, mode: IncomingMode) -> Result<()> {
        // The guest's cards come along: taps (or passt) made here, as for a
        // start, on this host's bridges and networks.
        let opened = self.open_with_nics(config)?;
        let (vm, numbers, opened) = self.spawn(config, opened)?;
        self.record_taps(&config.uuid, &opened);
        let request = Request::MigrateReceive(RestoreRequest {
            from: FdRef::Passed(0),
            disks: Self::boot_request(config, &opened, &numbers, false).disks,
            nics: super::nic::nic_refs(&opened.nics, &numbers),
            kernel: opened.kernel.map(|i| KernelRef::Fd(numbers[i])),
            initrd: opened.initrd.map(|i| FdRef::Fd(numbers[i])),
            paused: mode.paused,
            copy_storage: mode.copy_storage,
            policies: policies(config),
        });
        drop(opened);
        let cancel = Arc::new(AtomicBool::new(false));
        let receiver = {
            let vm = vm.clone();
            let cancel = cancel.clone();
            std::thread::Builder::new()
                .name(format!("wirt-migrate-in-{}", config.name))
                .spawn(move || receive(&vm, from, &cancel, request))
                .map_err(|e| io_error("cannot start a migration thread", e))
        };
        let receiver = match receiver {
            Ok(r) => r,
            Err(e) => {
                self.stop(&config.uuid, &vm);
                return Err(e);
            }
        };
        incoming().insert(
            self.socket_path(&config.uuid),
            Incoming {
                vm,
                cancel,
                receiver,
            },
        );
        Ok(())
    }

    /// Waits for the incoming migration of `uuid` to end (`cancelled`: stops
    /// waiting for a source that never connected); the VM is this host's
    /// if it arrived, else its VMM is gone.
    pub(super) fn migrate_finish(&self, uuid: &str, cancelled: bool) -> Result<DomainStatus> {
        let job = incoming()
            .remove(&self.socket_path(uuid))
            .ok_or_else(|| Error::driver(ErrorCode::OPERATION_INVALID, "no incoming migration"))?;
        if cancelled {
            job.cancel.store(true, Ordering::SeqCst);
        }
        let received = job.receiver.join().unwrap_or_else(|_| {
            Err(Error::driver(
                ErrorCode::INTERNAL_ERROR,
                "the migration thread panicked",
            ))
        });
        match received {
            // Arrived: the source stopped at the go-ahead, so the guest is
            // this host's now even if the client calls it cancelled.
            Ok(reply) => {
                self.register(uuid, job.vm)?;
                status_from(&reply["status"])
            }
            Err(e) => {
                self.stop(uuid, &job.vm);
                Err(e)
            }
        }
    }

    /// Connects to the destination and sends the guest; on success its
    /// VMM here has stopped (shut off, migrated).
    pub(super) fn migrate_send(&self, uuid: &str, out: &MigrateOut) -> Result<MigrationStats> {
        let (host, port) = parse_tcp(&out.uri)?;
        if port == 0 {
            return Err(bad_uri(&out.uri));
        }
        let addrs: Vec<_> = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| io_error(format!("cannot resolve {host}"), e))?
            .collect();
        let mut last = None;
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| {
            io_error(
                format!("cannot connect to {}", out.uri),
                last.unwrap_or_else(|| std::io::Error::other("no address")),
            )
        })?;
        let _ = stream.set_nodelay(true);
        self.migrate_send_on(uuid, out, Conn::Tcp(stream))
    }

    /// Sends the guest over `conn`, a connection to the destination's VMM
    /// (TCP, or a tunnel's end).
    pub(super) fn migrate_send_on(
        &self,
        uuid: &str,
        out: &MigrateOut,
        conn: Conn,
    ) -> Result<MigrationStats> {
        let vm = self.vm(uuid)?;
        let pipe = || std::io::pipe().map_err(|e| io_error("cannot make the migration's pipe", e));
        let (converge, converge_tx) = pipe()?;
        let (progress_rx, progress_tx) = pipe()?;
        let request = Request::MigrateSend(MigrateSendRequest {
            to: FdRef::Passed(0),
            max_downtime_ms: out.max_downtime_ms,
            bandwidth_mib_s: out.bandwidth_mib_s,
            max_rounds: MAX_ROUNDS,
            converge: Some(FdRef::Passed(1)),
            progress: Some(FdRef::Passed(2)),
            copy_storage: out.copy_storage,
        });
        let key = self.socket_path(uuid);
        let progress = Arc::new(Mutex::new(None));
        // Reads the VMM's progress lines until it closes its end.
        let reader = {
            let progress = progress.clone();
            std::thread::Builder::new()
                .name("wirt-migrate-progress".into())
                .spawn(move || read_progress(progress_rx, &progress))
                .ok()
        };
        outgoing().insert(
            key.clone(),
            Outgoing {
                conn: conn.try_clone().ok(),
                converge: converge_tx,
                progress,
            },
        );
        let mut client = vm.client.lock().unwrap_or_else(|p| p.into_inner());
        let fds = [
            conn.as_raw_fd(),
            converge.as_raw_fd(),
            progress_tx.as_raw_fd(),
        ];
        let reply = client.send_with_fds(request, &fds).and_then(|id| {
            drop((conn, converge, progress_tx));
            client.wait_response(id, REQUEST_TIMEOUT)
        });
        drop(client);
        outgoing().remove(&key);
        if let Some(r) = reader {
            let _ = r.join();
        }
        let reply = reply.map_err(|e| vmm_error("migrate-send", e))?;
        let sent = &reply["sent"];
        let num = |k: &str| sent[k].as_u64().unwrap_or(0);
        Ok(MigrationStats {
            downtime_ms: sent["downtime_ms"].as_f64().unwrap_or(0.0),
            total_ms: sent["total_ms"].as_f64().unwrap_or(0.0),
            memory_bytes: num("memory_bytes"),
            bytes_sent: num("bytes_sent"),
            rounds: num("rounds"),
        })
    }
}

impl KvmDriver {
    /// Shuts the outgoing connection of `uuid` down: its VMM's sending
    /// fails, and it resumes the guest (libvirt's `virDomainAbortJob`).
    pub(super) fn migrate_cancel(&self, uuid: &str) -> Result<()> {
        let conn = outgoing()
            .remove(&self.socket_path(uuid))
            .and_then(|o| o.conn)
            .ok_or_else(|| {
                Error::driver(
                    ErrorCode::OPERATION_INVALID,
                    "no job is active on the domain",
                )
            })?;
        conn.shutdown()
            .map_err(|e| io_error("cannot stop the migration", e))
    }
}

impl KvmDriver {
    /// Tells the VMM sending `uuid` away to pause the guest after its
    /// current round and send the rest (virsh's `--timeout-suspend`).
    pub(super) fn converge_now(&self, uuid: &str) -> Result<()> {
        use std::io::Write;
        let mut map = outgoing();
        let job = map.get_mut(&self.socket_path(uuid)).ok_or_else(|| {
            Error::driver(
                ErrorCode::OPERATION_INVALID,
                "no job is active on the domain",
            )
        })?;
        job.converge
            .write_all(b"!")
            .map_err(|e| io_error("cannot ask the migration to converge", e))
    }
}

/// Keeps the last of the VMM's progress lines in `into`.
fn read_progress(from: std::io::PipeReader, into: &Mutex<Option<MigrateProgress>>) {
    use std::io::BufRead;
    for line in std::io::BufReader::new(from).lines() {
        let Ok(line) = line else { return };
        let Ok(p) = serde_json::from_str::<MigrationProgress>(&line) else {
            continue;
        };
        *into.lock().unwrap_or_else(|p| p.into_inner()) = Some(MigrateProgress {
            memory_bytes: p.memory_bytes,
            bytes_sent: p.bytes_sent,
            remaining_bytes: p.remaining_bytes,
            rounds: u64::from(p.rounds),
            dirty_rate_pages_s: p.dirty_rate_pages_s,
            expected_downtime_ms: p.expected_downtime_ms.ceil() as u64,
        });
    }
}

impl KvmDriver {
    /// The last progress the VMM sending `uuid` away reported.
    pub(super) fn progress_of(&self, uuid: &str) -> Option<MigrateProgress> {
        let map = outgoing();
        let job = map.get(&self.socket_path(uuid))?;
        job.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Where an incoming migration's data comes from.
enum Source {
    /// The source connects here.
    Listener(TcpListener),
    /// A tunnel's end, already connected.
    Tunnel(UnixStream),
}

/// Accepts the source's connection (until `cancel` or the timeout), or
/// takes the tunnel, and hands it to the VMM; returns the VMM's answer.
fn receive(vm: &Vm, from: Source, cancel: &AtomicBool, request: Request) -> Result<Value> {
    let conn = match from {
        Source::Tunnel(t) => Conn::Unix(t),
        Source::Listener(listener) => Conn::Tcp(accept(&listener, cancel)?),
    };
    let mut client = vm.client.lock().unwrap_or_else(|p| p.into_inner());
    let id = client
        .send_with_fds(request, &[conn.as_raw_fd()])
        .map_err(|e| vmm_error("migrate-receive", e))?;
    // The VMM holds the connection now: its end closing must reach the source.
    drop(conn);
    client
        .wait_response(id, REQUEST_TIMEOUT)
        .map_err(|e| vmm_error("migrate-receive", e))
}

fn accept(listener: &TcpListener, cancel: &AtomicBool) -> Result<TcpStream> {
    let deadline = Instant::now() + ACCEPT_TIMEOUT;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if cancel.load(Ordering::SeqCst) {
                    return Err(Error::driver(
                        ErrorCode::OPERATION_FAILED,
                        "the migration was cancelled",
                    ));
                }
                if Instant::now() > deadline {
                    return Err(Error::driver(
                        ErrorCode::OPERATION_TIMEOUT,
                        "the source never connected",
                    ));
                }
                // Accepting is non-blocking so a cancel is seen.
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(io_error("cannot accept the migration", e)),
        }
    };
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
