//! Storage pool event callbacks of one client (`VIR_STORAGE_POOL_EVENT_ID_
//! LIFECYCLE` and `_REFRESH`): the first registration subscribes to the
//! connection's pool events and starts a thread that sends each to every
//! matching callback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;

use super::wire::Writer;
use crate::packet::{Header, encode_message};
use crate::protocol::*;
use wirt::connect::{Connect, Result};
use wirt::events::{EventStream, PoolEvent, PoolLifecycle};

/// `VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE`.
pub(super) const LIFECYCLE: i32 = 0;
/// `VIR_STORAGE_POOL_EVENT_ID_REFRESH`.
pub(super) const REFRESH: i32 = 1;

/// How often an idle forwarder checks whether its client left.
const POLL: Duration = Duration::from_millis(200);

/// (callback id, event id, domain it is limited to).
type Callbacks = Arc<Mutex<Vec<(i32, i32, Option<Uuid>)>>>;

#[derive(Default)]
pub(super) struct PoolCallbacks {
    callbacks: Callbacks,
    forwarder: Option<Arc<AtomicBool>>,
}

impl PoolCallbacks {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(i32, i32, Option<Uuid>)>> {
        self.callbacks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds callback `id` for `event_id` (lifecycle or refresh).
    pub(super) fn register(
        &mut self,
        conn: &Connect,
        writer: &Arc<Writer>,
        id: i32,
        event_id: i32,
        dom: Option<Uuid>,
    ) -> Result<()> {
        if self.forwarder.is_none() {
            let stream = conn.pool_events()?;
            let stop = Arc::new(AtomicBool::new(false));
            let (callbacks, writer, done) = (self.callbacks.clone(), writer.clone(), stop.clone());
            std::thread::Builder::new()
                .name("wirtd-pool-events".into())
                .spawn(move || forward(&stream, &callbacks, &writer, &done))
                .map_err(|e| {
                    wirt::connect::Error::api(
                        wirt::error::ErrorCode::INTERNAL_ERROR,
                        format!("cannot start the event thread: {e}"),
                    )
                })?;
            self.forwarder = Some(stop);
        }
        self.lock().push((id, event_id, dom));
        Ok(())
    }

    pub(super) fn deregister(&mut self, id: i32) {
        self.lock().retain(|(cb, _, _)| *cb != id);
    }

    pub(super) fn stop(&mut self) {
        if let Some(stop) = self.forwarder.take() {
            stop.store(true, Ordering::SeqCst);
        }
        self.lock().clear();
    }
}

fn forward(
    stream: &EventStream<PoolEvent>,
    callbacks: &Callbacks,
    writer: &Writer,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        let event = match stream.recv_timeout(POLL) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                if !stop.load(Ordering::SeqCst) {
                    writer.shutdown();
                }
                return;
            }
        };
        let targets: Vec<(i32, i32)> = callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, event_id, pool)| {
                pool.is_none_or(|u| u == event.uuid)
                    && (*event_id == REFRESH) == (event.event == PoolLifecycle::Refreshed)
            })
            .map(|(id, event_id, _)| (*id, *event_id))
            .collect();
        for (id, event_id) in targets {
            let Ok(bytes) = message(&event, id, event_id) else {
                continue;
            };
            if writer.send(&bytes).is_err() {
                writer.shutdown();
                return;
            }
        }
    }
}

fn message(
    event: &PoolEvent,
    callback_id: i32,
    _event_id: i32,
) -> std::result::Result<Vec<u8>, crate::packet::PacketError> {
    let pool = NonnullStoragePool {
        name: event.name.clone(),
        uuid: *event.uuid.as_bytes(),
    };
    if event.event == PoolLifecycle::Refreshed {
        let msg = StoragePoolEventRefreshMsg { callback_id, pool };
        return encode_message(&Header::event(REMOTE_PROC_STORAGE_POOL_EVENT_REFRESH), &msg);
    }
    let msg = StoragePoolEventLifecycleMsg {
        callback_id,
        pool,
        event: event.event as i32,
        detail: 0,
    };
    encode_message(
        &Header::event(REMOTE_PROC_STORAGE_POOL_EVENT_LIFECYCLE),
        &msg,
    )
}
