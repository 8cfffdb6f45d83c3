//! Tests of the generated wire types: round trips of every procedure,
//! byte-exact replays of real libvirtd 9.0 traffic, and decoding hostile
//! bytes.

mod extra;
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
