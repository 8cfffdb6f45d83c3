//! vCPU exit round trips: N port-I/O and N MMIO exits handled by wirt's vCPU
//! loop (`wirt_kvm::vcpu::run_once` dispatching to the device bus) against a
//! bare kvm-ioctls `VcpuFd::run` loop, in the same run. Time is the bench
//! thread's CPU time (on a loaded machine wall time is 2-3x noisier). The
//! wirt/bare ratio is printed at the end; the goal is <= 1.1.
//! Skips (with a message) where /dev/kvm is missing.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kvm_ioctls::Kvm;
use wirt_kvm::bench_support::{ExitGuest, ExitKind, thread_cpu_time};

const EXITS: u32 = 2000;

fn run(g: &mut ExitGuest, wirt: bool) -> Duration {
    g.rewind().expect("rewind");
    let start = thread_cpu_time();
    let n = if wirt { g.run_wirt() } else { g.run_bare() };
    let spent = thread_cpu_time() - start;
    assert_eq!(n, u64::from(EXITS));
    spent
}

fn bench(c: &mut Criterion) {
    let Ok(kvm) = Kvm::new() else {
        eprintln!("vcpu_exits: skipped, /dev/kvm is not available");
        return;
    };
    let mut ratios = Vec::new();
    for (name, kind) in [("pio", ExitKind::Pio), ("mmio", ExitKind::Mmio)] {
        let mut g = ExitGuest::new(&kvm, kind, EXITS).expect("bench VM");
        let mut group = c.benchmark_group(format!("vcpu_exits/{name}"));
        group.throughput(Throughput::Elements(u64::from(EXITS)));
        group.sample_size(20);
        for (label, wirt) in [("bare", false), ("wirt", true)] {
            group.bench_function(label, |b| {
                b.iter_custom(|iters| (0..iters).map(|_| run(&mut g, wirt)).sum())
            });
        }
        group.finish();
        // Interleaved pairs, so drift on a shared machine hits both sides.
        let (mut bare, mut wirt) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..10 {
            bare += run(&mut g, false);
            wirt += run(&mut g, true);
        }
        let per = |d: Duration| d.as_nanos() as f64 / f64::from(10 * EXITS);
        ratios.push((name, per(bare), per(wirt)));
    }
    for (name, bare, wirt) in ratios {
        eprintln!(
            "vcpu_exits/{name}: bare {bare:.0} ns/exit, wirt {wirt:.0} ns/exit, ratio {:.3}",
            wirt / bare
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
