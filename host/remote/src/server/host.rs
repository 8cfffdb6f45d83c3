//! Connection-level procedures: facts about the host and the driver,
//! features, close callbacks and event registration.

use uuid::Uuid;

use super::Origin;
use super::session::Session;
use super::wire::Routed;
use crate::protocol::*;
use wirt::connect::{Connect, Error};
use wirt::error::ErrorCode;

/// Features a client may ask about; 10 (keepalive) is answered before OPEN.
fn supports(feature: i32) -> bool {
    matches!(
        feature,
        VIR_DRV_FEATURE_PROGRAM_KEEPALIVE
            | VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK
            | VIR_DRV_FEATURE_REMOTE_CLOSE_CALLBACK
            | super::migrate::FEATURE_MIGRATION_P2P
            | super::migrate::FEATURE_MIGRATION_V3
            | super::migrate::FEATURE_MIGRATION_PARAMS
            | super::migrate::FEATURE_MIGRATION_OFFLINE
            | super::migrate::FEATURE_TYPED_PARAM_STRING
            | super::migrate::FEATURE_XML_MIGRATABLE
    )
}

pub(super) fn dispatch(session: &mut Session, conn: &Connect, call: Call) -> Routed {
    let reply = match call {
        Call::ConnectSupportsFeature(a) => {
            Reply::ConnectSupportsFeature(ConnectSupportsFeatureRet {
                supported: i32::from(supports(a.feature)),
            })
        }
        Call::ConnectGetType(()) => Reply::ConnectGetType(ConnectGetTypeRet {
            r#type: conn.type_name().to_string(),
        }),
        Call::ConnectGetVersion(()) => Reply::ConnectGetVersion(ConnectGetVersionRet {
            hv_ver: conn.version(),
        }),
        Call::ConnectGetLibVersion(()) => Reply::ConnectGetLibVersion(ConnectGetLibVersionRet {
            lib_ver: conn.lib_version(),
        }),
        Call::ConnectGetHostname(()) => Reply::ConnectGetHostname(ConnectGetHostnameRet {
            hostname: conn.hostname(),
        }),
        Call::ConnectGetUri(()) => Reply::ConnectGetUri(ConnectGetUriRet {
            uri: conn.uri().to_string(),
        }),
        Call::ConnectGetMaxVcpus(_) => Reply::ConnectGetMaxVcpus(ConnectGetMaxVcpusRet {
            max_vcpus: i32::try_from(conn.max_vcpus()).unwrap_or(i32::MAX),
        }),
        Call::ConnectGetDomainCapabilities(a) => {
            return Routed::Done(
                conn.domain_capabilities(
                    a.emulatorbin.as_deref(),
                    a.arch.as_deref(),
                    a.machine.as_deref(),
                    a.virttype.as_deref(),
                    a.flags,
                )
                .map(|capabilities| {
                    Reply::ConnectGetDomainCapabilities(ConnectGetDomainCapabilitiesRet {
                        capabilities,
                    })
                }),
            );
        }
        Call::ConnectGetCapabilities(()) => {
            Reply::ConnectGetCapabilities(ConnectGetCapabilitiesRet {
                capabilities: conn.capabilities_xml(),
            })
        }
        // A unix socket is as safe as the host, TLS is encrypted; TCP is not.
        Call::ConnectIsSecure(()) => Reply::ConnectIsSecure(ConnectIsSecureRet {
            secure: i32::from(session.origin != Origin::Tcp),
        }),
        Call::NodeGetInfo(()) => {
            let node = conn.node_info();
            let mut ret = NodeGetInfoRet {
                memory: node.memory_kib,
                cpus: node.cpus as i32,
                mhz: node.mhz as i32,
                nodes: node.numa_nodes as i32,
                sockets: node.sockets as i32,
                cores: node.cores as i32,
                threads: node.threads as i32,
                ..NodeGetInfoRet::default()
            };
            ret.set_model(&node.cpu_model);
            Reply::NodeGetInfo(ret)
        }
        Call::NodeGetSecurityModel(()) => {
            let model = conn.capabilities().secmodel.clone().unwrap_or_default();
            Reply::NodeGetSecurityModel(NodeGetSecurityModelRet {
                model: string_to_c_chars(&model),
                doi: string_to_c_chars(""),
            })
        }
        // Nothing to do: the client notices a closed socket by itself.
        Call::ConnectRegisterCloseCallback(()) => Reply::ConnectRegisterCloseCallback(()),
        Call::ConnectUnregisterCloseCallback(()) => Reply::ConnectUnregisterCloseCallback(()),
        Call::ConnectDomainEventCallbackRegisterAny(a) => {
            let dom = a.dom.map(|d| Uuid::from_bytes(d.uuid));
            return Routed::Done(session.events.register_domain(conn, a.event_id, dom).map(
                |callback_id| {
                    Reply::ConnectDomainEventCallbackRegisterAny(
                        ConnectDomainEventCallbackRegisterAnyRet { callback_id },
                    )
                },
            ));
        }
        Call::ConnectDomainEventCallbackDeregisterAny(a) => {
            return Routed::Done(
                session
                    .events
                    .deregister(a.callback_id)
                    .map(Reply::ConnectDomainEventCallbackDeregisterAny),
            );
        }
        Call::ConnectNetworkEventRegisterAny(a) => {
            let net = a.net.map(|n| Uuid::from_bytes(n.uuid));
            return Routed::Done(session.events.register_network(conn, a.event_id, net).map(
                |callback_id| {
                    Reply::ConnectNetworkEventRegisterAny(ConnectNetworkEventRegisterAnyRet {
                        callback_id,
                    })
                },
            ));
        }
        Call::ConnectStoragePoolEventRegisterAny(a) => {
            let pool = a.pool.map(|p| Uuid::from_bytes(p.uuid));
            return Routed::Done(session.events.register_pool(conn, a.event_id, pool).map(
                |callback_id| {
                    Reply::ConnectStoragePoolEventRegisterAny(
                        ConnectStoragePoolEventRegisterAnyRet { callback_id },
                    )
                },
            ));
        }
        Call::ConnectNetworkEventDeregisterAny(a) => {
            return Routed::Done(
                session
                    .events
                    .deregister(a.callback_id)
                    .map(Reply::ConnectNetworkEventDeregisterAny),
            );
        }
        Call::ConnectSecretEventRegisterAny(a) => {
            let secret = a.secret.map(|s| Uuid::from_bytes(s.uuid));
            return Routed::Done(
                session
                    .events
                    .register_secret(conn, a.event_id, secret)
                    .map(|callback_id| {
                        Reply::ConnectSecretEventRegisterAny(ConnectSecretEventRegisterAnyRet {
                            callback_id,
                        })
                    }),
            );
        }
        Call::ConnectNodeDeviceEventRegisterAny(a) => {
            return Routed::Done(
                session
                    .events
                    .register_node_device(conn, a.event_id, a.dev.map(|d| d.name))
                    .map(|callback_id| {
                        Reply::ConnectNodeDeviceEventRegisterAny(
                            ConnectNodeDeviceEventRegisterAnyRet { callback_id },
                        )
                    }),
            );
        }
        Call::ConnectNodeDeviceEventDeregisterAny(a) => {
            return Routed::Done(
                session
                    .events
                    .deregister(a.callback_id)
                    .map(Reply::ConnectNodeDeviceEventDeregisterAny),
            );
        }
        Call::ConnectSecretEventDeregisterAny(a) => {
            return Routed::Done(
                session
                    .events
                    .deregister(a.callback_id)
                    .map(Reply::ConnectSecretEventDeregisterAny),
            );
        }
        Call::ConnectStoragePoolEventDeregisterAny(a) => {
            return Routed::Done(
                session
                    .events
                    .deregister(a.callback_id)
                    .map(Reply::ConnectStoragePoolEventDeregisterAny),
            );
        }
        Call::ConnectGetSysinfo(_) => {
            return Routed::Done(Err(Error::api(
                ErrorCode::NO_SUPPORT,
                "virConnectGetSysinfo",
            )));
        }
        other => return Routed::Pass(other),
    };
    Routed::Done(Ok(reply))
}
