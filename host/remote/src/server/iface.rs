//! Host interface procedures.

use super::wire::{Routed, check_list_len};
use crate::protocol::*;
use wirt::connect::iface_flags as flags;
use wirt::connect::{Connect, IfaceRef, Interface, Result};

fn wire(i: &Interface) -> NonnullInterface {
    NonnullInterface {
        name: i.name().to_string(),
        mac: i.mac().to_string(),
    }
}

fn iface(conn: &Connect, i: NonnullInterface) -> Interface {
    conn.interface(IfaceRef {
        name: i.name,
        mac: i.mac,
    })
}

fn names(conn: &Connect, flags: u32, max: i32) -> Result<Vec<String>> {
    let names: Vec<String> = conn
        .list_all_interfaces(flags)?
        .iter()
        .map(|i| i.name().to_string())
        .take(usize::try_from(max).unwrap_or(0))
        .collect();
    check_list_len(names.len(), REMOTE_INTERFACE_LIST_MAX, "interfaces")?;
    Ok(names)
}

fn count(conn: &Connect, flags: u32) -> Result<i32> {
    Ok(conn.list_all_interfaces(flags)?.len() as i32)
}

pub(super) fn dispatch(conn: &Connect, call: Call) -> Routed {
    let result = match call {
        Call::ConnectListAllInterfaces(a) => conn.list_all_interfaces(a.flags).and_then(|list| {
            check_list_len(list.len(), REMOTE_INTERFACE_LIST_MAX, "interfaces")?;
            Ok(Reply::ConnectListAllInterfaces(
                ConnectListAllInterfacesRet {
                    ret: list.len() as u32,
                    ifaces: if a.need_results != 0 {
                        list.iter().map(wire).collect()
                    } else {
                        Vec::new()
                    },
                },
            ))
        }),
        Call::ConnectNumOfInterfaces(()) => count(conn, flags::LIST_ACTIVE)
            .map(|num| Reply::ConnectNumOfInterfaces(ConnectNumOfInterfacesRet { num })),
        Call::ConnectListInterfaces(a) => names(conn, flags::LIST_ACTIVE, a.maxnames)
            .map(|names| Reply::ConnectListInterfaces(ConnectListInterfacesRet { names })),
        Call::ConnectNumOfDefinedInterfaces(()) => count(conn, flags::LIST_INACTIVE).map(|num| {
            Reply::ConnectNumOfDefinedInterfaces(ConnectNumOfDefinedInterfacesRet { num })
        }),
        Call::ConnectListDefinedInterfaces(a) => {
            names(conn, flags::LIST_INACTIVE, a.maxnames).map(|names| {
                Reply::ConnectListDefinedInterfaces(ConnectListDefinedInterfacesRet { names })
            })
        }
        Call::InterfaceLookupByName(a) => conn
            .lookup_interface_by_name(&a.name)
            .map(|i| Reply::InterfaceLookupByName(InterfaceLookupByNameRet { iface: wire(&i) })),
        Call::InterfaceLookupByMacString(a) => conn.lookup_interface_by_mac(&a.mac).map(|i| {
            Reply::InterfaceLookupByMacString(InterfaceLookupByMacStringRet { iface: wire(&i) })
        }),
        Call::InterfaceGetXmlDesc(a) => iface(conn, a.iface)
            .xml_desc(a.flags)
            .map(|xml| Reply::InterfaceGetXmlDesc(InterfaceGetXmlDescRet { xml })),
        Call::InterfaceIsActive(a) => iface(conn, a.iface).is_active().map(|b| {
            Reply::InterfaceIsActive(InterfaceIsActiveRet {
                active: i32::from(b),
            })
        }),
        Call::InterfaceDefineXml(a) => conn
            .define_interface_xml(&a.xml, a.flags)
            .map(|i| Reply::InterfaceDefineXml(InterfaceDefineXmlRet { iface: wire(&i) })),
        Call::InterfaceUndefine(a) => iface(conn, a.iface)
            .undefine()
            .map(Reply::InterfaceUndefine),
        Call::InterfaceCreate(a) => iface(conn, a.iface)
            .create(a.flags)
            .map(Reply::InterfaceCreate),
        Call::InterfaceDestroy(a) => iface(conn, a.iface)
            .destroy(a.flags)
            .map(Reply::InterfaceDestroy),
        Call::InterfaceChangeBegin(a) => conn
            .interface_change_begin(a.flags)
            .map(Reply::InterfaceChangeBegin),
        Call::InterfaceChangeCommit(a) => conn
            .interface_change_commit(a.flags)
            .map(Reply::InterfaceChangeCommit),
        Call::InterfaceChangeRollback(a) => conn
            .interface_change_rollback(a.flags)
            .map(Reply::InterfaceChangeRollback),
        other => return Routed::Pass(other),
    };
    Routed::Done(result)
}
