//! Storage pool events for callbacks of `VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE`
//! and `_REFRESH`.

use uuid::Uuid;

use super::keyed_events::Keyed;
use crate::packet::{Header, PacketError, encode_message};
use crate::protocol::*;
use wirt::events::{PoolEvent, PoolLifecycle};

/// `VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE`.
pub(super) const LIFECYCLE: i32 = 0;
/// `VIR_STORAGE_POOL_EVENT_ID_REFRESH`.
pub(super) const REFRESH: i32 = 1;

impl Keyed for PoolEvent {
    type Key = Uuid;

    fn key(&self) -> Uuid {
        self.uuid
    }

    fn heard_by(&self, event_id: i32) -> bool {
        (event_id == REFRESH) == (self.event == PoolLifecycle::Refreshed)
    }

    fn message(&self, callback_id: i32, _event_id: i32) -> Result<Vec<u8>, PacketError> {
        let pool = NonnullStoragePool {
            name: self.name.clone(),
            uuid: *self.uuid.as_bytes(),
        };
        if self.event == PoolLifecycle::Refreshed {
            let msg = StoragePoolEventRefreshMsg { callback_id, pool };
            return encode_message(&Header::event(REMOTE_PROC_STORAGE_POOL_EVENT_REFRESH), &msg);
        }
        let msg = StoragePoolEventLifecycleMsg {
            callback_id,
            pool,
            event: self.event as i32,
            detail: 0,
        };
        encode_message(
            &Header::event(REMOTE_PROC_STORAGE_POOL_EVENT_LIFECYCLE),
            &msg,
        )
    }
}
