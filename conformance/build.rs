//! Builds deliberately broken variants of the test driver (one cargo
//! feature each, see plugins/test-driver/Cargo.toml) for the suite's own
//! tests, which check that the suite catches every one of them. The files
//! land in OUT_DIR as `test_driver_<feature>.wasm`; the tests find them
//! through `WIRT_CONFORMANCE_BROKEN_DIR`.
//!
//! As in host/build.rs: the guest is its own workspace, built for
//! wasm32-wasip2 with its own target dir and the outer build's flags
//! cleared (a shared target dir can deadlock; outer RUSTFLAGS do not apply
//! to wasm). Set `WIRT_CONFORMANCE_SKIP_BROKEN=1` to skip them (the tests
//! that need them then say so and pass).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const STEM: &str = "wirt_test_driver";
/// The broken variants, by cargo feature.
const FEATURES: &[&str] = &["broken-resume", "broken-destroy", "broken-state"];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .parent()
        .expect("conformance/ lives in the workspace root");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let guest_dir = root.join("plugins").join("test-driver");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    println!(
        "cargo:rustc-env=WIRT_CONFORMANCE_BROKEN_DIR={}",
        out_dir.display()
    );
    println!("cargo:rerun-if-env-changed=WIRT_CONFORMANCE_SKIP_BROKEN");
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!(
        "cargo:rerun-if-changed={}",
        guest_dir.join("Cargo.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        guest_dir.join("Cargo.lock").display()
    );
    if env::var_os("WIRT_CONFORMANCE_SKIP_BROKEN").is_some_and(|v| !v.is_empty() && v != "0") {
        for feature in FEATURES {
            let _ = fs::remove_file(out_dir.join(format!("test_driver_{feature}.wasm")));
        }
        return;
    }
    ensure_target_installed();

    for feature in FEATURES {
        let target_dir = root.join("target").join("wasm-guests-broken").join(feature);
        let status = Command::new(&cargo)
            .current_dir(&guest_dir)
            .args(["build", "--release", "--locked", "--target", TARGET])
            .args(["--features", feature])
            .arg("--target-dir")
            .arg(&target_dir)
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CARGO_MAKEFLAGS")
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo for the {feature} test driver: {e}"));
        assert!(
            status.success(),
            "building the {feature} test driver for {TARGET} failed"
        );
        let built = target_dir.join(TARGET).join("release");
        fs::copy(
            built.join(format!("{STEM}.wasm")),
            out_dir.join(format!("test_driver_{feature}.wasm")),
        )
        .unwrap_or_else(|e| panic!("cannot copy the {feature} test driver: {e}"));
        rerun_on_dep_info(&built.join(format!("{STEM}.d")));
    }
}

/// `rust-toolchain.toml` names the target, but with RUSTUP_AUTO_INSTALL=0
/// rustup does not fetch it: add it here so a fresh checkout just builds.
fn ensure_target_installed() {
    let sysroot = Command::new(env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
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

/// Reruns the build when a source file the guest was built from changes,
/// from cargo's own dep-info (listing a missing path would make every
/// build dirty).
fn rerun_on_dep_info(dep_file: &Path) {
    let Ok(text) = fs::read_to_string(dep_file) else {
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
