//! Integration tests of the `wirt` and `wirtd` binaries, in one binary (one
//! link instead of many).

mod access;
mod cli;
mod console;
mod daemon_conf;
mod events;
mod fuzz;
mod hostile;
mod ifaces;
mod kvm;
mod kvm_hotplug;
mod kvm_index;
mod kvm_net;
mod kvm_snapshot;
mod kvm_snapshot_internal;
mod kvm_stats;
mod migrate;
mod migrate_p2p;
mod monitoring;
mod networks;
mod nodedevs;
mod plugins;
mod races;
mod remote;
mod secrets;
mod storage;
mod support;
mod tls;
mod virsh_parity;
