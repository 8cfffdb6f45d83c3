//! The checked-in generated files are what the generator makes today
//! (regenerating changes nothing): wirt's protocol,
//! `host/remote/src/protocol/generated.rs`, from libvirt 9.0.0's
//! `remote_protocol.x`, and the check crate's from `check/extra.x`. The `.x`
//! is vendored in `input/` (see `input/README.md`), so this always runs; its
//! bytes are checked first.

use std::path::Path;

use wirt_xdrgen::{Provenance, generate};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// libvirt 9.0.0's `src/remote/remote_protocol.x`: its length and FNV-1a
/// hash (std has no SHA-256; README.md gives that too).
const PINNED_LEN: usize = 155_702;
const PINNED_FNV1A: u64 = 0x95db_e326_b088_e6fc;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn generated_file_is_current() {
    let input = Path::new(MANIFEST_DIR).join("input/remote_protocol.x");
    let x = std::fs::read(&input).unwrap();
    assert_eq!(
        (x.len(), fnv1a(&x)),
        (PINNED_LEN, PINNED_FNV1A),
        "{} is not libvirt 9.0.0's remote_protocol.x",
        input.display()
    );
    let table_path = Path::new(MANIFEST_DIR).join("input/c-constants.txt");
    let table = std::fs::read_to_string(&table_path).unwrap();
    let provenance = Provenance {
        input: "remote_protocol.x".into(),
        constants: "c-constants.txt".into(),
    };
    let (rust, _) = generate(std::str::from_utf8(&x).unwrap(), &table, &provenance).unwrap();
    let checked_in = Path::new(MANIFEST_DIR).join("../remote/src/protocol/generated.rs");
    let current = std::fs::read_to_string(&checked_in).unwrap();
    assert!(
        rust == current,
        "{} is stale: run `cargo run -p wirt-xdrgen -- {} {}`",
        checked_in.display(),
        input.display(),
        checked_in.display()
    );
}

/// `check/extra.x` is wirt's own, so this comparison always runs.
#[test]
fn generated_extra_file_is_current() {
    let dir = Path::new(MANIFEST_DIR);
    let x = std::fs::read_to_string(dir.join("check/extra.x")).unwrap();
    let table = std::fs::read_to_string(dir.join("input/c-constants.txt")).unwrap();
    let provenance = Provenance {
        input: "extra.x".into(),
        constants: "c-constants.txt".into(),
    };
    let (rust, _) = generate(&x, &table, &provenance).unwrap();
    let checked_in = dir.join("check/src/generated_extra.rs");
    assert!(
        rust == std::fs::read_to_string(&checked_in).unwrap(),
        "{} is stale: run `cargo run -p wirt-xdrgen -- host/xdrgen/check/extra.x {}`",
        checked_in.display(),
        checked_in.display()
    );
}

#[test]
fn the_command_line_refuses_what_it_cannot_read() {
    let dir = std::env::temp_dir().join(format!("wirt-xdrgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.x");
    std::fs::write(&bad, "const A = 1;\nstruct s {\n    quadruple q;\n};\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wirt-xdrgen"))
        .arg(&bad)
        .arg(dir.join("out.rs"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.x: line 3: type `quadruple` is not supported"),
        "{stderr}"
    );
    assert!(!dir.join("out.rs").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
