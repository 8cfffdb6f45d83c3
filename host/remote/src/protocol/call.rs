//! One table maps every procedure wirt implements to its argument and reply
//! types, and generates [`Call`] (what a client sends), [`Reply`] (what the
//! server answers with status OK) and, from a second table, [`Event`] (what
//! the server sends unasked as a `MESSAGE`). A server decodes a call with
//! [`Call::decode`] and answers with a [`Reply`] or any of the `*Ret` types;
//! a procedure not in the table is [`ProtocolError::UnknownProcedure`], which a
//! server should answer with `VIR_ERR_NO_SUPPORT` so clients fall back.

use thiserror::Error;

use super::connect::*;
use super::domain::*;
use super::event::*;
use super::network::*;
use super::procedures::*;
use super::snapshot::*;
use super::storage::*;
use crate::xdr::{XdrDecode, XdrEncode, XdrError, XdrReader, XdrWriter};

/// Errors mapping procedure numbers and payloads to typed messages.
#[derive(Debug, Error)]
pub enum ProtocolError {
    /// The procedure exists in libvirt (or not at all) but wirt has no types for it.
    #[error("procedure {procedure} ({}) is not supported", procedure_name(*.procedure).unwrap_or("unknown"))]
    UnknownProcedure { procedure: i32 },
    /// The payload does not match the procedure's XDR type.
    #[error("malformed payload for procedure {procedure} ({})", procedure_name(*.procedure).unwrap_or("unknown"))]
    Decode {
        procedure: i32,
        #[source]
        source: XdrError,
    },
}

/// Which way a procedure's stream packets flow after its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamDirection {
    /// libvirt's `@writestream`: the client sends data (volume upload).
    Upload,
    /// libvirt's `@readstream`: the server sends data (volume download).
    Download,
}

macro_rules! procedure_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $list:ident;
        $( $variant:ident = $proc:ident ($ty:ty); )*
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $(
                #[doc = concat!("`", stringify!($proc), "`")]
                $variant($ty),
            )*
        }

        /// The procedure numbers this enum covers.
        pub const $list: &[i32] = &[$($proc,)*];

        impl $name {
            /// The procedure number of this message.
            pub fn procedure(&self) -> i32 {
                match self {
                    $( Self::$variant(_) => $proc, )*
                }
            }

            /// Decodes the payload of `procedure` from `r`, leaving any
            /// trailing bytes unread.
            pub fn decode_from(procedure: i32, r: &mut XdrReader<'_>) -> Result<Self, ProtocolError> {
                let decoded = match procedure {
                    $( $proc => <$ty as XdrDecode>::decode(r).map(Self::$variant), )*
                    _ => return Err(ProtocolError::UnknownProcedure { procedure }),
                };
                decoded.map_err(|source| ProtocolError::Decode { procedure, source })
            }

            /// `MIN_WIRE_SIZE` of the variant's type, for tests of that bound.
            #[cfg(test)]
            pub(crate) fn min_wire_size(&self) -> usize {
                match self {
                    $( Self::$variant(_) => <$ty as XdrDecode>::MIN_WIRE_SIZE, )*
                }
            }

            /// Decodes the whole `payload` of a packet for `procedure`.
            pub fn decode(procedure: i32, payload: &[u8]) -> Result<Self, ProtocolError> {
                let mut r = XdrReader::new(payload);
                let value = Self::decode_from(procedure, &mut r)?;
                r.finish().map_err(|source| ProtocolError::Decode { procedure, source })?;
                Ok(value)
            }
        }

        impl XdrEncode for $name {
            fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError> {
                match self {
                    $( Self::$variant(v) => v.encode(w), )*
                }
            }
        }

        #[cfg(test)]
        impl ::proptest::arbitrary::Arbitrary for $name {
            type Parameters = ();
            type Strategy = ::proptest::strategy::BoxedStrategy<Self>;

            fn arbitrary_with(_: ()) -> Self::Strategy {
                use ::proptest::strategy::Strategy as _;
                ::proptest::strategy::Union::new(vec![
                    $( ::proptest::prelude::any::<$ty>().prop_map(Self::$variant).boxed(), )*
                ])
                .boxed()
            }
        }
    };
}

macro_rules! call_table {
    ($( $variant:ident = $proc:ident ($args:ty) -> $ret:ty; )*) => {
        procedure_enum! {
            /// A decoded `CALL` of program `REMOTE_PROGRAM`: one variant per
            /// procedure wirt implements, holding its `*_args` (`()` for void).
            Call, CALL_PROCEDURES;
            $( $variant = $proc($args); )*
        }

        procedure_enum! {
            /// The successful `REPLY` to a [`Call`] with the same variant name,
            /// holding its `*_ret` (`()` for void).
            Reply, REPLY_PROCEDURES;
            $( $variant = $proc($ret); )*
        }
    };
}

call_table! {
    ConnectOpen = REMOTE_PROC_CONNECT_OPEN(ConnectOpenArgs) -> ();
    ConnectClose = REMOTE_PROC_CONNECT_CLOSE(()) -> ();
    ConnectGetType = REMOTE_PROC_CONNECT_GET_TYPE(()) -> ConnectGetTypeRet;
    ConnectGetVersion = REMOTE_PROC_CONNECT_GET_VERSION(()) -> ConnectGetVersionRet;
    ConnectGetLibVersion = REMOTE_PROC_CONNECT_GET_LIB_VERSION(()) -> ConnectGetLibVersionRet;
    ConnectGetMaxVcpus = REMOTE_PROC_CONNECT_GET_MAX_VCPUS(ConnectGetMaxVcpusArgs) -> ConnectGetMaxVcpusRet;
    ConnectGetHostname = REMOTE_PROC_CONNECT_GET_HOSTNAME(()) -> ConnectGetHostnameRet;
    ConnectGetUri = REMOTE_PROC_CONNECT_GET_URI(()) -> ConnectGetUriRet;
    ConnectGetCapabilities = REMOTE_PROC_CONNECT_GET_CAPABILITIES(()) -> ConnectGetCapabilitiesRet;
    ConnectGetSysinfo = REMOTE_PROC_CONNECT_GET_SYSINFO(ConnectGetSysinfoArgs) -> ConnectGetSysinfoRet;
    ConnectSupportsFeature = REMOTE_PROC_CONNECT_SUPPORTS_FEATURE(ConnectSupportsFeatureArgs) -> ConnectSupportsFeatureRet;
    ConnectIsSecure = REMOTE_PROC_CONNECT_IS_SECURE(()) -> ConnectIsSecureRet;
    NodeGetInfo = REMOTE_PROC_NODE_GET_INFO(()) -> NodeGetInfoRet;
    NodeGetSecurityModel = REMOTE_PROC_NODE_GET_SECURITY_MODEL(()) -> NodeGetSecurityModelRet;
    AuthList = REMOTE_PROC_AUTH_LIST(()) -> AuthListRet;
    AuthPolkit = REMOTE_PROC_AUTH_POLKIT(()) -> AuthPolkitRet;
    ConnectRegisterCloseCallback = REMOTE_PROC_CONNECT_REGISTER_CLOSE_CALLBACK(()) -> ();
    ConnectUnregisterCloseCallback = REMOTE_PROC_CONNECT_UNREGISTER_CLOSE_CALLBACK(()) -> ();
    ConnectDomainEventCallbackRegisterAny = REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY(ConnectDomainEventCallbackRegisterAnyArgs) -> CallbackIdRet;
    ConnectDomainEventCallbackDeregisterAny = REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY(CallbackIdRet) -> ();
    ConnectNetworkEventRegisterAny = REMOTE_PROC_CONNECT_NETWORK_EVENT_REGISTER_ANY(ConnectNetworkEventRegisterAnyArgs) -> CallbackIdRet;
    ConnectNetworkEventDeregisterAny = REMOTE_PROC_CONNECT_NETWORK_EVENT_DEREGISTER_ANY(CallbackIdRet) -> ();
    ConnectStoragePoolEventRegisterAny = REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY(ConnectStoragePoolEventRegisterAnyArgs) -> CallbackIdRet;
    ConnectStoragePoolEventDeregisterAny = REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY(CallbackIdRet) -> ();

    ConnectListAllDomains = REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS(ConnectListAllDomainsArgs) -> ConnectListAllDomainsRet;
    ConnectNumOfDomains = REMOTE_PROC_CONNECT_NUM_OF_DOMAINS(()) -> NumRet;
    ConnectListDomains = REMOTE_PROC_CONNECT_LIST_DOMAINS(ConnectListDomainsArgs) -> ConnectListDomainsRet;
    ConnectNumOfDefinedDomains = REMOTE_PROC_CONNECT_NUM_OF_DEFINED_DOMAINS(()) -> NumRet;
    ConnectListDefinedDomains = REMOTE_PROC_CONNECT_LIST_DEFINED_DOMAINS(MaxNamesArgs) -> ConnectListDefinedDomainsRet;
    DomainLookupById = REMOTE_PROC_DOMAIN_LOOKUP_BY_ID(DomainLookupByIdArgs) -> DomainRet;
    DomainLookupByName = REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME(DomainLookupByNameArgs) -> DomainRet;
    DomainLookupByUuid = REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID(DomainLookupByUuidArgs) -> DomainRet;
    DomainDefineXml = REMOTE_PROC_DOMAIN_DEFINE_XML(DomainDefineXmlArgs) -> DomainRet;
    DomainDefineXmlFlags = REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS(DomainDefineXmlFlagsArgs) -> DomainRet;
    DomainCreateXml = REMOTE_PROC_DOMAIN_CREATE_XML(DomainCreateXmlArgs) -> DomainRet;
    DomainCreate = REMOTE_PROC_DOMAIN_CREATE(DomainArgs) -> ();
    DomainCreateWithFlags = REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS(DomainFlagsArgs) -> DomainRet;
    DomainUndefine = REMOTE_PROC_DOMAIN_UNDEFINE(DomainArgs) -> ();
    DomainUndefineFlags = REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS(DomainFlagsArgs) -> ();
    DomainShutdown = REMOTE_PROC_DOMAIN_SHUTDOWN(DomainArgs) -> ();
    DomainShutdownFlags = REMOTE_PROC_DOMAIN_SHUTDOWN_FLAGS(DomainFlagsArgs) -> ();
    DomainReboot = REMOTE_PROC_DOMAIN_REBOOT(DomainFlagsArgs) -> ();
    DomainReset = REMOTE_PROC_DOMAIN_RESET(DomainFlagsArgs) -> ();
    DomainDestroy = REMOTE_PROC_DOMAIN_DESTROY(DomainArgs) -> ();
    DomainDestroyFlags = REMOTE_PROC_DOMAIN_DESTROY_FLAGS(DomainFlagsArgs) -> ();
    DomainSuspend = REMOTE_PROC_DOMAIN_SUSPEND(DomainArgs) -> ();
    DomainResume = REMOTE_PROC_DOMAIN_RESUME(DomainArgs) -> ();
    DomainGetState = REMOTE_PROC_DOMAIN_GET_STATE(DomainFlagsArgs) -> DomainGetStateRet;
    DomainGetInfo = REMOTE_PROC_DOMAIN_GET_INFO(DomainArgs) -> DomainGetInfoRet;
    DomainGetXmlDesc = REMOTE_PROC_DOMAIN_GET_XML_DESC(DomainFlagsArgs) -> XmlRet;
    DomainGetAutostart = REMOTE_PROC_DOMAIN_GET_AUTOSTART(DomainArgs) -> AutostartRet;
    DomainSetAutostart = REMOTE_PROC_DOMAIN_SET_AUTOSTART(DomainSetAutostartArgs) -> ();
    DomainIsActive = REMOTE_PROC_DOMAIN_IS_ACTIVE(DomainArgs) -> IsActiveRet;
    DomainIsPersistent = REMOTE_PROC_DOMAIN_IS_PERSISTENT(DomainArgs) -> IsPersistentRet;
    DomainIsUpdated = REMOTE_PROC_DOMAIN_IS_UPDATED(DomainArgs) -> DomainIsUpdatedRet;
    DomainManagedSave = REMOTE_PROC_DOMAIN_MANAGED_SAVE(DomainFlagsArgs) -> ();
    DomainHasManagedSaveImage = REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE(DomainFlagsArgs) -> ResultRet;
    DomainManagedSaveRemove = REMOTE_PROC_DOMAIN_MANAGED_SAVE_REMOVE(DomainFlagsArgs) -> ();
    DomainSave = REMOTE_PROC_DOMAIN_SAVE(DomainSaveArgs) -> ();
    DomainSaveFlags = REMOTE_PROC_DOMAIN_SAVE_FLAGS(DomainSaveFlagsArgs) -> ();
    DomainRestore = REMOTE_PROC_DOMAIN_RESTORE(DomainRestoreArgs) -> ();
    DomainRestoreFlags = REMOTE_PROC_DOMAIN_RESTORE_FLAGS(DomainRestoreFlagsArgs) -> ();
    DomainSaveImageGetXmlDesc = REMOTE_PROC_DOMAIN_SAVE_IMAGE_GET_XML_DESC(DomainSaveImageGetXmlDescArgs) -> XmlRet;
    DomainSaveImageDefineXml = REMOTE_PROC_DOMAIN_SAVE_IMAGE_DEFINE_XML(DomainSaveImageDefineXmlArgs) -> ();
    DomainSetMemory = REMOTE_PROC_DOMAIN_SET_MEMORY(DomainSetMemoryArgs) -> ();
    DomainSetMaxMemory = REMOTE_PROC_DOMAIN_SET_MAX_MEMORY(DomainSetMemoryArgs) -> ();
    DomainSetMemoryFlags = REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS(DomainSetMemoryFlagsArgs) -> ();
    DomainGetMaxMemory = REMOTE_PROC_DOMAIN_GET_MAX_MEMORY(DomainArgs) -> DomainGetMaxMemoryRet;
    DomainSetVcpus = REMOTE_PROC_DOMAIN_SET_VCPUS(DomainSetVcpusArgs) -> ();
    DomainSetVcpusFlags = REMOTE_PROC_DOMAIN_SET_VCPUS_FLAGS(DomainSetVcpusFlagsArgs) -> ();
    DomainGetVcpusFlags = REMOTE_PROC_DOMAIN_GET_VCPUS_FLAGS(DomainFlagsArgs) -> NumRet;
    DomainGetMaxVcpus = REMOTE_PROC_DOMAIN_GET_MAX_VCPUS(DomainArgs) -> NumRet;
    DomainRename = REMOTE_PROC_DOMAIN_RENAME(DomainRenameArgs) -> DomainRenameRet;
    DomainGetOsType = REMOTE_PROC_DOMAIN_GET_OS_TYPE(DomainArgs) -> DomainGetOsTypeRet;
    DomainGetSecurityLabel = REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL(DomainArgs) -> DomainGetSecurityLabelRet;
    DomainGetSecurityLabelList = REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL_LIST(DomainArgs) -> DomainGetSecurityLabelListRet;

    DomainSnapshotCreateXml = REMOTE_PROC_DOMAIN_SNAPSHOT_CREATE_XML(DomainSnapshotCreateXmlArgs) -> SnapshotRet;
    DomainSnapshotGetXmlDesc = REMOTE_PROC_DOMAIN_SNAPSHOT_GET_XML_DESC(SnapshotFlagsArgs) -> XmlRet;
    DomainSnapshotNum = REMOTE_PROC_DOMAIN_SNAPSHOT_NUM(DomainFlagsArgs) -> NumRet;
    DomainSnapshotListNames = REMOTE_PROC_DOMAIN_SNAPSHOT_LIST_NAMES(DomainSnapshotListNamesArgs) -> SnapshotNamesRet;
    DomainListAllSnapshots = REMOTE_PROC_DOMAIN_LIST_ALL_SNAPSHOTS(DomainListAllSnapshotsArgs) -> SnapshotListRet;
    DomainSnapshotLookupByName = REMOTE_PROC_DOMAIN_SNAPSHOT_LOOKUP_BY_NAME(DomainSnapshotLookupByNameArgs) -> SnapshotRet;
    DomainHasCurrentSnapshot = REMOTE_PROC_DOMAIN_HAS_CURRENT_SNAPSHOT(DomainFlagsArgs) -> ResultRet;
    DomainSnapshotCurrent = REMOTE_PROC_DOMAIN_SNAPSHOT_CURRENT(DomainFlagsArgs) -> SnapshotRet;
    DomainRevertToSnapshot = REMOTE_PROC_DOMAIN_REVERT_TO_SNAPSHOT(SnapshotFlagsArgs) -> ();
    DomainSnapshotDelete = REMOTE_PROC_DOMAIN_SNAPSHOT_DELETE(SnapshotFlagsArgs) -> ();
    DomainSnapshotGetParent = REMOTE_PROC_DOMAIN_SNAPSHOT_GET_PARENT(SnapshotFlagsArgs) -> SnapshotRet;
    DomainSnapshotNumChildren = REMOTE_PROC_DOMAIN_SNAPSHOT_NUM_CHILDREN(SnapshotFlagsArgs) -> NumRet;
    DomainSnapshotListChildrenNames = REMOTE_PROC_DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES(DomainSnapshotListChildrenNamesArgs) -> SnapshotNamesRet;
    DomainSnapshotListAllChildren = REMOTE_PROC_DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN(DomainSnapshotListAllChildrenArgs) -> SnapshotListRet;
    DomainSnapshotIsCurrent = REMOTE_PROC_DOMAIN_SNAPSHOT_IS_CURRENT(SnapshotFlagsArgs) -> DomainSnapshotIsCurrentRet;
    DomainSnapshotHasMetadata = REMOTE_PROC_DOMAIN_SNAPSHOT_HAS_METADATA(SnapshotFlagsArgs) -> DomainSnapshotHasMetadataRet;

    ConnectListAllNetworks = REMOTE_PROC_CONNECT_LIST_ALL_NETWORKS(ConnectListAllNetworksArgs) -> ConnectListAllNetworksRet;
    ConnectNumOfNetworks = REMOTE_PROC_CONNECT_NUM_OF_NETWORKS(()) -> NumRet;
    ConnectListNetworks = REMOTE_PROC_CONNECT_LIST_NETWORKS(MaxNamesArgs) -> NetworkNamesRet;
    ConnectNumOfDefinedNetworks = REMOTE_PROC_CONNECT_NUM_OF_DEFINED_NETWORKS(()) -> NumRet;
    ConnectListDefinedNetworks = REMOTE_PROC_CONNECT_LIST_DEFINED_NETWORKS(MaxNamesArgs) -> NetworkNamesRet;
    NetworkLookupByName = REMOTE_PROC_NETWORK_LOOKUP_BY_NAME(NetworkLookupByNameArgs) -> NetworkRet;
    NetworkLookupByUuid = REMOTE_PROC_NETWORK_LOOKUP_BY_UUID(NetworkLookupByUuidArgs) -> NetworkRet;
    NetworkDefineXml = REMOTE_PROC_NETWORK_DEFINE_XML(NetworkXmlArgs) -> NetworkRet;
    NetworkDefineXmlFlags = REMOTE_PROC_NETWORK_DEFINE_XML_FLAGS(NetworkXmlFlagsArgs) -> NetworkRet;
    NetworkCreateXml = REMOTE_PROC_NETWORK_CREATE_XML(NetworkXmlArgs) -> NetworkRet;
    NetworkCreateXmlFlags = REMOTE_PROC_NETWORK_CREATE_XML_FLAGS(NetworkXmlFlagsArgs) -> NetworkRet;
    NetworkCreate = REMOTE_PROC_NETWORK_CREATE(NetworkArgs) -> ();
    NetworkDestroy = REMOTE_PROC_NETWORK_DESTROY(NetworkArgs) -> ();
    NetworkUndefine = REMOTE_PROC_NETWORK_UNDEFINE(NetworkArgs) -> ();
    NetworkGetXmlDesc = REMOTE_PROC_NETWORK_GET_XML_DESC(NetworkGetXmlDescArgs) -> XmlRet;
    NetworkGetAutostart = REMOTE_PROC_NETWORK_GET_AUTOSTART(NetworkArgs) -> AutostartRet;
    NetworkSetAutostart = REMOTE_PROC_NETWORK_SET_AUTOSTART(NetworkSetAutostartArgs) -> ();
    NetworkIsActive = REMOTE_PROC_NETWORK_IS_ACTIVE(NetworkArgs) -> IsActiveRet;
    NetworkIsPersistent = REMOTE_PROC_NETWORK_IS_PERSISTENT(NetworkArgs) -> IsPersistentRet;
    NetworkGetBridgeName = REMOTE_PROC_NETWORK_GET_BRIDGE_NAME(NetworkArgs) -> NetworkGetBridgeNameRet;
    NetworkUpdate = REMOTE_PROC_NETWORK_UPDATE(NetworkUpdateArgs) -> ();

    ConnectListAllStoragePools = REMOTE_PROC_CONNECT_LIST_ALL_STORAGE_POOLS(ConnectListAllStoragePoolsArgs) -> ConnectListAllStoragePoolsRet;
    ConnectNumOfStoragePools = REMOTE_PROC_CONNECT_NUM_OF_STORAGE_POOLS(()) -> NumRet;
    ConnectListStoragePools = REMOTE_PROC_CONNECT_LIST_STORAGE_POOLS(MaxNamesArgs) -> StoragePoolNamesRet;
    ConnectNumOfDefinedStoragePools = REMOTE_PROC_CONNECT_NUM_OF_DEFINED_STORAGE_POOLS(()) -> NumRet;
    ConnectListDefinedStoragePools = REMOTE_PROC_CONNECT_LIST_DEFINED_STORAGE_POOLS(MaxNamesArgs) -> StoragePoolNamesRet;
    StoragePoolLookupByName = REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_NAME(StoragePoolLookupByNameArgs) -> StoragePoolRet;
    StoragePoolLookupByUuid = REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_UUID(StoragePoolLookupByUuidArgs) -> StoragePoolRet;
    StoragePoolLookupByVolume = REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_VOLUME(StorageVolArgs) -> StoragePoolRet;
    StoragePoolCreateXml = REMOTE_PROC_STORAGE_POOL_CREATE_XML(StoragePoolXmlArgs) -> StoragePoolRet;
    StoragePoolDefineXml = REMOTE_PROC_STORAGE_POOL_DEFINE_XML(StoragePoolXmlArgs) -> StoragePoolRet;
    StoragePoolBuild = REMOTE_PROC_STORAGE_POOL_BUILD(StoragePoolFlagsArgs) -> ();
    StoragePoolCreate = REMOTE_PROC_STORAGE_POOL_CREATE(StoragePoolFlagsArgs) -> ();
    StoragePoolDestroy = REMOTE_PROC_STORAGE_POOL_DESTROY(StoragePoolArgs) -> ();
    StoragePoolDelete = REMOTE_PROC_STORAGE_POOL_DELETE(StoragePoolFlagsArgs) -> ();
    StoragePoolUndefine = REMOTE_PROC_STORAGE_POOL_UNDEFINE(StoragePoolArgs) -> ();
    StoragePoolRefresh = REMOTE_PROC_STORAGE_POOL_REFRESH(StoragePoolFlagsArgs) -> ();
    StoragePoolGetInfo = REMOTE_PROC_STORAGE_POOL_GET_INFO(StoragePoolArgs) -> StoragePoolGetInfoRet;
    StoragePoolGetXmlDesc = REMOTE_PROC_STORAGE_POOL_GET_XML_DESC(StoragePoolFlagsArgs) -> XmlRet;
    StoragePoolGetAutostart = REMOTE_PROC_STORAGE_POOL_GET_AUTOSTART(StoragePoolArgs) -> AutostartRet;
    StoragePoolSetAutostart = REMOTE_PROC_STORAGE_POOL_SET_AUTOSTART(StoragePoolSetAutostartArgs) -> ();
    StoragePoolIsActive = REMOTE_PROC_STORAGE_POOL_IS_ACTIVE(StoragePoolArgs) -> IsActiveRet;
    StoragePoolIsPersistent = REMOTE_PROC_STORAGE_POOL_IS_PERSISTENT(StoragePoolArgs) -> IsPersistentRet;
    StoragePoolNumOfVolumes = REMOTE_PROC_STORAGE_POOL_NUM_OF_VOLUMES(StoragePoolArgs) -> NumRet;
    StoragePoolListVolumes = REMOTE_PROC_STORAGE_POOL_LIST_VOLUMES(StoragePoolListVolumesArgs) -> StoragePoolListVolumesRet;
    StoragePoolListAllVolumes = REMOTE_PROC_STORAGE_POOL_LIST_ALL_VOLUMES(StoragePoolListAllVolumesArgs) -> StoragePoolListAllVolumesRet;

    StorageVolLookupByName = REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_NAME(StorageVolLookupByNameArgs) -> StorageVolRet;
    StorageVolLookupByKey = REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_KEY(StorageVolLookupByKeyArgs) -> StorageVolRet;
    StorageVolLookupByPath = REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_PATH(StorageVolLookupByPathArgs) -> StorageVolRet;
    StorageVolCreateXml = REMOTE_PROC_STORAGE_VOL_CREATE_XML(StorageVolCreateXmlArgs) -> StorageVolRet;
    StorageVolCreateXmlFrom = REMOTE_PROC_STORAGE_VOL_CREATE_XML_FROM(StorageVolCreateXmlFromArgs) -> StorageVolRet;
    StorageVolDelete = REMOTE_PROC_STORAGE_VOL_DELETE(StorageVolFlagsArgs) -> ();
    StorageVolWipe = REMOTE_PROC_STORAGE_VOL_WIPE(StorageVolFlagsArgs) -> ();
    StorageVolWipePattern = REMOTE_PROC_STORAGE_VOL_WIPE_PATTERN(StorageVolWipePatternArgs) -> ();
    StorageVolGetInfo = REMOTE_PROC_STORAGE_VOL_GET_INFO(StorageVolArgs) -> StorageVolGetInfoRet;
    StorageVolGetInfoFlags = REMOTE_PROC_STORAGE_VOL_GET_INFO_FLAGS(StorageVolFlagsArgs) -> StorageVolGetInfoRet;
    StorageVolGetXmlDesc = REMOTE_PROC_STORAGE_VOL_GET_XML_DESC(StorageVolFlagsArgs) -> XmlRet;
    StorageVolGetPath = REMOTE_PROC_STORAGE_VOL_GET_PATH(StorageVolArgs) -> StorageVolGetPathRet;
    StorageVolResize = REMOTE_PROC_STORAGE_VOL_RESIZE(StorageVolResizeArgs) -> ();
    StorageVolUpload = REMOTE_PROC_STORAGE_VOL_UPLOAD(StorageVolTransferArgs) -> ();
    StorageVolDownload = REMOTE_PROC_STORAGE_VOL_DOWNLOAD(StorageVolTransferArgs) -> ();
}

procedure_enum! {
    /// An event: a `MESSAGE` packet of program `REMOTE_PROGRAM` (see `packet::Header::event`).
    Event, EVENT_PROCEDURES;
    DomainEventLifecycle = REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE(DomainEventLifecycleMsg);
    DomainEventCallbackLifecycle = REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE(DomainEventCallbackLifecycleMsg);
    NetworkEventLifecycle = REMOTE_PROC_NETWORK_EVENT_LIFECYCLE(NetworkEventLifecycleMsg);
    StoragePoolEventLifecycle = REMOTE_PROC_STORAGE_POOL_EVENT_LIFECYCLE(StoragePoolEventLifecycleMsg);
    StoragePoolEventRefresh = REMOTE_PROC_STORAGE_POOL_EVENT_REFRESH(StoragePoolEventRefreshMsg);
    ConnectEventConnectionClosed = REMOTE_PROC_CONNECT_EVENT_CONNECTION_CLOSED(ConnectEventConnectionClosedMsg);
}

/// Whether `procedure` is followed by stream packets after its OK reply, and
/// which way they flow (libvirt's `@readstream` / `@writestream`), for the
/// procedures wirt implements.
pub fn stream_direction(procedure: i32) -> Option<StreamDirection> {
    match procedure {
        REMOTE_PROC_STORAGE_VOL_UPLOAD => Some(StreamDirection::Upload),
        REMOTE_PROC_STORAGE_VOL_DOWNLOAD => Some(StreamDirection::Download),
        _ => None,
    }
}

impl Call {
    /// See [`stream_direction`].
    pub fn stream(&self) -> Option<StreamDirection> {
        stream_direction(self.procedure())
    }
}
