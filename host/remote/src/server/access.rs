//! Which procedures wirt serves, which calls a read-only client may make,
//! and the API names libvirt puts in its messages about calls.

use crate::protocol::*;
use wirt::error::ErrorDomain;

/// `VIR_DOMAIN_XML_SECURE`: asks for passwords, which read-only clients
/// must not see.
const XML_SECURE: u32 = 1;

/// Whether wirt serves `procedure`. Every procedure of libvirt's decodes,
/// but a call to one wirt does not implement is answered `NO_SUPPORT` before
/// its payload is read, as libvirtd answers for what its driver lacks, so
/// clients fall back.
pub(super) fn served(procedure: i32) -> bool {
    matches!(
        procedure,
        REMOTE_PROC_CONNECT_OPEN
            | REMOTE_PROC_CONNECT_CLOSE
            | REMOTE_PROC_CONNECT_GET_TYPE
            | REMOTE_PROC_CONNECT_GET_VERSION
            | REMOTE_PROC_CONNECT_GET_LIB_VERSION
            | REMOTE_PROC_CONNECT_GET_MAX_VCPUS
            | REMOTE_PROC_CONNECT_GET_HOSTNAME
            | REMOTE_PROC_CONNECT_GET_URI
            | REMOTE_PROC_CONNECT_GET_CAPABILITIES
            | REMOTE_PROC_CONNECT_GET_DOMAIN_CAPABILITIES
            | REMOTE_PROC_CONNECT_GET_SYSINFO
            | REMOTE_PROC_CONNECT_SUPPORTS_FEATURE
            | REMOTE_PROC_CONNECT_IS_SECURE
            | REMOTE_PROC_NODE_GET_INFO
            | REMOTE_PROC_NODE_GET_SECURITY_MODEL
            | REMOTE_PROC_AUTH_LIST
            | REMOTE_PROC_AUTH_POLKIT
            | REMOTE_PROC_CONNECT_REGISTER_CLOSE_CALLBACK
            | REMOTE_PROC_CONNECT_UNREGISTER_CLOSE_CALLBACK
            | REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY
            | REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY
            | REMOTE_PROC_CONNECT_NETWORK_EVENT_REGISTER_ANY
            | REMOTE_PROC_CONNECT_NETWORK_EVENT_DEREGISTER_ANY
            | REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY
            | REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY
            | REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS
            | REMOTE_PROC_CONNECT_NUM_OF_DOMAINS
            | REMOTE_PROC_CONNECT_LIST_DOMAINS
            | REMOTE_PROC_CONNECT_NUM_OF_DEFINED_DOMAINS
            | REMOTE_PROC_CONNECT_LIST_DEFINED_DOMAINS
            | REMOTE_PROC_DOMAIN_LOOKUP_BY_ID
            | REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME
            | REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID
            | REMOTE_PROC_DOMAIN_DEFINE_XML
            | REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS
            | REMOTE_PROC_DOMAIN_CREATE_XML
            | REMOTE_PROC_DOMAIN_CREATE
            | REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS
            | REMOTE_PROC_DOMAIN_UNDEFINE
            | REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS
            | REMOTE_PROC_DOMAIN_SHUTDOWN
            | REMOTE_PROC_DOMAIN_SHUTDOWN_FLAGS
            | REMOTE_PROC_DOMAIN_REBOOT
            | REMOTE_PROC_DOMAIN_RESET
            | REMOTE_PROC_DOMAIN_DESTROY
            | REMOTE_PROC_DOMAIN_DESTROY_FLAGS
            | REMOTE_PROC_DOMAIN_SUSPEND
            | REMOTE_PROC_DOMAIN_RESUME
            | REMOTE_PROC_DOMAIN_GET_STATE
            | REMOTE_PROC_DOMAIN_GET_INFO
            | REMOTE_PROC_DOMAIN_BLOCK_STATS
            | REMOTE_PROC_DOMAIN_BLOCK_STATS_FLAGS
            | REMOTE_PROC_DOMAIN_INTERFACE_STATS
            | REMOTE_PROC_DOMAIN_UPDATE_DEVICE_FLAGS
            | REMOTE_PROC_DOMAIN_ATTACH_DEVICE
            | REMOTE_PROC_DOMAIN_ATTACH_DEVICE_FLAGS
            | REMOTE_PROC_DOMAIN_DETACH_DEVICE
            | REMOTE_PROC_DOMAIN_DETACH_DEVICE_FLAGS
            | REMOTE_PROC_CONNECT_GET_ALL_DOMAIN_STATS
            | REMOTE_PROC_DOMAIN_GET_XML_DESC
            | REMOTE_PROC_DOMAIN_GET_AUTOSTART
            | REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_TARGET_PATH
            | REMOTE_PROC_DOMAIN_DETACH_DEVICE_ALIAS
            | REMOTE_PROC_CONNECT_GET_STORAGE_POOL_CAPABILITIES
            | REMOTE_PROC_DOMAIN_SAVE_PARAMS
            | REMOTE_PROC_DOMAIN_RESTORE_PARAMS
            | REMOTE_PROC_DOMAIN_GET_MESSAGES
            | REMOTE_PROC_DOMAIN_GET_METADATA
            | REMOTE_PROC_DOMAIN_SET_METADATA
            | REMOTE_PROC_DOMAIN_SET_LIFECYCLE_ACTION
            | REMOTE_PROC_DOMAIN_GET_CONTROL_INFO
            | REMOTE_PROC_DOMAIN_SET_AUTOSTART
            | REMOTE_PROC_DOMAIN_IS_ACTIVE
            | REMOTE_PROC_DOMAIN_IS_PERSISTENT
            | REMOTE_PROC_DOMAIN_IS_UPDATED
            | REMOTE_PROC_DOMAIN_MANAGED_SAVE
            | REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE
            | REMOTE_PROC_DOMAIN_MANAGED_SAVE_REMOVE
            | REMOTE_PROC_DOMAIN_SAVE
            | REMOTE_PROC_DOMAIN_SAVE_FLAGS
            | REMOTE_PROC_DOMAIN_RESTORE
            | REMOTE_PROC_DOMAIN_RESTORE_FLAGS
            | REMOTE_PROC_DOMAIN_SAVE_IMAGE_GET_XML_DESC
            | REMOTE_PROC_DOMAIN_SAVE_IMAGE_DEFINE_XML
            | REMOTE_PROC_DOMAIN_SET_MEMORY
            | REMOTE_PROC_DOMAIN_SET_MAX_MEMORY
            | REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS
            | REMOTE_PROC_DOMAIN_GET_MAX_MEMORY
            | REMOTE_PROC_DOMAIN_SET_VCPUS
            | REMOTE_PROC_DOMAIN_SET_VCPUS_FLAGS
            | REMOTE_PROC_DOMAIN_GET_VCPUS_FLAGS
            | REMOTE_PROC_DOMAIN_GET_MAX_VCPUS
            | REMOTE_PROC_DOMAIN_RENAME
            | REMOTE_PROC_DOMAIN_GET_OS_TYPE
            | REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL
            | REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL_LIST
            | REMOTE_PROC_DOMAIN_SNAPSHOT_CREATE_XML
            | REMOTE_PROC_DOMAIN_SNAPSHOT_GET_XML_DESC
            | REMOTE_PROC_DOMAIN_SNAPSHOT_NUM
            | REMOTE_PROC_DOMAIN_SNAPSHOT_LIST_NAMES
            | REMOTE_PROC_DOMAIN_LIST_ALL_SNAPSHOTS
            | REMOTE_PROC_DOMAIN_SNAPSHOT_LOOKUP_BY_NAME
            | REMOTE_PROC_DOMAIN_HAS_CURRENT_SNAPSHOT
            | REMOTE_PROC_DOMAIN_SNAPSHOT_CURRENT
            | REMOTE_PROC_DOMAIN_REVERT_TO_SNAPSHOT
            | REMOTE_PROC_DOMAIN_SNAPSHOT_DELETE
            | REMOTE_PROC_DOMAIN_SNAPSHOT_GET_PARENT
            | REMOTE_PROC_DOMAIN_SNAPSHOT_NUM_CHILDREN
            | REMOTE_PROC_DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES
            | REMOTE_PROC_DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN
            | REMOTE_PROC_DOMAIN_SNAPSHOT_IS_CURRENT
            | REMOTE_PROC_DOMAIN_SNAPSHOT_HAS_METADATA
            | REMOTE_PROC_CONNECT_LIST_ALL_NETWORKS
            | REMOTE_PROC_CONNECT_NUM_OF_NETWORKS
            | REMOTE_PROC_CONNECT_LIST_NETWORKS
            | REMOTE_PROC_CONNECT_NUM_OF_DEFINED_NETWORKS
            | REMOTE_PROC_CONNECT_LIST_DEFINED_NETWORKS
            | REMOTE_PROC_NETWORK_LOOKUP_BY_NAME
            | REMOTE_PROC_NETWORK_LOOKUP_BY_UUID
            | REMOTE_PROC_NETWORK_DEFINE_XML
            | REMOTE_PROC_NETWORK_DEFINE_XML_FLAGS
            | REMOTE_PROC_NETWORK_CREATE_XML
            | REMOTE_PROC_NETWORK_CREATE_XML_FLAGS
            | REMOTE_PROC_NETWORK_CREATE
            | REMOTE_PROC_NETWORK_DESTROY
            | REMOTE_PROC_NETWORK_UNDEFINE
            | REMOTE_PROC_NETWORK_GET_XML_DESC
            | REMOTE_PROC_NETWORK_GET_AUTOSTART
            | REMOTE_PROC_NETWORK_SET_AUTOSTART
            | REMOTE_PROC_NETWORK_IS_ACTIVE
            | REMOTE_PROC_NETWORK_IS_PERSISTENT
            | REMOTE_PROC_NETWORK_GET_BRIDGE_NAME
            | REMOTE_PROC_NETWORK_GET_DHCP_LEASES
            | REMOTE_PROC_DOMAIN_INTERFACE_ADDRESSES
            | REMOTE_PROC_NETWORK_UPDATE
            | REMOTE_PROC_CONNECT_LIST_ALL_STORAGE_POOLS
            | REMOTE_PROC_CONNECT_NUM_OF_STORAGE_POOLS
            | REMOTE_PROC_CONNECT_LIST_STORAGE_POOLS
            | REMOTE_PROC_CONNECT_NUM_OF_DEFINED_STORAGE_POOLS
            | REMOTE_PROC_CONNECT_LIST_DEFINED_STORAGE_POOLS
            | REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_NAME
            | REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_UUID
            | REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_VOLUME
            | REMOTE_PROC_STORAGE_POOL_CREATE_XML
            | REMOTE_PROC_STORAGE_POOL_DEFINE_XML
            | REMOTE_PROC_STORAGE_POOL_BUILD
            | REMOTE_PROC_STORAGE_POOL_CREATE
            | REMOTE_PROC_STORAGE_POOL_DESTROY
            | REMOTE_PROC_STORAGE_POOL_DELETE
            | REMOTE_PROC_STORAGE_POOL_UNDEFINE
            | REMOTE_PROC_STORAGE_POOL_REFRESH
            | REMOTE_PROC_STORAGE_POOL_GET_INFO
            | REMOTE_PROC_STORAGE_POOL_GET_XML_DESC
            | REMOTE_PROC_STORAGE_POOL_GET_AUTOSTART
            | REMOTE_PROC_STORAGE_POOL_SET_AUTOSTART
            | REMOTE_PROC_STORAGE_POOL_IS_ACTIVE
            | REMOTE_PROC_STORAGE_POOL_IS_PERSISTENT
            | REMOTE_PROC_STORAGE_POOL_NUM_OF_VOLUMES
            | REMOTE_PROC_STORAGE_POOL_LIST_VOLUMES
            | REMOTE_PROC_STORAGE_POOL_LIST_ALL_VOLUMES
            | REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_NAME
            | REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_KEY
            | REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_PATH
            | REMOTE_PROC_STORAGE_VOL_CREATE_XML
            | REMOTE_PROC_STORAGE_VOL_CREATE_XML_FROM
            | REMOTE_PROC_STORAGE_VOL_DELETE
            | REMOTE_PROC_STORAGE_VOL_WIPE
            | REMOTE_PROC_STORAGE_VOL_WIPE_PATTERN
            | REMOTE_PROC_STORAGE_VOL_GET_INFO
            | REMOTE_PROC_STORAGE_VOL_GET_INFO_FLAGS
            | REMOTE_PROC_STORAGE_VOL_GET_XML_DESC
            | REMOTE_PROC_STORAGE_VOL_GET_PATH
            | REMOTE_PROC_STORAGE_VOL_RESIZE
            | REMOTE_PROC_STORAGE_VOL_UPLOAD
            | REMOTE_PROC_STORAGE_VOL_DOWNLOAD
            | REMOTE_PROC_DOMAIN_OPEN_CONSOLE
            | REMOTE_PROC_DOMAIN_GET_JOB_STATS
            | REMOTE_PROC_DOMAIN_ABORT_JOB
            | REMOTE_PROC_DOMAIN_ABORT_JOB_FLAGS
            | REMOTE_PROC_DOMAIN_MIGRATE_BEGIN3_PARAMS
            | REMOTE_PROC_DOMAIN_MIGRATE_PREPARE3_PARAMS
            | REMOTE_PROC_DOMAIN_MIGRATE_PREPARE_TUNNEL3_PARAMS
            | REMOTE_PROC_DOMAIN_MIGRATE_PERFORM3_PARAMS
            | REMOTE_PROC_DOMAIN_MIGRATE_FINISH3_PARAMS
            | REMOTE_PROC_DOMAIN_MIGRATE_CONFIRM3_PARAMS
            | REMOTE_PROC_DOMAIN_MIGRATE_GET_MAX_DOWNTIME
            | REMOTE_PROC_DOMAIN_MIGRATE_SET_MAX_DOWNTIME
            | REMOTE_PROC_DOMAIN_MIGRATE_GET_MAX_SPEED
            | REMOTE_PROC_DOMAIN_MIGRATE_SET_MAX_SPEED
            | REMOTE_PROC_NODE_GET_CPU_STATS
            | REMOTE_PROC_NODE_GET_MEMORY_STATS
            | REMOTE_PROC_NODE_GET_CELLS_FREE_MEMORY
            | REMOTE_PROC_NODE_GET_FREE_MEMORY
            | REMOTE_PROC_NODE_GET_CPU_MAP
            | REMOTE_PROC_CONNECT_GET_CPU_MODEL_NAMES
            | REMOTE_PROC_DOMAIN_MEMORY_STATS
            | REMOTE_PROC_DOMAIN_GET_BLOCK_INFO
            | REMOTE_PROC_DOMAIN_GET_JOB_INFO
            | REMOTE_PROC_DOMAIN_BLOCK_COMMIT
            | REMOTE_PROC_DOMAIN_BLOCK_COPY
            | REMOTE_PROC_DOMAIN_BLOCK_REBASE
            | REMOTE_PROC_DOMAIN_BLOCK_PULL
            | REMOTE_PROC_DOMAIN_GET_BLOCK_JOB_INFO
            | REMOTE_PROC_DOMAIN_BLOCK_JOB_ABORT
            | REMOTE_PROC_DOMAIN_BLOCK_JOB_SET_SPEED
            | REMOTE_PROC_DOMAIN_BLOCK_RESIZE
            | REMOTE_PROC_DOMAIN_GET_VCPUS
            | REMOTE_PROC_DOMAIN_GET_VCPU_PIN_INFO
            | REMOTE_PROC_DOMAIN_PIN_VCPU
            | REMOTE_PROC_DOMAIN_PIN_VCPU_FLAGS
            | REMOTE_PROC_DOMAIN_GET_SCHEDULER_TYPE
            | REMOTE_PROC_DOMAIN_GET_CPU_STATS
            | REMOTE_PROC_DOMAIN_GET_EMULATOR_PIN_INFO
            | REMOTE_PROC_DOMAIN_PIN_EMULATOR
            | REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS
            | REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS
            | REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS
            | REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS
            | REMOTE_PROC_CONNECT_LIST_ALL_INTERFACES
            | REMOTE_PROC_CONNECT_NUM_OF_INTERFACES
            | REMOTE_PROC_CONNECT_LIST_INTERFACES
            | REMOTE_PROC_CONNECT_NUM_OF_DEFINED_INTERFACES
            | REMOTE_PROC_CONNECT_LIST_DEFINED_INTERFACES
            | REMOTE_PROC_INTERFACE_LOOKUP_BY_NAME
            | REMOTE_PROC_INTERFACE_LOOKUP_BY_MAC_STRING
            | REMOTE_PROC_INTERFACE_GET_XML_DESC
            | REMOTE_PROC_INTERFACE_IS_ACTIVE
            | REMOTE_PROC_INTERFACE_DEFINE_XML
            | REMOTE_PROC_INTERFACE_UNDEFINE
            | REMOTE_PROC_INTERFACE_CREATE
            | REMOTE_PROC_INTERFACE_DESTROY
            | REMOTE_PROC_CONNECT_LIST_ALL_NODE_DEVICES
            | REMOTE_PROC_NODE_NUM_OF_DEVICES
            | REMOTE_PROC_NODE_LIST_DEVICES
            | REMOTE_PROC_NODE_DEVICE_LOOKUP_BY_NAME
            | REMOTE_PROC_NODE_DEVICE_GET_XML_DESC
            | REMOTE_PROC_NODE_DEVICE_GET_PARENT
            | REMOTE_PROC_NODE_DEVICE_NUM_OF_CAPS
            | REMOTE_PROC_NODE_DEVICE_LIST_CAPS
            | REMOTE_PROC_NODE_DEVICE_CREATE_XML
            | REMOTE_PROC_NODE_DEVICE_DESTROY
            | REMOTE_PROC_NODE_DEVICE_LOOKUP_SCSI_HOST_BY_WWN
            | REMOTE_PROC_CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY
            | REMOTE_PROC_CONNECT_NODE_DEVICE_EVENT_DEREGISTER_ANY
            | REMOTE_PROC_INTERFACE_CHANGE_BEGIN
            | REMOTE_PROC_INTERFACE_CHANGE_COMMIT
            | REMOTE_PROC_INTERFACE_CHANGE_ROLLBACK
            | REMOTE_PROC_DOMAIN_GET_HOSTNAME
            | REMOTE_PROC_DOMAIN_GET_TIME
            | REMOTE_PROC_DOMAIN_SET_TIME
            | REMOTE_PROC_DOMAIN_FSFREEZE
            | REMOTE_PROC_DOMAIN_FSTHAW
            | REMOTE_PROC_CONNECT_SECRET_EVENT_REGISTER_ANY
            | REMOTE_PROC_CONNECT_SECRET_EVENT_DEREGISTER_ANY
            | REMOTE_PROC_CONNECT_LIST_ALL_SECRETS
            | REMOTE_PROC_CONNECT_NUM_OF_SECRETS
            | REMOTE_PROC_CONNECT_LIST_SECRETS
            | REMOTE_PROC_SECRET_LOOKUP_BY_UUID
            | REMOTE_PROC_SECRET_LOOKUP_BY_USAGE
            | REMOTE_PROC_SECRET_DEFINE_XML
            | REMOTE_PROC_SECRET_GET_XML_DESC
            | REMOTE_PROC_SECRET_SET_VALUE
            | REMOTE_PROC_SECRET_GET_VALUE
            | REMOTE_PROC_SECRET_UNDEFINE
    )
}

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
        | NodeGetCpuStats(_)
        | NodeGetMemoryStats(_)
        | NodeGetCellsFreeMemory(_)
        | NodeGetFreeMemory(_)
        | NodeGetCpuMap(_)
        | ConnectGetCpuModelNames(_)
        | DomainMemoryStats(_)
        | DomainGetBlockInfo(_)
        | DomainGetBlockJobInfo(_)
        | DomainGetJobInfo(_)
        | DomainGetVcpus(_)
        | DomainGetVcpuPinInfo(_)
        | DomainGetSchedulerType(_)
        | DomainGetCpuStats(_)
        | DomainGetEmulatorPinInfo(_)
        | DomainGetSchedulerParameters(_)
        | DomainGetSchedulerParametersFlags(_)
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
        | DomainBlockStats(_)
        | DomainBlockStatsFlags(_)
        | DomainInterfaceStats(_)
        | ConnectGetAllDomainStats(_)
        | DomainGetAutostart(_)
        | DomainGetMetadata(_)
        | DomainGetMessages(_)
        | ConnectGetStoragePoolCapabilities(_)
        | StoragePoolLookupByTargetPath(_)
        | DomainGetControlInfo(_)
        | DomainIsActive(_)
        | DomainIsPersistent(_)
        | DomainIsUpdated(_)
        | DomainHasManagedSaveImage(_)
        | DomainGetMaxMemory(_)
        | DomainGetJobStats(_)
        | DomainMigrateGetMaxDowntime(_)
        | DomainMigrateGetMaxSpeed(_)
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
        | StorageVolGetPath(_)
        // A secret's definition is readable; its value is not
        // (libvirt's ACL: `secret:read_secure`).
        | ConnectListAllInterfaces(_)
        | ConnectNumOfInterfaces(_)
        | ConnectListInterfaces(_)
        | ConnectNumOfDefinedInterfaces(_)
        | ConnectListDefinedInterfaces(_)
        | InterfaceLookupByName(_)
        | InterfaceLookupByMacString(_)
        | InterfaceGetXmlDesc(_)
        | InterfaceIsActive(_)
        | ConnectListAllNodeDevices(_)
        | NodeNumOfDevices(_)
        | NodeListDevices(_)
        | NodeDeviceLookupByName(_)
        | NodeDeviceGetXmlDesc(_)
        | NodeDeviceGetParent(_)
        | NodeDeviceNumOfCaps(_)
        | NodeDeviceListCaps(_)
        | NodeDeviceLookupScsiHostByWwn(_)
        | ConnectNodeDeviceEventRegisterAny(_)
        | ConnectNodeDeviceEventDeregisterAny(_)
        | ConnectSecretEventRegisterAny(_)
        | ConnectSecretEventDeregisterAny(_)
        | ConnectListAllSecrets(_)
        | ConnectNumOfSecrets(_)
        | ConnectListSecrets(_)
        | SecretLookupByUuid(_)
        | SecretLookupByUsage(_)
        | SecretGetXmlDesc(_) => true,
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
    } else if family.starts_with("INTERFACE_") {
        ErrorDomain::INTERFACE
    } else if family.starts_with("NODE_DEVICE_") {
        ErrorDomain::NODEDEV
    } else if family.starts_with("SECRET_") {
        ErrorDomain::SECRET
    } else {
        ErrorDomain::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let state = DomainGetStateArgs::default();
        let xml = DomainGetXmlDescArgs::default();
        assert!(read_only_allowed(&Call::DomainGetState(state)));
        assert!(read_only_allowed(&Call::DomainGetXmlDesc(xml.clone())));
        assert!(!read_only_allowed(&Call::DomainGetXmlDesc(
            DomainGetXmlDescArgs {
                flags: XML_SECURE,
                ..xml
            }
        )));
        assert!(!read_only_allowed(&Call::DomainSuspend(
            DomainSuspendArgs::default()
        )));
        assert!(!read_only_allowed(&Call::StorageVolDownload(
            StorageVolDownloadArgs::default()
        )));
    }
}
