//! Snapshots over the wire.

use wirt::connect::{DomainRef, Result, SnapshotBackend, SnapshotInfo, SnapshotRef};
use wirt::error::ErrorCode;
use wirt::xml::Element;

use super::RemoteConn;
use crate::protocol::*;
use crate::refs::wire_domain;

/// `VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS`: count all descendants, not children.
const SNAPSHOT_LIST_DESCENDANTS: u32 = 1;

fn wire_snapshot(snap: &SnapshotRef) -> NonnullDomainSnapshot {
    NonnullDomainSnapshot {
        name: snap.name.clone(),
        dom: wire_domain(&snap.domain),
    }
}

impl SnapshotBackend for RemoteConn {
    fn snapshot_create_xml(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<String> {
        let args = DomainSnapshotCreateXmlArgs {
            dom: wire_domain(dom),
            xml_desc: xml.to_string(),
            flags,
        };
        let ret: DomainSnapshotCreateXmlRet =
            self.call(REMOTE_PROC_DOMAIN_SNAPSHOT_CREATE_XML, &args)?;
        Ok(ret.snap.name)
    }

    fn list_all_snapshots(&self, dom: &DomainRef, flags: u32) -> Result<Vec<String>> {
        let args = DomainListAllSnapshotsArgs {
            dom: wire_domain(dom),
            need_results: 1,
            flags,
        };
        let ret: DomainListAllSnapshotsRet =
            self.call(REMOTE_PROC_DOMAIN_LIST_ALL_SNAPSHOTS, &args)?;
        Ok(ret.snapshots.into_iter().map(|s| s.name).collect())
    }

    fn snapshot_lookup_by_name(&self, dom: &DomainRef, name: &str) -> Result<()> {
        let args = DomainSnapshotLookupByNameArgs {
            dom: wire_domain(dom),
            name: name.to_string(),
            flags: 0,
        };
        let _: DomainSnapshotLookupByNameRet =
            self.call(REMOTE_PROC_DOMAIN_SNAPSHOT_LOOKUP_BY_NAME, &args)?;
        Ok(())
    }

    fn has_current_snapshot(&self, dom: &DomainRef) -> Result<bool> {
        let ret: DomainHasCurrentSnapshotRet = self.call(
            REMOTE_PROC_DOMAIN_HAS_CURRENT_SNAPSHOT,
            &DomainHasCurrentSnapshotArgs {
                dom: wire_domain(dom),
                flags: 0,
            },
        )?;
        Ok(ret.result != 0)
    }

    fn snapshot_current(&self, dom: &DomainRef) -> Result<String> {
        let ret: DomainSnapshotCurrentRet = self.call(
            REMOTE_PROC_DOMAIN_SNAPSHOT_CURRENT,
            &DomainSnapshotCurrentArgs {
                dom: wire_domain(dom),
                flags: 0,
            },
        )?;
        Ok(ret.snap.name)
    }

    fn snapshot_xml_desc(&self, snap: &SnapshotRef) -> Result<String> {
        let ret: DomainSnapshotGetXmlDescRet = self.call(
            REMOTE_PROC_DOMAIN_SNAPSHOT_GET_XML_DESC,
            &DomainSnapshotGetXmlDescArgs {
                snap: wire_snapshot(snap),
                flags: 0,
            },
        )?;
        Ok(ret.xml)
    }

    /// `snapshot-info` needs the XML and four small calls.
    fn snapshot_info(&self, snap: &SnapshotRef) -> Result<SnapshotInfo> {
        let xml = self.snapshot_xml_desc(snap)?;
        let root = Element::parse(&xml, "domainsnapshot")?;
        let parent = match self.call::<_, DomainSnapshotGetParentRet>(
            REMOTE_PROC_DOMAIN_SNAPSHOT_GET_PARENT,
            &DomainSnapshotGetParentArgs {
                snap: wire_snapshot(snap),
                flags: 0,
            },
        ) {
            Ok(ret) => Some(ret.snap.name),
            Err(e) if e.code() == ErrorCode::NO_DOMAIN_SNAPSHOT => None,
            Err(e) => return Err(e.into()),
        };
        let count = |flags| -> Result<usize> {
            let ret: DomainSnapshotNumChildrenRet = self.call(
                REMOTE_PROC_DOMAIN_SNAPSHOT_NUM_CHILDREN,
                &DomainSnapshotNumChildrenArgs {
                    snap: wire_snapshot(snap),
                    flags,
                },
            )?;
            Ok(usize::try_from(ret.num).unwrap_or(0))
        };
        let current: DomainSnapshotIsCurrentRet = self.call(
            REMOTE_PROC_DOMAIN_SNAPSHOT_IS_CURRENT,
            &DomainSnapshotIsCurrentArgs {
                snap: wire_snapshot(snap),
                flags: 0,
            },
        )?;
        let location = match root.child("memory").and_then(|m| m.attr("snapshot")) {
            Some("external") => "external",
            _ => "internal",
        };
        Ok(SnapshotInfo {
            name: snap.name.clone(),
            domain: snap.domain.name.clone(),
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

    fn snapshot_revert(&self, snap: &SnapshotRef, flags: u32) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_DOMAIN_REVERT_TO_SNAPSHOT,
            &DomainRevertToSnapshotArgs {
                snap: wire_snapshot(snap),
                flags,
            },
        )?)
    }

    fn snapshot_delete(&self, snap: &SnapshotRef, flags: u32) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_DOMAIN_SNAPSHOT_DELETE,
            &DomainSnapshotDeleteArgs {
                snap: wire_snapshot(snap),
                flags,
            },
        )?)
    }

    /// The `<domain>` recorded in the snapshot's XML.
    fn snapshot_domain_xml(&self, snap: &SnapshotRef) -> Result<String> {
        let xml = self.snapshot_xml_desc(snap)?;
        let root = Element::parse(&xml, "domainsnapshot")?;
        Ok(root
            .child("domain")
            .map(Element::to_xml)
            .unwrap_or_default())
    }
}
