//! Domain snapshot procedures. The tree queries (parent, children) are
//! answered from `Snapshot::info`.

use super::handles::{domain, wire_domain};
use super::wire::{Routed, check_list_len};
use crate::protocol::*;
use wirt::connect::{Connect, Domain, Error, Result, Snapshot};
use wirt::error::ErrorCode;

/// `VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS` on the children queries.
const LIST_DESCENDANTS: u32 = 1;

fn wire(snap: &Snapshot) -> NonnullDomainSnapshot {
    NonnullDomainSnapshot {
        name: snap.name().to_string(),
        dom: wire_domain(snap.domain()),
    }
}

fn snapshot(conn: &Connect, s: NonnullDomainSnapshot) -> Result<Snapshot> {
    domain(conn, s.dom).snapshot_lookup_by_name(&s.name)
}

/// The snapshots below `snap`: its children, or all its descendants.
fn children(snap: &Snapshot, flags: u32) -> Result<Vec<Snapshot>> {
    let all: Vec<(Snapshot, Option<String>)> = snap
        .domain()
        .list_all_snapshots(0)?
        .into_iter()
        .map(|s| {
            let parent = s.parent()?;
            Ok((s, parent))
        })
        .collect::<Result<_>>()?;
    let mut found: Vec<Snapshot> = Vec::new();
    let mut frontier = vec![snap.name().to_string()];
    while let Some(parent) = frontier.pop() {
        for (s, p) in &all {
            if p.as_deref() == Some(parent.as_str()) {
                found.push(s.clone());
                if flags & LIST_DESCENDANTS != 0 {
                    frontier.push(s.name().to_string());
                }
            }
        }
    }
    Ok(found)
}

/// The snapshots (if asked for) and their count, as list replies carry them.
fn list_ret(snaps: &[Snapshot], need_results: i32) -> Result<(Vec<NonnullDomainSnapshot>, i32)> {
    check_list_len(
        snaps.len(),
        REMOTE_DOMAIN_SNAPSHOT_LIST_MAX,
        "domain snapshots",
    )?;
    let wired = if need_results != 0 {
        snaps.iter().map(wire).collect()
    } else {
        Vec::new()
    };
    Ok((wired, snaps.len() as i32))
}

fn names(snaps: &[Snapshot], max: i32) -> Result<Vec<String>> {
    let names: Vec<String> = snaps
        .iter()
        .map(|s| s.name().to_string())
        .take(usize::try_from(max).unwrap_or(0))
        .collect();
    check_list_len(
        names.len(),
        REMOTE_DOMAIN_SNAPSHOT_LIST_MAX,
        "domain snapshots",
    )?;
    Ok(names)
}

pub(super) fn dispatch(conn: &Connect, call: Call) -> Routed {
    let dom = |d: NonnullDomain| -> Domain { domain(conn, d) };
    let result = match call {
        Call::DomainSnapshotCreateXml(a) => dom(a.dom)
            .snapshot_create_xml(&a.xml_desc, a.flags)
            .map(|s| Reply::DomainSnapshotCreateXml(DomainSnapshotCreateXmlRet { snap: wire(&s) })),
        Call::DomainSnapshotGetXmlDesc(a) => snapshot(conn, a.snap)
            .and_then(|s| s.xml_desc())
            .map(|xml| Reply::DomainSnapshotGetXmlDesc(DomainSnapshotGetXmlDescRet { xml })),
        Call::DomainSnapshotNum(a) => dom(a.dom).list_all_snapshots(a.flags).map(|l| {
            Reply::DomainSnapshotNum(DomainSnapshotNumRet {
                num: l.len() as i32,
            })
        }),
        Call::DomainSnapshotListNames(a) => dom(a.dom)
            .list_all_snapshots(a.flags)
            .and_then(|l| names(&l, a.maxnames))
            .map(|names| Reply::DomainSnapshotListNames(DomainSnapshotListNamesRet { names })),
        Call::DomainListAllSnapshots(a) => dom(a.dom)
            .list_all_snapshots(a.flags)
            .and_then(|l| list_ret(&l, a.need_results))
            .map(|(snapshots, ret)| {
                Reply::DomainListAllSnapshots(DomainListAllSnapshotsRet { snapshots, ret })
            }),
        Call::DomainSnapshotLookupByName(a) => {
            dom(a.dom).snapshot_lookup_by_name(&a.name).map(|s| {
                Reply::DomainSnapshotLookupByName(DomainSnapshotLookupByNameRet { snap: wire(&s) })
            })
        }
        Call::DomainHasCurrentSnapshot(a) => dom(a.dom).has_current_snapshot().map(|b| {
            Reply::DomainHasCurrentSnapshot(DomainHasCurrentSnapshotRet {
                result: i32::from(b),
            })
        }),
        Call::DomainSnapshotCurrent(a) => dom(a.dom)
            .snapshot_current()
            .map(|s| Reply::DomainSnapshotCurrent(DomainSnapshotCurrentRet { snap: wire(&s) })),
        Call::DomainRevertToSnapshot(a) => snapshot(conn, a.snap)
            .and_then(|s| s.revert(a.flags))
            .map(Reply::DomainRevertToSnapshot),
        Call::DomainSnapshotDelete(a) => snapshot(conn, a.snap)
            .and_then(|s| s.delete(a.flags))
            .map(Reply::DomainSnapshotDelete),
        Call::DomainSnapshotGetParent(a) => {
            snapshot(conn, a.snap).and_then(|s| match s.parent()? {
                Some(parent) => Ok(Reply::DomainSnapshotGetParent(DomainSnapshotGetParentRet {
                    snap: wire(&s.domain().snapshot_lookup_by_name(&parent)?),
                })),
                None => Err(Error::api(
                    ErrorCode::NO_DOMAIN_SNAPSHOT,
                    format!("snapshot '{}' does not have a parent", s.name()),
                )),
            })
        }
        Call::DomainSnapshotNumChildren(a) => snapshot(conn, a.snap)
            .and_then(|s| children(&s, a.flags))
            .map(|c| {
                Reply::DomainSnapshotNumChildren(DomainSnapshotNumChildrenRet {
                    num: c.len() as i32,
                })
            }),
        Call::DomainSnapshotListChildrenNames(a) => snapshot(conn, a.snap)
            .and_then(|s| children(&s, a.flags))
            .and_then(|c| names(&c, a.maxnames))
            .map(|names| {
                Reply::DomainSnapshotListChildrenNames(DomainSnapshotListChildrenNamesRet { names })
            }),
        Call::DomainSnapshotListAllChildren(a) => snapshot(conn, a.snapshot)
            .and_then(|s| children(&s, a.flags))
            .and_then(|c| list_ret(&c, a.need_results))
            .map(|(snapshots, ret)| {
                Reply::DomainSnapshotListAllChildren(DomainSnapshotListAllChildrenRet {
                    snapshots,
                    ret,
                })
            }),
        Call::DomainSnapshotIsCurrent(a) => {
            snapshot(conn, a.snap).and_then(|s| s.info()).map(|i| {
                Reply::DomainSnapshotIsCurrent(DomainSnapshotIsCurrentRet {
                    current: i32::from(i.current),
                })
            })
        }
        // wirt keeps metadata for every snapshot it takes.
        Call::DomainSnapshotHasMetadata(a) => snapshot(conn, a.snap).map(|_| {
            Reply::DomainSnapshotHasMetadata(DomainSnapshotHasMetadataRet { metadata: 1 })
        }),
        other => return Routed::Pass(other),
    };
    Routed::Done(result)
}
