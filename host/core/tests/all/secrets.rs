//! Secrets in domain XML: libvirt shows `<graphics passwd>` only with
//! `VIR_DOMAIN_XML_SECURE`, and refuses that flag to read-only connections.

use wirt::{Connect, ErrorCode};

use crate::support::Host;

const NODE: &str = "<node><domain type='test'><name>vnc</name><memory unit='MiB'>128</memory>\
<vcpu>1</vcpu><os><type>hvm</type></os><devices>\
<graphics type='vnc' port='-1' autoport='yes' passwd='s3cret'/></devices></domain></node>";

#[test]
fn graphics_passwords_need_the_secure_flag_on_a_read_write_connection() {
    let host = Host::with_node(NODE);
    let dom = host.conn.lookup_domain_by_name("vnc").unwrap();
    for flags in [0, 2] {
        let xml = dom.xml_desc(flags).unwrap();
        assert!(xml.contains("<graphics type='vnc'"), "{xml}");
        assert!(!xml.contains("s3cret"), "{xml}");
    }
    assert!(dom.xml_desc(1).unwrap().contains("passwd='s3cret'"));
    // The secret stays in the definition: a secure dump still has it.
    assert!(dom.xml_desc(1 | 2).unwrap().contains("passwd='s3cret'"));

    let ro = Connect::open_read_only(&host.uri()).unwrap();
    let dom = ro.lookup_domain_by_name("vnc").unwrap();
    assert!(!dom.xml_desc(0).unwrap().contains("s3cret"));
    let err = dom.xml_desc(1).unwrap_err();
    assert_eq!(err.code(), ErrorCode::OPERATION_DENIED);
    assert_eq!(
        err.message(),
        "operation forbidden: virDomainGetXMLDesc with secure flag"
    );
}

/// A snapshot records the domain: its XML leaves the password out too
/// (libvirt shows it only with `VIR_DOMAIN_SNAPSHOT_XML_SECURE`, which
/// wirt does not take), while reverting keeps it in the definition.
#[test]
fn snapshots_do_not_show_graphics_passwords() {
    let host = Host::with_node(NODE);
    let dom = host.conn.lookup_domain_by_name("vnc").unwrap();
    let snap = dom
        .snapshot_create_xml("<domainsnapshot><name>s1</name></domainsnapshot>", 0)
        .unwrap();
    let xml = snap.xml_desc().unwrap();
    assert!(xml.contains("<graphics type='vnc'"), "{xml}");
    assert!(!xml.contains("s3cret"), "{xml}");
    assert!(!snap.domain_xml().unwrap().contains("s3cret"));
    snap.revert(0).unwrap();
    assert!(dom.xml_desc(1).unwrap().contains("passwd='s3cret'"));
}
