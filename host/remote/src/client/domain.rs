//! Domains and their snapshots over the wire: each method is one call (or a
//! few, where the public API returns more than one procedure gives).

use std::path::Path;

use uuid::Uuid;

use super::RemoteConn;
use crate::protocol::*;
use crate::refs::{self, wire_domain};
use wirt::connect::{DomainBackend, DomainInfo, DomainRef, Error, Result};
use wirt::driver::ConsoleStream;
use wirt::error::ErrorCode;
use wirt::lifecycle::State;

fn handle(d: NonnullDomain) -> DomainRef {
    refs::domain(d)
}

fn args(dom: &DomainRef) -> DomainArgs {
    DomainArgs {
        dom: wire_domain(dom),
    }
}

fn flags_args(dom: &DomainRef, flags: u32) -> DomainFlagsArgs {
    DomainFlagsArgs {
        dom: wire_domain(dom),
        flags,
    }
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
        let ret: DomainRet = self.call(REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, &args)?;
        Ok(handle(ret.dom))
    }

    fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        let args = DomainLookupByUuidArgs {
            uuid: *uuid.as_bytes(),
        };
        let ret: DomainRet = self.call(REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID, &args)?;
        Ok(handle(ret.dom))
    }

    fn lookup_domain_by_id(&self, id: u32) -> Result<DomainRef> {
        let args = DomainLookupByIdArgs {
            id: i32::try_from(id).unwrap_or(i32::MAX),
        };
        let ret: DomainRet = self.call(REMOTE_PROC_DOMAIN_LOOKUP_BY_ID, &args)?;
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
        let ret: DomainRet = if flags == 0 {
            let args = DomainDefineXmlArgs {
                xml: xml.to_string(),
            };
            self.call(REMOTE_PROC_DOMAIN_DEFINE_XML, &args)?
        } else {
            let args = DomainDefineXmlFlagsArgs {
                xml: xml.to_string(),
                flags,
            };
            self.call(REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS, &args)?
        };
        Ok(handle(ret.dom))
    }

    fn create_domain_xml(&self, xml: &str, flags: u32) -> Result<DomainRef> {
        let args = DomainCreateXmlArgs {
            xml_desc: xml.to_string(),
            flags,
        };
        let ret: DomainRet = self.call(REMOTE_PROC_DOMAIN_CREATE_XML, &args)?;
        Ok(handle(ret.dom))
    }

    fn domain_id(&self, dom: &DomainRef) -> Result<i32> {
        Ok(self.lookup_domain_by_uuid(&dom.uuid)?.id)
    }

    fn domain_state(&self, dom: &DomainRef) -> Result<(State, u32)> {
        let ret: DomainGetStateRet =
            self.call(REMOTE_PROC_DOMAIN_GET_STATE, &flags_args(dom, 0))?;
        Ok((state(ret.state), u32::try_from(ret.reason).unwrap_or(0)))
    }

    fn domain_is_active(&self, dom: &DomainRef) -> Result<bool> {
        let ret: IsActiveRet = self.call(REMOTE_PROC_DOMAIN_IS_ACTIVE, &args(dom))?;
        Ok(ret.active != 0)
    }

    fn domain_is_persistent(&self, dom: &DomainRef) -> Result<bool> {
        let ret: IsPersistentRet = self.call(REMOTE_PROC_DOMAIN_IS_PERSISTENT, &args(dom))?;
        Ok(ret.persistent != 0)
    }

    fn domain_autostart(&self, dom: &DomainRef) -> Result<bool> {
        let ret: AutostartRet = self.call(REMOTE_PROC_DOMAIN_GET_AUTOSTART, &args(dom))?;
        Ok(ret.autostart != 0)
    }

    fn domain_has_managed_save(&self, dom: &DomainRef) -> Result<bool> {
        let ret: ResultRet = self.call(
            REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE,
            &flags_args(dom, 0),
        )?;
        Ok(ret.result != 0)
    }

    fn domain_info(&self, dom: &DomainRef) -> Result<DomainInfo> {
        let ret: DomainGetInfoRet = self.call(REMOTE_PROC_DOMAIN_GET_INFO, &args(dom))?;
        Ok(DomainInfo {
            state: state(i32::from(ret.state)),
            max_memory_kib: ret.max_mem,
            memory_kib: ret.memory,
            vcpus: u32::from(ret.nr_virt_cpu),
            cpu_time_ns: ret.cpu_time,
        })
    }

    fn domain_xml_desc(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        let ret: XmlRet = self.call(REMOTE_PROC_DOMAIN_GET_XML_DESC, &flags_args(dom, flags))?;
        Ok(ret.xml)
    }

    fn domain_start(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        if flags == 0 {
            return Ok(self.call(REMOTE_PROC_DOMAIN_CREATE, &args(dom))?);
        }
        let _: DomainRet = self.call(
            REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS,
            &flags_args(dom, flags),
        )?;
        Ok(())
    }

    fn domain_shutdown(&self, dom: &DomainRef) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_SHUTDOWN, &args(dom))?)
    }

    fn domain_reboot(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_REBOOT, &flags_args(dom, flags))?)
    }

    fn domain_reset(&self, dom: &DomainRef) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_RESET, &flags_args(dom, 0))?)
    }

    fn domain_destroy(&self, dom: &DomainRef) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_DESTROY, &args(dom))?)
    }

    fn domain_suspend(&self, dom: &DomainRef) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_SUSPEND, &args(dom))?)
    }

    fn domain_resume(&self, dom: &DomainRef) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_RESUME, &args(dom))?)
    }

    fn domain_undefine(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        if flags == 0 {
            return Ok(self.call(REMOTE_PROC_DOMAIN_UNDEFINE, &args(dom))?);
        }
        Ok(self.call(REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, &flags_args(dom, flags))?)
    }

    fn domain_managed_save(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_MANAGED_SAVE, &flags_args(dom, flags))?)
    }

    fn domain_managed_save_remove(&self, dom: &DomainRef) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_MANAGED_SAVE_REMOVE, &flags_args(dom, 0))?)
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
        let ret: NumRet = self.call(REMOTE_PROC_DOMAIN_GET_VCPUS_FLAGS, &flags_args(dom, flags))?;
        Ok(u32::try_from(ret.num).unwrap_or(0))
    }

    fn domain_open_console(&self, _dom: &DomainRef) -> Result<ConsoleStream> {
        Err(Error::api(
            ErrorCode::NO_SUPPORT,
            "virDomainOpenConsole over a remote connection",
        ))
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
}

pub(super) fn path_string(path: &Path) -> Result<String> {
    path.to_str().map(str::to_string).ok_or_else(|| {
        Error::api(
            ErrorCode::INVALID_ARG,
            format!("path {} is not UTF-8", path.display()),
        )
    })
}
