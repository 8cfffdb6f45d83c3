//! Builds the built-in WASM plugins (guests in workspaces of their own, for
//! `wasm32-wasip2`, see build/wasm_guest.rs) and leaves them in OUT_DIR for
//! `include_bytes!`.

use std::env;
use std::fs;
use std::path::PathBuf;

#[path = "build/wasm_guest.rs"]
mod wasm_guest;
use wasm_guest::{TARGET, cargo_build, ensure_target_installed, rerun_on_dep_info};

/// (guest folder under plugins/, artifact stem, file name in OUT_DIR)
const GUESTS: &[(&str, &str, &str)] = &[
    ("test-driver", "wirt_test_driver", "test_driver.wasm"),
    ("storage-dir", "wirt_storage_dir", "storage_dir.wasm"),
    (
        "network-bridge",
        "wirt_network_bridge",
        "network_bridge.wasm",
    ),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .expect("host/core/ lives two levels below the workspace root");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let target_dir = root.join("target").join("wasm-guests");

    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    ensure_target_installed();

    for (folder, stem, file) in GUESTS {
        let guest_dir = root.join("plugins").join(folder);
        let status = cargo_build(&guest_dir, &target_dir)
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
