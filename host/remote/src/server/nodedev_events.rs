//! Node device events for callbacks of `VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE`
//! and `_UPDATE`, keyed by the device's name.

use super::keyed_events::Keyed;
use crate::packet::{Header, PacketError, encode_message};
use crate::protocol::*;
use wirt::events::{NodeDeviceEvent, NodeDeviceLifecycle};

/// `VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE`.
pub(super) const LIFECYCLE: i32 = 0;
/// `VIR_NODE_DEVICE_EVENT_ID_UPDATE`.
pub(super) const UPDATE: i32 = 1;

impl Keyed for NodeDeviceEvent {
    type Key = String;

    fn key(&self) -> String {
        self.name.clone()
    }

    fn heard_by(&self, event_id: i32) -> bool {
        (event_id == UPDATE) == (self.event == NodeDeviceLifecycle::Updated)
    }

    fn message(&self, callback_id: i32, _event_id: i32) -> Result<Vec<u8>, PacketError> {
        let dev = NonnullNodeDevice {
            name: self.name.clone(),
        };
        if self.event == NodeDeviceLifecycle::Updated {
            let msg = NodeDeviceEventUpdateMsg { callback_id, dev };
            return encode_message(&Header::event(REMOTE_PROC_NODE_DEVICE_EVENT_UPDATE), &msg);
        }
        let msg = NodeDeviceEventLifecycleMsg {
            callback_id,
            dev,
            event: self.event as i32,
            detail: 0,
        };
        encode_message(
            &Header::event(REMOTE_PROC_NODE_DEVICE_EVENT_LIFECYCLE),
            &msg,
        )
    }
}
