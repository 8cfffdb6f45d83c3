//! The seccomp boundary: opening a file is refused inside the VMM.

use wirt_kvm::control::protocol::Request;
use wirt_kvm::guest::READY;
use wirt_kvm::seccomp::Mode;

use crate::common::{Vmm, require_kvm};

#[test]
fn opening_a_file_is_refused_in_control_and_vcpu_threads() {
    require_kvm!();
    let mut vmm = Vmm::spawn(&[]);
    vmm.boot(|_| {});
    vmm.wait_console(READY);
    let r = vmm.req(Request::SandboxCheck);
    for thread in ["control_thread", "vcpu_thread"] {
        assert_eq!(r[thread]["refused"], true, "{r}");
        assert_eq!(r[thread]["errno"], libc::EPERM, "{r}");
    }
    // The guest keeps running afterwards.
    vmm.input("p");
    vmm.wait_console("guest: pong 0000000000000001");
    vmm.quit();
}

#[test]
fn without_seccomp_the_same_check_succeeds() {
    require_kvm!();
    let mut vmm = Vmm::spawn_with(&[], Mode::Off, None);
    let r = vmm.req(Request::SandboxCheck);
    assert_eq!(r["control_thread"]["refused"], false, "{r}");
    vmm.quit();
}
