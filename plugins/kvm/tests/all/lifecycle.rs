//! Pause/resume, shutdown, reboot, reset, destroy, crash.

use std::time::{Duration, Instant};

use wirt_kvm::control::protocol::{LifecycleAction, Request, reason, state};
use wirt_kvm::guest::{BANNER, READY};

use crate::common::{TIMEOUT, Vmm, require_kvm};

fn ready() -> Vmm {
    let mut vmm = Vmm::spawn(&[]);
    vmm.boot(|_| {});
    vmm.wait_console(READY);
    vmm
}

#[test]
fn pause_parks_the_guest_and_resume_continues_it() {
    require_kvm!();
    let mut vmm = ready();
    vmm.input("p");
    vmm.wait_console("guest: pong 0000000000000001");
    let s = vmm.req(Request::Pause);
    assert_eq!(
        (s["state"].as_u64(), s["reason"].as_u64()),
        (Some(3), Some(1))
    );
    let cpu = s["cpu_time_ns"].as_u64().unwrap();
    vmm.input("p");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !vmm.console().contains("pong 0000000000000002"),
        "a paused guest answered"
    );
    let s = vmm.req(Request::Status);
    // A parked vCPU burns no CPU (allow for the kick and the park itself).
    assert!(s["cpu_time_ns"].as_u64().unwrap() - cpu < 5_000_000, "{s}");
    let s = vmm.req(Request::Resume);
    assert_eq!(
        (s["state"].as_u64(), s["reason"].as_u64()),
        (Some(1), Some(5))
    );
    vmm.wait_console("guest: pong 0000000000000002");
    assert!(
        vmm.client.request(Request::Resume).is_err(),
        "resume while running"
    );
    vmm.quit();
}

#[test]
fn shutdown_is_cooperative_and_ends_in_shutoff() {
    require_kvm!();
    let mut vmm = ready();
    let r = vmm.req(Request::Shutdown);
    assert_eq!(r["method"], "pvctl");
    let ev = vmm.client.next_event(TIMEOUT).unwrap();
    assert_eq!(ev.event, "poweroff");
    assert_eq!(
        (ev.state, ev.reason),
        (state::SHUTOFF, reason::SHUTOFF_SHUTDOWN)
    );
    assert!(vmm.console().contains("guest: powering off"));
    assert_eq!(vmm.state(), (5, 1));
    // The VMM stays, and can boot the domain again.
    vmm.boot(|_| {});
    vmm.wait_console_n(BANNER, 2);
    vmm.quit();
}

#[test]
fn reboot_restarts_the_guest() {
    require_kvm!();
    let mut vmm = ready();
    vmm.req(Request::Reboot);
    let ev = vmm.client.next_event(TIMEOUT).unwrap();
    assert_eq!(ev.event, "reboot");
    assert_eq!(ev.state, state::RUNNING);
    vmm.wait_console_n(READY, 2);
    // Guest-initiated reboot (i8042 reset) works the same way.
    vmm.input("r");
    assert_eq!(vmm.client.next_event(TIMEOUT).unwrap().event, "reboot");
    vmm.wait_console_n(READY, 3);
    vmm.quit();
}

#[test]
fn reboot_with_on_reboot_destroy_powers_off() {
    require_kvm!();
    let mut vmm = Vmm::spawn(&[]);
    vmm.boot(|b| b.policies.on_reboot = LifecycleAction::Destroy);
    vmm.wait_console(READY);
    vmm.input("r");
    let ev = vmm.client.next_event(TIMEOUT).unwrap();
    assert_eq!((ev.event.as_str(), ev.state), ("poweroff", state::SHUTOFF));
    vmm.quit();
}

#[test]
fn reset_and_destroy() {
    require_kvm!();
    let mut vmm = ready();
    let s = vmm.req(Request::Reset);
    assert_eq!(s["state"], state::RUNNING);
    vmm.wait_console_n(READY, 2);
    let s = vmm.req(Request::Destroy);
    assert_eq!(
        (s["state"].as_u64(), s["reason"].as_u64()),
        (Some(5), Some(2))
    );
    // Destroy always works, also when already off.
    vmm.req(Request::Destroy);
    vmm.quit();
}

#[test]
fn crash_follows_on_crash() {
    require_kvm!();
    let mut vmm = ready();
    vmm.input("x");
    let ev = vmm.client.next_event(TIMEOUT).unwrap();
    assert_eq!(ev.event, "crashed");
    assert_eq!(
        (ev.state, ev.reason),
        (state::SHUTOFF, reason::SHUTOFF_CRASHED)
    );
    assert!(vmm.console().contains("guest: exception 0000000000000006"));

    vmm.boot(|b| b.policies.on_crash = LifecycleAction::Preserve);
    vmm.wait_console_n(READY, 2);
    vmm.input("x");
    let ev = vmm.client.next_event(TIMEOUT).unwrap();
    assert_eq!(
        (ev.state, ev.reason),
        (state::CRASHED, reason::CRASHED_PANICKED)
    );
    assert_eq!(vmm.state(), (6, 1));
    vmm.quit();
}

#[test]
fn start_paused_runs_nothing_until_resumed() {
    require_kvm!();
    let mut vmm = Vmm::spawn(&[]);
    let s = vmm.boot(|b| b.paused = true);
    assert_eq!(s["state"], state::PAUSED);
    std::thread::sleep(Duration::from_millis(200));
    assert!(vmm.console().is_empty());
    let t = Instant::now();
    vmm.req(Request::Resume);
    vmm.wait_console(READY);
    eprintln!("resume to ready: {:?}", t.elapsed());
    vmm.quit();
}
