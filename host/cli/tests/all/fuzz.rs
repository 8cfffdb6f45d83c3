//! Fuzz target: wirtd's dispatcher, spoken to over its socket. Each case
//! opens a connection, opens `test:///default` properly, then sends one
//! call whose procedure and arguments are mutated from valid calls. The
//! call gets exactly one reply with its serial (an error is fine) and the
//! daemon lives on. A bounded slice runs here; `scripts/fuzz.sh` runs it
//! for minutes.

use std::time::Duration;

use wirt_remote::packet::{Header, MessageType, Packet, read_packet, write_packet};
use wirt_remote::protocol::*;
use wirt_remote::xdr::{XdrEncode, to_bytes};
use wirt_testkit::fuzz;

use crate::remote::{Daemon, Raw};

fn test_domain() -> NonnullDomain {
    // test:///default's domain "test" (uuid per libvirt's test driver
    // does not matter: lookups go by name first).
    NonnullDomain {
        name: "test".into(),
        uuid: [0; 16],
        id: 1,
    }
}

/// A seed: the procedure number (big-endian) then its XDR arguments.
fn seed<A: XdrEncode>(procedure: i32, args: &A) -> Vec<u8> {
    let mut bytes = procedure.to_be_bytes().to_vec();
    bytes.extend(to_bytes(args).unwrap());
    bytes
}

fn seeds() -> Vec<Vec<u8>> {
    let domain_xml = "<domain type='test'><name>f</name><memory>1024</memory>\
                      <os><type>hvm</type></os></domain>";
    vec![
        seed(
            REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS,
            &ConnectListAllDomainsArgs {
                need_results: 1,
                flags: 0,
            },
        ),
        seed(
            REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME,
            &DomainLookupByNameArgs {
                name: "test".into(),
            },
        ),
        seed(
            REMOTE_PROC_DOMAIN_GET_XML_DESC,
            &DomainGetXmlDescArgs {
                dom: test_domain(),
                flags: 0,
            },
        ),
        seed(
            REMOTE_PROC_DOMAIN_GET_INFO,
            &DomainGetInfoArgs { dom: test_domain() },
        ),
        seed(
            REMOTE_PROC_DOMAIN_DEFINE_XML,
            &DomainDefineXmlArgs {
                xml: domain_xml.into(),
            },
        ),
        seed(
            REMOTE_PROC_DOMAIN_SNAPSHOT_CREATE_XML,
            &DomainSnapshotCreateXmlArgs {
                dom: test_domain(),
                xml_desc: "<domainsnapshot><name>s</name></domainsnapshot>".into(),
                flags: 0,
            },
        ),
        seed(
            REMOTE_PROC_NETWORK_LOOKUP_BY_NAME,
            &NetworkLookupByNameArgs {
                name: "default".into(),
            },
        ),
        seed(
            REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_NAME,
            &StoragePoolLookupByNameArgs {
                name: "default-pool".into(),
            },
        ),
    ]
}

#[test]
fn fuzz_wirtd_dispatcher() {
    let d = Daemon::start();
    let sock = d.sock();
    let pid = d.child.as_ref().map(|c| c.id()).unwrap();
    fuzz::run("wirtd-dispatch", fuzz::inputs(seeds()), |input| {
        if input.len() < 4 {
            return;
        }
        let procedure = i32::from_be_bytes(input[..4].try_into().unwrap());
        // Closing is what this call is for; it is answered, then the end.
        if procedure == REMOTE_PROC_CONNECT_CLOSE {
            return;
        }
        let mut c = Raw::connect(&sock);
        c.sock
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let open = c.call(
            REMOTE_PROC_CONNECT_OPEN,
            &ConnectOpenArgs {
                name: Some("test:///default".into()),
                flags: 0,
            },
        );
        assert!(open.error().is_none(), "ConnectOpen failed");
        let header = Header::call(procedure, 1000);
        assert_eq!(header.msg_type, MessageType::Call);
        write_packet(&mut c.sock, &Packet::new(header, input[4..].to_vec())).unwrap();
        let reply = read_packet(&mut c.sock)
            .unwrap_or_else(|e| panic!("procedure {procedure}: no reply ({e})"))
            .unwrap_or_else(|| panic!("procedure {procedure}: connection closed"));
        assert_eq!(reply.header.serial, 1000, "procedure {procedure}");
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "wirtd died after procedure {procedure}"
        );
    });
}
