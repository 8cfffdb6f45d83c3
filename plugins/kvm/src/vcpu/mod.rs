//! vCPU threads: each owns its `VcpuFd` and runs `KVM_RUN`, dispatching port
//! and MMIO exits to the [`Bus`]. The controller parks them (pause), runs
//! jobs on them (state capture) and stops them, by setting a request and
//! kicking the thread out of `KVM_RUN` with a signal whose handler sets
//! `immediate_exit` (so a kick that lands just before `KVM_RUN` is not lost).

pub mod state;

use std::cell::Cell;
use std::collections::VecDeque;
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once, mpsc};
use std::thread::JoinHandle;

use kvm_bindings::kvm_run;
use kvm_ioctls::{VcpuExit, VcpuFd};
use vm_memory::{Bytes, GuestAddress};

use crate::devices::{Bus, VmEvent};
use crate::memory::GuestMemoryMmap;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum VcpuError {
    /// Spawning the thread failed.
    #[error("cannot spawn vCPU thread {0}")]
    Spawn(u8, #[source] std::io::Error),
    /// Installing the kick signal handler failed.
    #[error("cannot install the vCPU kick signal handler")]
    Signal(#[source] vmm_sys_util::errno::Error),
    /// The thread is gone.
    #[error("vCPU {0} has exited")]
    Gone(u8),
}

thread_local! {
    // The kvm_run mapping of the vCPU running on this thread, for the kick handler.
    static KVM_RUN: Cell<*mut kvm_run> = const { Cell::new(std::ptr::null_mut()) };
}

extern "C" fn kick_handler(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    KVM_RUN.with(|p| {
        let p = p.get();
        if !p.is_null() {
            // SAFETY: `p` is this thread's own kvm_run mapping, valid while the
            // VcpuFd lives; the vCPU loop clears the pointer before dropping it.
            // A volatile byte store is async-signal-safe.
            unsafe { std::ptr::addr_of_mut!((*p).immediate_exit).write_volatile(1) };
        }
    });
}

fn kick_signal() -> libc::c_int {
    vmm_sys_util::signal::SIGRTMIN()
}

/// Installs the kick signal handler (once per process; call before seccomp).
pub fn init_kick_signal() -> Result<(), VcpuError> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = vmm_sys_util::signal::register_signal_handler(kick_signal(), kick_handler)
            .map_err(VcpuError::Signal);
    });
    result
}

type Job = Box<dyn FnOnce(&mut VcpuFd) + Send>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    Run,
    Pause,
    Exit,
}

struct Control {
    want: Want,
    parked: bool,
    jobs: VecDeque<Job>,
}

struct Shared {
    attention: AtomicBool,
    exited: AtomicBool,
    ctl: Mutex<Control>,
    cond: Condvar,
    clock: Mutex<Option<libc::clockid_t>>,
    final_cpu_ns: AtomicU64,
}

/// What a vCPU thread needs besides its `VcpuFd`.
#[derive(Clone)]
pub struct VcpuContext {
    /// Device bus for I/O exits.
    pub bus: Arc<Bus>,
    /// Guest memory, to log the instruction bytes of an internal error.
    pub mem: GuestMemoryMmap,
    /// Runs first inside the thread (installs its seccomp filter).
    pub setup: Arc<dyn Fn() + Send + Sync>,
}

/// Handle to a running vCPU thread.
pub struct VcpuHandle {
    id: u8,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for VcpuHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcpuHandle").field("id", &self.id).finish()
    }
}

impl VcpuHandle {
    /// Starts vCPU `id` on its own thread, running or parked.
    pub fn spawn(id: u8, vcpu: VcpuFd, ctx: VcpuContext, paused: bool) -> Result<Self, VcpuError> {
        let shared = Arc::new(Shared {
            attention: AtomicBool::new(paused),
            exited: AtomicBool::new(false),
            ctl: Mutex::new(Control {
                want: if paused { Want::Pause } else { Want::Run },
                parked: false,
                jobs: VecDeque::new(),
            }),
            cond: Condvar::new(),
            clock: Mutex::new(None),
            final_cpu_ns: AtomicU64::new(0),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("vcpu{id}"))
            .spawn(move || thread_main(id, vcpu, ctx, &s))
            .map_err(|e| VcpuError::Spawn(id, e))?;
        Ok(VcpuHandle {
            id,
            shared,
            thread: Some(thread),
        })
    }

    fn kick(&self) {
        if let Some(t) = &self.thread
            && !self.shared.exited.load(Ordering::Acquire)
        {
            // SAFETY: the pthread_t belongs to a thread we have not joined
            // yet, so it is still a valid handle even if the thread ended.
            unsafe { libc::pthread_kill(t.as_pthread_t(), kick_signal()) };
        }
    }

    fn set_want(&self, want: Want) {
        let mut ctl = self.shared.ctl.lock().expect("vcpu control");
        if ctl.want != Want::Exit {
            ctl.want = want;
        }
        self.shared.attention.store(true, Ordering::Release);
        self.shared.cond.notify_all();
        drop(ctl);
        self.kick();
    }

    /// Asks the thread to park; see [`VcpuHandle::wait_parked`].
    pub fn request_pause(&self) {
        self.set_want(Want::Pause);
    }

    /// Waits until the thread is parked (or gone).
    pub fn wait_parked(&self) {
        let mut ctl = self.shared.ctl.lock().expect("vcpu control");
        while !ctl.parked && !self.shared.exited.load(Ordering::Acquire) {
            let (c, _) = self
                .shared
                .cond
                .wait_timeout(ctl, std::time::Duration::from_millis(50))
                .expect("vcpu control");
            ctl = c;
            if !ctl.parked {
                // The thread may be busy in a long device access; nudge again.
                drop(ctl);
                self.kick();
                ctl = self.shared.ctl.lock().expect("vcpu control");
            }
        }
    }

    /// Lets a parked thread run guest code again.
    pub fn resume(&self) {
        self.set_want(Want::Run);
    }

    /// Runs `f` on the vCPU thread (between two `KVM_RUN`s) and returns its result.
    pub fn run_job<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut VcpuFd) -> R + Send + 'static,
    ) -> Result<R, VcpuError> {
        let (tx, rx) = mpsc::sync_channel(1);
        {
            let mut ctl = self.shared.ctl.lock().expect("vcpu control");
            ctl.jobs.push_back(Box::new(move |v| {
                let _ = tx.send(f(v));
            }));
            self.shared.attention.store(true, Ordering::Release);
            self.shared.cond.notify_all();
        }
        self.kick();
        rx.recv().map_err(|_| VcpuError::Gone(self.id))
    }

    /// CPU time the thread has used, in nanoseconds.
    pub fn cpu_time_ns(&self) -> u64 {
        let clock = *self.shared.clock.lock().expect("vcpu clock");
        if !self.shared.exited.load(Ordering::Acquire)
            && let Some(ns) = clock.and_then(clock_ns)
        {
            return ns;
        }
        self.shared.final_cpu_ns.load(Ordering::Acquire)
    }

    /// Stops and joins the thread; returns its CPU time.
    pub fn stop(&mut self) -> u64 {
        self.set_want(Want::Exit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.final_cpu_ns.load(Ordering::Acquire)
    }
}

impl Drop for VcpuHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn clock_ns(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; an invalid clock only yields EINVAL.
    let r = unsafe { libc::clock_gettime(clock, &mut ts) };
    (r == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

fn thread_main(id: u8, mut vcpu: VcpuFd, ctx: VcpuContext, shared: &Shared) {
    (ctx.setup)();
    let mut clock: libc::clockid_t = 0;
    // SAFETY: querying our own thread's CPU clock id into a valid out-pointer.
    if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } == 0 {
        *shared.clock.lock().expect("vcpu clock") = Some(clock);
    }
    let run_ptr: *mut kvm_run = vcpu.get_kvm_run();
    KVM_RUN.with(|p| p.set(run_ptr));

    run_loop(id, &mut vcpu, &ctx, shared);

    KVM_RUN.with(|p| p.set(std::ptr::null_mut()));
    let ns = clock_ns(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or(0);
    shared.final_cpu_ns.store(ns, Ordering::Release);
    let mut ctl = shared.ctl.lock().expect("vcpu control");
    shared.exited.store(true, Ordering::Release);
    // Jobs queued after the decision to exit get their channel dropped.
    ctl.jobs.clear();
    shared.cond.notify_all();
}

/// Handles requests; returns false when the thread must exit.
fn control(vcpu: &mut VcpuFd, shared: &Shared) -> bool {
    let mut ctl = shared.ctl.lock().expect("vcpu control");
    loop {
        shared.attention.store(false, Ordering::Release);
        while let Some(job) = ctl.jobs.pop_front() {
            drop(ctl);
            job(vcpu);
            ctl = shared.ctl.lock().expect("vcpu control");
        }
        match ctl.want {
            Want::Run => {
                ctl.parked = false;
                return true;
            }
            Want::Exit => return false,
            Want::Pause => {
                if !ctl.parked {
                    ctl.parked = true;
                    shared.cond.notify_all();
                }
                ctl = shared.cond.wait(ctl).expect("vcpu control");
            }
        }
    }
}

fn park_self(shared: &Shared) {
    let mut ctl = shared.ctl.lock().expect("vcpu control");
    if ctl.want == Want::Run {
        ctl.want = Want::Pause;
    }
    shared.attention.store(true, Ordering::Release);
}

fn run_loop(id: u8, vcpu: &mut VcpuFd, ctx: &VcpuContext, shared: &Shared) {
    loop {
        if shared.attention.load(Ordering::Acquire) && !control(vcpu, shared) {
            return;
        }
        if let Some(event) = run_once(id, vcpu, ctx) {
            // Stop running guest code until the controller decides.
            park_self(shared);
            ctx.bus.events.post(event);
        }
    }
}

/// One `KVM_RUN` and the handling of its exit: the vCPU loop's hot path.
/// Returns an event when the VM must stop running guest code.
pub fn run_once(id: u8, vcpu: &mut VcpuFd, ctx: &VcpuContext) -> Option<VmEvent> {
    match vcpu.run() {
        Ok(VcpuExit::IoIn(port, data)) => {
            ctx.bus.pio_read(port, data);
            None
        }
        Ok(VcpuExit::IoOut(port, data)) => ctx.bus.pio_write(port, data),
        Ok(VcpuExit::MmioRead(addr, data)) => {
            ctx.bus.mmio_read(addr, data);
            None
        }
        Ok(VcpuExit::MmioWrite(addr, data)) => {
            ctx.bus.mmio_write(addr, data);
            None
        }
        Ok(VcpuExit::Intr) | Ok(VcpuExit::Hlt) | Ok(VcpuExit::IrqWindowOpen) => None,
        // A triple fault: PCs reset, and so does QEMU.
        Ok(VcpuExit::Shutdown) => Some(VmEvent::Reset),
        Ok(VcpuExit::SystemEvent(kind, _)) => Some(match kind {
            kvm_bindings::KVM_SYSTEM_EVENT_SHUTDOWN => VmEvent::PowerOff,
            kvm_bindings::KVM_SYSTEM_EVENT_RESET => VmEvent::Reset,
            other => VmEvent::Crash(format!("vCPU {id}: system event {other}")),
        }),
        Ok(VcpuExit::InternalError) => Some(VmEvent::Crash(internal_error(id, vcpu, &ctx.mem))),
        Ok(VcpuExit::FailEntry(reason, cpu)) => Some(VmEvent::Crash(format!(
            "vCPU {id}: KVM entry failed, reason {reason:#x} on host cpu {cpu}"
        ))),
        Ok(other) => Some(VmEvent::Crash(format!(
            "vCPU {id}: unexpected exit {other:?}"
        ))),
        Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
            vcpu.set_kvm_immediate_exit(0);
            None
        }
        Err(e) => Some(VmEvent::Crash(format!("vCPU {id}: KVM_RUN failed: {e}"))),
    }
}

/// Describes an internal-error exit: suberror, data and the instruction bytes.
fn internal_error(id: u8, vcpu: &mut VcpuFd, mem: &GuestMemoryMmap) -> String {
    // SAFETY: the exit reason is KVM_EXIT_INTERNAL_ERROR, so `internal` is the
    // union member the kernel filled in.
    let internal = unsafe { vcpu.get_kvm_run().__bindgen_anon_1.internal };
    let n = (internal.ndata as usize).min(internal.data.len());
    let mut msg = format!(
        "vCPU {id}: KVM internal error, suberror {}, data {:x?}",
        internal.suberror,
        &internal.data[..n]
    );
    if let Ok(regs) = vcpu.get_regs() {
        msg.push_str(&format!(", rip {:#x}", regs.rip));
        if let Ok(tr) = vcpu.translate_gva(regs.rip) {
            let mut bytes = [0u8; 16];
            if tr.valid != 0
                && mem
                    .read_slice(&mut bytes, GuestAddress(tr.physical_address))
                    .is_ok()
            {
                msg.push_str(&format!(", code {bytes:02x?}"));
            }
        }
    }
    eprintln!("wirt-vmm: {msg}");
    msg
}
