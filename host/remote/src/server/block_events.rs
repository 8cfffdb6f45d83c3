//! Block job event callbacks of one client (`VIR_DOMAIN_EVENT_ID_BLOCK_JOB`,
//! the disk named by its image, and `_BLOCK_JOB_2`, by its target): the
//! first registration subscribes to the connection's block job events and
//! starts a thread that sends each to every matching callback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;

use super::wire::Writer;
use crate::packet::{Header, encode_message};
use crate::protocol::*;
use wirt::connect::{Connect, Result};
use wirt::events::{BlockJobEvent, EventStream};

/// `VIR_DOMAIN_EVENT_ID_BLOCK_JOB`.
pub(super) const BLOCK_JOB: i32 = 8;
/// `VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2`.
pub(super) const BLOCK_JOB_2: i32 = 16;

/// How often an idle forwarder checks whether its client left.
const POLL: Duration = Duration::from_millis(200);

/// (callback id, event id, domain it is limited to).
type Callbacks = Arc<Mutex<Vec<(i32, i32, Option<Uuid>)>>>;

#[derive(Default)]
pub(super) struct BlockJobCallbacks {
    callbacks: Callbacks,
    forwarder: Option<Arc<AtomicBool>>,
}

impl BlockJobCallbacks {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(i32, i32, Option<Uuid>)>> {
        self.callbacks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds callback `id` for `event_id` (one of the two block job ids).
    pub(super) fn register(
        &mut self,
        conn: &Connect,
        writer: &Arc<Writer>,
        id: i32,
        event_id: i32,
        dom: Option<Uuid>,
    ) -> Result<()> {
        if self.forwarder.is_none() {
            let stream = conn.block_job_events()?;
            let stop = Arc::new(AtomicBool::new(false));
            let (callbacks, writer, done) = (self.callbacks.clone(), writer.clone(), stop.clone());
            std::thread::Builder::new()
                .name("wirtd-block-events".into())
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
    stream: &EventStream<BlockJobEvent>,
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
            .filter(|(_, _, dom)| dom.is_none_or(|u| u == event.uuid))
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
    event: &BlockJobEvent,
    callback_id: i32,
    event_id: i32,
) -> std::result::Result<Vec<u8>, crate::packet::PacketError> {
    let dom = NonnullDomain {
        name: event.name.clone(),
        uuid: *event.uuid.as_bytes(),
        id: event.id,
    };
    if event_id == BLOCK_JOB_2 {
        let msg = DomainEventBlockJob2Msg {
            callback_id,
            dom,
            dst: event.target.clone(),
            r#type: event.job_type,
            status: event.status,
        };
        return encode_message(&Header::event(REMOTE_PROC_DOMAIN_EVENT_BLOCK_JOB_2), &msg);
    }
    let msg = DomainEventCallbackBlockJobMsg {
        callback_id,
        msg: DomainEventBlockJobMsg {
            dom,
            path: event.path.clone(),
            r#type: event.job_type,
            status: event.status,
        },
    };
    encode_message(
        &Header::event(REMOTE_PROC_DOMAIN_EVENT_CALLBACK_BLOCK_JOB),
        &msg,
    )
}
