//! Guest statistics: libvirt's `virDomainBlockStats` and
//! `virConnectGetAllDomainStats`, with libvirt's field names.

use super::{Connect, Domain, DomainRef, Result};
pub use crate::driver::{BlockStats, InterfaceStats};

/// A typed statistic value, as libvirt's typed parameters carry them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatValue {
    /// `VIR_TYPED_PARAM_INT`.
    Int(i32),
    /// `VIR_TYPED_PARAM_UINT`.
    UInt(u32),
    /// `VIR_TYPED_PARAM_ULLONG`.
    ULLong(u64),
    /// `VIR_TYPED_PARAM_STRING`.
    String(String),
}

impl std::fmt::Display for StatValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatValue::Int(v) => write!(f, "{v}"),
            StatValue::UInt(v) => write!(f, "{v}"),
            StatValue::ULLong(v) => write!(f, "{v}"),
            StatValue::String(v) => f.write_str(v),
        }
    }
}

/// One domain's statistics: named values in libvirt's order and naming
/// (`state.state`, `cpu.time`, `block.0.rd.reqs`, ...).
#[derive(Clone, Debug)]
pub struct DomainStats {
    /// The domain.
    pub domain: Domain,
    /// The values.
    pub params: Vec<(String, StatValue)>,
}

impl DomainStats {
    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<&StatValue> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// libvirt's `VIR_DOMAIN_STATS_*` groups.
pub mod stats_groups {
    /// `VIR_DOMAIN_STATS_STATE`: `state.state`, `state.reason`.
    pub const STATE: u32 = 1;
    /// `VIR_DOMAIN_STATS_CPU_TOTAL`: `cpu.time`.
    pub const CPU_TOTAL: u32 = 2;
    /// `VIR_DOMAIN_STATS_BALLOON`: `balloon.current`, `balloon.maximum`.
    pub const BALLOON: u32 = 4;
    /// `VIR_DOMAIN_STATS_VCPU`: `vcpu.current`, `vcpu.maximum`.
    pub const VCPU: u32 = 8;
    /// `VIR_DOMAIN_STATS_INTERFACE`: `net.count`, `net.<n>.*`.
    pub const INTERFACE: u32 = 16;
    /// `VIR_DOMAIN_STATS_BLOCK`: `block.count`, `block.<n>.*`.
    pub const BLOCK: u32 = 32;
    /// The groups served; 0 asks for all of them.
    pub const SUPPORTED: u32 = STATE | CPU_TOTAL | BALLOON | VCPU | INTERFACE | BLOCK;
}

/// Flags of `virConnectGetAllDomainStats` beyond the list filters.
pub mod stats_flags {
    /// The `VIR_CONNECT_GET_ALL_DOMAINS_STATS_{ACTIVE..OTHER}` filters:
    /// the same bits as `virConnectListAllDomains`' first eight.
    pub const LIST_FILTERS: u32 = 0xff;
    /// `VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT`: wirt never waits on a
    /// busy domain's job, so it changes nothing.
    pub const NOWAIT: u32 = 1 << 29;
    /// `VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING`: backing files get no
    /// records of their own, so it changes nothing.
    pub const BACKING: u32 = 1 << 30;
    /// `VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS`: refuse groups
    /// that are not served instead of leaving them out.
    pub const ENFORCE_STATS: u32 = 1 << 31;
}

impl Domain {
    /// I/O counters of the running domain's disk named by target (`vda`)
    /// or source path (libvirt's `virDomainBlockStats`).
    pub fn block_stats(&self, disk: &str) -> Result<BlockStats> {
        self.connect()
            .backend()
            .domain_block_stats(self.reference(), disk)
    }

    /// Counters of the running domain's network interface named by its
    /// host device (`vnet0`) or MAC address (libvirt's
    /// `virDomainInterfaceStats`); `rx` is what the guest received.
    pub fn interface_stats(&self, device: &str) -> Result<InterfaceStats> {
        self.connect()
            .backend()
            .domain_interface_stats(self.reference(), device)
    }
}

impl Connect {
    /// Statistics of `groups` (see [`stats_groups`]; 0: all) for every
    /// domain matching the list filter bits of `flags`, in the API's
    /// listing order (libvirt's `virConnectGetAllDomainStats`).
    pub fn get_all_domain_stats(&self, groups: u32, flags: u32) -> Result<Vec<DomainStats>> {
        let mut found = self.backend().all_domain_stats(groups, flags)?;
        found.sort_by(|a, b| super::domain::list_order(&a.0, &b.0));
        Ok(found
            .into_iter()
            .map(|(r, params)| DomainStats {
                domain: self.domain(r),
                params,
            })
            .collect())
    }
}

/// What a backend answers for one domain.
pub type DomainStatsOf = (DomainRef, Vec<(String, StatValue)>);
