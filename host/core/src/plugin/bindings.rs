//! Host-side bindings of the `wirt:driver@0.1.0` contract.
//!
//! One `bindgen!` for world `host-side`: every import the host offers and
//! every interface a plugin may export. Each export is loaded on its own
//! through its `GuestIndices`, so a plugin exporting only `storage` binds
//! just as well, and one importing only `host` links as before.
//!
//! The generated items carry the contract's own docs (`wit/`), where it has
//! them; the bindings' plumbing is not documented here.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "host-side",
    path: "../../wit",
    additional_derives: [PartialEq, Default],
});
