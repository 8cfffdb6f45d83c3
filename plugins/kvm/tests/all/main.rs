//! Integration tests of wirt-kvm: one binary, one module per topic. Tests
//! that need /dev/kvm print why they skip where it is missing.
#![allow(unsafe_code)]

mod common;

mod boot;
mod commands;
mod lifecycle;
mod protocol;
mod qemu_net;
mod sandbox;
mod snapshot;
