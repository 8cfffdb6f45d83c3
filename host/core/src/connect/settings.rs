//! A domain's description, title and application metadata
//! (`virDomainSetMetadata` / `virDomainGetMetadata`), its lifecycle actions
//! (`virDomainSetLifecycleAction`) and the state of its control channel
//! (`virDomainGetControlInfo`).

use super::domain::Domain;
use super::error::Result;

/// libvirt's `virDomainMetadataType`.
pub mod metadata_type {
    /// `VIR_DOMAIN_METADATA_DESCRIPTION`: `<description>`.
    pub const DESCRIPTION: i32 = 0;
    /// `VIR_DOMAIN_METADATA_TITLE`: `<title>`.
    pub const TITLE: i32 = 1;
    /// `VIR_DOMAIN_METADATA_ELEMENT`: an element of `<metadata>`, by its
    /// namespace URI.
    pub const ELEMENT: i32 = 2;
}

/// libvirt's `virDomainLifecycle`: which event a lifecycle action is for.
pub mod lifecycle_type {
    /// `VIR_DOMAIN_LIFECYCLE_POWEROFF`: `<on_poweroff>`.
    pub const POWEROFF: u32 = 0;
    /// `VIR_DOMAIN_LIFECYCLE_REBOOT`: `<on_reboot>`.
    pub const REBOOT: u32 = 1;
    /// `VIR_DOMAIN_LIFECYCLE_CRASH`: `<on_crash>`.
    pub const CRASH: u32 = 2;
}

/// libvirt's `virDomainLifecycleAction`, by number, with its XML name.
pub const LIFECYCLE_ACTIONS: &[(u32, &str)] = &[
    (0, "destroy"),
    (1, "restart"),
    (2, "rename-restart"),
    (3, "preserve"),
    (4, "coredump-destroy"),
    (5, "coredump-restart"),
];

/// The state of a domain's control channel (`virDomainControlInfo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlInfo {
    /// `virDomainControlState`: 0 ok, 1 a job is running, 2 occupied, 3 error.
    pub state: u32,
    /// `virDomainControlErrorReason` when the state is error.
    pub details: u32,
    /// How long the current state has lasted, ms.
    pub state_time_ms: u64,
}

impl Domain {
    /// The description (`metadata_type::DESCRIPTION`), title or the
    /// `<metadata>` element in namespace `uri` (`ELEMENT`). flags: 1 live,
    /// 2 config. A missing one is `NO_DOMAIN_METADATA`.
    pub fn metadata(&self, kind: i32, uri: Option<&str>, flags: u32) -> Result<String> {
        self.connect()
            .backend()
            .domain_get_metadata(self.reference(), kind, uri, flags)
    }

    /// Sets (or, with `value` none or empty, removes) the description,
    /// title or `<metadata>` element: an element of namespace `uri`, whose
    /// prefix is `key`. flags: 1 live, 2 config.
    pub fn set_metadata(
        &self,
        kind: i32,
        value: Option<&str>,
        key: Option<&str>,
        uri: Option<&str>,
        flags: u32,
    ) -> Result<()> {
        self.writable_backend()?
            .domain_set_metadata(self.reference(), kind, value, key, uri, flags)
    }

    /// Sets what happens on power-off, reboot or crash (`lifecycle_type`)
    /// to `action` (one of [`LIFECYCLE_ACTIONS`]). flags: 1 live, 2 config.
    pub fn set_lifecycle_action(&self, kind: u32, action: u32, flags: u32) -> Result<()> {
        self.writable_backend()?
            .domain_set_lifecycle_action(self.reference(), kind, action, flags)
    }

    /// Detaches the device whose alias is `alias` (`virtio-disk1`,
    /// `net0`, or its `<alias name>`), as [`Domain::detach_device`] would.
    /// flags: 1 live, 2 config.
    pub fn detach_device_alias(&self, alias: &str, flags: u32) -> Result<()> {
        self.writable_backend()?
            .domain_detach_device_alias(self.reference(), alias, flags)
    }

    /// The state of the domain's control channel.
    pub fn control_info(&self) -> Result<ControlInfo> {
        self.connect()
            .backend()
            .domain_get_control_info(self.reference())
    }

    /// The running guest's host name. flags: `VIR_DOMAIN_GET_HOSTNAME_*`
    /// (1 from DHCP leases, 2 from the guest agent). Asking the guest is
    /// refused to read-only connections, as in libvirt.
    pub fn hostname(&self, flags: u32) -> Result<String> {
        self.writable_backend()?
            .domain_get_hostname(self.reference(), flags)
    }

    /// The running guest's clock: (seconds, nanoseconds) since the epoch.
    pub fn get_time(&self, flags: u32) -> Result<(i64, u32)> {
        self.writable_backend()?
            .domain_get_time(self.reference(), flags)
    }

    /// Freezes the running guest's filesystems at `mountpoints` (all of
    /// them when empty); returns how many this call froze.
    pub fn fs_freeze(&self, mountpoints: &[String], flags: u32) -> Result<i32> {
        self.writable_backend()?
            .domain_fs_freeze(self.reference(), mountpoints, flags)
    }

    /// Thaws them; returns how many this call thawed.
    pub fn fs_thaw(&self, mountpoints: &[String], flags: u32) -> Result<i32> {
        self.writable_backend()?
            .domain_fs_thaw(self.reference(), mountpoints, flags)
    }

    /// Sets the running guest's clock. flags: `VIR_DOMAIN_TIME_SYNC` (1),
    /// from the host's clock.
    /// The driver checks the flags, as in libvirt.
    pub fn set_time(&self, seconds: i64, nseconds: u32, flags: u32) -> Result<()> {
        self.writable_backend()?
            .domain_set_time(self.reference(), seconds, nseconds, flags)
    }
}
