//! `plugin_calls`: what the plugin host costs, on the built-in test driver.
//!
//! - `trivial_call`: one supervised host→guest call with a short string in
//!   and nothing out (`domain-save-release`). Goal: ≤ 1 µs.
//! - `call_1kib_record`: a call taking a ~1 KiB `domain-config` record
//!   (`domain-adopt`), and `call_1kib_string`: the same kilobyte as one
//!   string (`get-domain-status`).
//! - `instantiate`: a fresh instance from the linked, compiled plugin (what
//!   the supervisor does after a crash), up to its first call answered.
//! - `load_cached`: compiled code found in the on-disk code cache, linked,
//!   instantiated, first call answered: starting a plugin that has run on
//!   this host before. Goal: ≤ 5 ms.
//! - `load_uncached`: the same with no cache: Cranelift compiles the
//!   component first (a plugin's very first start).
//!
//! Each load benchmark uses a runtime of its own (`Runtime::with_cache_dir`),
//! so the user's code cache is neither used nor touched.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wirt::driver::{DiskConfig, DomainConfig, DomainStatus, InterfaceConfig, OsConfig};
use wirt::plugin::builtin::TEST_DRIVER_WASM;
use wirt::plugin::{Limits, Plugin, PluginHandle, Runtime};

const UUID: &str = "6d7a0b3c-1f2e-4d5c-8b9a-0c1d2e3f4a5b";

/// A trivial call: a short string in, nothing out.
fn trivial(handle: &PluginHandle) {
    handle
        .call(|i| {
            let hv = i.hypervisor.as_ref().expect("exports hypervisor");
            hv.call_domain_save_release(&mut i.store, UUID)
        })
        .expect("call");
}

/// A domain definition whose canonical-ABI encoding is about 1 KiB.
fn record_1kib() -> DomainConfig {
    let disk = |n: usize| DiskConfig {
        kind: "file".into(),
        device: "disk".into(),
        source: Some(format!("/var/lib/wirt/images/bench-volume-{n:04}.qcow2")),
        target_dev: format!("vd{}", (b'a' + n as u8) as char),
        target_bus: Some("virtio".into()),
        format: Some("qcow2".into()),
        read_only: false,
        shareable: false,
    };
    let nic = |n: usize| InterfaceConfig {
        kind: "network".into(),
        mac: Some(format!("52:54:00:00:00:{n:02x}")),
        source: Some("default".into()),
        model: Some("virtio".into()),
        target_dev: Some(format!("vnet{n}")),
    };
    DomainConfig {
        uuid: UUID.into(),
        name: "bench-one-kibibyte-record".into(),
        id: 7,
        domain_type: "test".into(),
        max_memory_kib: 1 << 20,
        memory_kib: 1 << 19,
        max_vcpus: 4,
        vcpus: 2,
        os: OsConfig {
            os_type: "hvm".into(),
            arch: "x86_64".into(),
            machine: Some("pc-q35-9.0".into()),
            kernel: Some("/var/lib/wirt/boot/vmlinuz-6.1.0-bench".into()),
            initrd: Some("/var/lib/wirt/boot/initrd.img-6.1.0-bench".into()),
            cmdline: Some("console=ttyS0 root=/dev/vda1 ro quiet".into()),
            boot_devices: vec!["hd".into(), "network".into()],
            ..OsConfig::default()
        },
        on_poweroff: "destroy".into(),
        on_reboot: "restart".into(),
        on_crash: "destroy".into(),
        features: vec!["acpi".into(), "apic".into(), "pae".into()],
        disks: (0..5).map(disk).collect(),
        interfaces: (0..2).map(nic).collect(),
        serial_ports: 1,
    }
}

/// Bytes the record's strings and fixed fields take, roughly as the
/// canonical ABI lays them out (strings are copied into the guest).
fn approx_size(c: &DomainConfig) -> usize {
    let s = |v: &str| v.len() + 8;
    let o = |v: &Option<String>| v.as_deref().map_or(4, s);
    let disks: usize = c
        .disks
        .iter()
        .map(|d| {
            s(&d.kind)
                + s(&d.device)
                + o(&d.source)
                + s(&d.target_dev)
                + o(&d.target_bus)
                + o(&d.format)
                + 2
        })
        .sum();
    let nics: usize = c
        .interfaces
        .iter()
        .map(|i| s(&i.kind) + o(&i.mac) + o(&i.source) + o(&i.model) + o(&i.target_dev))
        .sum();
    s(&c.uuid)
        + s(&c.name)
        + s(&c.domain_type)
        + 40
        + s(&c.os.os_type)
        + s(&c.os.arch)
        + o(&c.os.machine)
        + o(&c.os.kernel)
        + o(&c.os.initrd)
        + o(&c.os.cmdline)
        + c.os.boot_devices.iter().map(|b| s(b)).sum::<usize>()
        + s(&c.on_poweroff)
        + s(&c.on_reboot)
        + s(&c.on_crash)
        + c.features.iter().map(|f| s(f)).sum::<usize>()
        + disks
        + nics
}

fn running() -> DomainStatus {
    DomainStatus {
        state: 1,
        reason: 1,
        cpu_time_ns: 0,
        memory_kib: 1 << 19,
        vcpus: 2,
    }
}

fn handle_in(runtime: &Runtime) -> PluginHandle {
    let plugin = Plugin::load_in(
        runtime,
        "bench-test-driver",
        "0.1.0",
        TEST_DRIVER_WASM,
        Limits::default(),
    )
    .expect("load the test driver");
    PluginHandle::new(plugin, None)
}

fn calls(c: &mut Criterion) {
    let runtime = Runtime::with_cache_dir(None).expect("runtime");
    let handle = handle_in(&runtime);
    trivial(&handle);
    let mut group = c.benchmark_group("plugin_calls");
    group.throughput(Throughput::Elements(1));
    group.bench_function("trivial_call", |b| b.iter(|| trivial(&handle)));

    let record = record_1kib();
    let status = running();
    let size = approx_size(&record);
    assert!((900..1200).contains(&size), "record of {size} bytes");
    group.bench_function(BenchmarkId::new("call_1kib_record", size), |b| {
        b.iter(|| {
            handle
                .call(|i| {
                    let hv = i.hypervisor.as_ref().expect("exports hypervisor");
                    hv.call_domain_adopt(&mut i.store, &record, status)
                })
                .expect("call")
                .expect("adopted")
        })
    });
    // The same kilobyte as one string: what the record's ~40 fields cost
    // beyond their bytes (each string or list is a separate allocation in
    // the guest).
    let long = "u".repeat(1024);
    group.bench_function("call_1kib_string", |b| {
        b.iter(|| {
            handle
                .call(|i| {
                    let hv = i.hypervisor.as_ref().expect("exports hypervisor");
                    hv.call_get_domain_status(&mut i.store, &long)
                })
                .expect("call")
                .expect("status")
        })
    });
    group.finish();
}

fn instantiation(c: &mut Criterion) {
    let cache = tempfile::tempdir().expect("temp dir");
    let cached = Runtime::with_cache_dir(Some(cache.path())).expect("runtime");
    let uncached = Runtime::with_cache_dir(None).expect("runtime");
    // Fill the cache once.
    trivial(&handle_in(&cached));

    let mut group = c.benchmark_group("plugin_instantiation");
    let plugin = Plugin::load_in(
        &uncached,
        "bench-test-driver",
        "0.1.0",
        TEST_DRIVER_WASM,
        Limits::default(),
    )
    .expect("load");
    group.bench_function("instantiate", |b| {
        b.iter(|| trivial(&PluginHandle::new(Arc::clone(&plugin), None)))
    });
    group.bench_function("load_cached", |b| b.iter(|| trivial(&handle_in(&cached))));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("load_uncached", |b| {
        b.iter(|| trivial(&handle_in(&uncached)))
    });
    group.finish();
}

criterion_group!(benches, calls, instantiation);
criterion_main!(benches);
