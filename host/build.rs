//! Builds the built-in WASM plugins (guests in workspaces of their own, for
//! `wasm32-wasip2`) and leaves them in OUT_DIR for `include_bytes!`.
//!
//! The nested cargo runs with the guest folder as working directory and its
//! own target dir, with the outer build's flags cleared: sharing the outer
//! target dir can deadlock, and outer RUSTFLAGS do not apply to wasm.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
/// (guest folder under plugins/, artifact stem, file name in OUT_DIR)
const GUESTS: &[(&str, &str, &str)] = &[
    ("test-driver", "wirt_test_driver", "test_driver.wasm"),
    ("storage-dir", "wirt_storage_dir", "storage_dir.wasm"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .parent()
        .expect("host/ lives in the workspace root");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let target_dir = root.join("target").join("wasm-guests");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    ensure_target_installed();

    for (folder, stem, file) in GUESTS {
        let guest_dir = root.join("plugins").join(folder);
        let status = Command::new(&cargo)
            .current_dir(&guest_dir)
            .args(["build", "--release", "--locked", "--target", TARGET])
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
            .unwrap_or_else(|e| panic!("cannot run cargo for plugin {folder}: {e}"));
        assert!(
            status.success(),
            "building the {folder} plugin for {TARGET} failed"
        );

        let built = target_dir.join(TARGET).join("release");
        fs::copy(built.join(format!("{stem}.wasm")), out_dir.join(file))
            .unwrap_or_else(|e| panic!("cannot copy the {folder} plugin: {e}"));
        rerun_on_dep_info(&built.join(format!("{stem}.d")));
        println!(
            "cargo:rerun-if-changed={}",
            guest_dir.join("Cargo.toml").display()
        );
        println!(
            "cargo:rerun-if-changed={}",
            guest_dir.join("Cargo.lock").display()
        );
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

/// Reruns the build when any source file the guest was built from changes,
/// using cargo's own dep-info: listing a path that does not exist would make
/// every build dirty.
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
