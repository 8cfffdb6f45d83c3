//! What the QEMU comparison programs share: where the VMM of the same build
//! is, whether KVM is here, QEMU's microvm command line for the test guest,
//! and the figures' arithmetic.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// wirt-vmm of the same build, next to `target/<profile>/examples/`.
pub fn default_vmm() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Ok(exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("wirt-vmm"))
        .unwrap_or_else(|| PathBuf::from("wirt-vmm")))
}

/// Whether /dev/kvm can be opened for reading and writing.
pub fn kvm_available() -> bool {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// `qemu -M microvm -kernel ELF` (PVH entry) with one vCPU, `memory_mib`,
/// the serial console on stdio and the guest's power-off exit port: the
/// test guest as both programs run it. Callers add their own arguments.
pub fn qemu_microvm(qemu: &str, kernel: &Path, memory_mib: u64) -> Command {
    let mut cmd = Command::new(qemu);
    cmd.args(["-enable-kvm", "-M", "microvm,x-option-roms=off,rtc=off"])
        .args(["-m", &format!("{memory_mib}M"), "-smp", "1"])
        .args(["-display", "none", "-nodefaults", "-no-user-config"])
        .args(["-serial", "stdio", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel)
        // The guest's power-off after a PVH boot: exit status (1 << 1) | 1.
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
    cmd
}

/// The median of `v` (the mean of the middle two for an even count).
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

/// Milliseconds, fractional.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
