//! Test-only package: proves the code `wirt-xdrgen` generates from libvirt
//! 9.0's `remote_protocol.x`. It compiles wirt's XDR runtime
//! (`host/remote/src/xdr.rs`) and wirt's generated protocol
//! (`host/remote/src/protocol/generated.rs`) from their source, without the
//! rest of `wirt-remote`, plus `src/generated_extra.rs` (from `extra.x`);
//! `wirt-xdrgen`'s tests keep both generated files current.

// Any warning in the generated code fails this crate's build, so "it
// compiles" means "it compiles cleanly".
#![deny(warnings)]

#[path = "../../../remote/src/xdr.rs"]
pub mod xdr;

// Written by the generator exactly as checked in; rustfmt must not touch it,
// or regenerating would no longer reproduce it.
#[rustfmt::skip]
#[path = "../../../remote/src/protocol/generated.rs"]
pub mod generated;

/// The generator's output for `extra.x`: the XDR constructs libvirt's file
/// does not use (newtypes, `default:` arms, enum and unsigned switches).
#[rustfmt::skip]
pub mod generated_extra;

#[cfg(test)]
mod tests;
