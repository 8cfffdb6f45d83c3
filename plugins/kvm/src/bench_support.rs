//! Building blocks for the criterion benchmarks in `benches/` and for tests
//! (not part of the VMM's API): a tiny guest that makes N port-I/O or MMIO
//! exits, runnable through wirt's vCPU loop or a bare kvm-ioctls loop; the
//! driver's side of a virtqueue ([`ring`]); a network backend without
//! system calls ([`CannedBackend`]); running code in a network namespace
//! ([`in_netns`]).

pub mod ring;

use std::sync::{Arc, Mutex};

use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress};

use crate::arch::{cpuid, regs};
use crate::devices::console::{Console, ConsoleWriter};
use crate::devices::i8042::{I8042, I8042State};
use crate::devices::pvctl::{PvCtl, PvCtlState};
use crate::devices::serial::SerialDevice;
use crate::devices::{Bus, EventSink, IrqLine, VmEvent};
use crate::layout;
use crate::machine::{MachineError, create_vm};
use crate::memory::{self, GuestMemoryMmap};
use crate::vcpu::{VcpuContext, run_once};

/// Which exit the guest makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// `out 0x80, al`: an unclaimed port.
    Pio,
    /// A 32-bit store into an unclaimed page of the MMIO gap.
    Mmio,
}

/// A VM with one vCPU whose guest makes `n` exits, then writes the
/// power-control port's power-off code and halts.
pub struct ExitGuest {
    /// The vCPU.
    pub vcpu: VcpuFd,
    /// What the wirt loop dispatches to.
    pub ctx: VcpuContext,
    _vm: VmFd,
    _mem: GuestMemoryMmap,
}

impl std::fmt::Debug for ExitGuest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExitGuest").finish_non_exhaustive()
    }
}

fn code(kind: ExitKind, n: u32) -> Vec<u8> {
    let mut c = vec![0xb9]; // mov ecx, n
    c.extend_from_slice(&n.to_le_bytes());
    c.push(0xbb); // mov ebx, unclaimed MMIO address
    c.extend_from_slice(&((layout::VIRTIO_MMIO_BASE + 0x80_0000) as u32).to_le_bytes());
    match kind {
        ExitKind::Pio => c.extend_from_slice(&[0xe6, 0x80]), // out 0x80, al
        ExitKind::Mmio => c.extend_from_slice(&[0x89, 0x03]), // mov [rbx], eax
    }
    c.extend_from_slice(&[0xff, 0xc9, 0x75, 0xfa]); // dec ecx; jnz loop
    c.extend_from_slice(&[0x66, 0xba, 0x00, 0x05, 0xb0, 0x01, 0xee]); // out 0x500, 1
    c.extend_from_slice(&[0xf4, 0xeb, 0xfd]); // hlt; jmp hlt
    c
}

impl ExitGuest {
    /// Builds the VM.
    pub fn new(kvm: &Kvm, kind: ExitKind, n: u32) -> Result<Self, MachineError> {
        let vm = create_vm(kvm)?;
        let mem = memory::create(4 << 20)?;
        memory::register(&vm, &mem)?;
        regs::write_boot_tables(&mem)?;
        mem.write_slice(&code(kind, n), GuestAddress(layout::HIMEM))
            .map_err(|e| MachineError::Regs(regs::RegsError::GuestMemory(e)))?;
        let vcpu = vm
            .create_vcpu(0)
            .map_err(|e| MachineError::Kvm("create a vCPU", e))?;
        cpuid::apply(&vcpu, &cpuid::for_vcpu(&cpuid::supported(kvm)?, 0, 1))?;
        regs::setup_boot_msrs(&vcpu)?;
        let io = |e| MachineError::Io("a bench device", e);
        let console = Console::new(None);
        let bus = Arc::new(Bus {
            serial: Mutex::new(SerialDevice::new(
                IrqLine::new().map_err(io)?,
                ConsoleWriter(console),
            )),
            i8042: Mutex::new(I8042::new(
                IrqLine::new().map_err(io)?,
                I8042State::default(),
            )),
            pvctl: Mutex::new(PvCtl::new(
                IrqLine::new().map_err(io)?,
                PvCtlState::default(),
            )),
            virtio: Default::default(),
            events: EventSink::new().map_err(io)?,
        });
        let ctx = VcpuContext {
            bus,
            mem: mem.clone(),
            setup: Arc::new(|| {}),
        };
        let g = ExitGuest {
            vcpu,
            ctx,
            _vm: vm,
            _mem: mem,
        };
        g.rewind()?;
        Ok(g)
    }

    /// Puts the vCPU back at the start of the loop.
    pub fn rewind(&self) -> Result<(), MachineError> {
        regs::setup_boot_cpu(&self.vcpu, layout::HIMEM)?;
        Ok(())
    }

    /// Runs the guest through wirt's vCPU loop; returns the exits handled.
    pub fn run_wirt(&mut self) -> u64 {
        let mut exits = 0;
        loop {
            match run_once(0, &mut self.vcpu, &self.ctx) {
                None => exits += 1,
                Some(VmEvent::PowerOff) => return exits,
                Some(other) => panic!("bench guest: {other:?}"),
            }
        }
    }

    /// Runs the guest with a bare kvm-ioctls loop; returns the exits handled.
    pub fn run_bare(&mut self) -> u64 {
        let mut exits = 0;
        loop {
            match self.vcpu.run() {
                Ok(VcpuExit::IoOut(layout::port::PVCTL, _)) => return exits,
                Ok(VcpuExit::IoOut(..)) | Ok(VcpuExit::MmioWrite(..)) => exits += 1,
                other => panic!("bench guest: {other:?}"),
            }
        }
    }
}

/// CPU time of the calling thread (benchmarks measure vCPU work this way:
/// on a loaded machine, wall time is 2-3x noisier).
pub fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer for the calling thread's CPU clock.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A network backend without system calls, to measure the device's own
/// cost: writes are swallowed (like `/dev/null`), reads copy `frame` into
/// the buffers (as the kernel would) while `frames` lasts, then say
/// `WouldBlock` like an empty tap.
#[derive(Debug)]
pub struct CannedBackend {
    /// What every read returns (virtio-net header included).
    pub frame: Vec<u8>,
    /// Reads left before the "tap" is empty.
    pub frames: usize,
}

impl crate::devices::virtio::net::NetBackend for CannedBackend {
    fn fd(&self) -> std::os::fd::RawFd {
        -1
    }

    fn configure(&mut self, _: usize, _: u32) -> std::io::Result<()> {
        Ok(())
    }

    fn read_frame(&mut self, iovs: &[libc::iovec]) -> std::io::Result<usize> {
        if self.frames == 0 {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        self.frames -= 1;
        let mut done = 0;
        for v in iovs {
            let n = v.iov_len.min(self.frame.len() - done);
            // SAFETY: the device hands out iovecs into guest memory it keeps
            // mapped, `n` bytes fit in this one, and `frame` has them.
            unsafe {
                std::ptr::copy_nonoverlapping(self.frame.as_ptr().add(done), v.iov_base.cast(), n)
            };
            done += n;
            if done == self.frame.len() {
                break;
            }
        }
        Ok(self.frame.len())
    }

    fn write_frame(&mut self, iovs: &[libc::iovec]) -> std::io::Result<usize> {
        Ok(iovs.iter().map(|v| v.iov_len).sum())
    }
}

/// Runs `f` on a thread that joined the network namespace `name` (as made
/// by `ip netns add`): taps and sockets it creates live there.
pub fn in_netns<R: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> std::io::Result<R> {
    let ns = std::fs::File::open(format!("/var/run/netns/{name}"))?;
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a namespace descriptor changes only this thread's
        // network namespace; the thread ends after `f`.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(f())
    })
    .join()
    .map_err(|_| std::io::Error::other("namespace thread panicked"))?
}
