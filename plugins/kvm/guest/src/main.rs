//! The wirt test guest: a freestanding x86-64 kernel for testing wirt-vmm
//! (and, through its PVH entry, for comparing with QEMU). See ../GUEST.md
//! for what it prints and the commands it obeys.
//!
//! It stays in ring 0 and keeps its instruction count small, because a
//! software KVM (PVM) emulates guest ring-0 code at about 0.5 us per
//! instruction. The main loop runs with interrupts off; interrupt stubs
//! only note their line, and the loop waits in `sti; hlt`, so an idle guest
//! costs nothing.

#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod blk;
mod clock;
mod cmd;
mod console;
mod dirty;
mod mem;
mod net;
mod nic;
mod pattern;
mod virtio;

use crate::console::{hex, line, puts};

const PVCTL: u16 = 0x500;
const PVCTL_POWEROFF: u8 = 0x01;
const PVCTL_PANIC: u8 = 0x04;
const PVCTL_HELLO: u8 = 0x10;
const PVCTL_REQ_POWEROFF: u8 = 1;
const PVCTL_REQ_REBOOT: u8 = 2;
const PVCTL_REQ_RESCAN: u8 = 4;
/// QEMU's isa-debug-exit, used instead of PVCTL after a PVH boot: QEMU
/// exits with status (value << 1) | 1.
const DEBUG_EXIT: u16 = 0xf4;

/// Set once at entry: booted by QEMU through PVH rather than by wirt-vmm.
static mut PVH_BOOT: bool = false;

fn pvh() -> bool {
    // SAFETY: written once at entry, before anything reads it.
    unsafe { PVH_BOOT }
}

/// The main loop's state.
pub struct Guest {
    devices: virtio::Devices,
    line: cmd::LineBuf,
    pongs: u64,
    ping_seq: u16,
    probe: Option<net::Probe>,
    dirty: dirty::Dirty,
    /// When each NIC next wants servicing (µs), by index.
    nic_due: [Option<i64>; 8],
}

#[unsafe(no_mangle)]
extern "C" fn guest_main(zero_page: u64, pvh_info: u64) -> ! {
    // SAFETY: the only write, before anything reads it.
    unsafe { PVH_BOOT = pvh_info != 0 };
    arch::init_idt();
    arch::init_pic();
    mem::HEAP.init();
    line(wirt_banner());
    cpuid_report();
    // Tell the VMM this guest obeys power-control requests (wirt only:
    // under QEMU port 0x500 is nobody's).
    if !pvh() {
        arch::outb(PVCTL, PVCTL_HELLO);
        arch::enable_irq(arch::IRQ_PVCTL);
    }
    console::init();
    arch::enable_irq(arch::IRQ_SERIAL);
    arch::pit_stop();
    arch::enable_irq(arch::IRQ_TIMER);

    let ram_end = mem::ram_end(zero_page, pvh_info);
    let mut g = Guest {
        devices: virtio::Devices::new(pvh()),
        line: cmd::LineBuf::new(),
        pongs: 0,
        ping_seq: 0,
        probe: None,
        dirty: dirty::Dirty::new(mem::image_end(), ram_end),
        nic_due: [None; 8],
    };
    g.devices.scan();
    match g.devices.disk(0) {
        Some(d) => d.self_test(),
        None => {
            if g.devices.disks.iter().all(Option::is_none) {
                line("blk: none");
            }
        }
    }
    for (i, nic) in g.devices.nics.iter().enumerate() {
        if nic.is_some() {
            g.nic_due[i] = Some(0);
        }
    }
    line(wirt_banner_ready());
    main_loop(&mut g)
}

fn wirt_banner() -> &'static str {
    "wirt test guest 1 booting"
}

fn wirt_banner_ready() -> &'static str {
    "guest: ready"
}

/// The CPUID feature words the guest really sees, so the VMM's masking can
/// be checked from inside.
fn cpuid_report() {
    puts("cpu: leaf1.ecx ");
    hex(u64::from(arch::cpuid(1).2));
    puts(" leaf7.ebx ");
    hex(u64::from(arch::cpuid(7).1));
    puts("\n");
}

fn main_loop(g: &mut Guest) -> ! {
    let mut timer_armed = false;
    loop {
        let pending = arch::take_pending();
        if pending & (1 << arch::IRQ_PVCTL) != 0 {
            // Reading takes the pending request.
            let req = arch::inb(PVCTL);
            // A device was plugged in or out: look again, as `!rescan`.
            if req & PVCTL_REQ_RESCAN != 0 {
                cmd::rescan(g);
            }
            match req & !PVCTL_REQ_RESCAN {
                PVCTL_REQ_POWEROFF => power_off(),
                PVCTL_REQ_REBOOT => reboot(),
                _ => {}
            }
        }
        if pending & (1 << arch::IRQ_SERIAL) != 0 {
            while let Some(b) = console::read_byte() {
                cmd::byte(g, b);
            }
        }
        let nets = g.devices.interrupts(pending);

        // Network: service the NICs that were interrupted or are due.
        let now = clock::now_us() as i64;
        let mut next: Option<i64> = None;
        for (i, slot) in g.devices.nics.iter_mut().enumerate() {
            let Some(nic) = slot.as_mut() else {
                g.nic_due[i] = None;
                continue;
            };
            let due = g.nic_due[i].get_or_insert(0);
            if nets & (1 << i) != 0 || *due <= now {
                *due = nic.service().map_or(i64::MAX, |t| t.total_micros());
            }
            next = Some(next.map_or(*due, |n| n.min(*due)));
        }
        if let Some(p) = &g.probe {
            let done = match g.devices.nics.get_mut(p.nic).and_then(Option::as_mut) {
                Some(nic) => p.check(nic),
                None => true,
            };
            if done {
                g.probe = None;
            } else {
                let d = p.deadline().total_micros();
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        g.dirty.run();
        if let Some(ns) = g.dirty.due() {
            let d = (ns / 1000) as i64;
            next = Some(next.map_or(d, |n| n.min(d)));
        }

        // Sleep until the next interrupt, or the PIT for the next deadline.
        if arch::IRQ_PENDING.load(core::sync::atomic::Ordering::Relaxed) != 0 {
            continue;
        }
        match next.filter(|&n| n < i64::MAX) {
            Some(n) => {
                let wait = n - clock::now_us() as i64;
                if wait <= 0 {
                    continue;
                }
                let ticks = (wait as u64 * arch::PIT_HZ / 1_000_000).clamp(1, 0xffff);
                arch::pit_oneshot(ticks as u16);
                timer_armed = true;
            }
            None if timer_armed => {
                arch::pit_stop();
                timer_armed = false;
            }
            None => {}
        }
        arch::wait_for_interrupt();
    }
}

/// Power-control write: wirt's port, or QEMU's debug-exit after PVH.
fn power_write(value: u8) {
    arch::outb(if pvh() { DEBUG_EXIT } else { PVCTL }, value);
}

pub fn power_off() -> ! {
    line("guest: powering off");
    power_write(PVCTL_POWEROFF);
    arch::halt_forever()
}

/// Resets through the i8042 (pulses the CPU reset line).
pub fn reboot() -> ! {
    line("guest: rebooting");
    arch::outb(0x64, 0xfe);
    arch::halt_forever()
}

#[unsafe(no_mangle)]
extern "C" fn guest_exception(vector: u64) -> ! {
    puts("guest: exception ");
    hex(vector);
    puts("\n");
    power_write(PVCTL_PANIC);
    arch::halt_forever()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    puts("guest: panic");
    if let Some(loc) = info.location() {
        puts(" at ");
        puts(loc.file());
        puts(":");
        console::dec(u64::from(loc.line()));
    }
    puts("\n");
    power_write(PVCTL_PANIC);
    arch::halt_forever()
}
