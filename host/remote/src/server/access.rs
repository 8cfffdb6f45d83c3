//! Which calls a read-only client may make, and the API names libvirt puts
//! in its messages about calls.

use crate::protocol::{Call, procedure_name};
use wirt::error::ErrorDomain;

/// `VIR_DOMAIN_XML_SECURE`: asks for passwords, which read-only clients
/// must not see.
const XML_SECURE: u32 = 1;

/// Whether `call` only reads. libvirt lets read-only connections look up,
/// list, query and watch, and nothing else; a new procedure is refused
/// until it is listed here.
pub(super) fn read_only_allowed(call: &Call) -> bool {
    use Call::*;
    match call {
        DomainGetXmlDesc(a) => a.flags & XML_SECURE == 0,
        ConnectOpen(_)
        | ConnectClose(_)
        | ConnectGetType(_)
        | ConnectGetVersion(_)
        | ConnectGetLibVersion(_)
        | ConnectGetMaxVcpus(_)
        | ConnectGetHostname(_)
        | ConnectGetUri(_)
        | ConnectGetCapabilities(_)
        | ConnectGetSysinfo(_)
        | ConnectSupportsFeature(_)
        | ConnectIsSecure(_)
        | NodeGetInfo(_)
        | NodeGetSecurityModel(_)
        | AuthList(_)
        | AuthPolkit(_)
        | ConnectRegisterCloseCallback(_)
        | ConnectUnregisterCloseCallback(_)
        | ConnectDomainEventCallbackRegisterAny(_)
        | ConnectDomainEventCallbackDeregisterAny(_)
        | ConnectNetworkEventRegisterAny(_)
        | ConnectNetworkEventDeregisterAny(_)
        | ConnectStoragePoolEventRegisterAny(_)
        | ConnectStoragePoolEventDeregisterAny(_)
        | ConnectListAllDomains(_)
        | ConnectNumOfDomains(_)
        | ConnectListDomains(_)
        | ConnectNumOfDefinedDomains(_)
        | ConnectListDefinedDomains(_)
        | DomainLookupById(_)
        | DomainLookupByName(_)
        | DomainLookupByUuid(_)
        | DomainGetState(_)
        | DomainGetInfo(_)
        | DomainGetAutostart(_)
        | DomainIsActive(_)
        | DomainIsPersistent(_)
        | DomainIsUpdated(_)
        | DomainHasManagedSaveImage(_)
        | DomainGetMaxMemory(_)
        | DomainGetVcpusFlags(_)
        | DomainGetMaxVcpus(_)
        | DomainGetOsType(_)
        | DomainGetSecurityLabel(_)
        | DomainGetSecurityLabelList(_)
        | DomainSnapshotGetXmlDesc(_)
        | DomainSnapshotNum(_)
        | DomainSnapshotListNames(_)
        | DomainListAllSnapshots(_)
        | DomainSnapshotLookupByName(_)
        | DomainHasCurrentSnapshot(_)
        | DomainSnapshotCurrent(_)
        | DomainSnapshotGetParent(_)
        | DomainSnapshotNumChildren(_)
        | DomainSnapshotListChildrenNames(_)
        | DomainSnapshotListAllChildren(_)
        | DomainSnapshotIsCurrent(_)
        | DomainSnapshotHasMetadata(_)
        | ConnectListAllNetworks(_)
        | ConnectNumOfNetworks(_)
        | ConnectListNetworks(_)
        | ConnectNumOfDefinedNetworks(_)
        | ConnectListDefinedNetworks(_)
        | NetworkLookupByName(_)
        | NetworkLookupByUuid(_)
        | NetworkGetXmlDesc(_)
        | NetworkGetAutostart(_)
        | NetworkIsActive(_)
        | NetworkIsPersistent(_)
        | NetworkGetBridgeName(_)
        | ConnectListAllStoragePools(_)
        | ConnectNumOfStoragePools(_)
        | ConnectListStoragePools(_)
        | ConnectNumOfDefinedStoragePools(_)
        | ConnectListDefinedStoragePools(_)
        | StoragePoolLookupByName(_)
        | StoragePoolLookupByUuid(_)
        | StoragePoolLookupByVolume(_)
        | StoragePoolGetInfo(_)
        | StoragePoolGetXmlDesc(_)
        | StoragePoolGetAutostart(_)
        | StoragePoolIsActive(_)
        | StoragePoolIsPersistent(_)
        | StoragePoolNumOfVolumes(_)
        | StoragePoolListVolumes(_)
        | StoragePoolListAllVolumes(_)
        | StorageVolLookupByName(_)
        | StorageVolLookupByKey(_)
        | StorageVolLookupByPath(_)
        | StorageVolGetInfo(_)
        | StorageVolGetInfoFlags(_)
        | StorageVolGetXmlDesc(_)
        | StorageVolGetPath(_) => true,
        _ => false,
    }
}

/// The public API function behind a procedure, as libvirt names it in
/// messages: `REMOTE_PROC_DOMAIN_GET_XML_DESC` is `virDomainGetXMLDesc`.
pub(super) fn api_name(procedure: i32) -> String {
    let Some(name) = procedure_name(procedure) else {
        return format!("procedure {procedure}");
    };
    let words = name.trim_start_matches("REMOTE_PROC_").split('_');
    let mut out = String::from("vir");
    for word in words {
        match word {
            "XML" | "UUID" | "ID" | "OS" | "CPU" | "PM" => out.push_str(word),
            _ => {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    out.push(first);
                    out.extend(chars.map(|c| c.to_ascii_lowercase()));
                }
            }
        }
    }
    out
}

/// The error domain of the public API file behind a procedure
/// (`libvirt-domain.c` reports as `VIR_FROM_DOMAIN`, and so on).
pub(super) fn api_domain(procedure: i32) -> ErrorDomain {
    let name = procedure_name(procedure).unwrap_or_default();
    let family = name.trim_start_matches("REMOTE_PROC_");
    if family.starts_with("DOMAIN_") {
        ErrorDomain::DOMAIN
    } else if family.starts_with("NETWORK_") {
        ErrorDomain::NETWORK
    } else if family.starts_with("STORAGE_") {
        ErrorDomain::STORAGE
    } else {
        ErrorDomain::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::*;

    #[test]
    fn api_names_read_like_libvirt() {
        assert_eq!(api_name(REMOTE_PROC_DOMAIN_SUSPEND), "virDomainSuspend");
        assert_eq!(
            api_name(REMOTE_PROC_DOMAIN_GET_XML_DESC),
            "virDomainGetXMLDesc"
        );
        assert_eq!(
            api_name(REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID),
            "virDomainLookupByUUID"
        );
        assert_eq!(
            api_name(REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS),
            "virConnectListAllDomains"
        );
        assert_eq!(api_name(99_999), "procedure 99999");
    }

    #[test]
    fn reads_are_allowed_and_writes_are_not() {
        let dom = DomainFlagsArgs::default();
        assert!(read_only_allowed(&Call::DomainGetState(dom.clone())));
        assert!(read_only_allowed(&Call::DomainGetXmlDesc(dom.clone())));
        assert!(!read_only_allowed(&Call::DomainGetXmlDesc(
            DomainFlagsArgs {
                flags: XML_SECURE,
                ..dom
            }
        )));
        assert!(!read_only_allowed(&Call::DomainSuspend(
            DomainArgs::default()
        )));
        assert!(!read_only_allowed(&Call::StorageVolDownload(
            StorageVolTransferArgs::default()
        )));
    }
}
