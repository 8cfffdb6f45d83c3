//! Object references on the wire (`remote_nonnull_*`) and the API's
//! handles, both ways. A handle made from a reference does no lookup: the
//! next call on it reports a missing object, as libvirt's `virGetDomain`
//! handles do.

use uuid::Uuid;

use super::protocol::{NonnullDomain, NonnullNetwork, NonnullStoragePool, NonnullStorageVol};
use crate::connect::{Connect, Domain, Network, StoragePool, StorageVol};

pub(crate) fn wire_domain(dom: &Domain) -> NonnullDomain {
    NonnullDomain {
        name: dom.name().to_string(),
        uuid: *dom.uuid().as_bytes(),
        id: dom.cached_id(),
    }
}

pub(crate) fn domain(conn: &Connect, d: NonnullDomain) -> Domain {
    conn.domain_ref(Uuid::from_bytes(d.uuid), d.name, d.id)
}

pub(crate) fn wire_network(net: &Network) -> NonnullNetwork {
    NonnullNetwork {
        name: net.name().to_string(),
        uuid: *net.uuid().as_bytes(),
    }
}

pub(crate) fn network(conn: &Connect, n: NonnullNetwork) -> Network {
    conn.network_ref(Uuid::from_bytes(n.uuid), n.name)
}

pub(crate) fn wire_pool(pool: &StoragePool) -> NonnullStoragePool {
    NonnullStoragePool {
        name: pool.name().to_string(),
        uuid: *pool.uuid().as_bytes(),
    }
}

pub(crate) fn pool(conn: &Connect, p: NonnullStoragePool) -> StoragePool {
    conn.pool_ref(Uuid::from_bytes(p.uuid), p.name)
}

/// Daemons find a volume by pool and name; `key` is informative.
pub(crate) fn wire_vol(vol: &StorageVol, key: String) -> NonnullStorageVol {
    NonnullStorageVol {
        pool: vol.pool().name().to_string(),
        name: vol.name().to_string(),
        key,
    }
}
