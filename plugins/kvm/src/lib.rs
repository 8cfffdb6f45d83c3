//! wirt's KVM driver core: the per-domain `wirt-vmm` process.
//!
//! A VMM on rust-vmm crates (kvm-ioctls, vm-memory, linux-loader,
//! vm-superio, virtio-queue, seccompiler) for x86-64: guest RAM, vCPU
//! threads, COM1, an i8042, wirt's power-control port, virtio-blk and
//! virtio-net (on a [`tap`]) over virtio-mmio with ioeventfd kicks and
//! irqfd interrupts. It boots Linux through the 64-bit boot protocol or the
//! built-in [`guest`], pauses, saves and restores, and [`migrate`]s live to another
//! `wirt-vmm`. The host drives it over the newline-delimited JSON
//! protocol in PROTOCOL.md ([`control`]); [`launch`] spawns it.
#![allow(unsafe_code)]
#![deny(missing_docs)]

pub mod arch;
pub mod bench_support;
pub mod boot;
pub mod confine;
pub mod control;
pub mod devices;
pub mod guest;
pub mod launch;
pub mod layout;
pub mod machine;
pub mod memory;
pub mod migrate;
pub mod netdev;
pub mod seccomp;
pub mod snapshot;
pub mod tap;
pub mod vcpu;
pub mod vmm;
