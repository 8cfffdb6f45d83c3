//! Issue 15, finding 6: the XML checks were quadratic in hostile shapes
//! (150k attributes on one element: 31 s of CPU; 68k `<cache>`: 34 s; 100k
//! memorytune nodes: 24 s). Every shape here fills the parser's 4 MiB
//! limit and must be checked (accepted or refused) in a bounded time; the
//! bound is generous for debug builds, the quadratic code took minutes.

use std::time::{Duration, Instant};

use wirt::xml::tree::MAX_DOCUMENT_BYTES;

use crate::support::Host;

/// `head`, then `item(i)` for as many i as fit in 4 MiB, then `tail`.
fn fill(head: &str, item: impl Fn(usize) -> String, tail: &str) -> String {
    let mut doc = head.to_string();
    for i in 0.. {
        let next = item(i);
        if doc.len() + next.len() + tail.len() > MAX_DOCUMENT_BYTES {
            break;
        }
        doc.push_str(&next);
    }
    doc + tail
}

fn domain(inner: &str) -> (String, String) {
    let head = format!(
        "<domain type='test'><name>big</name><memory unit='MiB'>128</memory>\
         <vcpu>4</vcpu><os><type>hvm</type></os>{inner}"
    );
    (head, "</devices></domain>".into())
}

fn timed(what: &str, check: impl FnOnce()) {
    let start = Instant::now();
    check();
    let took = start.elapsed();
    eprintln!("{what}: {took:?}");
    assert!(took < Duration::from_secs(10), "{what} took {took:?}");
}

#[test]
fn hostile_xml_of_any_shape_is_checked_in_linear_time() {
    let host = Host::empty();
    let define = |xml: &str| {
        assert!(xml.len() > MAX_DOCUMENT_BYTES - 1024, "{}", xml.len());
        let _ = host.conn.define_domain_xml(xml, 0);
    };
    timed("attributes", || {
        let xml = fill("<domain type='test'", |i| format!(" a{i}=''"), "/>");
        define(&xml);
    });
    let cputune = |body: &str| format!("<cputune>{body}");
    timed("cache allocations", || {
        let head = cputune("<cachetune vcpus='0'>");
        let xml = fill(
            &domain(&head).0,
            |i| format!("<cache id='{i}' level='3' type='both' size='1' unit='MiB'/>"),
            "</cachetune></cputune><devices></devices></domain>",
        );
        define(&xml);
    });
    timed("cache types", || {
        let head = cputune("<cachetune vcpus='0'>");
        let xml = fill(
            &domain(&head).0,
            |i| format!("<cache id='0' level='3' type='t{i}' size='1' unit='MiB'/>"),
            "</cachetune></cputune><devices></devices></domain>",
        );
        define(&xml);
    });
    timed("memorytune nodes", || {
        let head = cputune("<memorytune vcpus='0'>");
        let xml = fill(
            &domain(&head).0,
            |i| format!("<node id='{i}' bandwidth='50'/>"),
            "</memorytune></cputune><devices></devices></domain>",
        );
        define(&xml);
    });
    timed("monitors", || {
        let head = cputune("<cachetune vcpus='0-3'>");
        let xml = fill(
            &domain(&head).0,
            |_| "<monitor level='3' vcpus='0'/>".into(),
            "</cachetune></cputune><devices></devices></domain>",
        );
        define(&xml);
    });
    timed("cpu lists", || {
        let xml = fill(
            "<domain type='test'><name>big</name><memory unit='MiB'>128</memory><vcpu cpuset='",
            |i| format!("{},^{},", i * 3, i * 3 + 1),
            "0'>4</vcpu><os><type>hvm</type></os></domain>",
        );
        define(&xml);
    });
    timed("disks", || {
        let (head, tail) = domain("<devices>");
        let xml = fill(
            &head,
            |i| {
                format!(
                    "<disk type='file' device='disk'><source file='/d{i}'/><target dev='sd{i}' bus='scsi'/>\
                     <address type='drive' controller='{}' bus='0' target='0' unit='{}'/></disk>",
                    i / 7,
                    i % 7
                )
            },
            &tail,
        );
        define(&xml);
    });
    timed("sibling elements", || {
        let (head, tail) = domain("<devices>");
        let xml = fill(&head, |_| "<x/>".into(), &tail);
        define(&xml);
    });
    timed("network forward interfaces", || {
        let xml = fill(
            "<network><name>big</name><forward mode='passthrough'>",
            |i| format!("<interface dev='eth{i}'/>"),
            "</forward></network>",
        );
        let _ = host.conn.define_network_xml(&xml);
    });
}
