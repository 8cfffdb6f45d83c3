//! Domains and their snapshots over the wire: each method is one call (or a
//! few, where the public API returns more than one procedure gives).

use std::path::Path;

use uuid::Uuid;

use super::RemoteConn;
use crate::protocol::*;
use crate::refs::{self, wire_domain};
use wirt::connect::{
    Begun, BlockStats, DomainBackend, DomainInfo, DomainRef, DomainStatsOf, Error, InterfaceStats,
    JobStats, MigrateParams, Prepared, Result,
};
use wirt::driver::ConsoleStream;
use wirt::error::ErrorCode;
use wirt::lifecycle::State;

fn handle(d: NonnullDomain) -> DomainRef {
    refs::domain(d)
}

fn state(n: i32) -> State {
    u32::try_from(n)
        .ok()
        .and_then(State::from_u32)
        .unwrap_or(State::NoState)
}

impl DomainBackend for RemoteConn {
    fn lookup_domain_by_name(&self, name: &str) -> Result<DomainRef> {
        let args = DomainLookupByNameArgs {
            name: name.to_string(),
        };
        let ret: DomainLookupByNameRet = self.call(REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, &args)?;
        Ok(handle(ret.dom))
    }

    fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        let args = DomainLookupByUuidArgs {
            uuid: *uuid.as_bytes(),
        };
        let ret: DomainLookupByUuidRet = self.call(REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID, &args)?;
        Ok(handle(ret.dom))
    }

    fn lookup_domain_by_id(&self, id: u32) -> Result<DomainRef> {
        let args = DomainLookupByIdArgs {
            id: i32::try_from(id).unwrap_or(i32::MAX),
        };
        let ret: DomainLookupByIdRet = self.call(REMOTE_PROC_DOMAIN_LOOKUP_BY_ID, &args)?;
        Ok(handle(ret.dom))
    }

    fn list_all_domains(&self, flags: u32) -> Result<Vec<DomainRef>> {
        let args = ConnectListAllDomainsArgs {
            need_results: 1,
            flags,
        };
        let ret: ConnectListAllDomainsRet =
            self.call(REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, &args)?;
        Ok(ret.domains.into_iter().map(handle).collect())
    }

    fn define_domain_xml(&self, xml: &str, flags: u32) -> Result<DomainRef> {
        // The flagless procedure is the one every daemon version knows.
        let dom = if flags == 0 {
            let args = DomainDefineXmlArgs {
                xml: xml.to_string(),
            };
            let ret: DomainDefineXmlRet = self.call(REMOTE_PROC_DOMAIN_DEFINE_XML, &args)?;
            ret.dom
        } else {
            let args = DomainDefineXmlFlagsArgs {
                xml: xml.to_string(),
                flags,
            };
            let ret: DomainDefineXmlFlagsRet =
                self.call(REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS, &args)?;
            ret.dom
        };
        Ok(handle(dom))
    }

    fn create_domain_xml(&self, xml: &str, flags: u32) -> Result<DomainRef> {
        let args = DomainCreateXmlArgs {
            xml_desc: xml.to_string(),
            flags,
        };
        let ret: DomainCreateXmlRet = self.call(REMOTE_PROC_DOMAIN_CREATE_XML, &args)?;
        Ok(handle(ret.dom))
    }

    fn domain_id(&self, dom: &DomainRef) -> Result<i32> {
        Ok(self.lookup_domain_by_uuid(&dom.uuid)?.id)
    }

    fn domain_state(&self, dom: &DomainRef) -> Result<(State, u32)> {
        let ret: DomainGetStateRet = self.call(
            REMOTE_PROC_DOMAIN_GET_STATE,
            &DomainGetStateArgs {
                dom: wire_domain(dom),
                flags: 0,
            },
        )?;
        Ok((state(ret.state), u32::try_from(ret.reason).unwrap_or(0)))
    }

    fn domain_is_active(&self, dom: &DomainRef) -> Result<bool> {
        let ret: DomainIsActiveRet = self.call(
            REMOTE_PROC_DOMAIN_IS_ACTIVE,
            &DomainIsActiveArgs {
                dom: wire_domain(dom),
            },
        )?;
        Ok(ret.active != 0)
    }

    fn domain_is_persistent(&self, dom: &DomainRef) -> Result<bool> {
        let ret: DomainIsPersistentRet = self.call(
            REMOTE_PROC_DOMAIN_IS_PERSISTENT,
            &DomainIsPersistentArgs {
                dom: wire_domain(dom),
            },
        )?;
        Ok(ret.persistent != 0)
    }

    fn domain_autostart(&self, dom: &DomainRef) -> Result<bool> {
        let ret: DomainGetAutostartRet = self.call(
            REMOTE_PROC_DOMAIN_GET_AUTOSTART,
            &DomainGetAutostartArgs {
                dom: wire_domain(dom),
            },
        )?;
        Ok(ret.autostart != 0)
    }

    fn domain_has_managed_save(&self, dom: &DomainRef) -> Result<bool> {
        let ret: DomainHasManagedSaveImageRet = self.call(
            REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE,
            &DomainHasManagedSaveImageArgs {
                dom: wire_domain(dom),
                flags: 0,
            },
        )?;
        Ok(ret.result != 0)
    }

    fn domain_info(&self, dom: &DomainRef) -> Result<DomainInfo> {
        let ret: DomainGetInfoRet = self.call(
            REMOTE_PROC_DOMAIN_GET_INFO,
            &DomainGetInfoArgs {
                dom: wire_domain(dom),
            },
        )?;
        Ok(DomainInfo {
            state: state(i32::from(ret.state)),
            max_memory_kib: ret.max_mem,
            memory_kib: ret.memory,
            vcpus: u32::from(ret.nr_virt_cpu),
            cpu_time_ns: ret.cpu_time,
        })
    }

    fn domain_xml_desc(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        let ret: DomainGetXmlDescRet = self.call(
            REMOTE_PROC_DOMAIN_GET_XML_DESC,
            &DomainGetXmlDescArgs {
                dom: wire_domain(dom),
                flags,
            },
        )?;
        Ok(ret.xml)
    }

    fn domain_start(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        if flags == 0 {
            return Ok(self.call(
                REMOTE_PROC_DOMAIN_CREATE,
                &DomainCreateArgs {
                    dom: wire_domain(dom),
                },
            )?);
        }
        let _: DomainCreateWithFlagsRet = self.call(
            REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS,
            &DomainCreateWithFlagsArgs {
                dom: wire_domain(dom),
                flags,
            },
        )?;
        Ok(())
    }

    fn domain_shutdown(&self, dom: &DomainRef) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_DOMAIN_SHUTDOWN,
            &DomainShutdownArgs {
                dom: wire_domain(dom),
            },
        )?)
    }

    fn domain_reboot(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_DOMAIN_REBOOT,
            &DomainRebootArgs {
                dom: wire_domain(dom),
                flags,
            },
        )?)
    }

    fn domain_reset(&self, dom: &DomainRef) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_DOMAIN_RESET,
            &DomainResetArgs {
                dom: wire_domain(dom),
                flags: 0,
            },
        )?)
    }

    fn domain_destroy(&self, dom: &DomainRef) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_DOMAIN_DESTROY,
            &DomainDestroyArgs {
                dom: wire_domain(dom),
            },
        )?)
    }

    fn domain_suspend(&self, dom: &DomainRef) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_DOMAIN_SUSPEND,
            &DomainSuspendArgs {
                dom: wire_domain(dom),
            },
        )?)
    }

    fn domain_resume(&self, dom: &DomainRef) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_DOMAIN_RESUME,
            &DomainResumeArgs {
                dom: wire_domain(dom),
            },
        )?)
    }

    fn domain_undefine(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        if flags == 0 {
            return Ok(self.call(
                REMOTE_PROC_DOMAIN_UNDEFINE,
                &DomainUndefineArgs {
                    dom: wire_domain(dom),
                },
            )?);
        }
        Ok(self.call(
            REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS,
            &DomainUndefineFlagsArgs {
                dom: wire_domain(dom),
                flags,
            },
        )?)
    }

    fn domain_managed_save(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_DOMAIN_MANAGED_SAVE,
            &DomainManagedSaveArgs {
                dom: wire_domain(dom),
                flags,
            },
        )?)
    }

    fn domain_managed_save_remove(&self, dom: &DomainRef) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_DOMAIN_MANAGED_SAVE_REMOVE,
            &DomainManagedSaveRemoveArgs {
                dom: wire_domain(dom),
                flags: 0,
            },
        )?)
    }

    /// `path` names a file on the daemon's host, as with libvirt.
    fn domain_save(&self, dom: &DomainRef, path: &Path, flags: u32) -> Result<()> {
        let to = path_string(path)?;
        if flags == 0 {
            let args = DomainSaveArgs {
                dom: wire_domain(dom),
                to,
            };
            return Ok(self.call(REMOTE_PROC_DOMAIN_SAVE, &args)?);
        }
        let args = DomainSaveFlagsArgs {
            dom: wire_domain(dom),
            to,
            dxml: None,
            flags,
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_SAVE_FLAGS, &args)?)
    }

    fn domain_attach_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        let args = DomainAttachDeviceFlagsArgs {
            dom: wire_domain(dom),
            xml: xml.to_string(),
            flags,
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_ATTACH_DEVICE_FLAGS, &args)?)
    }

    fn domain_detach_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        let args = DomainDetachDeviceFlagsArgs {
            dom: wire_domain(dom),
            xml: xml.to_string(),
            flags,
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_DETACH_DEVICE_FLAGS, &args)?)
    }

    fn domain_update_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        let args = DomainUpdateDeviceFlagsArgs {
            dom: wire_domain(dom),
            xml: xml.to_string(),
            flags,
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_UPDATE_DEVICE_FLAGS, &args)?)
    }

    fn domain_get_metadata(
        &self,
        dom: &DomainRef,
        kind: i32,
        uri: Option<&str>,
        flags: u32,
    ) -> Result<String> {
        let args = DomainGetMetadataArgs {
            dom: wire_domain(dom),
            r#type: kind,
            uri: uri.map(str::to_string),
            flags,
        };
        let ret: DomainGetMetadataRet = self.call(REMOTE_PROC_DOMAIN_GET_METADATA, &args)?;
        Ok(ret.metadata)
    }

    fn domain_set_metadata(
        &self,
        dom: &DomainRef,
        kind: i32,
        value: Option<&str>,
        key: Option<&str>,
        uri: Option<&str>,
        flags: u32,
    ) -> Result<()> {
        let args = DomainSetMetadataArgs {
            dom: wire_domain(dom),
            r#type: kind,
            metadata: value.map(str::to_string),
            key: key.map(str::to_string),
            uri: uri.map(str::to_string),
            flags,
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_SET_METADATA, &args)?)
    }

    fn domain_set_lifecycle_action(
        &self,
        dom: &DomainRef,
        kind: u32,
        action: u32,
        flags: u32,
    ) -> Result<()> {
        let args = DomainSetLifecycleActionArgs {
            dom: wire_domain(dom),
            r#type: kind,
            action,
            flags,
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_SET_LIFECYCLE_ACTION, &args)?)
    }

    fn domain_detach_device_alias(&self, dom: &DomainRef, alias: &str, flags: u32) -> Result<()> {
        let args = DomainDetachDeviceAliasArgs {
            dom: wire_domain(dom),
            alias: alias.to_string(),
            flags,
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_DETACH_DEVICE_ALIAS, &args)?)
    }

    fn domain_get_hostname(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        let args = DomainGetHostnameArgs {
            dom: wire_domain(dom),
            flags,
        };
        let ret: DomainGetHostnameRet = self.call(REMOTE_PROC_DOMAIN_GET_HOSTNAME, &args)?;
        Ok(ret.hostname)
    }

    fn domain_fs_freeze(&self, dom: &DomainRef, mountpoints: &[String], flags: u32) -> Result<i32> {
        let args = DomainFsfreezeArgs {
            dom: wire_domain(dom),
            mountpoints: mountpoints.to_vec(),
            flags,
        };
        let ret: DomainFsfreezeRet = self.call(REMOTE_PROC_DOMAIN_FSFREEZE, &args)?;
        Ok(ret.filesystems)
    }

    fn domain_fs_thaw(&self, dom: &DomainRef, mountpoints: &[String], flags: u32) -> Result<i32> {
        let args = DomainFsthawArgs {
            dom: wire_domain(dom),
            mountpoints: mountpoints.to_vec(),
            flags,
        };
        let ret: DomainFsthawRet = self.call(REMOTE_PROC_DOMAIN_FSTHAW, &args)?;
        Ok(ret.filesystems)
    }

    fn domain_get_time(&self, dom: &DomainRef, flags: u32) -> Result<(i64, u32)> {
        let args = DomainGetTimeArgs {
            dom: wire_domain(dom),
            flags,
        };
        let ret: DomainGetTimeRet = self.call(REMOTE_PROC_DOMAIN_GET_TIME, &args)?;
        Ok((ret.seconds, ret.nseconds))
    }

    fn domain_set_time(
        &self,
        dom: &DomainRef,
        seconds: i64,
        nseconds: u32,
        flags: u32,
    ) -> Result<()> {
        let args = DomainSetTimeArgs {
            dom: wire_domain(dom),
            seconds,
            nseconds,
            flags,
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_SET_TIME, &args)?)
    }

    fn domain_get_control_info(&self, dom: &DomainRef) -> Result<wirt::connect::ControlInfo> {
        let args = DomainGetControlInfoArgs {
            dom: wire_domain(dom),
            flags: 0,
        };
        let ret: DomainGetControlInfoRet = self.call(REMOTE_PROC_DOMAIN_GET_CONTROL_INFO, &args)?;
        Ok(wirt::connect::ControlInfo {
            state: ret.state,
            details: ret.details,
            state_time_ms: ret.state_time,
        })
    }

    fn domain_set_autostart(&self, dom: &DomainRef, autostart: bool) -> Result<()> {
        let args = DomainSetAutostartArgs {
            dom: wire_domain(dom),
            autostart: i32::from(autostart),
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_SET_AUTOSTART, &args)?)
    }

    fn domain_set_memory(&self, dom: &DomainRef, kib: u64, flags: u32) -> Result<()> {
        let args = DomainSetMemoryFlagsArgs {
            dom: wire_domain(dom),
            memory: kib,
            flags,
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS, &args)?)
    }

    fn domain_set_vcpus(&self, dom: &DomainRef, count: u32, flags: u32) -> Result<()> {
        let args = DomainSetVcpusFlagsArgs {
            dom: wire_domain(dom),
            nvcpus: count,
            flags,
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_SET_VCPUS_FLAGS, &args)?)
    }

    fn domain_vcpus(&self, dom: &DomainRef, flags: u32) -> Result<u32> {
        let ret: DomainGetVcpusFlagsRet = self.call(
            REMOTE_PROC_DOMAIN_GET_VCPUS_FLAGS,
            &DomainGetVcpusFlagsArgs {
                dom: wire_domain(dom),
                flags,
            },
        )?;
        Ok(u32::try_from(ret.num).unwrap_or(0))
    }

    fn domain_open_console(&self, dom: &DomainRef) -> Result<ConsoleStream> {
        self.open_console(dom)
    }

    fn domain_interface_addresses(
        &self,
        dom: &DomainRef,
        source: u32,
    ) -> Result<Vec<wirt::connect::DomainInterface>> {
        let ret: DomainInterfaceAddressesRet = self.call(
            REMOTE_PROC_DOMAIN_INTERFACE_ADDRESSES,
            &DomainInterfaceAddressesArgs {
                dom: wire_domain(dom),
                source,
                flags: 0,
            },
        )?;
        Ok(ret
            .ifaces
            .into_iter()
            .map(|i| wirt::connect::DomainInterface {
                name: i.name,
                hwaddr: i.hwaddr,
                addrs: i
                    .addrs
                    .into_iter()
                    .map(|a| wirt::connect::IpAddress {
                        addr_type: a.r#type.max(0) as u32,
                        addr: a.addr,
                        prefix: a.prefix,
                    })
                    .collect(),
            })
            .collect())
    }

    fn domain_rename(&self, dom: &DomainRef, new_name: &str) -> Result<()> {
        let args = DomainRenameArgs {
            dom: wire_domain(dom),
            new_name: Some(new_name.to_string()),
            flags: 0,
        };
        let _: DomainRenameRet = self.call(REMOTE_PROC_DOMAIN_RENAME, &args)?;
        Ok(())
    }

    fn domain_block_stats(&self, dom: &DomainRef, disk: &str) -> Result<BlockStats> {
        let args = DomainBlockStatsFlagsArgs {
            dom: wire_domain(dom),
            path: disk.to_string(),
            nparams: REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX as i32,
            flags: 0,
        };
        let ret: DomainBlockStatsFlagsRet =
            self.call(REMOTE_PROC_DOMAIN_BLOCK_STATS_FLAGS, &args)?;
        Ok(super::stats::block_stats(ret.params))
    }

    fn domain_interface_stats(&self, dom: &DomainRef, device: &str) -> Result<InterfaceStats> {
        let args = DomainInterfaceStatsArgs {
            dom: wire_domain(dom),
            device: device.to_string(),
        };
        let r: DomainInterfaceStatsRet = self.call(REMOTE_PROC_DOMAIN_INTERFACE_STATS, &args)?;
        // libvirt sends -1 for a counter the driver lacks: 0 here.
        let c = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(InterfaceStats {
            name: device.to_string(),
            rx_bytes: c(r.rx_bytes),
            rx_packets: c(r.rx_packets),
            rx_errs: c(r.rx_errs),
            rx_drop: c(r.rx_drop),
            tx_bytes: c(r.tx_bytes),
            tx_packets: c(r.tx_packets),
            tx_errs: c(r.tx_errs),
            tx_drop: c(r.tx_drop),
        })
    }

    fn all_domain_stats(&self, groups: u32, flags: u32) -> Result<Vec<DomainStatsOf>> {
        let args = ConnectGetAllDomainStatsArgs {
            doms: Vec::new(),
            stats: groups,
            flags,
        };
        let ret: ConnectGetAllDomainStatsRet =
            self.call(REMOTE_PROC_CONNECT_GET_ALL_DOMAIN_STATS, &args)?;
        Ok(ret
            .ret_stats
            .into_iter()
            .map(|r| (handle(r.dom), super::stats::values(r.params)))
            .collect())
    }

    fn domain_migrate_begin(
        &self,
        dom: &DomainRef,
        params: &MigrateParams,
        flags: u32,
    ) -> Result<Begun> {
        self.migrate_begin(dom, params, flags)
    }

    fn domain_migrate_prepare(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
    ) -> Result<Prepared> {
        self.migrate_prepare(params, cookie, flags)
    }

    fn domain_migrate_perform(
        &self,
        dom: &DomainRef,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
    ) -> Result<Vec<u8>> {
        self.migrate_perform(dom, params, cookie, flags)
    }

    fn domain_migrate_finish(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        cancelled: bool,
    ) -> Result<(DomainRef, Vec<u8>)> {
        self.migrate_finish(params, cookie, flags, cancelled)
    }

    fn domain_migrate_confirm(
        &self,
        dom: &DomainRef,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        cancelled: bool,
    ) -> Result<()> {
        self.migrate_confirm(dom, params, cookie, flags, cancelled)
    }

    fn domain_migrate_prepare_tunnel(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        tunnel: std::os::unix::net::UnixStream,
    ) -> Result<Prepared> {
        self.migrate_prepare_tunnel(params, cookie, flags, tunnel)
    }

    fn domain_migrate_p2p(
        &self,
        dom: &DomainRef,
        dconnuri: &str,
        params: &MigrateParams,
        flags: u32,
    ) -> Result<()> {
        self.migrate_p2p(dom, dconnuri, params, flags)
    }

    fn job_completed_events(
        &self,
    ) -> Result<wirt::events::EventStream<wirt::connect::JobCompletedEvent>> {
        Ok(self.subscribe_jobs()?)
    }

    fn domain_abort_job(&self, dom: &DomainRef) -> Result<()> {
        self.abort_job(dom)
    }

    fn domain_job_stats(&self, dom: &DomainRef, flags: u32) -> Result<JobStats> {
        self.job_stats(dom, flags)
    }

    fn domain_migrate_max_downtime(&self, dom: &DomainRef) -> Result<u64> {
        self.migrate_max_downtime(dom)
    }

    fn domain_migrate_set_max_downtime(&self, dom: &DomainRef, ms: u64) -> Result<()> {
        self.migrate_set_max_downtime(dom, ms)
    }

    fn domain_migrate_max_speed(&self, dom: &DomainRef) -> Result<u64> {
        self.migrate_max_speed(dom)
    }

    fn domain_migrate_set_max_speed(&self, dom: &DomainRef, mib_s: u64) -> Result<()> {
        self.migrate_set_max_speed(dom, mib_s)
    }
}

pub(super) fn path_string(path: &Path) -> Result<String> {
    path.to_str().map(str::to_string).ok_or_else(|| {
        Error::api(
            ErrorCode::INVALID_ARG,
            format!("path {} is not UTF-8", path.display()),
        )
    })
}
