//! Checks libvirt makes across a domain definition outside `<devices>`:
//! firmware and boot order, CPU features, guest NUMA, I/O threads and cache
//! / memory bandwidth tuning. Each rejection carries libvirt's error class.

use super::Error;
use super::cpuset::CpuSet;
use super::tree::Element;
use super::units;

/// Guest NUMA cells (`<cpu><numa><cell>`).
fn numa_cells(root: &Element) -> Vec<&Element> {
    root.child("cpu")
        .and_then(|c| c.child("numa"))
        .map(|n| n.children_named("cell").collect())
        .unwrap_or_default()
}

/// The memory of the guest NUMA cells, KiB: when there are cells, libvirt
/// takes the domain's initial memory from them rather than from `<memory>`.
pub(super) fn numa_memory_kib(root: &Element) -> Result<u64, Error> {
    let mut total: u64 = 0;
    for cell in numa_cells(root) {
        if let Some(memory) = cell.attr("memory") {
            let kib = units::memory_kib(memory, cell.attr("unit"), "memory")?;
            total = total.saturating_add(kib);
        }
    }
    Ok(total)
}

/// The memory of `<memory model=...>` hotplug devices, KiB.
pub(super) fn memory_devices_kib(root: &Element) -> Result<u64, Error> {
    let mut total: u64 = 0;
    let devices = root.child("devices");
    for device in devices.iter().flat_map(|d| d.children_named("memory")) {
        if let Some(size) = device.child("target").and_then(|t| t.child("size")) {
            let kib = units::memory_kib(&size.text(), size.attr("unit"), "size")?;
            total = total.saturating_add(kib);
        }
    }
    Ok(total)
}

/// Everything this module checks, in the order libvirt meets it.
pub(super) fn check(root: &Element, vcpus: u32) -> Result<(), Error> {
    vcpu_cpuset(root)?;
    cputune(root, vcpus)?;
    numa(root)?;
    features(root)?;
    boot_order(root)?;
    hugepages(root)?;
    firmware(root)?;
    Ok(())
}

/// `<vcpu cpuset=...>` must be a bitmap; libvirt refuses it at define as an
/// invalid argument ("Failed to parse bitmap 'aaa'").
fn vcpu_cpuset(root: &Element) -> Result<(), Error> {
    if let Some(set) = root.child("vcpu").and_then(|v| v.attr("cpuset")) {
        CpuSet::parse(set)
            .map_err(|_| Error::InvalidArg(format!("Failed to parse bitmap '{set}'")))?;
    }
    Ok(())
}

/// The value of an enumerated attribute, refused as libvirt does when it
/// is not one of `allowed`.
fn enum_attr(e: &Element, attr: &str, allowed: &[&str]) -> Result<(), Error> {
    match e.attr(attr) {
        Some(v) if !allowed.contains(&v) => Err(Error::Invalid(format!(
            "Invalid value for attribute '{attr}' in element '{}': '{v}'.",
            e.name
        ))),
        _ => Ok(()),
    }
}

fn features(root: &Element) -> Result<(), Error> {
    if let Some(gic) = root.child("features").and_then(|f| f.child("gic")) {
        enum_attr(gic, "version", &["2", "3", "host"])?;
    }
    Ok(())
}

fn numa(root: &Element) -> Result<(), Error> {
    for cell in numa_cells(root) {
        enum_attr(cell, "memAccess", &["shared", "private"])?;
        enum_attr(cell, "discard", &["yes", "no"])?;
    }
    Ok(())
}

/// `<os><boot dev>` and per-device `<boot order>` exclude each other.
fn boot_order(root: &Element) -> Result<(), Error> {
    let os_boot = root
        .child("os")
        .is_some_and(|os| os.child("boot").is_some());
    let device_boot = root.child("devices").is_some_and(|d| {
        d.elements()
            .any(|dev| dev.child("boot").is_some_and(|b| b.attr("order").is_some()))
    });
    if os_boot && device_boot {
        return Err(Error::Unsupported(
            "per-device boot elements cannot be used together with os/boot elements".into(),
        ));
    }
    Ok(())
}

/// Huge pages pinned to guest NUMA nodes need those nodes.
fn hugepages(root: &Element) -> Result<(), Error> {
    let Some(hugepages) = root
        .child("memoryBacking")
        .and_then(|m| m.child("hugepages"))
    else {
        return Ok(());
    };
    let nodes = numa_cells(root).len() as u32;
    for page in hugepages.children_named("page") {
        let Some(nodeset) = page.attr("nodeset") else {
            continue;
        };
        let set = CpuSet::parse(nodeset)?;
        if let Some(missing) = set.iter().find(|&n| n >= nodes) {
            return Err(Error::Detail(format!(
                "hugepages: node {missing} not found"
            )));
        }
    }
    Ok(())
}

/// Firmware autoselection (`<os firmware=...>`) picks the loader itself;
/// a stateless loader has no NVRAM.
fn firmware(root: &Element) -> Result<(), Error> {
    let Some(os) = root.child("os") else {
        return Ok(());
    };
    let Some(loader) = os.child("loader") else {
        return Ok(());
    };
    if os.attr("firmware").is_some() {
        // libvirt gives a loader with a path the type 'rom'.
        if loader.attr("type").is_some() || !loader.text().trim().is_empty() {
            return Err(Error::Detail(
                "loader attribute 'type' cannot be specified when firmware autoselection is enabled"
                    .into(),
            ));
        }
        if loader.attr("readonly").is_some() {
            return Err(Error::Detail(
                "loader attribute 'readonly' cannot be specified when firmware autoselection is enabled"
                    .into(),
            ));
        }
    }
    if loader.attr("stateless") == Some("yes")
        && let Some(nvram) = os.child("nvram")
    {
        return Err(Error::Detail(if nvram.attr("template").is_some() {
            "NVRAM template is not permitted when loader is stateless".into()
        } else {
            "NVRAM is not permitted when loader is stateless".into()
        }));
    }
    Ok(())
}

/// The I/O thread ids of a domain: the `<iothreadids>` given, filled up to
/// the `<iothreads>` count with the lowest free ids, as libvirt does.
struct IoThreadIds {
    given: Vec<u32>,
    /// Every id from 1 to this one exists (the filled-in ones and any given
    /// among them).
    filled_to: u64,
}

impl IoThreadIds {
    fn of(root: &Element) -> IoThreadIds {
        let mut given: Vec<u32> = root
            .child("iothreadids")
            .map(|t| {
                t.children_named("iothread")
                    .filter_map(|i| i.attr("id")?.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        given.sort_unstable();
        given.dedup();
        let count: u64 = root
            .child_text("iothreads")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        // The k-th free positive id, k being how many libvirt adds.
        let mut missing = count.saturating_sub(given.len() as u64);
        let mut filled_to = 0u64;
        for &g in &given {
            let g = u64::from(g);
            if g == 0 || missing == 0 {
                continue;
            }
            let gap = g - filled_to - 1;
            if gap >= missing {
                break;
            }
            missing -= gap;
            filled_to = g;
        }
        filled_to += missing;
        IoThreadIds { given, filled_to }
    }

    fn contains(&self, id: u32) -> bool {
        (id >= 1 && u64::from(id) <= self.filled_to) || self.given.binary_search(&id).is_ok()
    }

    /// The first id of `set` that does not exist.
    fn first_missing(&self, set: &CpuSet) -> Option<u32> {
        // Past `filled_to` only the given ids exist, so the search is short.
        set.ranges().find_map(|(start, end)| {
            let mut id = if start == 0 {
                0
            } else {
                start.max(u32::try_from(self.filled_to.saturating_add(1)).unwrap_or(u32::MAX))
            };
            while id <= end {
                if !self.contains(id) {
                    return Some(id);
                }
                id = id.checked_add(1)?;
            }
            None
        })
    }
}

fn cputune(root: &Element, vcpus: u32) -> Result<(), Error> {
    let Some(cputune) = root.child("cputune") else {
        return Ok(());
    };
    let ids = IoThreadIds::of(root);
    for pin in cputune.children_named("iothreadpin") {
        if let Some(id) = pin
            .attr("iothread")
            .and_then(|i| i.trim().parse::<u32>().ok())
            && !ids.contains(id)
        {
            return Err(Error::Unsupported(format!("Cannot find 'iothread' : {id}")));
        }
    }
    for sched in cputune.children_named("iothreadsched") {
        let Some(set) = sched.attr("iothreads") else {
            continue;
        };
        if let Some(id) = ids.first_missing(&CpuSet::parse(set)?) {
            return Err(Error::Unsupported(format!("Cannot find 'iothread' : {id}")));
        }
    }
    resctrl(cputune, vcpus)
}

/// Cache (`<cachetune>`) and memory bandwidth (`<memorytune>`) groups: each
/// group's vCPUs are disjoint from every other group's (memorytune may share
/// a cachetune's exact set), allocations within a group do not collide, and
/// monitors watch vCPUs of their own group.
fn resctrl(cputune: &Element, vcpus: u32) -> Result<(), Error> {
    use std::collections::{HashMap, HashSet};
    // Sets, not lists: a hostile document has 100k of these (the checks
    // were quadratic). Groups are disjoint, so their union answers overlaps.
    let mut cache_groups: HashSet<CpuSet> = HashSet::new();
    let mut taken = Taken::default();
    let group_vcpus = |tune: &Element| -> Result<Option<CpuSet>, Error> {
        let Some(list) = tune.attr("vcpus") else {
            return Ok(None);
        };
        // vCPUs beyond the domain's count are ignored; a group left with
        // none is ignored altogether.
        let set = CpuSet::parse(list)?.below(vcpus);
        Ok((!set.is_empty()).then_some(set))
    };
    for tune in cputune.children_named("cachetune") {
        let Some(set) = group_vcpus(tune)? else {
            continue;
        };
        if cache_groups.contains(&set) {
            return Err(Error::Invalid("Identical vcpus in cachetunes found".into()));
        }
        if taken.overlaps(&set) {
            return Err(Error::Invalid("Overlapping vcpus in resctrls".into()));
        }
        // The types allocated per (level, id); "both" collides with any.
        let mut caches: HashMap<(&str, &str), HashSet<&str>> = HashMap::new();
        for cache in tune.children_named("cache") {
            let (level, id, kind) = (
                cache.attr("level").unwrap_or(""),
                cache.attr("id").unwrap_or(""),
                cache.attr("type").unwrap_or(""),
            );
            let kinds = caches.entry((level, id)).or_default();
            let collides = kinds.contains(kind)
                || kinds.contains("both")
                || (kind == "both" && !kinds.is_empty());
            if collides {
                return Err(Error::Invalid(format!(
                    "Colliding cache allocations for cache level '{level}' id '{id}', type '{kind}'"
                )));
            }
            kinds.insert(kind);
        }
        monitors(tune, &set)?;
        taken.add(&set);
        cache_groups.insert(set);
    }
    for tune in cputune.children_named("memorytune") {
        let Some(set) = group_vcpus(tune)? else {
            continue;
        };
        let shared = cache_groups.contains(&set);
        if !shared && taken.overlaps(&set) {
            return Err(Error::Invalid("Overlapping vcpus in resctrls".into()));
        }
        let mut nodes: HashSet<&str> = HashSet::new();
        for node in tune.children_named("node") {
            let id = node.attr("id").unwrap_or("");
            if !nodes.insert(id) {
                return Err(Error::Invalid(format!(
                    "Memory Bandwidth already defined for node {id}"
                )));
            }
        }
        monitors(tune, &set)?;
        if !shared {
            taken.add(&set);
        }
    }
    Ok(())
}

/// The vCPUs of the groups so far, which are disjoint: ranges by start.
#[derive(Default)]
struct Taken(std::collections::BTreeMap<u32, u32>);

impl Taken {
    fn overlaps(&self, set: &CpuSet) -> bool {
        set.ranges().any(|(s, e)| {
            self.0
                .range(..=e)
                .next_back()
                .is_some_and(|(_, &end)| end >= s)
        })
    }

    fn add(&mut self, set: &CpuSet) {
        self.0.extend(set.ranges());
    }
}

fn monitors(tune: &Element, group: &CpuSet) -> Result<(), Error> {
    for monitor in tune.children_named("monitor") {
        let Some(list) = monitor.attr("vcpus") else {
            continue;
        };
        if !CpuSet::parse(list)?.is_subset_of(group) {
            return Err(Error::InvalidArg(
                "Monitor vcpus conflicts with allocation".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(xml: &str) -> IoThreadIds {
        IoThreadIds::of(&Element::parse(xml, "t").unwrap())
    }

    /// The error class of a domain with these top-level elements added, or
    /// None if accepted.
    fn class(extra: &str, os: &str, devices: &str) -> Option<u32> {
        let xml = format!(
            "<domain type='test'><name>t</name><memory>1024</memory><vcpu>4</vcpu>{extra}\
             <os{os}<type>hvm</type></os><devices>{devices}</devices></domain>"
        );
        super::super::DomainDef::parse(&xml, Default::default())
            .err()
            .map(|e| e.code().0)
    }

    #[test]
    fn vcpu_cpuset_is_a_bitmap() {
        let with = |set: &str| {
            let xml = format!(
                "<domain type='test'><name>t</name><memory>1024</memory>\
                 <vcpu cpuset='{set}'>2</vcpu><os><type>hvm</type></os></domain>"
            );
            super::super::DomainDef::parse(&xml, Default::default())
                .err()
                .map(|e| (e.code().0, e.to_string()))
        };
        assert_eq!(with("0-1,^1"), None);
        // libvirt: "invalid argument: Failed to parse bitmap 'aaa'".
        assert_eq!(
            with("aaa"),
            Some((8, "Failed to parse bitmap 'aaa'".to_string()))
        );
    }

    #[test]
    fn firmware_and_boot() {
        assert_eq!(class("", " firmware='efi'>", ""), None);
        assert_eq!(
            class("", " firmware='efi'><loader>/x</loader>", ""),
            Some(35)
        );
        assert_eq!(
            class(
                "",
                "><loader stateless='yes'>/x</loader><nvram template='/t'/>",
                ""
            ),
            Some(35)
        );
        let disk =
            "<disk type='file'><source file='/x'/><target dev='vda'/><boot order='1'/></disk>";
        assert_eq!(class("", "><boot dev='hd'/>", disk), Some(67));
        assert_eq!(class("", ">", disk), None);
    }

    #[test]
    fn numa_and_hugepages() {
        let numa = "<cpu><numa><cell id='0' cpus='0-3' memory='1024'/></numa></cpu>";
        assert_eq!(class(numa, ">", ""), None);
        let bad = numa.replace("memory=", "memAccess='x' memory=");
        assert_eq!(class(&bad, ">", ""), Some(27));
        let pages = |nodes: &str| {
            format!(
                "<memoryBacking><hugepages><page size='2048' nodeset='{nodes}'/></hugepages></memoryBacking>{numa}"
            )
        };
        assert_eq!(class(&pages("0"), ">", ""), None);
        assert_eq!(class(&pages("1"), ">", ""), Some(35));
        assert_eq!(
            class("<features><gic version='none'/></features>", ">", ""),
            Some(27)
        );
    }

    #[test]
    fn resource_control() {
        let tune = |body: &str| format!("<cputune>{body}</cputune>");
        let cache = |vcpus: &str, kind: &str| {
            format!(
                "<cachetune vcpus='{vcpus}'><cache id='0' level='3' type='{kind}' size='1' unit='MiB'/></cachetune>"
            )
        };
        assert_eq!(
            class(
                &tune(&(cache("0-1", "both") + &cache("2", "code"))),
                ">",
                ""
            ),
            None
        );
        assert_eq!(
            class(&tune(&(cache("0", "code") + &cache("0", "data"))), ">", ""),
            Some(27)
        );
        assert_eq!(
            class(
                &tune(&(cache("0-1", "code") + &cache("1", "data"))),
                ">",
                ""
            ),
            Some(27)
        );
        // vCPUs the domain does not have are ignored.
        assert_eq!(
            class(
                &tune(&(cache("0", "code") + &cache("100", "code"))),
                ">",
                ""
            ),
            None
        );
        let monitor = "<cachetune vcpus='0-1'><monitor level='3' vcpus='2'/></cachetune>";
        assert_eq!(class(&tune(monitor), ">", ""), Some(8));
        let memory = "<memorytune vcpus='0-1'><node id='0' bandwidth='50'/></memorytune>";
        assert_eq!(
            class(&tune(&(cache("0-1", "both") + memory)), ">", ""),
            None
        );
        assert_eq!(
            class(&tune(&(cache("0", "both") + memory)), ">", ""),
            Some(27)
        );
        let sched = "<iothreadsched iothreads='2' scheduler='batch'/>";
        assert_eq!(
            class(&format!("<iothreads>2</iothreads>{}", tune(sched)), ">", ""),
            None
        );
        assert_eq!(
            class(&format!("<iothreads>1</iothreads>{}", tune(sched)), ">", ""),
            Some(67)
        );
    }

    #[test]
    fn iothread_ids_fill_the_lowest_free_numbers() {
        let plain = ids("<domain><iothreads>2</iothreads></domain>");
        assert!(plain.contains(1) && plain.contains(2) && !plain.contains(3));
        let mixed = ids("<domain><iothreads>3</iothreads><iothreadids>\
             <iothread id='2'/><iothread id='9'/></iothreadids></domain>");
        assert!(mixed.contains(1) && mixed.contains(2) && mixed.contains(9));
        assert!(!mixed.contains(3));
        let set = CpuSet::parse("1-4294967295").unwrap();
        assert_eq!(mixed.first_missing(&set), Some(3));
        let huge = ids("<domain><iothreads>4294967295</iothreads></domain>");
        assert_eq!(huge.first_missing(&set), None);
        assert_eq!(huge.first_missing(&CpuSet::parse("0").unwrap()), Some(0));
    }
}
