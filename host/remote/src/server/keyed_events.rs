//! Callbacks of one client for an event kind with several event ids (block
//! jobs: `_BLOCK_JOB` and `_BLOCK_JOB_2`; storage pools: lifecycle and
//! refresh; node devices: lifecycle and update): the first registration
//! subscribes to the connection's events
//! of that kind and starts a thread that sends each event to every callback
//! whose id and object it matches, encoded for that id.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::wire::Writer;
use crate::packet::PacketError;
use wirt::connect::Result;
use wirt::events::EventStream;

/// How often an idle forwarder checks whether its client left.
const POLL: Duration = Duration::from_millis(200);

/// An event kind whose callbacks name an event id.
pub(super) trait Keyed: Send + 'static {
    /// What names an object: a UUID, or a node device's name.
    type Key: PartialEq + Send + 'static;
    /// The object (domain, pool, device) the event is about.
    fn key(&self) -> Self::Key;
    /// Whether a callback registered for `event_id` hears of it.
    fn heard_by(&self, event_id: i32) -> bool;
    /// The `MESSAGE` for callback `callback_id` registered for `event_id`.
    fn message(&self, callback_id: i32, event_id: i32)
    -> std::result::Result<Vec<u8>, PacketError>;
}

/// (callback id, event id, object it is limited to).
type Entries<K> = Vec<(i32, i32, Option<K>)>;
type Callbacks<K> = Arc<Mutex<Entries<K>>>;

pub(super) struct KeyedCallbacks<T: Keyed> {
    callbacks: Callbacks<T::Key>,
    forwarder: Option<Arc<AtomicBool>>,
    kind: PhantomData<fn() -> T>,
}

impl<T: Keyed> Default for KeyedCallbacks<T> {
    fn default() -> Self {
        KeyedCallbacks {
            callbacks: Callbacks::default(),
            forwarder: None,
            kind: PhantomData,
        }
    }
}

impl<T: Keyed> KeyedCallbacks<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<T::Key>> {
        self.callbacks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds callback `id` for `event_id`, subscribing with `subscribe` the
    /// first time.
    pub(super) fn register(
        &mut self,
        subscribe: impl FnOnce() -> Result<EventStream<T>>,
        writer: &Arc<Writer>,
        id: i32,
        event_id: i32,
        object: Option<T::Key>,
    ) -> Result<()> {
        if self.forwarder.is_none() {
            let stream = subscribe()?;
            let stop = Arc::new(AtomicBool::new(false));
            let (callbacks, writer, done) = (self.callbacks.clone(), writer.clone(), stop.clone());
            std::thread::Builder::new()
                .name("wirtd-events".into())
                .spawn(move || forward(&stream, &callbacks, &writer, &done))
                .map_err(|e| {
                    wirt::connect::Error::api(
                        wirt::error::ErrorCode::INTERNAL_ERROR,
                        format!("cannot start the event thread: {e}"),
                    )
                })?;
            self.forwarder = Some(stop);
        }
        self.lock().push((id, event_id, object));
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

fn forward<T: Keyed>(
    stream: &EventStream<T>,
    callbacks: &Callbacks<T::Key>,
    writer: &Writer,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        let event = match stream.recv_timeout(POLL) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => continue,
            // Not stopped: the subscription was dropped for falling behind.
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
            .filter(|(_, event_id, object)| {
                object.as_ref().is_none_or(|k| *k == event.key()) && event.heard_by(*event_id)
            })
            .map(|(id, event_id, _)| (*id, *event_id))
            .collect();
        for (id, event_id) in targets {
            let Ok(bytes) = event.message(id, event_id) else {
                continue;
            };
            if writer.send(&bytes).is_err() {
                writer.shutdown();
                return;
            }
        }
    }
}
