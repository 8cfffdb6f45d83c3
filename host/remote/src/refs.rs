//! Object references on the wire (`remote_nonnull_*`) and the API's, both
//! ways. A reference made from the wire does no lookup: the next call on it
//! reports a missing object, as libvirt's `virGetDomain` handles do.

use uuid::Uuid;
use wirt::connect::{DomainRef, NetworkRef, PoolRef, SecretRef, VolRef};

use crate::protocol::{
    NonnullDomain, NonnullNetwork, NonnullSecret, NonnullStoragePool, NonnullStorageVol,
};

pub(crate) fn wire_domain(dom: &DomainRef) -> NonnullDomain {
    NonnullDomain {
        name: dom.name.clone(),
        uuid: *dom.uuid.as_bytes(),
        id: dom.id,
    }
}

pub(crate) fn domain(d: NonnullDomain) -> DomainRef {
    DomainRef {
        name: d.name,
        uuid: Uuid::from_bytes(d.uuid),
        id: d.id,
    }
}

pub(crate) fn wire_network(net: &NetworkRef) -> NonnullNetwork {
    NonnullNetwork {
        name: net.name.clone(),
        uuid: *net.uuid.as_bytes(),
    }
}

pub(crate) fn network(n: NonnullNetwork) -> NetworkRef {
    NetworkRef {
        name: n.name,
        uuid: Uuid::from_bytes(n.uuid),
    }
}

pub(crate) fn wire_pool(pool: &PoolRef) -> NonnullStoragePool {
    NonnullStoragePool {
        name: pool.name.clone(),
        uuid: *pool.uuid.as_bytes(),
    }
}

pub(crate) fn pool(p: NonnullStoragePool) -> PoolRef {
    PoolRef {
        name: p.name,
        uuid: Uuid::from_bytes(p.uuid),
    }
}

/// Daemons find a volume by pool and name; `key` is informative.
pub(crate) fn wire_vol(vol: &VolRef, key: String) -> NonnullStorageVol {
    NonnullStorageVol {
        pool: vol.pool.name.clone(),
        name: vol.name.clone(),
        key,
    }
}

pub(crate) fn wire_secret(s: &SecretRef) -> NonnullSecret {
    NonnullSecret {
        uuid: *s.uuid.as_bytes(),
        usage_type: s.usage_type,
        usage_id: s.usage_id.clone(),
    }
}

pub(crate) fn secret(s: NonnullSecret) -> SecretRef {
    SecretRef {
        uuid: Uuid::from_bytes(s.uuid),
        usage_type: s.usage_type,
        usage_id: s.usage_id,
    }
}
