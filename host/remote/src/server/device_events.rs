//! Device events for callbacks of `VIR_DOMAIN_EVENT_ID_DEVICE_ADDED` and
//! `_DEVICE_REMOVED`: a disk or interface plugged into or pulled out of a
//! running domain.

use uuid::Uuid;

use super::keyed_events::Keyed;
use crate::packet::{Header, PacketError, encode_message};
use crate::protocol::*;
use wirt::events::DeviceEvent;

/// `VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED`.
pub(super) const DEVICE_REMOVED: i32 = 15;
/// `VIR_DOMAIN_EVENT_ID_DEVICE_ADDED`.
pub(super) const DEVICE_ADDED: i32 = 19;

impl Keyed for DeviceEvent {
    type Key = Uuid;

    fn key(&self) -> Uuid {
        self.uuid
    }

    fn heard_by(&self, event_id: i32) -> bool {
        event_id
            == if self.added {
                DEVICE_ADDED
            } else {
                DEVICE_REMOVED
            }
    }

    fn message(&self, callback_id: i32, _event_id: i32) -> Result<Vec<u8>, PacketError> {
        let dom = NonnullDomain {
            name: self.name.clone(),
            uuid: *self.uuid.as_bytes(),
            id: self.id,
        };
        if self.added {
            let msg = DomainEventCallbackDeviceAddedMsg {
                callback_id,
                dom,
                dev_alias: self.alias.clone(),
            };
            return encode_message(
                &Header::event(REMOTE_PROC_DOMAIN_EVENT_CALLBACK_DEVICE_ADDED),
                &msg,
            );
        }
        let msg = DomainEventCallbackDeviceRemovedMsg {
            callback_id,
            msg: DomainEventDeviceRemovedMsg {
                dom,
                dev_alias: self.alias.clone(),
            },
        };
        encode_message(
            &Header::event(REMOTE_PROC_DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED),
            &msg,
        )
    }
}
