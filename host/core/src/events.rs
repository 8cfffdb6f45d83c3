//! Typed lifecycle events, fanned out to every subscriber of a connection's
//! state. A subscriber that went away is dropped on the next emit, and so
//! is one that let [`QUEUE_LIMIT`] events pile up: its stream then ends, so
//! a subscriber that never reads cannot grow the process without bound.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use crate::lifecycle::Event;

/// A domain lifecycle event, as libvirt's `VIR_DOMAIN_EVENT_ID_LIFECYCLE`
/// delivers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DomainEvent {
    /// The domain's name.
    pub name: String,
    /// The domain's UUID.
    pub uuid: Uuid,
    /// The domain's id when the event happened, -1 when inactive.
    pub id: i32,
    /// What happened (`virDomainEventType`).
    pub event: Event,
    /// The `virDomainEvent*DetailType` number of `event`.
    pub detail: u32,
}

impl DomainEvent {
    /// virsh's `event --loop` line.
    pub fn virsh_line(&self) -> String {
        let (event, detail) = self.event.describe(self.detail);
        format!(
            "event 'lifecycle' for domain '{}': {event} {detail}",
            self.name
        )
    }
}

/// A block job's progress, as libvirt's `VIR_DOMAIN_EVENT_ID_BLOCK_JOB`
/// (disk by path) and `_BLOCK_JOB_2` (disk by target) deliver it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockJobEvent {
    /// The domain's name.
    pub name: String,
    /// The domain's UUID.
    pub uuid: Uuid,
    /// The domain's id, -1 when inactive.
    pub id: i32,
    /// The disk's target (`vda`).
    pub target: String,
    /// The disk's image when the job began.
    pub path: String,
    /// `virDomainBlockJobType`.
    pub job_type: i32,
    /// `virConnectDomainEventBlockJobStatus`.
    pub status: i32,
}

impl BlockJobEvent {
    /// virsh's `event --loop` line (`block-job-2`).
    pub fn virsh_line(&self) -> String {
        let job = match self.job_type {
            1 => "Block Pull",
            2 => "Block Copy",
            3 => "Block Commit",
            4 => "Active Block Commit",
            _ => "unknown",
        };
        let status = match self.status {
            0 => "completed",
            1 => "failed",
            2 => "canceled",
            3 => "ready",
            _ => "unknown",
        };
        format!(
            "event 'block-job-2' for domain '{}': {job} for {} {status}",
            self.name, self.target
        )
    }
}

/// A device plugged into (libvirt's `VIR_DOMAIN_EVENT_ID_DEVICE_ADDED`) or
/// pulled out of (`_DEVICE_REMOVED`) a running domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceEvent {
    /// The domain's name.
    pub name: String,
    /// The domain's UUID.
    pub uuid: Uuid,
    /// The domain's id.
    pub id: i32,
    /// The device's alias (`virtio-disk1`, `net0`).
    pub alias: String,
    /// Added, else removed.
    pub added: bool,
}

impl DeviceEvent {
    /// virsh's `event --loop` line.
    pub fn virsh_line(&self) -> String {
        let kind = if self.added {
            "device-added"
        } else {
            "device-removed"
        };
        format!("event '{kind}' for domain '{}': {}", self.name, self.alias)
    }
}

/// What happened to a storage pool (`virStoragePoolEventLifecycleType`),
/// or `Refreshed` (`VIR_STORAGE_POOL_EVENT_ID_REFRESH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[repr(i32)]
pub enum PoolLifecycle {
    /// `VIR_STORAGE_POOL_EVENT_DEFINED`.
    Defined = 0,
    /// `VIR_STORAGE_POOL_EVENT_UNDEFINED`.
    Undefined = 1,
    /// `VIR_STORAGE_POOL_EVENT_STARTED`.
    Started = 2,
    /// `VIR_STORAGE_POOL_EVENT_STOPPED`.
    Stopped = 3,
    /// Built (`pool-build`).
    Created = 4,
    /// Its storage removed (`pool-delete`).
    Deleted = 5,
    /// Rescanned: the refresh event, not a lifecycle one.
    Refreshed = -1,
}

/// A storage pool event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PoolEvent {
    /// The pool's name.
    pub name: String,
    /// The pool's UUID.
    pub uuid: Uuid,
    /// What happened to it.
    pub event: PoolLifecycle,
}

impl PoolEvent {
    /// virsh's `pool-event --loop` line.
    pub fn virsh_line(&self) -> String {
        match self.event {
            PoolLifecycle::Refreshed => {
                format!("event 'refresh' for storage pool {}", self.name)
            }
            e => format!("event 'lifecycle' for storage pool {}: {:?}", self.name, e),
        }
    }
}

/// What happened to a secret: `virSecretEventLifecycleType`, or
/// `ValueChanged` (`VIR_SECRET_EVENT_ID_VALUE_CHANGED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[repr(i32)]
pub enum SecretLifecycle {
    /// `VIR_SECRET_EVENT_DEFINED`.
    Defined = 0,
    /// `VIR_SECRET_EVENT_UNDEFINED`.
    Undefined = 1,
    /// Its value was set: the value-changed event, not a lifecycle one.
    ValueChanged = -1,
}

/// A secret event. It names the secret, never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecretEvent {
    /// The secret's UUID.
    pub uuid: Uuid,
    /// `virSecretUsageType`.
    pub usage_type: i32,
    /// Its usage's id (a volume path, a Ceph user, ...).
    pub usage_id: String,
    /// What happened.
    pub event: SecretLifecycle,
}

impl SecretEvent {
    /// virsh's `secret-event --loop` line.
    pub fn virsh_line(&self) -> String {
        match self.event {
            SecretLifecycle::ValueChanged => {
                format!("event 'value-changed' for secret {}", self.uuid)
            }
            e => format!("event 'lifecycle' for secret {}: {:?}", self.uuid, e),
        }
    }
}

/// What happened to a node device: `virNodeDeviceEventLifecycleType`, or
/// `Updated` (`VIR_NODE_DEVICE_EVENT_ID_UPDATE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[repr(i32)]
pub enum NodeDeviceLifecycle {
    /// `VIR_NODE_DEVICE_EVENT_CREATED`.
    Created = 0,
    /// `VIR_NODE_DEVICE_EVENT_DELETED`.
    Deleted = 1,
    /// `VIR_NODE_DEVICE_EVENT_DEFINED`.
    Defined = 2,
    /// `VIR_NODE_DEVICE_EVENT_UNDEFINED`.
    Undefined = 3,
    /// Its description changed: the update event, not a lifecycle one.
    Updated = -1,
}

/// A node device event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeDeviceEvent {
    /// The device's name.
    pub name: String,
    /// What happened.
    pub event: NodeDeviceLifecycle,
}

impl NodeDeviceEvent {
    /// virsh's `nodedev-event --loop` line.
    pub fn virsh_line(&self) -> String {
        match self.event {
            NodeDeviceLifecycle::Updated => {
                format!("event 'update' for node device {}", self.name)
            }
            e => format!("event 'lifecycle' for node device {}: {:?}", self.name, e),
        }
    }
}

/// What happened to a network (`virNetworkEventLifecycleType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[repr(i32)]
pub enum NetworkLifecycle {
    /// `VIR_NETWORK_EVENT_DEFINED`.
    Defined = 0,
    /// `VIR_NETWORK_EVENT_UNDEFINED`.
    Undefined = 1,
    /// `VIR_NETWORK_EVENT_STARTED`.
    Started = 2,
    /// `VIR_NETWORK_EVENT_STOPPED`.
    Stopped = 3,
}

impl NetworkLifecycle {
    /// virsh's word for it (`net-event`).
    pub fn describe(self) -> &'static str {
        match self {
            NetworkLifecycle::Defined => "Defined",
            NetworkLifecycle::Undefined => "Undefined",
            NetworkLifecycle::Started => "Started",
            NetworkLifecycle::Stopped => "Stopped",
        }
    }
}

/// A network lifecycle event (`VIR_NETWORK_EVENT_ID_LIFECYCLE`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetworkEvent {
    /// The network's name.
    pub name: String,
    /// The network's UUID.
    pub uuid: Uuid,
    /// What happened to it.
    pub event: NetworkLifecycle,
}

impl NetworkEvent {
    /// virsh's `net-event --loop` line.
    pub fn virsh_line(&self) -> String {
        format!(
            "event 'lifecycle' for network {}: {}",
            self.name,
            self.event.describe()
        )
    }
}

/// Events queued for one subscriber before it is dropped.
pub const QUEUE_LIMIT: usize = 1024;

/// The subscribers of one kind of event (domain events by default).
pub struct EventBus<T = DomainEvent> {
    subscribers: Mutex<Vec<SyncSender<T>>>,
}

impl<T> Default for EventBus<T> {
    fn default() -> Self {
        EventBus {
            subscribers: Mutex::new(Vec::new()),
        }
    }
}

impl<T> std::fmt::Debug for EventBus<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus").finish_non_exhaustive()
    }
}

impl<T: Clone> EventBus<T> {
    /// A new subscriber, receiving every event emitted from now on.
    pub fn subscribe(&self) -> EventStream<T> {
        let (tx, rx) = sync_channel(QUEUE_LIMIT);
        self.lock().push(tx);
        EventStream { rx }
    }

    /// Sends `event` to every subscriber, dropping the ones gone or
    /// [`QUEUE_LIMIT`] events behind.
    pub fn emit(&self, event: T) {
        self.lock().retain(|tx| match tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!("dropping an event subscriber {QUEUE_LIMIT} events behind");
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SyncSender<T>>> {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The receiving end of a subscription (`Connect::events`).
#[derive(Debug)]
pub struct EventStream<T = DomainEvent> {
    rx: Receiver<T>,
}

impl<T> EventStream<T> {
    /// Waits up to `timeout` for the next event.
    pub fn next_timeout(&self, timeout: Duration) -> Option<T> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// Waits up to `timeout` for the next event; `Disconnected` once the
    /// stream ended (its connection closed, or it fell too far behind).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// The next event if one is already queued.
    pub fn try_next(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// Every event queued so far.
    pub fn drain(&self) -> Vec<T> {
        std::iter::from_fn(|| self.try_next()).collect()
    }

    /// Blocks until the next event (None once the connection is gone).
    pub fn next(&self) -> Option<T> {
        self.rx.recv().ok()
    }
}
