//! Test-only package: proves the code `wirt-xdrgen` generates from libvirt
//! 9.0's `remote_protocol.x`. `src/xdr.rs` is a copy of wirt's XDR runtime
//! (`host/remote/src/xdr.rs`); `src/generated.rs` is the checked-in
//! generator output (and `src/generated_extra.rs`, from `extra.x`), which `wirt-xdrgen`'s tests keep current.

// Any warning in the generated code fails this crate's build, so "it
// compiles" means "it compiles cleanly".
#![deny(warnings)]

pub mod xdr;

// Written by the generator exactly as checked in; rustfmt must not touch it,
// or regenerating would no longer reproduce it.
#[rustfmt::skip]
pub mod generated;

/// The generator's output for `extra.x`: the XDR constructs libvirt's file
/// does not use (newtypes, `default:` arms, enum and unsigned switches).
#[rustfmt::skip]
pub mod generated_extra;

/// wirt's hand-written protocol types, compiled here from their source so
/// tests can compare wire layouts without building the whole `wirt` crate.
#[cfg(test)]
#[allow(dead_code, unused_imports)] // only part of it is compared
#[path = "../../../remote/src/protocol/mod.rs"]
pub mod hand;

#[cfg(test)]
mod tests;
