//! The core stays embeddable: without its `kvm` feature, its normal
//! dependency tree has no command-line parser, no KVM crates, and tokio only
//! where wasmtime-wasi brings it (the core names tokio's `AsyncWrite` trait,
//! which wasmtime-wasi's `StdoutStream` demands, and runs no runtime).

use std::process::Command;

fn cargo_tree(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "-p", "wirt", "-e", "normal", "--prefix", "none"])
        .args(["--no-default-features", "--offline"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn crate_names(tree: &str) -> Vec<&str> {
    tree.lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

#[test]
fn core_without_kvm_has_no_cli_or_kvm_crates() {
    let tree = cargo_tree(&[]);
    let names = crate_names(&tree);
    for unwanted in [
        "clap",
        "kvm-ioctls",
        "kvm-bindings",
        "wirt-kvm",
        "wirt-remote",
    ] {
        assert!(
            !names.contains(&unwanted),
            "{unwanted} is in the core's dependency tree:\n{tree}"
        );
    }
}

#[test]
fn tokio_comes_only_through_wasmtime_wasi() {
    let dependents = cargo_tree(&["-i", "tokio", "--depth", "1"]);
    let names = crate_names(&dependents);
    for name in &names[1..] {
        assert!(
            matches!(*name, "wirt" | "wasmtime-wasi" | "wasmtime-wasi-io"),
            "{name} pulls tokio into the core:\n{dependents}"
        );
    }
}
