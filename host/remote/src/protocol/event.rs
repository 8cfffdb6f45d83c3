//! Event registration and the event messages. Events travel server → client
//! as packets of type `MESSAGE`, serial 1, status OK, with the event's
//! procedure number (e.g. 318) and one of the `*Msg` structs as payload.

use super::types::{NonnullDomain, NonnullNetwork, NonnullStoragePool};
use crate::xdr::xdr_struct;

/// `VIR_DOMAIN_EVENT_ID_LIFECYCLE`: the `event_id` for lifecycle events.
pub const VIR_DOMAIN_EVENT_ID_LIFECYCLE: i32 = 0;
/// `VIR_NETWORK_EVENT_ID_LIFECYCLE`.
pub const VIR_NETWORK_EVENT_ID_LIFECYCLE: i32 = 0;
/// `VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE`.
pub const VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE: i32 = 0;
/// `VIR_STORAGE_POOL_EVENT_ID_REFRESH`.
pub const VIR_STORAGE_POOL_EVENT_ID_REFRESH: i32 = 1;

xdr_struct! {
    /// `remote_connect_domain_event_callback_register_any_args`. `dom` limits
    /// the callback to one domain; `None` means all domains.
    pub struct ConnectDomainEventCallbackRegisterAnyArgs {
        pub event_id: i32,
        pub dom: Option<NonnullDomain>,
    }
}

xdr_struct! {
    /// `{ int callbackID; }`: the reply of every `*_event_*register_any` call
    /// that returns an id, and the arguments of the matching deregister.
    pub struct CallbackIdRet {
        pub callback_id: i32,
    }
}

xdr_struct! {
    /// `remote_connect_network_event_register_any_args`.
    pub struct ConnectNetworkEventRegisterAnyArgs {
        pub event_id: i32,
        pub net: Option<NonnullNetwork>,
    }
}

xdr_struct! {
    /// `remote_connect_storage_pool_event_register_any_args`.
    pub struct ConnectStoragePoolEventRegisterAnyArgs {
        pub event_id: i32,
        pub pool: Option<NonnullStoragePool>,
    }
}

xdr_struct! {
    /// `remote_domain_event_lifecycle_msg` (procedure 107, the pre-callback
    /// form, and the body of 318). `event` is a `virDomainEventType`,
    /// `detail` its per-event reason.
    pub struct DomainEventLifecycleMsg {
        pub dom: NonnullDomain,
        pub event: i32,
        pub detail: i32,
    }
}

xdr_struct! {
    /// `remote_domain_event_callback_lifecycle_msg` (procedure 318).
    pub struct DomainEventCallbackLifecycleMsg {
        pub callback_id: i32,
        pub msg: DomainEventLifecycleMsg,
    }
}

xdr_struct! {
    /// `remote_network_event_lifecycle_msg` (procedure 315).
    pub struct NetworkEventLifecycleMsg {
        pub callback_id: i32,
        pub net: NonnullNetwork,
        pub event: i32,
        pub detail: i32,
    }
}

xdr_struct! {
    /// `remote_storage_pool_event_lifecycle_msg` (procedure 370).
    pub struct StoragePoolEventLifecycleMsg {
        pub callback_id: i32,
        pub pool: NonnullStoragePool,
        pub event: i32,
        pub detail: i32,
    }
}

xdr_struct! {
    /// `remote_storage_pool_event_refresh_msg` (procedure 373).
    pub struct StoragePoolEventRefreshMsg {
        pub callback_id: i32,
        pub pool: NonnullStoragePool,
    }
}

xdr_struct! {
    /// `remote_connect_event_connection_closed_msg` (procedure 362), sent to
    /// clients that registered a close callback (360).
    pub struct ConnectEventConnectionClosedMsg {
        pub reason: i32,
    }
}

/// `remote_connect_domain_event_callback_register_any_ret`.
pub type ConnectDomainEventCallbackRegisterAnyRet = CallbackIdRet;
/// `remote_connect_domain_event_callback_deregister_any_args`.
pub type ConnectDomainEventCallbackDeregisterAnyArgs = CallbackIdRet;
/// `remote_connect_network_event_register_any_ret`.
pub type ConnectNetworkEventRegisterAnyRet = CallbackIdRet;
/// `remote_connect_network_event_deregister_any_args`.
pub type ConnectNetworkEventDeregisterAnyArgs = CallbackIdRet;
/// `remote_connect_storage_pool_event_register_any_ret`.
pub type ConnectStoragePoolEventRegisterAnyRet = CallbackIdRet;
/// `remote_connect_storage_pool_event_deregister_any_args`.
pub type ConnectStoragePoolEventDeregisterAnyArgs = CallbackIdRet;
