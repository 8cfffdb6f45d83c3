//! Block job events for callbacks of `VIR_DOMAIN_EVENT_ID_BLOCK_JOB` (the
//! disk named by its image) and `_BLOCK_JOB_2` (by its target).

use uuid::Uuid;

use super::keyed_events::Keyed;
use crate::packet::{Header, PacketError, encode_message};
use crate::protocol::*;
use wirt::events::BlockJobEvent;

/// `VIR_DOMAIN_EVENT_ID_BLOCK_JOB`.
pub(super) const BLOCK_JOB: i32 = 8;
/// `VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2`.
pub(super) const BLOCK_JOB_2: i32 = 16;

impl Keyed for BlockJobEvent {
    type Key = Uuid;

    fn key(&self) -> Uuid {
        self.uuid
    }

    fn heard_by(&self, _event_id: i32) -> bool {
        true
    }

    fn message(&self, callback_id: i32, event_id: i32) -> Result<Vec<u8>, PacketError> {
        let dom = NonnullDomain {
            name: self.name.clone(),
            uuid: *self.uuid.as_bytes(),
            id: self.id,
        };
        if event_id == BLOCK_JOB_2 {
            let msg = DomainEventBlockJob2Msg {
                callback_id,
                dom,
                dst: self.target.clone(),
                r#type: self.job_type,
                status: self.status,
            };
            return encode_message(&Header::event(REMOTE_PROC_DOMAIN_EVENT_BLOCK_JOB_2), &msg);
        }
        let msg = DomainEventCallbackBlockJobMsg {
            callback_id,
            msg: DomainEventBlockJobMsg {
                dom,
                path: self.path.clone(),
                r#type: self.job_type,
                status: self.status,
            },
        };
        encode_message(
            &Header::event(REMOTE_PROC_DOMAIN_EVENT_CALLBACK_BLOCK_JOB),
            &msg,
        )
    }
}
