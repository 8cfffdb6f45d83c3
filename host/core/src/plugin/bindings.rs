//! Host-side bindings of the `wirt:driver@0.1.0` contract.
//!
//! One `bindgen!` for the widest world (`test-driver`): every interface a
//! plugin may export is loaded on its own through its `GuestIndices`, so a
//! plugin exporting only `storage` binds just as well.

wasmtime::component::bindgen!({
    world: "test-driver",
    path: "../../wit",
    additional_derives: [PartialEq, Default],
});
