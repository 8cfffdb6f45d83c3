//! Where scripts notice: wirt prints what virsh prints for the same command
//! on `test:///default`. Each case is compared with live `virsh` where it
//! is installed, and with what virsh 9.0 printed (pinned) in any case.

use std::process::Command;

struct Out {
    stdout: String,
    stderr: String,
    ok: bool,
}

fn run(program: &str, command: &str) -> Option<Out> {
    let out = Command::new(program)
        .args(["-c", "test:///default", command])
        .env_remove("LIBVIRT_DEFAULT_URI")
        .env_remove("WIRT_DEFAULT_URI")
        .output()
        .ok()?;
    Some(Out {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        ok: out.status.success(),
    })
}

/// `command` gives `stdout`/`stderr` (blank lines aside) under wirt, and the
/// same under virsh when virsh is here.
fn same(command: &str, stdout: &str, stderr: &str) {
    let lines = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let wirt = run(env!("CARGO_BIN_EXE_wirt"), command).expect("run wirt");
    assert_eq!(
        lines(&wirt.stdout),
        lines(stdout),
        "wirt stdout of `{command}`"
    );
    assert_eq!(
        lines(&wirt.stderr),
        lines(stderr),
        "wirt stderr of `{command}`"
    );
    if let Some(virsh) = run("virsh", command) {
        assert_eq!(
            lines(&virsh.stdout),
            lines(&wirt.stdout),
            "virsh vs wirt stdout of `{command}`"
        );
        assert_eq!(
            lines(&virsh.stderr),
            lines(&wirt.stderr),
            "virsh vs wirt stderr of `{command}`"
        );
        assert_eq!(virsh.ok, wirt.ok, "exit status of `{command}`");
    }
}

#[test]
fn a_failed_domain_lookup_is_one_line() {
    same(
        "dominfo nosuch",
        "",
        "error: failed to get domain 'nosuch'\n",
    );
}

#[test]
fn start_of_a_running_domain() {
    same("start test", "", "error: Domain is already active\n");
}

#[test]
fn messages_name_the_domain_as_given() {
    same("undefine 1", "Domain '1' has been undefined\n", "");
    same(
        "suspend 1; resume 1",
        "Domain '1' suspended\nDomain '1' resumed\n",
        "",
    );
}

#[test]
fn malformed_sizes() {
    same(
        "setmem test 12x",
        "",
        "error: Scaled numeric value '12x' for <size> option is malformed or out of range\n\
         error: invalid argument: unknown suffix 'x'\n",
    );
    same(
        "setmaxmem test abc",
        "",
        "error: Scaled numeric value 'abc' for <size> option is malformed or out of range\n",
    );
}

#[test]
fn a_cpuset_that_is_not_a_bitmap_is_refused_at_define() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cs.xml");
    std::fs::write(
        &file,
        "<domain type='test'><name>cs</name><memory unit='MiB'>128</memory>\
         <vcpu cpuset='aaa'>1</vcpu><os><type>hvm</type></os></domain>",
    )
    .unwrap();
    let command = format!("define {}", file.display());
    same(
        &command,
        "",
        &format!(
            "error: Failed to define domain from {}\n\
             error: invalid argument: Failed to parse bitmap 'aaa'\n",
            file.display()
        ),
    );
}
