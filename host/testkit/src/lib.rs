//! Skips that say what they skipped.
//!
//! A test that cannot run on this machine calls [`skip`] (a prerequisite no
//! setup script can provide, such as `/dev/kvm`) or [`require`] (a tool that
//! `scripts/setup.sh` installs, such as `qemu-img`) and returns. Either way the
//! reason is printed to stderr (visible with `--nocapture`) and, when
//! `WIRT_SKIP_LOG` names a file, appended to it as one line
//! `<reason>\t<test>`: cargo's output capture hides stderr of passing tests, so
//! `scripts/test.sh` reads that file to print every reason with its count.
//!
//! With `WIRT_TEST_STRICT=1` (set by `scripts/test.sh` once `setup.sh` has
//! installed everything), [`require`] panics instead: in CI a missing tool
//! that setup installs is a failure, not a skip.

use std::io::Write;

#[cfg(feature = "fuzz")]
pub mod fuzz;

/// The environment variable naming the skip log file.
pub const SKIP_LOG: &str = "WIRT_SKIP_LOG";
/// The environment variable that turns missing installable tools into failures.
pub const STRICT: &str = "WIRT_TEST_STRICT";

/// Whether missing prerequisites that `scripts/setup.sh` installs fail tests.
pub fn strict() -> bool {
    std::env::var_os(STRICT).is_some_and(|v| v == "1")
}

/// Records that the current test skips (part of) its work because of
/// `reason`, a prerequisite this machine lacks and no setup can provide
/// (`/dev/kvm`, root). The caller then returns.
pub fn skip(reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned();
    eprintln!("SKIPPED {test}: {reason}");
    if let Some(path) = std::env::var_os(SKIP_LOG) {
        // One write of one line: appends from parallel tests do not interleave.
        let line = format!("{}\t{test}\n", reason.replace(['\t', '\n'], " "));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path);
        if let Err(e) = file.and_then(|mut f| f.write_all(line.as_bytes())) {
            panic!(
                "cannot append to {SKIP_LOG}={}: {e}",
                path.to_string_lossy()
            );
        }
    }
}

/// Records a skip because `what`, which `scripts/setup.sh` installs, is
/// missing; `reason` says what the test would have checked with it. Under
/// `WIRT_TEST_STRICT=1` this panics naming `what` instead.
pub fn require(what: &str, reason: &str) {
    if strict() {
        panic!(
            "{what} is missing ({reason}); scripts/setup.sh installs it and \
             {STRICT}=1 makes its absence a failure"
        );
    }
    skip(&format!("{what} is missing: {reason}"));
}

/// Whether `program` can be started (it exists on `PATH` and runs).
pub fn have(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Whether `/dev/kvm` can be opened for reading and writing.
pub fn kvm_available() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// Skips unless `/dev/kvm` can be opened: returns whether the test may go on.
pub fn kvm_or_skip() -> bool {
    let ok = kvm_available();
    if !ok {
        skip("/dev/kvm is not available on this machine");
    }
    ok
}
