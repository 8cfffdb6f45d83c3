//! Builds the purpose-built test guest (guest/, a no_std Rust kernel in a
//! cargo workspace of its own) for `x86_64-unknown-none` with a nested
//! cargo, so a fresh checkout embeds it with no extra step.
//!
//! As for the WASM guests (host/build/wasm_guest.rs): the nested cargo runs
//! in the guest folder with its own target dir (sharing the outer one can
//! deadlock) and with the outer build's flags cleared (they are for the
//! host, not for a freestanding kernel); reruns follow its dep-info.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "x86_64-unknown-none";
const BIN: &str = "wirt-test-guest";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let guest_dir = manifest_dir.join("guest");
    // Beside the WASM guests' (host/build.rs), in the workspace's target dir.
    let target_dir = manifest_dir.join("../../target/kvm-guest");
    check_target_installed();

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&guest_dir)
        .args(["build", "--release", "--locked", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_MAKEFLAGS",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "CARGO_PROFILE_RELEASE_LTO",
        "CARGO_PROFILE_RELEASE_OPT_LEVEL",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo for the test guest: {e}"));
    assert!(
        status.success(),
        "building the test guest (plugins/kvm/guest) for {TARGET} failed"
    );

    let built = target_dir.join(TARGET).join("release");
    std::fs::copy(built.join(BIN), out.join("test-guest.elf"))
        .unwrap_or_else(|e| panic!("cannot copy the test guest: {e}"));
    rerun_on_dep_info(&built.join(format!("{BIN}.d")));
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "link.ld",
        "build.rs",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", guest_dir.join(f).display());
    }
}

/// RUSTUP_AUTO_INSTALL=0 is set on the project's machines, so a missing
/// target is not fetched on demand: say how to add it.
fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if sysroot.is_some_and(|root| !root.join("lib/rustlib").join(TARGET).exists()) {
        panic!(
            "the Rust target {TARGET} is missing; the KVM test guest is built for it. \
             Run `rustup target add {TARGET}` (scripts/setup.sh does) and build again"
        );
    }
}

/// Reruns the build when a source file the guest was built from changes,
/// from cargo's own dep-info (a listed path that does not exist would make
/// every build dirty).
fn rerun_on_dep_info(dep_file: &Path) {
    let Ok(text) = std::fs::read_to_string(dep_file) else {
        return;
    };
    let Some((_, deps)) = text.split_once(": ") else {
        return;
    };
    for dep in deps.split_whitespace() {
        let dep = dep.trim_end_matches('\\');
        if !dep.is_empty() && Path::new(dep).exists() && !dep.contains("/.cargo/registry/") {
            println!("cargo:rerun-if-changed={dep}");
        }
    }
}
