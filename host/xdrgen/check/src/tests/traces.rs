//! Byte-exact replays of `rpc-traces-libvirt-9.0.txt` (packets virsh,
//! python-libvirt and a real libvirtd 9.0 exchanged, captured by a logging
//! proxy; read as `host/remote/src/tests/traces.rs` reads them): every
//! complete payload of program REMOTE decodes with the generated types and
//! re-encodes to the same bytes.

use super::hex;
use crate::generated::*;
use crate::xdr::{from_bytes, to_bytes};

const TRACES: &str = include_str!("../../../../remote/src/tests/rpc-traces-libvirt-9.0.txt");

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|tok| tok.strip_prefix(key)?.strip_prefix('='))
}

/// `66(AUTH_LIST)` → 66; `REMOTE(0x20008086)` → 0x20008086.
fn number(value: &str) -> i64 {
    if let Some(hex) = value
        .split_once("(0x")
        .map(|(_, h)| h.trim_end_matches(')'))
    {
        return i64::from_str_radix(hex, 16).unwrap();
    }
    value.split('(').next().unwrap().parse().unwrap()
}

#[derive(Debug, Default)]
struct Counts {
    calls: usize,
    replies: usize,
    events: usize,
    errors: usize,
    procedures: std::collections::BTreeSet<i32>,
}

#[test]
fn captured_payloads_decode_and_reencode_byte_exact() {
    let mut n = Counts::default();
    for line in TRACES.lines() {
        let Some(dir) = line.split_whitespace().nth(1) else {
            continue;
        };
        if !dir.contains("->") {
            continue;
        }
        let raw = field(line, "payload").unwrap_or("");
        let program = number(field(line, "prog").unwrap()) as u32;
        if raw.ends_with("...") || program != REMOTE_PROGRAM {
            continue; // a payload the capture cut short, or keepalive
        }
        let payload = hex(raw);
        let procedure = number(field(line, "proc").unwrap()) as i32;
        let what = format!("{line:.100}");
        match (field(line, "type").unwrap(), field(line, "status").unwrap()) {
            ("CALL", "OK") => {
                let call =
                    Call::decode(procedure, &payload).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(to_bytes(&call).unwrap(), payload, "{what}");
                n.calls += 1;
            }
            ("REPLY", "OK") => {
                let reply =
                    Reply::decode(procedure, &payload).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(to_bytes(&reply).unwrap(), payload, "{what}");
                n.replies += 1;
            }
            ("MESSAGE", "OK") => {
                let event =
                    Event::decode(procedure, &payload).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(to_bytes(&event).unwrap(), payload, "{what}");
                n.events += 1;
            }
            // `remote_error` has the layout of virnetprotocol.x's error.
            (_, "ERROR") => {
                let err: Error = from_bytes(&payload).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(to_bytes(&err).unwrap(), payload, "{what}");
                n.errors += 1;
            }
            _ => continue, // stream data is not XDR
        }
        n.procedures.insert(procedure);
    }
    // The traces hold about 40 procedures; make sure they were really read.
    assert!(
        n.calls >= 50 && n.replies >= 50 && n.events >= 1 && n.errors >= 1,
        "{n:?}"
    );
    assert!(n.procedures.len() >= 30, "{n:?}");
}

#[test]
fn a_captured_lifecycle_event_reads_as_libvirt_wrote_it() {
    let line = TRACES
        .lines()
        .find(|l| l.contains("type=MESSAGE") && l.contains("proc=318"))
        .expect("a lifecycle event in the traces");
    let payload = hex(field(line, "payload").unwrap());
    let Event::DomainEventCallbackLifecycle(msg) = Event::decode(318, &payload).unwrap() else {
        panic!("not a lifecycle event");
    };
    assert_eq!(msg.msg.event, 3, "SUSPENDED");
    assert_eq!(msg.msg.detail, 0);
}
