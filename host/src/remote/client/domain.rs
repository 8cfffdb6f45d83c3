//! Domains and their snapshots over the wire: each method is one call (or a
//! few, where the public API returns more than one procedure gives).

use std::path::Path;

use uuid::Uuid;

use super::RemoteConn;
use crate::connect::domain::list_order;
use crate::connect::{Connect, Domain, DomainInfo, Error, Result, Snapshot, SnapshotInfo};
use crate::driver::ConsoleStream;
use crate::error::ErrorCode;
use crate::lifecycle::State;
use crate::remote::protocol::*;
use crate::remote::refs::{self, wire_domain};
use crate::xml::Element;

/// `VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS`: count all descendants, not children.
const SNAPSHOT_LIST_DESCENDANTS: u32 = 1;

fn handle(conn: &Connect, d: NonnullDomain) -> Domain {
    refs::domain(conn, d)
}

fn args(dom: &Domain) -> DomainArgs {
    DomainArgs {
        dom: wire_domain(dom),
    }
}

fn flags_args(dom: &Domain, flags: u32) -> DomainFlagsArgs {
    DomainFlagsArgs {
        dom: wire_domain(dom),
        flags,
    }
}

fn wire_snapshot(snap: &Snapshot, flags: u32) -> SnapshotFlagsArgs {
    SnapshotFlagsArgs {
        snap: NonnullDomainSnapshot {
            name: snap.name().to_string(),
            dom: wire_domain(snap.domain()),
        },
        flags,
    }
}

fn state(n: i32) -> State {
    u32::try_from(n)
        .ok()
        .and_then(State::from_u32)
        .unwrap_or(State::NoState)
}

impl RemoteConn {
    pub(crate) fn lookup_domain_by_name(&self, conn: &Connect, name: &str) -> Result<Domain> {
        let args = DomainLookupByNameArgs {
            name: name.to_string(),
        };
        let ret: DomainRet = self.call(REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, &args)?;
        Ok(handle(conn, ret.dom))
    }

    pub(crate) fn lookup_domain_by_uuid(&self, conn: &Connect, uuid: &Uuid) -> Result<Domain> {
        let args = DomainLookupByUuidArgs {
            uuid: *uuid.as_bytes(),
        };
        let ret: DomainRet = self.call(REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID, &args)?;
        Ok(handle(conn, ret.dom))
    }

    pub(crate) fn lookup_domain_by_id(&self, conn: &Connect, id: u32) -> Result<Domain> {
        let args = DomainLookupByIdArgs {
            id: i32::try_from(id).unwrap_or(i32::MAX),
        };
        let ret: DomainRet = self.call(REMOTE_PROC_DOMAIN_LOOKUP_BY_ID, &args)?;
        Ok(handle(conn, ret.dom))
    }

    pub(crate) fn list_all_domains(&self, conn: &Connect, flags: u32) -> Result<Vec<Domain>> {
        let args = ConnectListAllDomainsArgs {
            need_results: 1,
            flags,
        };
        let mut ret: ConnectListAllDomainsRet =
            self.call(REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, &args)?;
        // Daemons answer in any order (libvirtd's is its hash table's); the
        // API's is active domains by id, then the others by name.
        ret.domains.sort_by(|a, b| {
            list_order(
                (u32::try_from(a.id).ok(), &a.name),
                (u32::try_from(b.id).ok(), &b.name),
            )
        });
        Ok(ret.domains.into_iter().map(|d| handle(conn, d)).collect())
    }

    pub(crate) fn define_domain_xml(
        &self,
        conn: &Connect,
        xml: &str,
        flags: u32,
    ) -> Result<Domain> {
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
        Ok(handle(conn, ret.dom))
    }

    pub(crate) fn create_domain_xml(
        &self,
        conn: &Connect,
        xml: &str,
        flags: u32,
    ) -> Result<Domain> {
        let args = DomainCreateXmlArgs {
            xml_desc: xml.to_string(),
            flags,
        };
        let ret: DomainRet = self.call(REMOTE_PROC_DOMAIN_CREATE_XML, &args)?;
        Ok(handle(conn, ret.dom))
    }

    pub(crate) fn domain_id(&self, dom: &Domain) -> Result<i32> {
        Ok(self
            .lookup_domain_by_uuid(dom.connect(), &dom.uuid())?
            .cached_id())
    }

    pub(crate) fn domain_state(&self, dom: &Domain) -> Result<(State, u32)> {
        let ret: DomainGetStateRet =
            self.call(REMOTE_PROC_DOMAIN_GET_STATE, &flags_args(dom, 0))?;
        Ok((state(ret.state), u32::try_from(ret.reason).unwrap_or(0)))
    }

    pub(crate) fn domain_is_active(&self, dom: &Domain) -> Result<bool> {
        let ret: IsActiveRet = self.call(REMOTE_PROC_DOMAIN_IS_ACTIVE, &args(dom))?;
        Ok(ret.active != 0)
    }

    pub(crate) fn domain_is_persistent(&self, dom: &Domain) -> Result<bool> {
        let ret: IsPersistentRet = self.call(REMOTE_PROC_DOMAIN_IS_PERSISTENT, &args(dom))?;
        Ok(ret.persistent != 0)
    }

    pub(crate) fn domain_autostart(&self, dom: &Domain) -> Result<bool> {
        let ret: AutostartRet = self.call(REMOTE_PROC_DOMAIN_GET_AUTOSTART, &args(dom))?;
        Ok(ret.autostart != 0)
    }

    pub(crate) fn domain_has_managed_save(&self, dom: &Domain) -> Result<bool> {
        let ret: ResultRet = self.call(
            REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE,
            &flags_args(dom, 0),
        )?;
        Ok(ret.result != 0)
    }

    pub(crate) fn domain_info(&self, dom: &Domain) -> Result<DomainInfo> {
        let ret: DomainGetInfoRet = self.call(REMOTE_PROC_DOMAIN_GET_INFO, &args(dom))?;
        Ok(DomainInfo {
            state: state(i32::from(ret.state)),
            max_memory_kib: ret.max_mem,
            memory_kib: ret.memory,
            vcpus: u32::from(ret.nr_virt_cpu),
            cpu_time_ns: ret.cpu_time,
        })
    }

    pub(crate) fn domain_xml_desc(&self, dom: &Domain, flags: u32) -> Result<String> {
        let ret: XmlRet = self.call(REMOTE_PROC_DOMAIN_GET_XML_DESC, &flags_args(dom, flags))?;
        Ok(ret.xml)
    }

    pub(crate) fn domain_start(&self, dom: &Domain, flags: u32) -> Result<()> {
        if flags == 0 {
            return Ok(self.call(REMOTE_PROC_DOMAIN_CREATE, &args(dom))?);
        }
        let _: DomainRet = self.call(
            REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS,
            &flags_args(dom, flags),
        )?;
        Ok(())
    }

    pub(crate) fn domain_shutdown(&self, dom: &Domain) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_SHUTDOWN, &args(dom))?)
    }

    pub(crate) fn domain_reboot(&self, dom: &Domain, flags: u32) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_REBOOT, &flags_args(dom, flags))?)
    }

    pub(crate) fn domain_reset(&self, dom: &Domain) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_RESET, &flags_args(dom, 0))?)
    }

    pub(crate) fn domain_destroy(&self, dom: &Domain) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_DESTROY, &args(dom))?)
    }

    pub(crate) fn domain_suspend(&self, dom: &Domain) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_SUSPEND, &args(dom))?)
    }

    pub(crate) fn domain_resume(&self, dom: &Domain) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_RESUME, &args(dom))?)
    }

    pub(crate) fn domain_undefine(&self, dom: &Domain, flags: u32) -> Result<()> {
        if flags == 0 {
            return Ok(self.call(REMOTE_PROC_DOMAIN_UNDEFINE, &args(dom))?);
        }
        Ok(self.call(REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, &flags_args(dom, flags))?)
    }

    pub(crate) fn domain_managed_save(&self, dom: &Domain, flags: u32) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_MANAGED_SAVE, &flags_args(dom, flags))?)
    }

    pub(crate) fn domain_managed_save_remove(&self, dom: &Domain) -> Result<()> {
        Ok(self.call(REMOTE_PROC_DOMAIN_MANAGED_SAVE_REMOVE, &flags_args(dom, 0))?)
    }

    /// `path` names a file on the daemon's host, as with libvirt.
    pub(crate) fn domain_save(&self, dom: &Domain, path: &Path, flags: u32) -> Result<()> {
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

    pub(crate) fn save_image_xml(&self, path: &Path) -> Result<String> {
        let args = DomainSaveImageGetXmlDescArgs {
            file: path_string(path)?,
            flags: 0,
        };
        let ret: XmlRet = self.call(REMOTE_PROC_DOMAIN_SAVE_IMAGE_GET_XML_DESC, &args)?;
        Ok(ret.xml)
    }

    /// Restores, then finds the domain by the UUID its image records
    /// (libvirt's restore answers with nothing).
    pub(crate) fn restore(&self, conn: &Connect, path: &Path, flags: u32) -> Result<Domain> {
        let xml = self.save_image_xml(path)?;
        let from = path_string(path)?;
        if flags == 0 {
            self.call::<_, ()>(REMOTE_PROC_DOMAIN_RESTORE, &DomainRestoreArgs { from })?;
        } else {
            let args = DomainRestoreFlagsArgs {
                from,
                dxml: None,
                flags,
            };
            self.call::<_, ()>(REMOTE_PROC_DOMAIN_RESTORE_FLAGS, &args)?;
        }
        let root = Element::parse(&xml, "domain")?;
        match root
            .child_text("uuid")
            .and_then(|u| crate::xml::domain::parse_uuid(&u).ok())
        {
            Some(uuid) => self.lookup_domain_by_uuid(conn, &uuid),
            None => self.lookup_domain_by_name(conn, &root.child_text("name").unwrap_or_default()),
        }
    }

    pub(crate) fn domain_set_autostart(&self, dom: &Domain, autostart: bool) -> Result<()> {
        let args = DomainSetAutostartArgs {
            dom: wire_domain(dom),
            autostart: i32::from(autostart),
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_SET_AUTOSTART, &args)?)
    }

    pub(crate) fn domain_set_memory(&self, dom: &Domain, kib: u64, flags: u32) -> Result<()> {
        let args = DomainSetMemoryFlagsArgs {
            dom: wire_domain(dom),
            memory: kib,
            flags,
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS, &args)?)
    }

    pub(crate) fn domain_set_vcpus(&self, dom: &Domain, count: u32, flags: u32) -> Result<()> {
        let args = DomainSetVcpusFlagsArgs {
            dom: wire_domain(dom),
            nvcpus: count,
            flags,
        };
        Ok(self.call(REMOTE_PROC_DOMAIN_SET_VCPUS_FLAGS, &args)?)
    }

    pub(crate) fn domain_vcpus(&self, dom: &Domain, flags: u32) -> Result<u32> {
        let ret: NumRet = self.call(REMOTE_PROC_DOMAIN_GET_VCPUS_FLAGS, &flags_args(dom, flags))?;
        Ok(u32::try_from(ret.num).unwrap_or(0))
    }

    pub(crate) fn domain_open_console(&self, _dom: &Domain) -> Result<ConsoleStream> {
        Err(Error::api(
            ErrorCode::NO_SUPPORT,
            "virDomainOpenConsole over a remote connection",
        ))
    }

    pub(crate) fn domain_rename(&self, dom: &Domain, new_name: &str) -> Result<()> {
        let args = DomainRenameArgs {
            dom: wire_domain(dom),
            new_name: Some(new_name.to_string()),
            flags: 0,
        };
        let _: DomainRenameRet = self.call(REMOTE_PROC_DOMAIN_RENAME, &args)?;
        Ok(())
    }

    pub(crate) fn snapshot_create_xml(
        &self,
        dom: &Domain,
        xml: &str,
        flags: u32,
    ) -> Result<Snapshot> {
        let args = DomainSnapshotCreateXmlArgs {
            dom: wire_domain(dom),
            xml_desc: xml.to_string(),
            flags,
        };
        let ret: SnapshotRet = self.call(REMOTE_PROC_DOMAIN_SNAPSHOT_CREATE_XML, &args)?;
        Ok(Snapshot::new(dom.clone(), ret.snap.name))
    }

    pub(crate) fn list_all_snapshots(&self, dom: &Domain, flags: u32) -> Result<Vec<Snapshot>> {
        let args = DomainListAllSnapshotsArgs {
            dom: wire_domain(dom),
            need_results: 1,
            flags,
        };
        let ret: SnapshotListRet = self.call(REMOTE_PROC_DOMAIN_LIST_ALL_SNAPSHOTS, &args)?;
        Ok(ret
            .snapshots
            .into_iter()
            .map(|s| Snapshot::new(dom.clone(), s.name))
            .collect())
    }

    pub(crate) fn snapshot_lookup_by_name(&self, dom: &Domain, name: &str) -> Result<Snapshot> {
        let args = DomainSnapshotLookupByNameArgs {
            dom: wire_domain(dom),
            name: name.to_string(),
            flags: 0,
        };
        let ret: SnapshotRet = self.call(REMOTE_PROC_DOMAIN_SNAPSHOT_LOOKUP_BY_NAME, &args)?;
        Ok(Snapshot::new(dom.clone(), ret.snap.name))
    }

    pub(crate) fn has_current_snapshot(&self, dom: &Domain) -> Result<bool> {
        let ret: ResultRet =
            self.call(REMOTE_PROC_DOMAIN_HAS_CURRENT_SNAPSHOT, &flags_args(dom, 0))?;
        Ok(ret.result != 0)
    }

    pub(crate) fn snapshot_current(&self, dom: &Domain) -> Result<Snapshot> {
        let ret: SnapshotRet =
            self.call(REMOTE_PROC_DOMAIN_SNAPSHOT_CURRENT, &flags_args(dom, 0))?;
        Ok(Snapshot::new(dom.clone(), ret.snap.name))
    }

    pub(crate) fn snapshot_xml_desc(&self, snap: &Snapshot) -> Result<String> {
        let ret: XmlRet = self.call(
            REMOTE_PROC_DOMAIN_SNAPSHOT_GET_XML_DESC,
            &wire_snapshot(snap, 0),
        )?;
        Ok(ret.xml)
    }

    /// `snapshot-info` needs the XML and four small calls.
    pub(crate) fn snapshot_info(&self, snap: &Snapshot) -> Result<SnapshotInfo> {
        let xml = self.snapshot_xml_desc(snap)?;
        let root = Element::parse(&xml, "domainsnapshot")?;
        let parent = match self.call::<_, SnapshotRet>(
            REMOTE_PROC_DOMAIN_SNAPSHOT_GET_PARENT,
            &wire_snapshot(snap, 0),
        ) {
            Ok(ret) => Some(ret.snap.name),
            Err(e) if e.code() == ErrorCode::NO_DOMAIN_SNAPSHOT => None,
            Err(e) => return Err(e.into()),
        };
        let count = |flags| -> Result<usize> {
            let ret: NumRet = self.call(
                REMOTE_PROC_DOMAIN_SNAPSHOT_NUM_CHILDREN,
                &wire_snapshot(snap, flags),
            )?;
            Ok(usize::try_from(ret.num).unwrap_or(0))
        };
        let current: DomainSnapshotIsCurrentRet = self.call(
            REMOTE_PROC_DOMAIN_SNAPSHOT_IS_CURRENT,
            &wire_snapshot(snap, 0),
        )?;
        let location = match root.child("memory").and_then(|m| m.attr("snapshot")) {
            Some("external") => "external",
            _ => "internal",
        };
        Ok(SnapshotInfo {
            name: snap.name().to_string(),
            domain: snap.domain().name().to_string(),
            current: current.current != 0,
            state: root.child_text("state").unwrap_or_default(),
            location: location.to_string(),
            parent,
            children: count(0)?,
            descendants: count(SNAPSHOT_LIST_DESCENDANTS)?,
            creation_time: root
                .child_text("creationTime")
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0),
        })
    }

    pub(crate) fn snapshot_revert(&self, snap: &Snapshot, flags: u32) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_DOMAIN_REVERT_TO_SNAPSHOT,
            &wire_snapshot(snap, flags),
        )?)
    }

    pub(crate) fn snapshot_delete(&self, snap: &Snapshot, flags: u32) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_DOMAIN_SNAPSHOT_DELETE,
            &wire_snapshot(snap, flags),
        )?)
    }

    /// The `<domain>` recorded in the snapshot's XML.
    pub(crate) fn snapshot_domain_xml(&self, snap: &Snapshot) -> Result<String> {
        let xml = self.snapshot_xml_desc(snap)?;
        let root = Element::parse(&xml, "domainsnapshot")?;
        Ok(root
            .child("domain")
            .map(Element::to_xml)
            .unwrap_or_default())
    }
}

pub(crate) fn path_string(path: &Path) -> Result<String> {
    path.to_str().map(str::to_string).ok_or_else(|| {
        Error::api(
            ErrorCode::INVALID_ARG,
            format!("path {} is not UTF-8", path.display()),
        )
    })
}
