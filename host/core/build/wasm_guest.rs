//! Building a WASM guest (a cargo workspace of its own) for `wasm32-wasip2`
//! from a build script or a test: shared, through `#[path]`, by
//! host/core/build.rs, conformance/build.rs and host/cli/tests/all/plugins.rs.
//!
//! The nested cargo runs with the guest folder as working directory and its
//! own target dir, with the outer build's flags cleared: sharing the outer
//! target dir can deadlock, and outer RUSTFLAGS do not apply to wasm.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "wasm32-wasip2";

/// `cargo build --release --locked` of the guest in `guest_dir` into
/// `target_dir`; the caller adds its own arguments and runs it.
pub fn cargo_build(guest_dir: &Path, target_dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut c = Command::new(cargo);
    c.current_dir(guest_dir)
        .args(["build", "--release", "--locked", "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
    ] {
        c.env_remove(var);
    }
    c
}

/// `rust-toolchain.toml` names the target, but with RUSTUP_AUTO_INSTALL=0
/// rustup does not fetch it: add it here so a fresh checkout just builds.
pub fn ensure_target_installed() {
    let sysroot = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let installed = sysroot
        .as_ref()
        .is_some_and(|root| root.join("lib/rustlib").join(TARGET).exists());
    if installed {
        return;
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => panic!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed ({other:?}); install it and build again"
        ),
    }
}

/// Reruns the build when any source file the guest was built from changes,
/// using cargo's own dep-info: listing a path that does not exist would make
/// every build dirty.
pub fn rerun_on_dep_info(dep_file: &Path) {
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
