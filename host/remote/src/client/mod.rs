//! The client side of libvirt's protocol: what a `Connect` to a URI with a
//! transport (`test+unix:///default?socket=S`, `kvm+unix:///session`,
//! `test+tcp://127.0.0.1:PORT/default`) talks through, to a wirtd or a
//! real libvirtd alike.
//!
//! One socket per connection. Callers write their call and wait on a channel;
//! a reader thread routes replies and stream packets by serial, answers
//! keepalive PINGs, and turns lifecycle event messages into [`DomainEvent`]s.
//! When the socket drops, the next call opens a new session; a connection
//! with event subscribers reconnects at once and registers again, so a
//! listener outlives a daemon restart.

mod blockjob;
mod console;
mod domain;
mod host;
mod iface;
mod migrate;
mod monitor;
mod network;
mod nodedev;
mod secret;
mod snapshot;
mod stats;
mod storage;
mod target;
mod tunnel;

use std::collections::HashMap;
use std::io::BufReader;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

pub use target::{Target, TlsTarget, default_socket};

use super::packet::{
    Header, MessageError, MessageType, Packet, PacketError, encode_message, read_packet,
};
use super::protocol::*;
use super::socket::Stream;
use super::xdr::{XdrDecode, XdrEncode};
use wirt::connect::{JobCompletedEvent, ParsedUri};
use wirt::error::{ErrorCode, ErrorDomain};
use wirt::events::{
    BlockJobEvent, DeviceEvent, DomainEvent, EventBus, EventStream, NetworkEvent, NetworkLifecycle,
    NodeDeviceEvent, NodeDeviceLifecycle, PoolEvent, PoolLifecycle, SecretEvent, SecretLifecycle,
};

/// `VIR_CONNECT_RO`, the flag of `CONNECT_OPEN` asking for read-only access.
pub const VIR_CONNECT_RO: u32 = 1;

/// What can go wrong talking to a daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing accepts connections at the address.
    #[error("daemon not reachable at {target}")]
    Unreachable {
        /// Where wirt tried to connect.
        target: String,
        /// Why it could not.
        #[source]
        source: std::io::Error,
    },
    /// The daemon did not answer in time.
    #[error("timed out waiting for the daemon at {target}")]
    Timeout {
        /// The daemon that did not answer.
        target: String,
    },
    /// The URI names a transport wirt does not speak.
    #[error("transport '{0}' is not supported (wirt speaks unix, tcp and tls)")]
    Transport(String),
    /// TLS could not be set up, or the server or client was refused.
    #[error("TLS connection failed")]
    Tls(#[source] crate::tls::TlsError),
    /// The connection ended under a call.
    #[error("client socket is closed")]
    Closed,
    /// The daemon sent something that is not libvirt's protocol.
    #[error("malformed data from the daemon")]
    Protocol(#[source] PacketError),
    /// The daemon offers no authentication wirt can do.
    #[error("no supported authentication method among {0:?}")]
    Auth(Vec<AuthType>),
    /// The daemon answered the call with an error.
    #[error("{0}")]
    Server(Box<MessageError>),
}

impl ClientError {
    /// libvirt's code: the daemon's own for its errors.
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientError::Server(e) => ErrorCode(u32::try_from(e.code).unwrap_or(1)),
            ClientError::Unreachable { .. } => ErrorCode::SYSTEM_ERROR,
            ClientError::Timeout { .. } => ErrorCode::OPERATION_TIMEOUT,
            ClientError::Transport(_) => ErrorCode::INVALID_ARG,
            ClientError::Tls(e) => e.code(),
            ClientError::Closed => ErrorCode::INTERNAL_ERROR,
            ClientError::Protocol(_) => ErrorCode::RPC,
            ClientError::Auth(_) => ErrorCode(45),
        }
    }

    /// The subsystem that raised the error: the daemon's own for its errors.
    pub fn domain(&self) -> ErrorDomain {
        match self {
            ClientError::Server(e) => ErrorDomain(u32::try_from(e.domain).unwrap_or(0)),
            _ => ErrorDomain::REMOTE,
        }
    }

    /// The line a user sees: the daemon's message whole, or ours with its cause.
    pub fn message(&self) -> String {
        if let ClientError::Server(e) = self {
            return e.to_string();
        }
        let mut detail = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        self.code().describe(&detail)
    }
}

impl From<ClientError> for wirt::Error {
    fn from(e: ClientError) -> Self {
        let message = e.message();
        wirt::Error::Remote {
            code: e.code(),
            domain: e.domain(),
            message,
            source: Some(Box::new(e)),
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, ClientError>;

/// The transport `wirt::set_transport` takes: opens `uri` on the daemon it
/// names and serves the connection from there.
pub fn open_backend(
    uri: &str,
    parsed: &ParsedUri,
    read_only: bool,
) -> wirt::connect::Result<Arc<dyn wirt::connect::Backend>> {
    Ok(RemoteConn::open(uri, parsed, read_only)?)
}

/// How long connecting and the first reply may take (`WIRT_CONNECT_TIMEOUT`
/// seconds overrides).
fn connect_timeout() -> Duration {
    std::env::var("WIRT_CONNECT_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(5), Duration::from_secs)
}

/// Opening a URI may compile a driver plugin on a daemon's first use.
const OPEN_TIMEOUT: Duration = Duration::from_secs(120);

/// One socket to the daemon, and the calls waiting on it.
struct Session {
    writer: Mutex<Stream>,
    /// Waiting callers by serial; `None` once the socket is gone, so a
    /// late caller fails instead of waiting forever.
    pending: Mutex<Option<HashMap<u32, Sender<Packet>>>>,
    serial: AtomicU32,
    /// The lifecycle callback registered on this session, if any. Only
    /// registration takes the lock: the reader must never wait on a caller.
    callback: Mutex<Option<i32>>,
    /// The network lifecycle callback registered on this session, if any.
    net_callback: Mutex<Option<i32>>,
    /// Storage pool callbacks (lifecycle, refresh), registered once.
    pool_callbacks: Mutex<bool>,
    /// Secret callbacks (lifecycle, value changed), registered once.
    secret_callbacks: Mutex<bool>,
    /// Node device callbacks (lifecycle, update), registered once.
    nodedev_callbacks: Mutex<bool>,
    /// The job-completed callback registered on this session, if any.
    job_callback: Mutex<Option<i32>>,
    /// Device added / removed callbacks, registered once.
    device_callbacks: Mutex<bool>,
    /// The BLOCK_JOB_2 callback, registered once.
    block_callbacks: Mutex<bool>,
    /// Whether the daemon sends callback-style events (feature 14).
    callback_events: AtomicBool,
}

impl Session {
    fn lock_pending(&self) -> MutexGuard<'_, Option<HashMap<u32, Sender<Packet>>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_closed(&self) -> bool {
        self.lock_pending().is_none()
    }

    fn close(&self) {
        self.lock_pending().take();
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .shutdown();
    }

    fn send(&self, bytes: &[u8]) -> Result<()> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        std::io::Write::write_all(&mut *w, bytes).map_err(|_| ClientError::Closed)
    }

    /// Sends a call and returns its serial and where its answers arrive.
    fn start<A: XdrEncode + ?Sized>(
        &self,
        procedure: i32,
        args: &A,
    ) -> Result<(Header, Receiver<Packet>)> {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let header = Header::call(procedure, serial);
        let bytes = encode_message(&header, args).map_err(ClientError::Protocol)?;
        let (tx, rx) = channel();
        match self.lock_pending().as_mut() {
            Some(pending) => pending.insert(serial, tx),
            None => return Err(ClientError::Closed),
        };
        if let Err(e) = self.send(&bytes) {
            self.finish(serial);
            return Err(e);
        }
        Ok((header, rx))
    }

    /// Stops routing packets of `serial` to its caller.
    fn finish(&self, serial: u32) {
        if let Some(pending) = self.lock_pending().as_mut() {
            pending.remove(&serial);
        }
    }

    fn call<A: XdrEncode + ?Sized, R: XdrDecode>(
        &self,
        procedure: i32,
        args: &A,
        timeout: Option<(Duration, &str)>,
    ) -> Result<R> {
        let (header, rx) = self.start(procedure, args)?;
        let reply = wait(&rx, timeout);
        self.finish(header.serial);
        decode_reply(&reply?)
    }
}

/// The next packet for a call, within `timeout` if given.
fn wait(rx: &Receiver<Packet>, timeout: Option<(Duration, &str)>) -> Result<Packet> {
    match timeout {
        None => rx.recv().map_err(|_| ClientError::Closed),
        Some((t, target)) => rx.recv_timeout(t).map_err(|e| match e {
            RecvTimeoutError::Timeout => ClientError::Timeout {
                target: target.to_string(),
            },
            RecvTimeoutError::Disconnected => ClientError::Closed,
        }),
    }
}

fn decode_reply<R: XdrDecode>(reply: &Packet) -> Result<R> {
    if let Some(err) = reply.error() {
        return Err(ClientError::Server(Box::new(
            err.map_err(ClientError::Protocol)?,
        )));
    }
    reply.decode().map_err(ClientError::Protocol)
}

/// Lazily fetched facts that the public API returns by reference.
#[derive(Default)]
struct Cache {
    type_name: OnceLock<String>,
    capabilities: OnceLock<wirt::driver::Capabilities>,
}

/// A connection to a daemon.
pub struct RemoteConn {
    uri: String,
    target: Target,
    /// The URI the daemon opens (transport and socket stripped); `None`
    /// lets the daemon pick its default.
    name: Option<String>,
    flags: u32,
    session: Mutex<Option<Arc<Session>>>,
    bus: Arc<EventBus>,
    events_wanted: AtomicBool,
    net_bus: Arc<EventBus<NetworkEvent>>,
    net_events_wanted: AtomicBool,
    pool_bus: Arc<EventBus<PoolEvent>>,
    pool_events_wanted: AtomicBool,
    secret_bus: Arc<EventBus<SecretEvent>>,
    secret_events_wanted: AtomicBool,
    nodedev_bus: Arc<EventBus<NodeDeviceEvent>>,
    nodedev_events_wanted: AtomicBool,
    job_bus: Arc<EventBus<JobCompletedEvent>>,
    job_events_wanted: AtomicBool,
    device_bus: Arc<EventBus<DeviceEvent>>,
    device_events_wanted: AtomicBool,
    block_bus: Arc<EventBus<BlockJobEvent>>,
    block_events_wanted: AtomicBool,
    cache: Cache,
    this: Weak<RemoteConn>,
}

impl std::fmt::Debug for RemoteConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConn")
            .field("uri", &self.uri)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl RemoteConn {
    /// Connects and opens `uri` on the daemon it names.
    pub(crate) fn open(
        uri: &str,
        parsed: &ParsedUri,
        read_only: bool,
    ) -> wirt::connect::Result<Arc<RemoteConn>> {
        let (target, name) = target::resolve(parsed)?;
        let conn = Arc::new_cyclic(|this| RemoteConn {
            uri: uri.to_string(),
            target,
            name,
            flags: if read_only { VIR_CONNECT_RO } else { 0 },
            session: Mutex::new(None),
            bus: Arc::new(EventBus::default()),
            events_wanted: AtomicBool::new(false),
            net_bus: Arc::new(EventBus::default()),
            net_events_wanted: AtomicBool::new(false),
            pool_bus: Arc::new(EventBus::default()),
            pool_events_wanted: AtomicBool::new(false),
            secret_bus: Arc::new(EventBus::default()),
            secret_events_wanted: AtomicBool::new(false),
            nodedev_bus: Arc::new(EventBus::default()),
            nodedev_events_wanted: AtomicBool::new(false),
            job_bus: Arc::new(EventBus::default()),
            job_events_wanted: AtomicBool::new(false),
            device_bus: Arc::new(EventBus::default()),
            device_events_wanted: AtomicBool::new(false),
            block_bus: Arc::new(EventBus::default()),
            block_events_wanted: AtomicBool::new(false),
            cache: Cache::default(),
            this: this.clone(),
        });
        conn.session()?;
        Ok(conn)
    }

    /// The live session, or a new one if there is none or it died.
    fn session(&self) -> Result<Arc<Session>> {
        let mut slot = self.session.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref().filter(|s| !s.is_closed()) {
            return Ok(s.clone());
        }
        let session = self.handshake()?;
        *slot = Some(session.clone());
        Ok(session)
    }

    /// Connects, authenticates and opens the URI, as libvirt's remote
    /// driver does: AUTH_LIST, CONNECT_OPEN, then the event feature.
    fn handshake(&self) -> Result<Arc<Session>> {
        let timeout = connect_timeout();
        let stream = self.target.connect(timeout)?;
        stream.set_nodelay();
        let reader = stream
            .try_clone()
            .map_err(|source| ClientError::Unreachable {
                target: self.target.to_string(),
                source,
            })?;
        let session = Arc::new(Session {
            writer: Mutex::new(stream),
            pending: Mutex::new(Some(HashMap::new())),
            serial: AtomicU32::new(0),
            callback: Mutex::new(None),
            net_callback: Mutex::new(None),
            pool_callbacks: Mutex::new(false),
            secret_callbacks: Mutex::new(false),
            nodedev_callbacks: Mutex::new(false),
            job_callback: Mutex::new(None),
            device_callbacks: Mutex::new(false),
            block_callbacks: Mutex::new(false),
            callback_events: AtomicBool::new(false),
        });
        let buses = Buses {
            domain: self.bus.clone(),
            network: self.net_bus.clone(),
            pools: self.pool_bus.clone(),
            secrets: self.secret_bus.clone(),
            nodedevs: self.nodedev_bus.clone(),
            jobs: self.job_bus.clone(),
            devices: self.device_bus.clone(),
            blocks: self.block_bus.clone(),
        };
        spawn_reader(session.clone(), reader, buses, self.this.clone());
        let target = self.target.to_string();
        let result = (|| {
            let auth: AuthListRet =
                session.call(REMOTE_PROC_AUTH_LIST, &(), Some((timeout, &target)))?;
            if !auth.types.is_empty() && !auth.types.contains(&AuthType::None) {
                if !auth.types.contains(&AuthType::Polkit) {
                    return Err(ClientError::Auth(auth.types));
                }
                let _: AuthPolkitRet =
                    session.call(REMOTE_PROC_AUTH_POLKIT, &(), Some((timeout, &target)))?;
            }
            let open = ConnectOpenArgs {
                name: self.name.clone(),
                flags: self.flags,
            };
            session.call::<_, ()>(
                REMOTE_PROC_CONNECT_OPEN,
                &open,
                Some((OPEN_TIMEOUT, &target)),
            )?;
            let feature = ConnectSupportsFeatureArgs {
                feature: VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK,
            };
            let supported = session
                .call::<_, ConnectSupportsFeatureRet>(
                    REMOTE_PROC_CONNECT_SUPPORTS_FEATURE,
                    &feature,
                    Some((timeout, &target)),
                )
                .is_ok_and(|r| r.supported == 1);
            session.callback_events.store(supported, Ordering::Relaxed);
            if self.events_wanted.load(Ordering::Relaxed) {
                register_events(&session)?;
            }
            if self.net_events_wanted.load(Ordering::Relaxed) {
                register_network_events(&session)?;
            }
            if self.pool_events_wanted.load(Ordering::Relaxed) {
                register_pool_events(&session)?;
            }
            if self.secret_events_wanted.load(Ordering::Relaxed) {
                register_secret_events(&session)?;
            }
            if self.nodedev_events_wanted.load(Ordering::Relaxed) {
                nodedev::register_events(&session)?;
            }
            if self.job_events_wanted.load(Ordering::Relaxed) {
                register_job_events(&session)?;
            }
            if self.device_events_wanted.load(Ordering::Relaxed) {
                register_device_events(&session)?;
            }
            if self.block_events_wanted.load(Ordering::Relaxed) {
                register_block_events(&session)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            session.close();
            return Err(e);
        }
        Ok(session)
    }

    /// One call and its reply.
    pub(crate) fn call<A: XdrEncode + ?Sized, R: XdrDecode>(
        &self,
        procedure: i32,
        args: &A,
    ) -> Result<R> {
        self.session()?.call(procedure, args, None)
    }

    /// Subscribes to one kind of event on `bus`, registering with the
    /// daemon (`register`) the first time `wanted` is set; a daemon that
    /// refuses fails the call and leaves `wanted` unset.
    fn subscribe_kind<T: Clone>(
        &self,
        bus: &EventBus<T>,
        wanted: &AtomicBool,
        register: fn(&Session) -> Result<()>,
    ) -> Result<EventStream<T>> {
        let stream = bus.subscribe();
        if !wanted.swap(true, Ordering::Relaxed) {
            let registered = self.session().and_then(|session| register(&session));
            if let Err(e) = registered {
                wanted.store(false, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(stream)
    }

    /// Network lifecycle events (a daemon without networks refuses).
    pub(crate) fn subscribe_networks(&self) -> Result<EventStream<NetworkEvent>> {
        self.subscribe_kind(
            &self.net_bus,
            &self.net_events_wanted,
            register_network_events,
        )
    }

    /// Storage pool lifecycle and refresh events.
    pub(crate) fn subscribe_pools(&self) -> Result<EventStream<PoolEvent>> {
        self.subscribe_kind(
            &self.pool_bus,
            &self.pool_events_wanted,
            register_pool_events,
        )
    }

    /// Secret lifecycle and value-changed events.
    pub(crate) fn subscribe_secrets(&self) -> Result<EventStream<SecretEvent>> {
        self.subscribe_kind(
            &self.secret_bus,
            &self.secret_events_wanted,
            register_secret_events,
        )
    }

    /// Node device lifecycle and update events.
    pub(crate) fn subscribe_node_devices(&self) -> Result<EventStream<NodeDeviceEvent>> {
        self.subscribe_kind(
            &self.nodedev_bus,
            &self.nodedev_events_wanted,
            nodedev::register_events,
        )
    }

    /// Job-completed events.
    pub(crate) fn subscribe_jobs(&self) -> Result<EventStream<JobCompletedEvent>> {
        self.subscribe_kind(&self.job_bus, &self.job_events_wanted, register_job_events)
    }

    /// Device added / removed events.
    pub(crate) fn subscribe_devices(&self) -> Result<EventStream<DeviceEvent>> {
        self.subscribe_kind(
            &self.device_bus,
            &self.device_events_wanted,
            register_device_events,
        )
    }

    /// Block job events (BLOCK_JOB_2: the disk by target).
    pub(crate) fn subscribe_block_jobs(&self) -> Result<EventStream<BlockJobEvent>> {
        self.subscribe_kind(
            &self.block_bus,
            &self.block_events_wanted,
            register_block_events,
        )
    }

    /// Subscribes to lifecycle events, registering with the daemon once.
    fn subscribe(&self) -> EventStream {
        let stream = self.bus.subscribe();
        if !self.events_wanted.swap(true, Ordering::Relaxed) {
            // A failure here is retried by the reconnect loop.
            if let Ok(session) = self.session() {
                let _ = register_events(&session);
            }
        }
        stream
    }
}

impl Drop for RemoteConn {
    fn drop(&mut self) {
        let session = self.session.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = session.take() {
            if !s.is_closed() {
                let target = self.target.to_string();
                let _ = s.call::<_, ()>(
                    REMOTE_PROC_CONNECT_CLOSE,
                    &(),
                    Some((Duration::from_secs(1), &target)),
                );
            }
            s.close();
        }
    }
}

/// Registers this session's lifecycle callback, once.
fn register_events(session: &Session) -> Result<()> {
    let mut callback = session.callback.lock().unwrap_or_else(|p| p.into_inner());
    if callback.is_some() {
        return Ok(());
    }
    if !session.callback_events.load(Ordering::Relaxed) {
        return Err(ClientError::Server(Box::new(MessageError::new(
            ErrorCode::NO_SUPPORT.0 as i32,
            ErrorDomain::REMOTE.0 as i32,
            ErrorCode::NO_SUPPORT.describe("the daemon does not send callback events"),
        ))));
    }
    let args = ConnectDomainEventCallbackRegisterAnyArgs {
        event_id: VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        dom: None,
    };
    let ret: ConnectDomainEventCallbackRegisterAnyRet = session.call(
        REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
        &args,
        None,
    )?;
    *callback = Some(ret.callback_id);
    Ok(())
}

/// Registers this session's job-completed callback, once.
fn register_job_events(session: &Session) -> Result<()> {
    let mut callback = session
        .job_callback
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if callback.is_some() {
        return Ok(());
    }
    let args = ConnectDomainEventCallbackRegisterAnyArgs {
        event_id: VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
        dom: None,
    };
    let ret: ConnectDomainEventCallbackRegisterAnyRet = session.call(
        REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
        &args,
        None,
    )?;
    *callback = Some(ret.callback_id);
    Ok(())
}

/// Registers this session's network lifecycle callback, once.
fn register_network_events(session: &Session) -> Result<()> {
    let mut callback = session
        .net_callback
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if callback.is_some() {
        return Ok(());
    }
    let args = ConnectNetworkEventRegisterAnyArgs {
        event_id: 0, // VIR_NETWORK_EVENT_ID_LIFECYCLE
        net: None,
    };
    let ret: ConnectNetworkEventRegisterAnyRet =
        session.call(REMOTE_PROC_CONNECT_NETWORK_EVENT_REGISTER_ANY, &args, None)?;
    *callback = Some(ret.callback_id);
    Ok(())
}

/// Registers this session's storage pool callbacks (lifecycle and
/// refresh), once.
fn register_pool_events(session: &Session) -> Result<()> {
    // VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE and _REFRESH.
    register_once(&session.pool_callbacks, &[0, 1], |event_id| {
        let args = ConnectStoragePoolEventRegisterAnyArgs {
            event_id,
            pool: None,
        };
        let _: ConnectStoragePoolEventRegisterAnyRet = session.call(
            REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY,
            &args,
            None,
        )?;
        Ok(())
    })
}

/// Runs `register` for each of `event_ids` unless `done` says this
/// session has already: callbacks of one kind are registered once.
fn register_once(
    done: &Mutex<bool>,
    event_ids: &[i32],
    register: impl Fn(i32) -> Result<()>,
) -> Result<()> {
    let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return Ok(());
    }
    for &event_id in event_ids {
        register(event_id)?;
    }
    *done = true;
    Ok(())
}

/// Registers domain callbacks for `event_ids` on this session, once
/// (`done` says whether they are).
fn register_domain_ids(session: &Session, done: &Mutex<bool>, event_ids: &[i32]) -> Result<()> {
    register_once(done, event_ids, |event_id| {
        let args = ConnectDomainEventCallbackRegisterAnyArgs {
            event_id,
            dom: None,
        };
        let _: ConnectDomainEventCallbackRegisterAnyRet = session.call(
            REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
            &args,
            None,
        )?;
        Ok(())
    })
}

/// Registers this session's secret callbacks (lifecycle and value
/// changed), once.
fn register_secret_events(session: &Session) -> Result<()> {
    // VIR_SECRET_EVENT_ID_LIFECYCLE and _VALUE_CHANGED.
    register_once(&session.secret_callbacks, &[0, 1], |event_id| {
        let args = ConnectSecretEventRegisterAnyArgs {
            event_id,
            secret: None,
        };
        let _: ConnectSecretEventRegisterAnyRet =
            session.call(REMOTE_PROC_CONNECT_SECRET_EVENT_REGISTER_ANY, &args, None)?;
        Ok(())
    })
}

/// `VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED` and `_DEVICE_ADDED`.
fn register_device_events(session: &Session) -> Result<()> {
    register_domain_ids(session, &session.device_callbacks, &[15, 19])
}

/// `VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2`.
fn register_block_events(session: &Session) -> Result<()> {
    register_domain_ids(session, &session.block_callbacks, &[16])
}

/// Where the reader delivers each kind of event.
struct Buses {
    domain: Arc<EventBus>,
    network: Arc<EventBus<NetworkEvent>>,
    pools: Arc<EventBus<PoolEvent>>,
    secrets: Arc<EventBus<SecretEvent>>,
    nodedevs: Arc<EventBus<NodeDeviceEvent>>,
    jobs: Arc<EventBus<JobCompletedEvent>>,
    devices: Arc<EventBus<DeviceEvent>>,
    blocks: Arc<EventBus<BlockJobEvent>>,
}

fn spawn_reader(session: Arc<Session>, stream: Stream, buses: Buses, conn: Weak<RemoteConn>) {
    let _ = std::thread::Builder::new()
        .name("wirt-remote".into())
        .spawn(move || {
            let mut reader = BufReader::with_capacity(64 * 1024, stream);
            while let Ok(Some(packet)) = read_packet(&mut reader) {
                route(&session, &buses, packet);
            }
            session.close();
            reconnect(&conn);
        });
}

/// Delivers one packet from the daemon.
fn route(session: &Session, buses: &Buses, packet: Packet) {
    let h = packet.header;
    if h.is_ping() {
        if let Ok(pong) = Packet::pong().to_bytes() {
            let _ = session.send(&pong);
        }
        return;
    }
    match h.msg_type {
        MessageType::Reply | MessageType::Stream | MessageType::StreamHole => {
            let pending = session.lock_pending();
            if let Some(tx) = pending.as_ref().and_then(|p| p.get(&h.serial)) {
                let _ = tx.send(packet);
            }
        }
        // The session registers one callback of each kind, so every message
        // of a kind is for it (one may even overtake the registration's reply).
        MessageType::Message if h.program == REMOTE_PROGRAM => {
            match Event::decode(h.procedure, &packet.payload) {
                Ok(Event::DomainEventCallbackLifecycle(m)) => {
                    if let Some(event) = domain_event(m.msg) {
                        buses.domain.emit(event);
                    }
                }
                Ok(Event::DomainEventCallbackJobCompleted(m)) => {
                    buses.jobs.emit(JobCompletedEvent {
                        name: m.dom.name,
                        uuid: uuid::Uuid::from_bytes(m.dom.uuid),
                        id: m.dom.id,
                        params: stats::values(m.params),
                    });
                }
                Ok(Event::DomainEventCallbackDeviceAdded(m)) => buses.devices.emit(DeviceEvent {
                    name: m.dom.name,
                    uuid: uuid::Uuid::from_bytes(m.dom.uuid),
                    id: m.dom.id,
                    alias: m.dev_alias,
                    added: true,
                }),
                Ok(Event::DomainEventCallbackDeviceRemoved(m)) => buses.devices.emit(DeviceEvent {
                    name: m.msg.dom.name,
                    uuid: uuid::Uuid::from_bytes(m.msg.dom.uuid),
                    id: m.msg.dom.id,
                    alias: m.msg.dev_alias,
                    added: false,
                }),
                Ok(Event::DomainEventBlockJob2(m)) => buses.blocks.emit(BlockJobEvent {
                    name: m.dom.name,
                    uuid: uuid::Uuid::from_bytes(m.dom.uuid),
                    id: m.dom.id,
                    path: m.dst.clone(),
                    target: m.dst,
                    job_type: m.r#type,
                    status: m.status,
                }),
                Ok(Event::NetworkEventLifecycle(m)) => {
                    let event = match m.event {
                        0 => NetworkLifecycle::Defined,
                        1 => NetworkLifecycle::Undefined,
                        2 => NetworkLifecycle::Started,
                        3 => NetworkLifecycle::Stopped,
                        _ => return,
                    };
                    buses.network.emit(NetworkEvent {
                        name: m.net.name,
                        uuid: uuid::Uuid::from_bytes(m.net.uuid),
                        event,
                    });
                }
                Ok(Event::StoragePoolEventLifecycle(m)) => {
                    let event = match m.event {
                        0 => PoolLifecycle::Defined,
                        1 => PoolLifecycle::Undefined,
                        2 => PoolLifecycle::Started,
                        3 => PoolLifecycle::Stopped,
                        4 => PoolLifecycle::Created,
                        5 => PoolLifecycle::Deleted,
                        _ => return,
                    };
                    buses.pools.emit(PoolEvent {
                        name: m.pool.name,
                        uuid: uuid::Uuid::from_bytes(m.pool.uuid),
                        event,
                    });
                }
                Ok(Event::StoragePoolEventRefresh(m)) => buses.pools.emit(PoolEvent {
                    name: m.pool.name,
                    uuid: uuid::Uuid::from_bytes(m.pool.uuid),
                    event: PoolLifecycle::Refreshed,
                }),
                Ok(Event::SecretEventLifecycle(m)) => {
                    let event = match m.event {
                        0 => SecretLifecycle::Defined,
                        1 => SecretLifecycle::Undefined,
                        _ => return,
                    };
                    buses.secrets.emit(secret_event(m.secret, event));
                }
                Ok(Event::SecretEventValueChanged(m)) => buses
                    .secrets
                    .emit(secret_event(m.secret, SecretLifecycle::ValueChanged)),
                Ok(Event::NodeDeviceEventLifecycle(m)) => {
                    let event = match m.event {
                        0 => NodeDeviceLifecycle::Created,
                        1 => NodeDeviceLifecycle::Deleted,
                        2 => NodeDeviceLifecycle::Defined,
                        3 => NodeDeviceLifecycle::Undefined,
                        _ => return,
                    };
                    buses.nodedevs.emit(NodeDeviceEvent {
                        name: m.dev.name,
                        event,
                    });
                }
                Ok(Event::NodeDeviceEventUpdate(m)) => buses.nodedevs.emit(NodeDeviceEvent {
                    name: m.dev.name,
                    event: NodeDeviceLifecycle::Updated,
                }),
                _ => {}
            }
        }
        _ => {}
    }
}

fn secret_event(s: NonnullSecret, event: SecretLifecycle) -> SecretEvent {
    SecretEvent {
        uuid: uuid::Uuid::from_bytes(s.uuid),
        usage_type: s.usage_type,
        usage_id: s.usage_id,
        event,
    }
}

fn domain_event(msg: DomainEventLifecycleMsg) -> Option<DomainEvent> {
    Some(DomainEvent {
        name: msg.dom.name,
        uuid: uuid::Uuid::from_bytes(msg.dom.uuid),
        id: msg.dom.id,
        event: wirt::lifecycle::Event::from_u32(u32::try_from(msg.event).ok()?)?,
        detail: u32::try_from(msg.detail).ok()?,
    })
}

/// After the socket dropped: a connection with event listeners opens a new
/// session (which registers again) as soon as the daemon is back.
fn reconnect(conn: &Weak<RemoteConn>) {
    let mut delay = Duration::from_millis(50);
    loop {
        let Some(conn) = conn.upgrade() else { return };
        if !conn.events_wanted.load(Ordering::Relaxed)
            && !conn.net_events_wanted.load(Ordering::Relaxed)
            && !conn.pool_events_wanted.load(Ordering::Relaxed)
            && !conn.secret_events_wanted.load(Ordering::Relaxed)
            && !conn.nodedev_events_wanted.load(Ordering::Relaxed)
            && !conn.job_events_wanted.load(Ordering::Relaxed)
        {
            return;
        }
        if conn.session().is_ok() {
            return;
        }
        drop(conn);
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}
