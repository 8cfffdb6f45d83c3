//! Wire references to the API's handles and back, for the dispatchers.

use wirt::connect::{Connect, Domain, Network, StoragePool, StorageVol};

use crate::protocol::{NonnullDomain, NonnullNetwork, NonnullStoragePool, NonnullStorageVol};
use crate::refs;

pub(super) fn domain(conn: &Connect, d: NonnullDomain) -> Domain {
    conn.domain(refs::domain(d))
}

pub(super) fn wire_domain(dom: &Domain) -> NonnullDomain {
    refs::wire_domain(dom.reference())
}

pub(super) fn network(conn: &Connect, n: NonnullNetwork) -> Network {
    conn.network(refs::network(n))
}

pub(super) fn wire_network(net: &Network) -> NonnullNetwork {
    refs::wire_network(net.reference())
}

pub(super) fn pool(conn: &Connect, p: NonnullStoragePool) -> StoragePool {
    conn.pool(refs::pool(p))
}

pub(super) fn wire_pool(pool: &StoragePool) -> NonnullStoragePool {
    refs::wire_pool(pool.reference())
}

pub(super) fn wire_vol(vol: &StorageVol, key: String) -> NonnullStorageVol {
    refs::wire_vol(vol.reference(), key)
}
