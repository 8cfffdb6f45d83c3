//! Builds deliberately broken variants of the test driver (one cargo
//! feature each, see plugins/test-driver/Cargo.toml) for the suite's own
//! tests, which check that the suite catches every one of them. The files
//! land in OUT_DIR as `test_driver_<feature>.wasm`; the tests find them
//! through `WIRT_CONFORMANCE_BROKEN_DIR`.
//!
//! Built as host/core/build.rs builds its guests (host/core/build/wasm_guest.rs). Set `WIRT_CONFORMANCE_SKIP_BROKEN=1` to skip them (the tests
//! that need them then say so and pass).

use std::env;
use std::fs;
use std::path::PathBuf;

#[path = "../host/core/build/wasm_guest.rs"]
mod wasm_guest;
use wasm_guest::{TARGET, cargo_build, ensure_target_installed, rerun_on_dep_info};

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
        let status = cargo_build(&guest_dir, &target_dir)
            .args(["--features", feature])
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
