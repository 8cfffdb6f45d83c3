//! Domain handles: lookups and definitions on [`Connect`], the lifecycle
//! and settings on [`Domain`].

use serde::Serialize;
use uuid::Uuid;

use super::{Connect, DomainRef, Error, Result};
use crate::driver::ConsoleStream;
use crate::error::ErrorCode;
use crate::lifecycle::State;

/// libvirt's `virDomainInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DomainInfo {
    /// The domain's state.
    pub state: State,
    /// The most memory the domain may have, KiB.
    pub max_memory_kib: u64,
    /// The memory the domain has now, KiB.
    pub memory_kib: u64,
    /// vCPUs online.
    pub vcpus: u32,
    /// CPU time consumed, nanoseconds.
    pub cpu_time_ns: u64,
}

/// A handle to a domain, like libvirt's `virDomainPtr`: every call finds the
/// domain again by UUID.
#[derive(Clone, Debug)]
pub struct Domain {
    conn: Connect,
    r: DomainRef,
}

/// libvirt's flag bits for domain calls.
pub mod domain_flags {
    use wirt_vocab::flags::{
        Affect, DomainCreateXml, DomainDefine, DomainMemory, DomainStart, DomainUndefine,
        DomainVcpu, DomainXml, SaveRestore,
    };

    /// `VIR_DOMAIN_UNDEFINE_MANAGED_SAVE`.
    pub const UNDEFINE_MANAGED_SAVE: u32 = DomainUndefine::MANAGED_SAVE.bits();
    /// `VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA`.
    pub const UNDEFINE_SNAPSHOTS_METADATA: u32 = DomainUndefine::SNAPSHOTS_METADATA.bits();
    /// `VIR_DOMAIN_UNDEFINE_NVRAM`.
    pub const UNDEFINE_NVRAM: u32 = DomainUndefine::NVRAM.bits();
    /// `VIR_DOMAIN_UNDEFINE_KEEP_NVRAM`.
    pub const UNDEFINE_KEEP_NVRAM: u32 = DomainUndefine::KEEP_NVRAM.bits();
    /// `VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA`.
    pub const UNDEFINE_CHECKPOINTS_METADATA: u32 = DomainUndefine::CHECKPOINTS_METADATA.bits();
    /// `VIR_DOMAIN_START_PAUSED`.
    pub const START_PAUSED: u32 = DomainStart::PAUSED.bits();
    /// `VIR_DOMAIN_START_AUTODESTROY`.
    pub const START_AUTODESTROY: u32 = DomainStart::AUTODESTROY.bits();
    /// `VIR_DOMAIN_START_BYPASS_CACHE`.
    pub const START_BYPASS_CACHE: u32 = DomainStart::BYPASS_CACHE.bits();
    /// `VIR_DOMAIN_START_FORCE_BOOT`.
    pub const START_FORCE_BOOT: u32 = DomainStart::FORCE_BOOT.bits();
    /// `VIR_DOMAIN_START_VALIDATE`.
    pub const START_VALIDATE: u32 = DomainStart::VALIDATE.bits();
    /// `VIR_DOMAIN_START_VALIDATE` as `virDomainCreateXML` numbers it.
    pub const CREATE_VALIDATE: u32 = DomainCreateXml::VALIDATE.bits();
    /// `VIR_DOMAIN_DEFINE_VALIDATE`.
    pub const DEFINE_VALIDATE: u32 = DomainDefine::VALIDATE.bits();
    /// `VIR_DOMAIN_XML_SECURE`.
    pub const XML_SECURE: u32 = DomainXml::SECURE.bits();
    /// `VIR_DOMAIN_XML_INACTIVE`.
    pub const XML_INACTIVE: u32 = DomainXml::INACTIVE.bits();
    /// `VIR_DOMAIN_XML_UPDATE_CPU`.
    pub const XML_UPDATE_CPU: u32 = DomainXml::UPDATE_CPU.bits();
    /// `VIR_DOMAIN_XML_MIGRATABLE`.
    pub const XML_MIGRATABLE: u32 = DomainXml::MIGRATABLE.bits();
    /// `VIR_DOMAIN_AFFECT_LIVE`.
    pub const AFFECT_LIVE: u32 = Affect::LIVE.bits();
    /// `VIR_DOMAIN_AFFECT_CONFIG`.
    pub const AFFECT_CONFIG: u32 = Affect::CONFIG.bits();
    /// `VIR_DOMAIN_MEM_MAXIMUM`.
    pub const MEM_MAXIMUM: u32 = DomainMemory::MAXIMUM.bits();
    /// `VIR_DOMAIN_VCPU_MAXIMUM`.
    pub const VCPU_MAXIMUM: u32 = DomainVcpu::MAXIMUM.bits();
    /// `VIR_DOMAIN_VCPU_GUEST`.
    pub const VCPU_GUEST: u32 = DomainVcpu::GUEST.bits();
    /// `VIR_DOMAIN_SAVE_BYPASS_CACHE`.
    pub const SAVE_BYPASS_CACHE: u32 = SaveRestore::BYPASS_CACHE.bits();
    /// `VIR_DOMAIN_SAVE_RUNNING`.
    pub const SAVE_RUNNING: u32 = SaveRestore::RUNNING.bits();
    /// `VIR_DOMAIN_SAVE_PAUSED`.
    pub const SAVE_PAUSED: u32 = SaveRestore::PAUSED.bits();
}

impl Connect {
    /// A handle to the domain `r` names, without a lookup.
    pub fn domain(&self, r: DomainRef) -> Domain {
        Domain {
            conn: self.clone(),
            r,
        }
    }

    fn domains(&self, refs: Vec<DomainRef>) -> Vec<Domain> {
        refs.into_iter().map(|r| self.domain(r)).collect()
    }

    /// The domain named `name`.
    pub fn lookup_domain_by_name(&self, name: &str) -> Result<Domain> {
        Ok(self.domain(self.backend().lookup_domain_by_name(name)?))
    }

    /// The domain with UUID `uuid`.
    pub fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<Domain> {
        Ok(self.domain(self.backend().lookup_domain_by_uuid(uuid)?))
    }

    /// The domain whose UUID is written `uuid` (with or without dashes).
    pub fn lookup_domain_by_uuid_string(&self, uuid: &str) -> Result<Domain> {
        let parsed = crate::xml::domain::parse_uuid(uuid)
            .map_err(|_| Error::api(ErrorCode::INVALID_ARG, format!("invalid UUID '{uuid}'")))?;
        self.lookup_domain_by_uuid(&parsed)
    }

    /// The active domain with id `id`.
    pub fn lookup_domain_by_id(&self, id: u32) -> Result<Domain> {
        Ok(self.domain(self.backend().lookup_domain_by_id(id)?))
    }

    /// Every domain matching `flags` (libvirt's `VIR_CONNECT_LIST_DOMAINS_*`;
    /// 0 lists all), active ones first by id, then inactive ones by name.
    pub fn list_all_domains(&self, flags: u32) -> Result<Vec<Domain>> {
        let mut refs = self.backend().list_all_domains(flags)?;
        refs.sort_by(list_order);
        Ok(self.domains(refs))
    }

    /// Defines (or redefines) a persistent domain. flags: 1 = validate.
    pub fn define_domain_xml(&self, xml: &str, flags: u32) -> Result<Domain> {
        self.check_writable()?;
        Ok(self.domain(self.backend().define_domain_xml(xml, flags)?))
    }

    /// Creates and starts a domain from XML: transient unless the UUID names
    /// an inactive persistent domain. flags: 1 paused, 4 validate.
    pub fn create_domain_xml(&self, xml: &str, flags: u32) -> Result<Domain> {
        self.check_writable()?;
        Ok(self.domain(self.backend().create_domain_xml(xml, flags)?))
    }
}

/// The API's listing order: active domains by id, then inactive ones by name.
pub fn list_order(a: &DomainRef, b: &DomainRef) -> std::cmp::Ordering {
    match (a.id >= 0, b.id >= 0) {
        (true, true) => a.id.cmp(&b.id),
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.name.cmp(&b.name),
    }
}

impl Domain {
    /// The domain's name.
    pub fn name(&self) -> &str {
        &self.r.name
    }

    /// The domain's UUID.
    pub fn uuid(&self) -> Uuid {
        self.r.uuid
    }

    /// The UUID as libvirt writes it.
    pub fn uuid_string(&self) -> String {
        self.r.uuid.to_string()
    }

    /// The connection the handle belongs to.
    pub fn connect(&self) -> &Connect {
        &self.conn
    }

    /// What this handle names, as the wire sends it (the id is the one the
    /// handle was made with; [`Domain::id`] asks afresh).
    pub fn reference(&self) -> &DomainRef {
        &self.r
    }

    fn writable(&self) -> Result<&dyn super::Backend> {
        self.conn.check_writable()?;
        Ok(self.conn.backend())
    }

    /// The backend, for a call that changes something (refused on a
    /// read-only connection).
    pub(super) fn writable_backend(&self) -> Result<&dyn super::Backend> {
        self.writable()
    }

    /// The id the domain had when this handle was listed or looked up
    /// (-1: inactive then), without asking again: libvirt's
    /// `virDomainGetID` answers from its handle the same way.
    pub fn listed_id(&self) -> i32 {
        self.r.id
    }

    /// The domain's id now (-1 if inactive).
    pub fn id(&self) -> Result<i32> {
        self.conn.backend().domain_id(&self.r)
    }

    /// The state and its reason.
    pub fn state(&self) -> Result<(State, u32)> {
        self.conn.backend().domain_state(&self.r)
    }

    /// Whether the domain is active.
    pub fn is_active(&self) -> Result<bool> {
        self.conn.backend().domain_is_active(&self.r)
    }

    /// Whether the domain has a persistent definition.
    pub fn is_persistent(&self) -> Result<bool> {
        self.conn.backend().domain_is_persistent(&self.r)
    }

    /// Whether the domain starts with its host.
    pub fn autostart(&self) -> Result<bool> {
        self.conn.backend().domain_autostart(&self.r)
    }

    /// Whether the domain has a managed-save image.
    pub fn has_managed_save_image(&self) -> Result<bool> {
        self.conn.backend().domain_has_managed_save(&self.r)
    }

    /// libvirt's `virDomainInfo`.
    pub fn info(&self) -> Result<DomainInfo> {
        self.conn.backend().domain_info(&self.r)
    }

    /// The domain XML. flags: 2 = the next-boot (inactive) definition,
    /// 1 = with secrets (graphics passwords), refused to read-only
    /// connections as libvirt does.
    pub fn xml_desc(&self, flags: u32) -> Result<String> {
        if flags & domain_flags::XML_SECURE != 0 && self.conn.is_read_only() {
            return Err(Error::api(
                ErrorCode::OPERATION_DENIED,
                "virDomainGetXMLDesc with secure flag",
            ));
        }
        self.conn.backend().domain_xml_desc(&self.r, flags)
    }

    /// Starts a defined domain (libvirt's `virDomainCreateWithFlags`): from
    /// its managed-save image if it has one, else a fresh boot.
    pub fn start(&self, flags: u32) -> Result<()> {
        self.writable()?.domain_start(&self.r, flags)
    }

    /// Asks the guest to power off.
    pub fn shutdown(&self) -> Result<()> {
        self.writable()?.domain_shutdown(&self.r)
    }

    /// Asks the guest to reboot.
    pub fn reboot(&self, flags: u32) -> Result<()> {
        self.writable()?.domain_reboot(&self.r, flags)
    }

    /// Resets the guest at once.
    pub fn reset(&self) -> Result<()> {
        self.writable()?.domain_reset(&self.r)
    }

    /// Stops the domain now.
    pub fn destroy(&self) -> Result<()> {
        self.writable()?.domain_destroy(&self.r)
    }

    /// Pauses the domain.
    pub fn suspend(&self) -> Result<()> {
        self.writable()?.domain_suspend(&self.r)
    }

    /// Resumes a paused domain.
    pub fn resume(&self) -> Result<()> {
        self.writable()?.domain_resume(&self.r)
    }

    /// Removes the persistent definition. flags: 1 managed save, 2 snapshot metadata.
    pub fn undefine(&self, flags: u32) -> Result<()> {
        self.writable()?.domain_undefine(&self.r, flags)
    }

    /// Saves the domain's state for its next start and stops it.
    pub fn managed_save(&self, flags: u32) -> Result<()> {
        self.writable()?.domain_managed_save(&self.r, flags)
    }

    /// Drops the managed-save image; the next start boots afresh.
    pub fn managed_save_remove(&self) -> Result<()> {
        self.writable()?.domain_managed_save_remove(&self.r)
    }

    /// Saves the domain's state to `path` and stops it.
    pub fn save(&self, path: &std::path::Path, flags: u32) -> Result<()> {
        self.writable()?.domain_save(&self.r, path, flags)
    }

    /// Sets whether the domain starts with its host.
    pub fn set_autostart(&self, autostart: bool) -> Result<()> {
        self.writable()?.domain_set_autostart(&self.r, autostart)
    }

    /// Sets memory in KiB. flags: 1 live, 2 config, 4 maximum (0: live if active).
    pub fn set_memory_flags(&self, kib: u64, flags: u32) -> Result<()> {
        self.writable()?.domain_set_memory(&self.r, kib, flags)
    }

    /// Sets vCPUs. flags: 1 live, 2 config, 4 maximum.
    pub fn set_vcpus_flags(&self, count: u32, flags: u32) -> Result<()> {
        self.writable()?.domain_set_vcpus(&self.r, count, flags)
    }

    /// vCPU count. flags: 1 live, 2 config, 4 maximum.
    pub fn vcpus_flags(&self, flags: u32) -> Result<u32> {
        self.conn.backend().domain_vcpus(&self.r, flags)
    }

    /// Attaches to the guest's serial console: its output (recent history
    /// first) to read, keyboard input to write.
    pub fn open_console(&self) -> Result<ConsoleStream> {
        self.conn.backend().domain_open_console(&self.r)
    }

    /// Renames an inactive domain.
    pub fn rename(&self, new_name: &str) -> Result<()> {
        self.writable()?.domain_rename(&self.r, new_name)
    }

    /// Adds the device in `xml` (libvirt's `virDomainAttachDeviceFlags`;
    /// flags: 1 live, 2 config, neither: the domain's current state).
    pub fn attach_device(&self, xml: &str, flags: u32) -> Result<()> {
        self.writable()?.domain_attach_device(&self.r, xml, flags)
    }

    /// Removes the device `xml` names (a disk by target, an interface by
    /// MAC), as `virDomainDetachDeviceFlags`.
    pub fn detach_device(&self, xml: &str, flags: u32) -> Result<()> {
        self.writable()?.domain_detach_device(&self.r, xml, flags)
    }

    /// Changes a device in place (libvirt's `virDomainUpdateDeviceFlags`;
    /// flags: 1 live, 2 config). wirt changes an `<interface>`'s link
    /// state, found by MAC address; other changes are refused.
    pub fn update_device(&self, xml: &str, flags: u32) -> Result<()> {
        self.writable()?.domain_update_device(&self.r, xml, flags)
    }
}
