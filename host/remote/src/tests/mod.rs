//! Tests of the whole wire layer: typed round trips, decoding hostile bytes,
//! and byte-exact replays of packets captured from a real libvirtd 9.0.

mod flow;
mod fuzz;
mod roundtrip;
mod traces;

/// Decodes a hex string (as the trace file prints payloads).
fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Heap bytes a decode may reserve per input byte. The widest case is an
/// array of `String`s or of volumes: 4 wire bytes per empty string against a
/// 24-byte `String`.
const ALLOC_PER_BYTE: usize = 8;
