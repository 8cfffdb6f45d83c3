//! The x86 pieces: entry code, port I/O, the IDT, the 8259 PIC, the 8254
//! PIT and waiting for interrupts. See entry.s for the assembly.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU32, Ordering};

global_asm!(include_str!("entry.s"));

/// Interrupt lines seen since the main loop last looked (bit n = IRQ n),
/// set by the stubs in entry.s.
#[unsafe(no_mangle)]
pub static IRQ_PENDING: AtomicU32 = AtomicU32::new(0);

/// PIT (IRQ 0), only ever programmed one-shot.
pub const IRQ_TIMER: u32 = 0;
/// wirt's power-control port.
pub const IRQ_PVCTL: u32 = 3;
/// COM1.
pub const IRQ_SERIAL: u32 = 4;

/// Takes the pending interrupt lines.
pub fn take_pending() -> u32 {
    IRQ_PENDING.swap(0, Ordering::Relaxed)
}

/// Takes one pending line, leaving the others for the main loop.
pub fn take_line(irq: u32) -> bool {
    IRQ_PENDING.fetch_and(!(1 << irq), Ordering::Relaxed) & (1 << irq) != 0
}

pub fn outb(port: u16, value: u8) {
    // SAFETY: port I/O has no memory effects; the ports this guest writes
    // belong to devices it drives.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack)) }
}

pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for outb.
    unsafe { asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack)) }
    value
}

/// CPUID leaf/subleaf 0 → (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid_count(leaf, 0);
    (r.eax, r.ebx, r.ecx, r.edx)
}

pub fn rdtsc() -> u64 {
    // SAFETY: reading the time-stamp counter has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

pub fn wrmsr(msr: u32, value: u64) {
    // SAFETY: only called for the kvmclock MSR, which points KVM at a
    // static the guest owns for its whole life.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32,
             options(nostack))
    }
}

/// Waits for the next interrupt. The main loop runs with interrupts off;
/// `sti` takes effect after `hlt` starts, so none is missed in between.
pub fn wait_for_interrupt() {
    // SAFETY: the stubs only touch IRQ_PENDING and the PIC.
    unsafe { asm!("sti", "hlt", "cli", options(nomem, nostack)) }
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: nothing runs afterwards.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) }
    }
}

/// Executes `ud2` (the `x` command): the exception handler reports it.
pub fn crash() -> ! {
    // SAFETY: #UD goes to guest_exception, which never returns.
    unsafe { asm!("ud2", options(noreturn)) }
}

#[repr(C, align(16))]
struct Idt([u64; 96]);

static mut IDT: Idt = Idt([0; 96]);

unsafe extern "C" {
    static IDT_HANDLERS: [u64; 48];
}

/// Fills and loads the IDT: 32 exception gates, then the 16 PIC lines at
/// vectors 0x20-0x2f.
pub fn init_idt() {
    // SAFETY: runs once at boot with interrupts off, before anything reads
    // the IDT; IDT_HANDLERS is a table in entry.s.
    unsafe {
        let idt = &raw mut IDT;
        for (i, &h) in (&raw const IDT_HANDLERS)
            .as_ref()
            .unwrap_unchecked()
            .iter()
            .enumerate()
        {
            // Present, DPL 0, interrupt gate, code segment 0x08.
            (*idt).0[2 * i] = (h & 0xffff) | (0x08 << 16) | (0x8e00 << 32) | ((h >> 16) << 48);
            (*idt).0[2 * i + 1] = h >> 32;
        }
        let idtr: [u16; 5] = {
            let base = idt as u64;
            [
                48 * 16 - 1,
                base as u16,
                (base >> 16) as u16,
                (base >> 32) as u16,
                (base >> 48) as u16,
            ]
        };
        asm!("lidt [{}]", in(reg) &idtr, options(nostack));
    }
}

/// Mask of enabled PIC lines (bit n = IRQ n); IRQ 2 cascades the slave.
static PIC_MASK: AtomicU32 = AtomicU32::new(0);

/// Remaps the PIC to vectors 0x20-0x2f, all lines masked. The PIC is
/// emulated inside KVM, so these writes never leave the kernel.
pub fn init_pic() {
    for (port, value) in [
        (0x20, 0x11), // ICW1: edge triggered, cascade, ICW4
        (0xa0, 0x11),
        (0x21, 0x20), // ICW2: vector bases
        (0xa1, 0x28),
        (0x21, 0x04), // ICW3: slave on IRQ2
        (0xa1, 0x02),
        (0x21, 0x01), // ICW4: 8086 mode
        (0xa1, 0x01),
        (0x21, 0xff),
        (0xa1, 0xff),
    ] {
        outb(port, value);
    }
}

/// Unmasks `irq` (and the cascade for slave lines).
pub fn enable_irq(irq: u32) {
    if irq >= 16 {
        return;
    }
    let mut mask = PIC_MASK.load(Ordering::Relaxed) | 1 << irq;
    if irq >= 8 {
        mask |= 1 << 2;
    }
    PIC_MASK.store(mask, Ordering::Relaxed);
    outb(0x21, !mask as u8);
    outb(0xa1, !(mask >> 8) as u8);
}

/// PIT input clock, Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Stops PIT channel 0: mode 0 waits for a count before it counts.
pub fn pit_stop() {
    outb(0x43, 0x30);
}

/// Arms PIT channel 0 to raise IRQ 0 once, `ticks` (1..=65535) from now.
pub fn pit_oneshot(ticks: u16) {
    outb(0x43, 0x30); // channel 0, lobyte/hibyte, mode 0
    outb(0x40, ticks as u8);
    outb(0x40, (ticks >> 8) as u8);
}
