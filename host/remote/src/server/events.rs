//! Event callbacks of one client. Registering the first lifecycle callback
//! subscribes to the connection's events and starts a forwarder thread that
//! sends each event as a `MESSAGE` 318 to every matching callback. The
//! thread ends with the client (or its CONNECT_CLOSE); its subscription
//! goes with it, so a client that reconnects simply registers again.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;

use super::wire::Writer;
use crate::packet::{Header, encode_message};
use crate::protocol::*;
use wirt::connect::{Connect, Error, JobCompletedEvent, Result};
use wirt::error::ErrorCode;
use wirt::events::{DomainEvent, EventStream, NetworkEvent};

/// `VIR_DOMAIN_EVENT_ID_LAST` in libvirt 9.0 (after MEMORY_FAILURE, 25,
/// and MEMORY_DEVICE_SIZE_CHANGE, 26): `virsh event --all` and
/// python-libvirt's event-test.py register every id below it. wirt emits
/// lifecycle, block job and job-completed events; the others are accepted
/// and stay silent.
const DOMAIN_EVENT_ID_LAST: i32 = 27;

/// How often an idle forwarder checks whether its client left.
const POLL: Duration = Duration::from_millis(200);

type Callbacks = Arc<Mutex<Vec<(i32, Option<Uuid>)>>>;

/// `VIR_NETWORK_EVENT_ID_LIFECYCLE`, the one network event id of libvirt 9.0.
const NETWORK_EVENT_ID_LIFECYCLE: i32 = 0;

pub(super) struct Events {
    writer: Arc<Writer>,
    /// Lifecycle callbacks and the domain each is limited to.
    lifecycle: Callbacks,
    /// Network lifecycle callbacks and the network each is limited to.
    network: Callbacks,
    network_forwarder: Option<Arc<AtomicBool>>,
    /// Job-completed callbacks and the domain each is limited to.
    jobs: Callbacks,
    jobs_forwarder: Option<Arc<AtomicBool>>,
    /// Every registered id, of any kind, for deregistration.
    ids: BTreeSet<i32>,
    next_id: i32,
    forwarder: Option<Arc<AtomicBool>>,
    /// Block job callbacks (both event ids).
    block_jobs: super::keyed_events::KeyedCallbacks<wirt::events::BlockJobEvent>,
    devices: super::keyed_events::KeyedCallbacks<wirt::events::DeviceEvent>,
    /// Storage pool callbacks (lifecycle and refresh).
    pools: super::keyed_events::KeyedCallbacks<wirt::events::PoolEvent>,
    /// Secret callbacks (lifecycle and value changed).
    secrets: super::keyed_events::KeyedCallbacks<wirt::events::SecretEvent>,
    /// Node device callbacks (lifecycle and update).
    node_devices: super::keyed_events::KeyedCallbacks<wirt::events::NodeDeviceEvent>,
}

impl Events {
    pub(super) fn new(writer: Arc<Writer>) -> Events {
        Events {
            writer,
            lifecycle: Arc::default(),
            network: Arc::default(),
            network_forwarder: None,
            jobs: Arc::default(),
            jobs_forwarder: None,
            ids: BTreeSet::new(),
            next_id: 0,
            forwarder: None,
            block_jobs: Default::default(),
            devices: Default::default(),
            pools: Default::default(),
            secrets: Default::default(),
            node_devices: Default::default(),
        }
    }

    /// `CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY`.
    pub(super) fn register_domain(
        &mut self,
        conn: &Connect,
        event_id: i32,
        dom: Option<Uuid>,
    ) -> Result<i32> {
        if !(0..DOMAIN_EVENT_ID_LAST).contains(&event_id) {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!("unsupported event ID {event_id}"),
            ));
        }
        if event_id == VIR_DOMAIN_EVENT_ID_JOB_COMPLETED {
            if self.jobs_forwarder.is_none() {
                let stream = conn.job_completed_events()?;
                self.jobs_forwarder = spawn_forwarder(stream, &self.jobs, &self.writer);
            }
            let id = self.new_id();
            self.jobs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((id, dom));
            return Ok(id);
        }
        let id = self.new_id();
        if event_id == super::block_events::BLOCK_JOB
            || event_id == super::block_events::BLOCK_JOB_2
        {
            // A driver without block jobs has no such events: the callback
            // stays registered and silent, as for the other ids.
            let _ = self.block_jobs.register(
                || conn.block_job_events(),
                &self.writer,
                id,
                event_id,
                dom,
            );
        }
        if event_id == super::device_events::DEVICE_ADDED
            || event_id == super::device_events::DEVICE_REMOVED
        {
            let _ = self
                .devices
                .register(|| conn.device_events(), &self.writer, id, event_id, dom);
        }
        if event_id == VIR_DOMAIN_EVENT_ID_LIFECYCLE {
            if self.forwarder.is_none() {
                self.start(conn.events());
            }
            self.lock().push((id, dom));
        }
        Ok(id)
    }

    /// `CONNECT_NETWORK_EVENT_REGISTER_ANY`.
    pub(super) fn register_network(
        &mut self,
        conn: &Connect,
        event_id: i32,
        net: Option<Uuid>,
    ) -> Result<i32> {
        if event_id != NETWORK_EVENT_ID_LIFECYCLE {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!("unsupported event ID {event_id}"),
            ));
        }
        if self.network_forwarder.is_none() {
            let stream = conn.network_events()?;
            self.network_forwarder = spawn_forwarder(stream, &self.network, &self.writer);
        }
        let id = self.new_id();
        self.network
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, net));
        Ok(id)
    }

    /// `CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY`.
    pub(super) fn register_pool(
        &mut self,
        conn: &Connect,
        event_id: i32,
        pool: Option<Uuid>,
    ) -> Result<i32> {
        use super::pool_events::{LIFECYCLE, REFRESH};
        if event_id != LIFECYCLE && event_id != REFRESH {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!("unsupported event ID {event_id}"),
            ));
        }
        let id = self.new_id();
        if let Err(e) = self
            .pools
            .register(|| conn.pool_events(), &self.writer, id, event_id, pool)
        {
            self.ids.remove(&id);
            return Err(e);
        }
        Ok(id)
    }

    /// `CONNECT_SECRET_EVENT_REGISTER_ANY`.
    pub(super) fn register_secret(
        &mut self,
        conn: &Connect,
        event_id: i32,
        secret: Option<Uuid>,
    ) -> Result<i32> {
        use super::secret_events::{LIFECYCLE, VALUE_CHANGED};
        if event_id != LIFECYCLE && event_id != VALUE_CHANGED {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!("unsupported event ID {event_id}"),
            ));
        }
        let id = self.new_id();
        if let Err(e) =
            self.secrets
                .register(|| conn.secret_events(), &self.writer, id, event_id, secret)
        {
            self.ids.remove(&id);
            return Err(e);
        }
        Ok(id)
    }

    /// `CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY`.
    pub(super) fn register_node_device(
        &mut self,
        conn: &Connect,
        event_id: i32,
        dev: Option<String>,
    ) -> Result<i32> {
        use super::nodedev_events::{LIFECYCLE, UPDATE};
        if event_id != LIFECYCLE && event_id != UPDATE {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!("unsupported event ID {event_id}"),
            ));
        }
        let id = self.new_id();
        if let Err(e) = self.node_devices.register(
            || conn.node_device_events(),
            &self.writer,
            id,
            event_id,
            dev,
        ) {
            self.ids.remove(&id);
            return Err(e);
        }
        Ok(id)
    }

    /// Any `*_DEREGISTER_ANY`.
    pub(super) fn deregister(&mut self, id: i32) -> Result<()> {
        if !self.ids.remove(&id) {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!("callback ID {id} not registered"),
            ));
        }
        self.lock().retain(|(cb, _)| *cb != id);
        self.block_jobs.deregister(id);
        self.devices.deregister(id);
        self.pools.deregister(id);
        self.secrets.deregister(id);
        self.node_devices.deregister(id);
        for callbacks in [&self.network, &self.jobs] {
            callbacks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|(cb, _)| *cb != id);
        }
        Ok(())
    }

    /// Drops every callback and ends the forwarder.
    pub(super) fn stop(&mut self) {
        for stop in [
            self.forwarder.take(),
            self.network_forwarder.take(),
            self.jobs_forwarder.take(),
        ]
        .into_iter()
        .flatten()
        {
            stop.store(true, Ordering::SeqCst);
        }
        self.lock().clear();
        self.block_jobs.stop();
        self.devices.stop();
        self.pools.stop();
        self.secrets.stop();
        self.node_devices.stop();
        for callbacks in [&self.network, &self.jobs] {
            callbacks.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        self.ids.clear();
    }

    fn new_id(&mut self) -> i32 {
        let id = self.next_id;
        self.next_id += 1;
        self.ids.insert(id);
        id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(i32, Option<Uuid>)>> {
        self.lifecycle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start(&mut self, stream: EventStream) {
        self.forwarder = spawn_forwarder(stream, &self.lifecycle, &self.writer);
    }
}

/// An event that goes to the callbacks registered for its object.
trait Forwarded: Send + 'static {
    fn uuid(&self) -> Uuid;
    /// The `MESSAGE` for one callback.
    fn message(&self, callback_id: i32)
    -> std::result::Result<Vec<u8>, crate::packet::PacketError>;
}

impl Forwarded for DomainEvent {
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn message(
        &self,
        callback_id: i32,
    ) -> std::result::Result<Vec<u8>, crate::packet::PacketError> {
        message(callback_id, self)
    }
}

impl Forwarded for NetworkEvent {
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn message(
        &self,
        callback_id: i32,
    ) -> std::result::Result<Vec<u8>, crate::packet::PacketError> {
        let msg = NetworkEventLifecycleMsg {
            callback_id,
            net: NonnullNetwork {
                name: self.name.clone(),
                uuid: *self.uuid.as_bytes(),
            },
            event: self.event as i32,
            detail: 0,
        };
        encode_message(&Header::event(REMOTE_PROC_NETWORK_EVENT_LIFECYCLE), &msg)
    }
}

impl Forwarded for JobCompletedEvent {
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn message(
        &self,
        callback_id: i32,
    ) -> std::result::Result<Vec<u8>, crate::packet::PacketError> {
        let msg = DomainEventCallbackJobCompletedMsg {
            callback_id,
            dom: NonnullDomain {
                name: self.name.clone(),
                uuid: *self.uuid.as_bytes(),
                id: self.id,
            },
            params: self
                .params
                .iter()
                .map(|(field, v)| TypedParam {
                    field: field.clone(),
                    value: super::stats::wire_value(v.clone()),
                })
                .collect(),
        };
        encode_message(
            &Header::event(REMOTE_PROC_DOMAIN_EVENT_CALLBACK_JOB_COMPLETED),
            &msg,
        )
    }
}

/// A thread sending `stream`'s events to `callbacks`; the flag stops it.
fn spawn_forwarder<T: Forwarded>(
    stream: EventStream<T>,
    callbacks: &Callbacks,
    writer: &Arc<Writer>,
) -> Option<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let (callbacks, writer, done) = (callbacks.clone(), writer.clone(), stop.clone());
    std::thread::Builder::new()
        .name("wirtd-events".into())
        .spawn(move || forward(&stream, &callbacks, &writer, &done))
        .ok()
        .map(|_| stop)
}

impl Drop for Events {
    fn drop(&mut self) {
        self.stop();
    }
}

fn forward<T: Forwarded>(
    stream: &EventStream<T>,
    callbacks: &Callbacks,
    writer: &Writer,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        let event = match stream.recv_timeout(POLL) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => continue,
            // Not stopped, so the subscription was dropped for falling
            // behind: as libvirtd does, drop the client that does not read.
            Err(RecvTimeoutError::Disconnected) => {
                if !stop.load(Ordering::SeqCst) {
                    eprintln!("wirtd: dropping a client that does not read its events");
                    writer.shutdown();
                }
                return;
            }
        };
        let targets: Vec<i32> = callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, obj)| obj.is_none_or(|u| u == event.uuid()))
            .map(|(id, _)| *id)
            .collect();
        for id in targets {
            let Ok(bytes) = event.message(id) else {
                continue;
            };
            if writer.send(&bytes).is_err() {
                writer.shutdown();
                return;
            }
        }
    }
}

/// The `MESSAGE` 318 for one callback.
fn message(
    callback_id: i32,
    event: &DomainEvent,
) -> std::result::Result<Vec<u8>, crate::packet::PacketError> {
    let msg = DomainEventCallbackLifecycleMsg {
        callback_id,
        msg: DomainEventLifecycleMsg {
            dom: NonnullDomain {
                name: event.name.clone(),
                uuid: *event.uuid.as_bytes(),
                id: event.id,
            },
            event: event.event as i32,
            detail: event.detail as i32,
        },
    };
    encode_message(
        &Header::event(REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE),
        &msg,
    )
}
