//! Guest statistics for the API: block counters by disk, and the groups of
//! `virConnectGetAllDomainStats`, from the definition, the registry and
//! the driver's device counters.

use super::{Local, convert};
use crate::connect::{
    BlockStats, DomainBackend, DomainRef, DomainStatsOf, Error, Result, StatValue, check_flags,
    stats_flags, stats_groups as groups,
};
use crate::driver::{DiskConfig, GuestStats, InterfaceStats};
use crate::error::ErrorCode;

fn not_running() -> Error {
    Error::api(ErrorCode::OPERATION_INVALID, "domain is not running")
}

/// What one domain's statistics are made of, read under the lock.
struct Snapshot {
    disks: Vec<DiskConfig>,
    max_vcpus: u32,
    /// The device counters, if the domain runs and the driver has them.
    guest: Option<GuestStats>,
}

impl Local {
    /// The domain's disks (volumes resolved) and, while it runs, the
    /// driver's device counters (None where the driver keeps none).
    fn snapshot(&self, dom: &DomainRef, need_guest: bool) -> Result<Snapshot> {
        let hv = self.hv();
        self.with(dom, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let def = obj.def().clone();
            let active = obj.is_active();
            // A volume whose pool is down keeps its pool/volume name rather
            // than failing the statistics of every domain.
            let config = self
                .driver_config(reg, &def, None)
                .unwrap_or_else(|_| convert::domain_config(&def, None, &|_, _| None));
            let guest = if active && need_guest {
                match hv.guest_stats(&uuid.to_string()) {
                    Ok(stats) => Some(stats),
                    Err(e) if e.code() == ErrorCode::NO_SUPPORT => None,
                    Err(e) => return Err(e.into()),
                }
            } else {
                None
            };
            Ok(Snapshot {
                disks: config.disks,
                max_vcpus: def.vcpus,
                guest,
            })
        })
    }

    pub(super) fn block_stats(&self, dom: &DomainRef, disk: &str) -> Result<BlockStats> {
        if !self.domain_is_active(dom)? {
            return Err(not_running());
        }
        let snap = self.snapshot(dom, true)?;
        let no_stats = || {
            Error::api(
                ErrorCode::NO_SUPPORT,
                "virDomainBlockStats: the driver keeps no block statistics",
            )
        };
        // No disk named: the sum over all of them, as libvirt's qemu does.
        if disk.is_empty() {
            let guest = snap.guest.ok_or_else(no_stats)?;
            return Ok(guest
                .disks
                .iter()
                .fold(BlockStats::default(), |a, d| BlockStats {
                    rd_req: a.rd_req + d.rd_req,
                    rd_bytes: a.rd_bytes + d.rd_bytes,
                    rd_total_ns: a.rd_total_ns + d.rd_total_ns,
                    wr_req: a.wr_req + d.wr_req,
                    wr_bytes: a.wr_bytes + d.wr_bytes,
                    wr_total_ns: a.wr_total_ns + d.wr_total_ns,
                    flush_req: a.flush_req + d.flush_req,
                    flush_total_ns: a.flush_total_ns + d.flush_total_ns,
                    errors: a.errors + d.errors,
                }));
        }
        let index = snap
            .disks
            .iter()
            .position(|d| d.target_dev == disk || d.source.as_deref() == Some(disk))
            .ok_or_else(|| {
                Error::api(
                    ErrorCode::INVALID_ARG,
                    format!("invalid path: {disk} not assigned to domain"),
                )
            })?;
        let guest = snap.guest.ok_or_else(no_stats)?;
        guest.disks.get(index).cloned().ok_or_else(|| {
            Error::api(
                ErrorCode::INTERNAL_ERROR,
                format!("the driver has no statistics for disk {disk}"),
            )
        })
    }

    /// One interface's counters, found as libvirt's QEMU driver does: by
    /// the host device name in the live definition, or by MAC address.
    pub(super) fn interface_stats(&self, dom: &DomainRef, device: &str) -> Result<InterfaceStats> {
        if !self.domain_is_active(dom)? {
            return Err(not_running());
        }
        let interfaces = self.obj(dom, |o| o.def().interfaces())?;
        let index = interfaces
            .iter()
            .position(|i| {
                i.target_dev.as_deref() == Some(device)
                    || i.mac
                        .as_deref()
                        .is_some_and(|m| m.eq_ignore_ascii_case(device))
            })
            .ok_or_else(|| {
                Error::api(
                    ErrorCode::INVALID_ARG,
                    format!("invalid path, '{device}' is not a known interface"),
                )
            })?;
        let snap = self.snapshot(dom, true)?;
        let guest = snap.guest.ok_or_else(|| {
            Error::api(
                ErrorCode::NO_SUPPORT,
                "virDomainInterfaceStats: the driver keeps no interface statistics",
            )
        })?;
        guest.nics.get(index).cloned().ok_or_else(|| {
            Error::api(
                ErrorCode::INTERNAL_ERROR,
                format!("the driver has no statistics for interface {device}"),
            )
        })
    }

    pub(super) fn all_domain_stats(&self, wanted: u32, flags: u32) -> Result<Vec<DomainStatsOf>> {
        check_flags(
            flags,
            stats_flags::LIST_FILTERS
                | stats_flags::NOWAIT
                | stats_flags::BACKING
                | stats_flags::ENFORCE_STATS,
            "virConnectGetAllDomainStats",
        )?;
        if flags & stats_flags::ENFORCE_STATS != 0 && wanted & !groups::SUPPORTED != 0 {
            return Err(Error::api(
                ErrorCode::ARGUMENT_UNSUPPORTED,
                format!(
                    "Stats types bits 0x{:x} are not supported by this daemon",
                    wanted & !groups::SUPPORTED
                ),
            ));
        }
        let wanted = if wanted == 0 {
            groups::SUPPORTED
        } else {
            wanted
        };
        let mut out = Vec::new();
        for dom in self.list_all_domains(flags & stats_flags::LIST_FILTERS)? {
            match self.domain_stats(&dom, wanted) {
                Ok(params) => out.push((dom, params)),
                // Undefined or stopped meanwhile: left out, as libvirt does.
                Err(e) if e.code() == ErrorCode::NO_DOMAIN => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn domain_stats(&self, dom: &DomainRef, wanted: u32) -> Result<Vec<(String, StatValue)>> {
        let want = |g: u32| wanted & g != 0;
        let (state, reason) = self.domain_state(dom)?;
        let info = self.domain_info(dom)?;
        let snap = self.snapshot(dom, want(groups::INTERFACE | groups::BLOCK))?;
        let active = self.domain_is_active(dom)?;
        let mut p: Vec<(String, StatValue)> = Vec::new();
        let mut put = |name: String, value: StatValue| p.push((name, value));
        if want(groups::STATE) {
            put("state.state".into(), StatValue::Int(state as i32));
            put("state.reason".into(), StatValue::Int(reason as i32));
        }
        if want(groups::CPU_TOTAL) && active {
            put("cpu.time".into(), StatValue::ULLong(info.cpu_time_ns));
        }
        if want(groups::BALLOON) {
            put("balloon.current".into(), StatValue::ULLong(info.memory_kib));
            put(
                "balloon.maximum".into(),
                StatValue::ULLong(info.max_memory_kib),
            );
        }
        if want(groups::VCPU) {
            put("vcpu.current".into(), StatValue::UInt(info.vcpus));
            put("vcpu.maximum".into(), StatValue::UInt(snap.max_vcpus));
        }
        if want(groups::INTERFACE) {
            let nics = snap.guest.as_ref().map_or(&[][..], |g| &g.nics[..]);
            put("net.count".into(), StatValue::UInt(nics.len() as u32));
            for (i, n) in nics.iter().enumerate() {
                let key = |f: &str| format!("net.{i}.{f}");
                put(key("name"), StatValue::String(n.name.clone()));
                for (f, v) in [
                    ("rx.bytes", n.rx_bytes),
                    ("rx.pkts", n.rx_packets),
                    ("rx.errs", n.rx_errs),
                    ("rx.drop", n.rx_drop),
                    ("tx.bytes", n.tx_bytes),
                    ("tx.pkts", n.tx_packets),
                    ("tx.errs", n.tx_errs),
                    ("tx.drop", n.tx_drop),
                ] {
                    put(key(f), StatValue::ULLong(v));
                }
            }
        }
        if want(groups::BLOCK) {
            put(
                "block.count".into(),
                StatValue::UInt(snap.disks.len() as u32),
            );
            for (i, d) in snap.disks.iter().enumerate() {
                let key = |f: &str| format!("block.{i}.{f}");
                put(key("name"), StatValue::String(d.target_dev.clone()));
                if let Some(path) = &d.source {
                    put(key("path"), StatValue::String(path.clone()));
                }
                // Counters only while the driver has them, as libvirt
                // leaves out what it cannot read.
                let Some(s) = snap.guest.as_ref().and_then(|g| g.disks.get(i)) else {
                    continue;
                };
                for (f, v) in [
                    ("rd.reqs", s.rd_req),
                    ("rd.bytes", s.rd_bytes),
                    ("rd.times", s.rd_total_ns),
                    ("wr.reqs", s.wr_req),
                    ("wr.bytes", s.wr_bytes),
                    ("wr.times", s.wr_total_ns),
                    ("fl.reqs", s.flush_req),
                    ("fl.times", s.flush_total_ns),
                ] {
                    put(key(f), StatValue::ULLong(v));
                }
            }
        }
        Ok(p)
    }
}
