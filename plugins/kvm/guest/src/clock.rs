//! Monotonic time for the network stack and the dirtying pace: kvmclock
//! (QEMU and wirt-vmm both offer it) or, without it, the TSC calibrated
//! once against the PIT. Only set up when something needs time, so a guest
//! without a NIC never pays for it.

use core::ptr::{addr_of, read_volatile};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch;

/// KVM's pvclock record (struct pvclock_vcpu_time_info).
#[repr(C, align(32))]
struct PvClock {
    version: u32,
    _pad0: u32,
    tsc_timestamp: u64,
    system_time: u64,
    tsc_to_system_mul: u32,
    tsc_shift: i8,
    flags: u8,
    _pad: [u8; 2],
}

static mut PVCLOCK: PvClock = PvClock {
    version: 0,
    _pad0: 0,
    tsc_timestamp: 0,
    system_time: 0,
    tsc_to_system_mul: 0,
    tsc_shift: 0,
    flags: 0,
    _pad: [0; 2],
};

const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
const KVM_FEATURE_CLOCKSOURCE2: u32 = 1 << 3;

/// 0: not set up; 1: kvmclock; else TSC ticks → ns as a 32.32 multiplier.
static MODE: AtomicU64 = AtomicU64::new(0);

/// Sets the clock up (once).
pub fn init() {
    if MODE.load(Ordering::Relaxed) != 0 {
        return;
    }
    let (_, b, c, d) = arch::cpuid(0x4000_0000);
    let kvm = (b, c, d) == (0x4b4d_564b, 0x564b_4d56, 0x4d);
    if kvm && arch::cpuid(0x4000_0001).0 & KVM_FEATURE_CLOCKSOURCE2 != 0 {
        arch::wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (&raw const PVCLOCK) as u64 | 1);
        MODE.store(1, Ordering::Relaxed);
        return;
    }
    // 10 ms of PIT against the TSC.
    let ticks = arch::PIT_HZ / 100;
    arch::enable_irq(arch::IRQ_TIMER);
    let t0 = arch::rdtsc();
    arch::pit_oneshot(ticks as u16);
    while !arch::take_line(arch::IRQ_TIMER) {
        arch::wait_for_interrupt();
    }
    let hz = (arch::rdtsc() - t0).max(1) * 100;
    MODE.store(
        ((1_000_000_000u128 << 32) / u128::from(hz)).max(2) as u64,
        Ordering::Relaxed,
    );
}

/// Nanoseconds since an arbitrary point.
pub fn now_ns() -> u64 {
    match MODE.load(Ordering::Relaxed) {
        0 => 0,
        1 => loop {
            let p = &raw const PVCLOCK;
            // SAFETY: KVM updates the record between our reads; the version
            // (odd while it writes) tells whether the snapshot is whole.
            let (v, stamp, sys, mul, shift) = unsafe {
                (
                    read_volatile(addr_of!((*p).version)),
                    read_volatile(addr_of!((*p).tsc_timestamp)),
                    read_volatile(addr_of!((*p).system_time)),
                    read_volatile(addr_of!((*p).tsc_to_system_mul)),
                    read_volatile(addr_of!((*p).tsc_shift)),
                )
            };
            let mut delta = arch::rdtsc().wrapping_sub(stamp);
            // SAFETY: as above.
            if v & 1 != 0 || v != unsafe { read_volatile(addr_of!((*p).version)) } {
                continue;
            }
            if shift < 0 {
                delta >>= -shift;
            } else {
                delta <<= shift;
            }
            break sys.wrapping_add(((u128::from(delta) * u128::from(mul)) >> 32) as u64);
        },
        mul => ((u128::from(arch::rdtsc()) * u128::from(mul)) >> 32) as u64,
    }
}

/// Microseconds, the unit of smoltcp's clock.
pub fn now_us() -> u64 {
    now_ns() / 1000
}
