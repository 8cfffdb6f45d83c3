//! Fuzz target: the VMM's control protocol, spoken to a running VMM with a
//! booted guest. Every line gets exactly one answer (`ok` true or false)
//! and the VMM lives on. A bounded slice runs here; `scripts/fuzz.sh` runs
//! it for minutes.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use wirt_kvm::guest::READY;
use wirt_testkit::fuzz;

use crate::common::{Vmm, require_kvm};

/// Valid request lines, one per operation (but those that end the process,
/// turn the connection into a console stream, build a new VM, or, by
/// design, break the sandbox).
const SEEDS: &[&str] = &[
    r#"{"op":"hello"}"#,
    r#"{"id":7,"op":"status"}"#,
    r#"{"op":"pause"}"#,
    r#"{"op":"resume"}"#,
    r#"{"op":"shutdown"}"#,
    r#"{"op":"reboot"}"#,
    r#"{"op":"reset"}"#,
    r#"{"op":"destroy"}"#,
    r#"{"op":"save","to":{"passed":0},"stop":false}"#,
    r#"{"op":"save","to":{"fd":9}}"#,
    r#"{"op":"console-input","data":"p"}"#,
    r#"{"op":"console-history"}"#,
    r#"{"op":"set-link","nic":0,"link":"down"}"#,
    r#"{"op":"set-link","mac":"52:54:00:00:00:01","link":"up"}"#,
];

/// Operations a fuzzed line must not reach (see [`SEEDS`]).
const OFF_LIMITS: &[&str] = &["quit", "console\"", "boot", "restore", "sandbox"];

#[test]
fn fuzz_vmm_control_protocol() {
    require_kvm!();
    let mut vmm = Vmm::spawn(&[]);
    vmm.boot(|_| {});
    vmm.wait_console(READY);
    let seeds = SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    let child = std::cell::RefCell::new(&mut vmm.child);
    let socket = vmm.socket.clone();
    fuzz::run("vmm-control", fuzz::inputs(seeds), |input| {
        let mut line: Vec<u8> = input
            .iter()
            .map(|&b| if b == b'\n' { b' ' } else { b })
            .collect();
        let text = String::from_utf8_lossy(&line).into_owned();
        // Blank lines are skipped without an answer, by design.
        if OFF_LIMITS.iter().any(|w| text.contains(w))
            || text.contains("\\u")
            || text.trim().is_empty()
        {
            return;
        }
        line.push(b'\n');
        // A connection per line: what one line does to its connection must
        // not decide the next case.
        let stream = UnixStream::connect(&socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        (&stream).write_all(&line).unwrap();
        let mut answer = String::new();
        match reader.read_line(&mut answer) {
            Ok(n) if n > 0 => {
                let v: serde_json::Value = serde_json::from_str(&answer)
                    .unwrap_or_else(|e| panic!("answer to {text:?} is not JSON ({e}): {answer:?}"));
                assert!(
                    v["ok"].is_boolean(),
                    "answer to {text:?} has no ok: {answer}"
                );
            }
            // Only a line that is not text may cost its connection.
            _ => assert!(std::str::from_utf8(&line).is_err(), "no answer to {text:?}"),
        }
        assert!(
            child.borrow_mut().try_wait().unwrap().is_none(),
            "the VMM died after {text:?}"
        );
    });
    assert!(vmm.child.try_wait().unwrap().is_none(), "the VMM died");
    vmm.quit();
}
