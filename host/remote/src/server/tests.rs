//! The server's packet handling under hostile input, in-process: a client
//! thread serving one end of a socket pair must end cleanly (never panic)
//! whatever arrives on the other end.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use proptest::prelude::*;

use super::client::serve;
use super::wire::Routed;
use super::{Origin, Shared};
use crate::packet::Packet;
use crate::protocol::*;
use crate::socket::Stream;
use wirt::connect::Connect;
use wirt::error::ErrorCode;

fn shared() -> Arc<Shared> {
    Arc::new(Shared {
        default_uri: "test:///default".into(),
        verbose: false,
        packet_timeout: super::DEFAULT_PACKET_TIMEOUT,
        keepalive: Some(super::DEFAULT_KEEPALIVE),
        workers: super::Workers::new(super::DEFAULT_MAX_WORKERS),
        max_client_requests: super::DEFAULT_MAX_CLIENT_REQUESTS,
        policy: Default::default(),
        owner: super::peer::daemon_uid(),
        max_clients: super::DEFAULT_MAX_CLIENTS,
        clients: Default::default(),
        next_client: AtomicU64::new(1),
    })
}

/// Serves `bytes` (after an optional read-only OPEN) and returns whether
/// the client thread ended without panicking.
fn serve_bytes(open: bool, bytes: &[u8]) -> bool {
    let (mut client, server) = UnixStream::pair().unwrap();
    let thread = std::thread::spawn(move || {
        serve(
            Stream::Unix(server),
            Origin::Unix { read_only: true },
            None,
            None,
            0,
            shared(),
        )
    });
    if open {
        let args = ConnectOpenArgs {
            name: Some("test:///default".into()),
            flags: 0,
        };
        let packet = Packet::call(REMOTE_PROC_CONNECT_OPEN, 1, &args).unwrap();
        client.write_all(&packet.to_bytes().unwrap()).unwrap();
    }
    let _ = client.write_all(bytes);
    let _ = client.shutdown(std::net::Shutdown::Write);
    let mut answers = Vec::new();
    let _ = client.read_to_end(&mut answers);
    thread.join().is_ok()
}

/// A packet with a valid frame and arbitrary header fields and payload.
fn framed() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(REMOTE_PROGRAM), any::<u32>()],
        prop_oneof![0..460i32, any::<i32>()],
        0..8i32,
        0..3i32,
        prop::collection::vec(any::<u8>(), 0..128),
    )
        .prop_map(|(program, procedure, ty, status, payload)| {
            let mut bytes = ((28 + payload.len()) as u32).to_be_bytes().to_vec();
            for word in [program, 1, procedure as u32, ty as u32, 7, status as u32] {
                bytes.extend_from_slice(&word.to_be_bytes());
            }
            bytes.extend_from_slice(&payload);
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hostile_input_never_panics_the_client_thread(
        open: bool,
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            prop::collection::vec(framed(), 1..8).prop_map(|v| v.concat()),
        ],
    ) {
        // Keeps test:///default alive across cases, so each OPEN is cheap.
        let _keep = Connect::open("test:///default").unwrap();
        prop_assert!(serve_bytes(open, &bytes));
    }
}

#[test]
fn lists_beyond_the_protocol_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("node.xml");
    std::fs::write(&node, "<node/>").unwrap();
    let conn = Connect::open(&format!("test://{}", node.display())).unwrap();
    for i in 0..=REMOTE_DOMAIN_LIST_MAX {
        let xml = format!(
            "<domain type='test'><name>d{i}</name><memory>1024</memory><vcpu>1</vcpu>\
             <os><type>hvm</type></os></domain>"
        );
        conn.define_domain_xml(&xml, 0).unwrap();
    }
    let call = Call::ConnectListAllDomains(ConnectListAllDomainsArgs {
        need_results: 1,
        flags: 0,
    });
    let Routed::Done(Err(e)) = super::domain::dispatch(&conn, call) else {
        panic!("a list of 16385 domains went through");
    };
    assert_eq!(e.code(), ErrorCode::RPC);
    assert_eq!(e.message(), "Too many domains '16385' for limit '16384'");
}

#[test]
fn max_workers_calls_run_at_once_and_the_rest_wait_their_turn() {
    let workers = Arc::new(super::Workers::new(1));
    let first = workers.turn();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiting = {
        let workers = workers.clone();
        std::thread::spawn(move || {
            let _turn = workers.turn();
            tx.send(()).unwrap();
        })
    };
    // The second call waits while the first runs...
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(200))
            .is_err()
    );
    // ...and runs once it is done.
    drop(first);
    rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    waiting.join().unwrap();
}
