//! Secret events for callbacks of `VIR_SECRET_EVENT_ID_LIFECYCLE` and
//! `_VALUE_CHANGED`. They name the secret, never its value.

use uuid::Uuid;

use super::keyed_events::Keyed;
use crate::packet::{Header, PacketError, encode_message};
use crate::protocol::*;
use wirt::events::{SecretEvent, SecretLifecycle};

/// `VIR_SECRET_EVENT_ID_LIFECYCLE`.
pub(super) const LIFECYCLE: i32 = 0;
/// `VIR_SECRET_EVENT_ID_VALUE_CHANGED`.
pub(super) const VALUE_CHANGED: i32 = 1;

impl Keyed for SecretEvent {
    type Key = Uuid;

    fn key(&self) -> Uuid {
        self.uuid
    }

    fn heard_by(&self, event_id: i32) -> bool {
        (event_id == VALUE_CHANGED) == (self.event == SecretLifecycle::ValueChanged)
    }

    fn message(&self, callback_id: i32, _event_id: i32) -> Result<Vec<u8>, PacketError> {
        let secret = NonnullSecret {
            uuid: *self.uuid.as_bytes(),
            usage_type: self.usage_type,
            usage_id: self.usage_id.clone(),
        };
        if self.event == SecretLifecycle::ValueChanged {
            let msg = SecretEventValueChangedMsg {
                callback_id,
                secret,
            };
            return encode_message(&Header::event(REMOTE_PROC_SECRET_EVENT_VALUE_CHANGED), &msg);
        }
        let msg = SecretEventLifecycleMsg {
            callback_id,
            secret,
            event: self.event as i32,
            detail: 0,
        };
        encode_message(&Header::event(REMOTE_PROC_SECRET_EVENT_LIFECYCLE), &msg)
    }
}
