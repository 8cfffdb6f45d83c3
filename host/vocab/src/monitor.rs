//! Numbers of the monitoring calls: `virDomainMemoryStatTags` and
//! `virVcpuState`.

/// `VIR_DOMAIN_MEMORY_STAT_*`: what each `virDomainMemoryStats` value is.
pub mod memory_stat {
    /// `SWAP_IN`: KiB swapped in.
    pub const SWAP_IN: u32 = 0;
    /// `SWAP_OUT`: KiB swapped out.
    pub const SWAP_OUT: u32 = 1;
    /// `MAJOR_FAULT`: page faults needing I/O.
    pub const MAJOR_FAULT: u32 = 2;
    /// `MINOR_FAULT`: other page faults.
    pub const MINOR_FAULT: u32 = 3;
    /// `UNUSED`: KiB the guest leaves unused.
    pub const UNUSED: u32 = 4;
    /// `AVAILABLE`: KiB the guest sees.
    pub const AVAILABLE: u32 = 5;
    /// `ACTUAL_BALLOON`: KiB of the balloon's current size.
    pub const ACTUAL_BALLOON: u32 = 6;
    /// `RSS`: KiB resident in the host process.
    pub const RSS: u32 = 7;
    /// `USABLE`: KiB the guest could use without swapping.
    pub const USABLE: u32 = 8;
    /// `LAST_UPDATE`: when the guest last updated its figures, seconds.
    pub const LAST_UPDATE: u32 = 9;
    /// `DISK_CACHES`: KiB of caches the guest can drop.
    pub const DISK_CACHES: u32 = 10;
    /// `HUGETLB_PGALLOC`: huge page allocations.
    pub const HUGETLB_PGALLOC: u32 = 11;
    /// `HUGETLB_PGFAIL`: failed huge page allocations.
    pub const HUGETLB_PGFAIL: u32 = 12;
    /// `NR`: how many tags libvirt 9.0 defines.
    pub const NR: u32 = 13;

    /// virsh's name for `tag`, if it prints it.
    pub fn name(tag: u32) -> Option<&'static str> {
        Some(match tag {
            SWAP_IN => "swap_in",
            SWAP_OUT => "swap_out",
            MAJOR_FAULT => "major_fault",
            MINOR_FAULT => "minor_fault",
            UNUSED => "unused",
            AVAILABLE => "available",
            ACTUAL_BALLOON => "actual",
            RSS => "rss",
            USABLE => "usable",
            LAST_UPDATE => "last_update",
            DISK_CACHES => "disk_caches",
            HUGETLB_PGALLOC => "hugetlb_pgalloc",
            HUGETLB_PGFAIL => "hugetlb_pgfail",
            _ => return None,
        })
    }
}

/// `VIR_VCPU_*`: a vCPU's state.
pub mod vcpu_state {
    /// `OFFLINE`.
    pub const OFFLINE: i32 = 0;
    /// `RUNNING`.
    pub const RUNNING: i32 = 1;
    /// `BLOCKED`.
    pub const BLOCKED: i32 = 2;

    /// virsh's word for `state`.
    pub fn name(state: i32) -> &'static str {
        match state {
            OFFLINE => "offline",
            RUNNING => "running",
            BLOCKED => "blocked",
            _ => "no state",
        }
    }
}
