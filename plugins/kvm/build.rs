//! Assembles the purpose-built test guest (guest/test-guest.S) with the
//! system binutils, so a fresh checkout embeds it with no extra step.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let src = PathBuf::from("guest/test-guest.S");
    let script = PathBuf::from("guest/test-guest.ld");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", script.display());

    let obj = out.join("test-guest.o");
    let elf = out.join("test-guest.elf");
    run(Command::new("as").arg("--64").arg("-o").arg(&obj).arg(&src));
    run(Command::new("ld")
        .args([
            "-m",
            "elf_x86_64",
            "-nostdlib",
            "-static",
            "--build-id=none",
        ])
        .arg("--no-warn-rwx-segments")
        .arg("-T")
        .arg(&script)
        .arg("-o")
        .arg(&elf)
        .arg(&obj));
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} (the test guest needs binutils' `as` and `ld`): {e}")
    });
    assert!(status.success(), "{cmd:?} failed with {status}");
}
