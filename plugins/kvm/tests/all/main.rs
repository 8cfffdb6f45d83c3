//! Integration tests of wirt-kvm: one binary, one module per topic. Tests
//! that need /dev/kvm print why they skip where it is missing.
#![allow(unsafe_code)]

mod common;
mod frames;
mod netns;

mod block;
mod boot;
mod commands;
mod fuzz;
mod fuzz_qcow2;
mod fuzz_virtio;
mod hotplug;
mod internal_snapshot;
mod lifecycle;
mod migrate;
mod net_tap;
mod net_vmm;
mod overlay;
mod protocol;
mod qemu_net;
mod sandbox;
mod snapshot;
