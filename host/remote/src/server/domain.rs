//! Domain procedures: lookups and listings, define/create/undefine, the
//! lifecycle, state and settings, save/restore.

use std::path::Path;

use super::handles::{domain, wire_domain};
use super::wire::{Routed, check_list_len};
use crate::protocol::*;
use wirt::connect::domain_flags as flags;
use wirt::connect::{Connect, Domain, Error, Result, list_flags};
use wirt::error::ErrorCode;
use wirt::xml::Element;

/// libvirt's `VIR_DOMAIN_SHUTDOWN_*` and `VIR_DOMAIN_DESTROY_GRACEFUL`:
/// wirt has one way to do each, so any mode is accepted.
const SHUTDOWN_MODES: u32 = 0x3f;
const DESTROY_GRACEFUL: u32 = 1;

fn int(b: bool) -> i32 {
    i32::from(b)
}

fn check(flags: u32, allowed: u32, function: &str) -> Result<()> {
    wirt::connect::check_flags(flags, allowed, function)
}

/// Lists are capped by the protocol; libvirtd reports it like this.
fn truncate(n: i32) -> usize {
    usize::try_from(n).unwrap_or(0)
}

pub(super) fn dispatch(conn: &Connect, call: Call) -> Routed {
    let result = match call {
        Call::ConnectListAllDomains(a) => list_all(conn, a),
        Call::ConnectNumOfDomains(()) => conn.list_all_domains(list_flags::ACTIVE).map(|d| {
            Reply::ConnectNumOfDomains(ConnectNumOfDomainsRet {
                num: d.len() as i32,
            })
        }),
        Call::ConnectListDomains(a) => conn.list_all_domains(list_flags::ACTIVE).map(|d| {
            Reply::ConnectListDomains(ConnectListDomainsRet {
                ids: d
                    .iter()
                    .map(|d| d.reference().id)
                    .take(truncate(a.maxids))
                    .collect(),
            })
        }),
        Call::ConnectNumOfDefinedDomains(()) => {
            conn.list_all_domains(list_flags::INACTIVE).map(|d| {
                Reply::ConnectNumOfDefinedDomains(ConnectNumOfDefinedDomainsRet {
                    num: d.len() as i32,
                })
            })
        }
        Call::ConnectListDefinedDomains(a) => {
            conn.list_all_domains(list_flags::INACTIVE).map(|d| {
                Reply::ConnectListDefinedDomains(ConnectListDefinedDomainsRet {
                    names: d
                        .iter()
                        .map(|d| d.name().to_string())
                        .take(truncate(a.maxnames))
                        .collect(),
                })
            })
        }
        Call::DomainLookupById(a) => match u32::try_from(a.id) {
            Ok(id) => conn.lookup_domain_by_id(id),
            Err(_) => Err(Error::api(
                ErrorCode::NO_DOMAIN,
                format!("no domain with matching id {}", a.id),
            )),
        }
        .map(|d| {
            Reply::DomainLookupById(DomainLookupByIdRet {
                dom: wire_domain(&d),
            })
        }),
        Call::DomainLookupByName(a) => conn.lookup_domain_by_name(&a.name).map(|d| {
            Reply::DomainLookupByName(DomainLookupByNameRet {
                dom: wire_domain(&d),
            })
        }),
        Call::DomainLookupByUuid(a) => conn
            .lookup_domain_by_uuid(&uuid::Uuid::from_bytes(a.uuid))
            .map(|d| {
                Reply::DomainLookupByUuid(DomainLookupByUuidRet {
                    dom: wire_domain(&d),
                })
            }),
        Call::DomainDefineXml(a) => conn.define_domain_xml(&a.xml, 0).map(|d| {
            Reply::DomainDefineXml(DomainDefineXmlRet {
                dom: wire_domain(&d),
            })
        }),
        Call::DomainDefineXmlFlags(a) => conn.define_domain_xml(&a.xml, a.flags).map(|d| {
            Reply::DomainDefineXmlFlags(DomainDefineXmlFlagsRet {
                dom: wire_domain(&d),
            })
        }),
        Call::DomainCreateXml(a) => conn.create_domain_xml(&a.xml_desc, a.flags).map(|d| {
            Reply::DomainCreateXml(DomainCreateXmlRet {
                dom: wire_domain(&d),
            })
        }),
        Call::DomainCreate(a) => domain(conn, a.dom).start(0).map(Reply::DomainCreate),
        // The reply carries the domain with the id it now runs under.
        Call::DomainCreateWithFlags(a) => {
            let d = domain(conn, a.dom);
            d.start(a.flags)
                .and_then(|()| conn.lookup_domain_by_uuid(&d.uuid()))
                .map(|d| {
                    Reply::DomainCreateWithFlags(DomainCreateWithFlagsRet {
                        dom: wire_domain(&d),
                    })
                })
        }
        Call::DomainUndefine(a) => domain(conn, a.dom).undefine(0).map(Reply::DomainUndefine),
        Call::DomainUndefineFlags(a) => domain(conn, a.dom)
            .undefine(a.flags)
            .map(Reply::DomainUndefineFlags),
        Call::DomainShutdown(a) => domain(conn, a.dom).shutdown().map(Reply::DomainShutdown),
        Call::DomainShutdownFlags(a) => check(a.flags, SHUTDOWN_MODES, "virDomainShutdownFlags")
            .and_then(|()| domain(conn, a.dom).shutdown())
            .map(Reply::DomainShutdownFlags),
        Call::DomainReboot(a) => domain(conn, a.dom).reboot(a.flags).map(Reply::DomainReboot),
        Call::DomainReset(a) => check(a.flags, 0, "virDomainReset")
            .and_then(|()| domain(conn, a.dom).reset())
            .map(Reply::DomainReset),
        Call::DomainDestroy(a) => domain(conn, a.dom).destroy().map(Reply::DomainDestroy),
        Call::DomainDestroyFlags(a) => check(a.flags, DESTROY_GRACEFUL, "virDomainDestroyFlags")
            .and_then(|()| domain(conn, a.dom).destroy())
            .map(Reply::DomainDestroyFlags),
        Call::DomainSuspend(a) => domain(conn, a.dom).suspend().map(Reply::DomainSuspend),
        Call::DomainAttachDevice(a) => domain(conn, a.dom)
            .attach_device(&a.xml, 0)
            .map(Reply::DomainAttachDevice),
        Call::DomainAttachDeviceFlags(a) => domain(conn, a.dom)
            .attach_device(&a.xml, a.flags)
            .map(Reply::DomainAttachDeviceFlags),
        Call::DomainDetachDevice(a) => domain(conn, a.dom)
            .detach_device(&a.xml, 0)
            .map(Reply::DomainDetachDevice),
        Call::DomainDetachDeviceFlags(a) => domain(conn, a.dom)
            .detach_device(&a.xml, a.flags)
            .map(Reply::DomainDetachDeviceFlags),
        Call::DomainUpdateDeviceFlags(a) => domain(conn, a.dom)
            .update_device(&a.xml, a.flags)
            .map(Reply::DomainUpdateDeviceFlags),
        Call::DomainDetachDeviceAlias(a) => domain(conn, a.dom)
            .detach_device_alias(&a.alias, a.flags)
            .map(Reply::DomainDetachDeviceAlias),
        Call::DomainGetMetadata(a) => domain(conn, a.dom)
            .metadata(a.r#type, a.uri.as_deref(), a.flags)
            .map(|metadata| Reply::DomainGetMetadata(DomainGetMetadataRet { metadata })),
        Call::DomainSetMetadata(a) => domain(conn, a.dom)
            .set_metadata(
                a.r#type,
                a.metadata.as_deref(),
                a.key.as_deref(),
                a.uri.as_deref(),
                a.flags,
            )
            .map(Reply::DomainSetMetadata),
        Call::DomainSetLifecycleAction(a) => domain(conn, a.dom)
            .set_lifecycle_action(a.r#type, a.action, a.flags)
            .map(Reply::DomainSetLifecycleAction),
        Call::DomainGetControlInfo(a) => check(a.flags, 0, "virDomainGetControlInfo")
            .and_then(|()| domain(conn, a.dom).control_info())
            .map(|c| {
                Reply::DomainGetControlInfo(DomainGetControlInfoRet {
                    state: c.state,
                    details: c.details,
                    state_time: c.state_time_ms,
                })
            }),
        Call::DomainGetHostname(a) => domain(conn, a.dom)
            .hostname(a.flags)
            .map(|hostname| Reply::DomainGetHostname(DomainGetHostnameRet { hostname })),
        Call::DomainGetTime(a) => domain(conn, a.dom).get_time(a.flags).map(|(s, ns)| {
            Reply::DomainGetTime(DomainGetTimeRet {
                seconds: s,
                nseconds: ns,
            })
        }),
        Call::DomainFsfreeze(a) => domain(conn, a.dom)
            .fs_freeze(&a.mountpoints, a.flags)
            .map(|filesystems| Reply::DomainFsfreeze(DomainFsfreezeRet { filesystems })),
        Call::DomainFsthaw(a) => domain(conn, a.dom)
            .fs_thaw(&a.mountpoints, a.flags)
            .map(|filesystems| Reply::DomainFsthaw(DomainFsthawRet { filesystems })),
        Call::DomainSetTime(a) => domain(conn, a.dom)
            .set_time(a.seconds, a.nseconds, a.flags)
            .map(Reply::DomainSetTime),
        Call::DomainResume(a) => domain(conn, a.dom).resume().map(Reply::DomainResume),
        Call::DomainGetState(a) => check(a.flags, 0, "virDomainGetState")
            .and_then(|()| domain(conn, a.dom).state())
            .map(|(state, reason)| {
                Reply::DomainGetState(DomainGetStateRet {
                    state: state as i32,
                    reason: reason as i32,
                })
            }),
        Call::DomainGetInfo(a) => domain(conn, a.dom).info().map(|i| {
            Reply::DomainGetInfo(DomainGetInfoRet {
                state: i.state as u8,
                max_mem: i.max_memory_kib,
                memory: i.memory_kib,
                nr_virt_cpu: u16::try_from(i.vcpus).unwrap_or(u16::MAX),
                cpu_time: i.cpu_time_ns,
            })
        }),
        Call::DomainGetXmlDesc(a) => domain(conn, a.dom)
            .xml_desc(a.flags)
            .map(|xml| Reply::DomainGetXmlDesc(DomainGetXmlDescRet { xml })),
        Call::DomainGetAutostart(a) => domain(conn, a.dom)
            .autostart()
            .map(|b| Reply::DomainGetAutostart(DomainGetAutostartRet { autostart: int(b) })),
        Call::DomainSetAutostart(a) => domain(conn, a.dom)
            .set_autostart(a.autostart != 0)
            .map(Reply::DomainSetAutostart),
        Call::DomainIsActive(a) => domain(conn, a.dom)
            .is_active()
            .map(|b| Reply::DomainIsActive(DomainIsActiveRet { active: int(b) })),
        Call::DomainIsPersistent(a) => domain(conn, a.dom)
            .is_persistent()
            .map(|b| Reply::DomainIsPersistent(DomainIsPersistentRet { persistent: int(b) })),
        // The next boot's config is never ahead of a running domain's in wirt.
        Call::DomainIsUpdated(a) => domain(conn, a.dom)
            .is_active()
            .map(|_| Reply::DomainIsUpdated(DomainIsUpdatedRet { updated: 0 })),
        Call::DomainManagedSave(a) => domain(conn, a.dom)
            .managed_save(a.flags)
            .map(Reply::DomainManagedSave),
        Call::DomainHasManagedSaveImage(a) => {
            domain(conn, a.dom).has_managed_save_image().map(|b| {
                Reply::DomainHasManagedSaveImage(DomainHasManagedSaveImageRet { result: int(b) })
            })
        }
        Call::DomainManagedSaveRemove(a) => domain(conn, a.dom)
            .managed_save_remove()
            .map(Reply::DomainManagedSaveRemove),
        Call::DomainSave(a) => domain(conn, a.dom)
            .save(Path::new(&a.to), 0)
            .map(Reply::DomainSave),
        Call::DomainSaveFlags(a) => no_dxml(&a.dxml, "virDomainSaveFlags")
            .and_then(|()| domain(conn, a.dom).save(Path::new(&a.to), a.flags))
            .map(Reply::DomainSaveFlags),
        Call::DomainSaveParams(a) => save_file(&a.params, "virDomainSaveParams")
            .and_then(|file| domain(conn, a.dom).save(Path::new(&file), a.flags))
            .map(Reply::DomainSaveParams),
        Call::DomainRestoreParams(a) => save_file(&a.params, "virDomainRestoreParams")
            .and_then(|file| conn.restore(Path::new(&file), a.flags))
            .map(|_| Reply::DomainRestoreParams(())),
        // wirt records no tainting or deprecation messages about a domain.
        Call::DomainGetMessages(a) => check(a.flags, 3, "virDomainGetMessages")
            .and_then(|()| domain(conn, a.dom).state())
            .map(|_| Reply::DomainGetMessages(DomainGetMessagesRet { msgs: Vec::new() })),
        Call::DomainRestore(a) => conn
            .restore(Path::new(&a.from), 0)
            .map(|_| Reply::DomainRestore(())),
        Call::DomainRestoreFlags(a) => no_dxml(&a.dxml, "virDomainRestoreFlags")
            .and_then(|()| conn.restore(Path::new(&a.from), a.flags))
            .map(|_| Reply::DomainRestoreFlags(())),
        Call::DomainSaveImageGetXmlDesc(a) => conn
            .save_image_xml(Path::new(&a.file))
            .map(|xml| Reply::DomainSaveImageGetXmlDesc(DomainSaveImageGetXmlDescRet { xml })),
        Call::DomainSetMemory(a) => domain(conn, a.dom)
            .set_memory_flags(a.memory, flags::AFFECT_LIVE)
            .map(Reply::DomainSetMemory),
        Call::DomainSetMaxMemory(a) => domain(conn, a.dom)
            .set_memory_flags(a.memory, flags::MEM_MAXIMUM)
            .map(Reply::DomainSetMaxMemory),
        Call::DomainSetMemoryFlags(a) => domain(conn, a.dom)
            .set_memory_flags(a.memory, a.flags)
            .map(Reply::DomainSetMemoryFlags),
        Call::DomainGetMaxMemory(a) => domain(conn, a.dom).info().map(|i| {
            Reply::DomainGetMaxMemory(DomainGetMaxMemoryRet {
                memory: i.max_memory_kib,
            })
        }),
        Call::DomainSetVcpus(a) => domain(conn, a.dom)
            .set_vcpus_flags(a.nvcpus, flags::AFFECT_LIVE)
            .map(Reply::DomainSetVcpus),
        Call::DomainSetVcpusFlags(a) => domain(conn, a.dom)
            .set_vcpus_flags(a.nvcpus, a.flags)
            .map(Reply::DomainSetVcpusFlags),
        Call::DomainGetVcpusFlags(a) => domain(conn, a.dom)
            .vcpus_flags(a.flags)
            .map(|n| Reply::DomainGetVcpusFlags(DomainGetVcpusFlagsRet { num: n as i32 })),
        Call::DomainGetMaxVcpus(a) => domain(conn, a.dom)
            .vcpus_flags(flags::VCPU_MAXIMUM)
            .map(|n| Reply::DomainGetMaxVcpus(DomainGetMaxVcpusRet { num: n as i32 })),
        Call::DomainRename(a) => match a.new_name {
            Some(name) => domain(conn, a.dom).rename(&name),
            None => Err(Error::api(
                ErrorCode::INVALID_ARG,
                "new_name must not be NULL",
            )),
        }
        .map(|()| Reply::DomainRename(DomainRenameRet { retcode: 0 })),
        Call::DomainGetOsType(a) => os_type(&domain(conn, a.dom))
            .map(|t| Reply::DomainGetOsType(DomainGetOsTypeRet { r#type: t })),
        // wirt confines domains by process, not by security labels.
        Call::DomainGetSecurityLabel(a) => domain(conn, a.dom).is_active().map(|_| {
            Reply::DomainGetSecurityLabel(DomainGetSecurityLabelRet {
                label: string_to_c_chars(""),
                enforcing: 0,
            })
        }),
        Call::DomainGetSecurityLabelList(a) => domain(conn, a.dom).is_active().map(|_| {
            Reply::DomainGetSecurityLabelList(DomainGetSecurityLabelListRet {
                labels: Vec::new(),
                ret: 0,
            })
        }),
        other => return Routed::Pass(other),
    };
    Routed::Done(result)
}

fn list_all(conn: &Connect, a: ConnectListAllDomainsArgs) -> Result<Reply> {
    // Unsorted, as libvirtd answers (its hash order); clients sort.
    let found = conn.backend().list_all_domains(a.flags)?;
    check_list_len(found.len(), REMOTE_DOMAIN_LIST_MAX, "domains")?;
    let ret = found.len() as u32;
    let domains = if a.need_results != 0 {
        found
            .into_iter()
            .map(|d| crate::refs::wire_domain(&d))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Reply::ConnectListAllDomains(ConnectListAllDomainsRet {
        domains,
        ret,
    }))
}

/// The `file` of a save or restore's typed parameters
/// (`VIR_DOMAIN_SAVE_PARAM_FILE`); a replacement definition (`dxml`) or a
/// parameter wirt does not know is refused.
fn save_file(params: &[TypedParam], function: &str) -> Result<String> {
    let mut file = None;
    for p in params {
        match (p.field.as_str(), &p.value) {
            ("file", TypedParamValue::String(f)) => file = Some(f.clone()),
            ("dxml", _) => no_dxml(&Some(String::new()), function)?,
            (other, _) => {
                return Err(Error::api(
                    ErrorCode::ARGUMENT_UNSUPPORTED,
                    format!("{function}: parameter '{other}' is not supported"),
                ));
            }
        }
    }
    file.ok_or_else(|| {
        Error::api(
            ErrorCode::INVALID_ARG,
            format!("{function}: the 'file' parameter is required"),
        )
    })
}

fn no_dxml(dxml: &Option<String>, function: &str) -> Result<()> {
    match dxml {
        None => Ok(()),
        Some(_) => Err(Error::api(
            ErrorCode::ARGUMENT_UNSUPPORTED,
            format!("{function}: replacing the domain XML is not supported"),
        )),
    }
}

fn os_type(dom: &Domain) -> Result<String> {
    let xml = dom.xml_desc(0)?;
    let root = Element::parse(&xml, "domain")?;
    Ok(root
        .child("os")
        .and_then(|os| os.child_text("type"))
        .unwrap_or_else(|| "hvm".to_string()))
}
