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

/// Heap bytes a decode may reserve per input byte. One array level costs up
/// to ~6× (4 wire bytes per empty string against a 24-byte `String`; a
/// `remote_domain_fsinfo` is 16 wire bytes against 96), and nested arrays
/// reserve again for bytes their outer array already counted: libvirt 9.0's
/// protocol, all of it generated now, nests arrays up to three deep (e.g.
/// `remote_domain_get_fsinfo_ret`, typed parameters inside records), so the
/// bound is that product with margin. It still rules out reserving memory
/// out of proportion to the input.
const ALLOC_PER_BYTE: usize = 32;
