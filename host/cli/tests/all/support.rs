//! Helpers shared by the binaries' integration tests: the core's test hosts,
//! plus where the workspace is.

use std::path::Path;

#[path = "../../../core/tests/all/support.rs"]
mod core_support;
pub use core_support::*;

/// The workspace root (`host/cli/` is two levels below it).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("host/cli/ lives two levels below the workspace root")
}

/// `Connect::open` with wirt-remote's transports installed, as the binaries
/// have them.
pub fn open(uri: &str) -> wirt::connect::Result<wirt::Connect> {
    wirt_remote::install();
    wirt::Connect::open(uri)
}

/// What a client process printed, and whether it succeeded.
pub(crate) struct Out {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) ok: bool,
}

/// Runs a client (`wirt`, `virsh`, python) with no input.
pub(crate) fn run(cmd: &mut std::process::Command) -> Out {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run client");
    Out {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        ok: out.status.success(),
    }
}

/// `wirt -c uri script`.
pub(crate) fn wirt(uri: &str, script: &str) -> Out {
    run(std::process::Command::new(env!("CARGO_BIN_EXE_wirt")).args(["-c", uri, script]))
}

/// The lines a long-running client (an event loop) prints on stdout, as
/// they come: read on a thread of their own.
pub(crate) fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead as _;
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("a piped stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The wirt-vmm processes whose command line names `dir`: the guests of
/// the test host whose state lives there.
pub fn vmms_under(dir: &std::path::Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("wirt-vmm") && c.contains(&needle)
            })
        })
        .collect()
}
