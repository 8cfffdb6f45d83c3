//! Guest statistics of kvm domains through the CLI: the disk counters the
//! VMM keeps, as `domblkstat` and `domstats` print them.

use std::collections::HashMap;

use super::kvm::{Kvm, kvm};

/// `domblkstat` output as field → value.
fn blkstat(k: &Kvm, dom: &str, dev: &str) -> HashMap<String, u64> {
    k.ok(&format!("domblkstat {dom} {dev}"))
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut w = l.split_whitespace();
            assert_eq!(w.next(), Some(dev), "{l}");
            let name = w.next().unwrap().to_string();
            (name, w.next().unwrap().parse().unwrap())
        })
        .collect()
}

/// One domain's `domstats` record as name → value.
fn domstats(k: &Kvm, args: &str) -> HashMap<String, String> {
    let out = k.ok(&format!("domstats {args}"));
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("Domain: '"), "{out}");
    lines
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let (name, value) = l.trim().split_once('=').unwrap();
            (name.to_string(), value.to_string())
        })
        .collect()
}

/// Types `!line` on the guest's console exactly once (a repeated command
/// would count twice) and waits for `answer` to show.
fn once(k: &Kvm, dom: &str, line: &str, answer: &str) {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wirt"))
        .args(["-c", "kvm:///session", "console", dom])
        .env("WIRT_STATE_DIR", k.dir.path().join("state"))
        .env("WIRT_RUNTIME_DIR", k.dir.path().join("run"))
        .env("WIRT_VMM", &k.vmm)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("!{line}\n").as_bytes()).unwrap();
    drop(stdin);
    child.wait().unwrap();
    k.wait_console(dom, answer);
}

#[test]
fn kvm_block_stats_count_what_the_guest_does() {
    let Some(k) = kvm() else { return };
    let xml = k.domain("st");
    k.ok(&format!("define {}", xml.display()));
    let err = k.wirt("domblkstat st vda");
    assert!(
        !err.ok && err.stderr.contains("not running"),
        "{}",
        err.stderr
    );
    k.ok("start st");
    k.wait_console("st", "guest: ready");
    // The boot self-test: read sector 0, write sector 1, flush, read it back.
    let boot = blkstat(&k, "st", "vda");
    assert_eq!(boot["rd_req"], 2, "{boot:?}");
    assert_eq!(boot["rd_bytes"], 1024);
    assert_eq!(boot["wr_req"], 1);
    assert_eq!(boot["wr_bytes"], 512);
    assert_eq!(boot["flush_operations"], 1);
    assert_eq!(boot["errs"], 0);
    assert!(boot["rd_total_times"] > 0 && boot["wr_total_times"] > 0);

    once(&k, "st", "sum 0 0 8", "sum 0 0 8:");
    once(&k, "st", "fill 0 16 4 9", "fill 0 16 4: ok");
    once(&k, "st", "flush 0", "flush 0: ok");
    let now = blkstat(&k, "st", "vda");
    assert_eq!(now["rd_bytes"] - boot["rd_bytes"], 8 * 512, "{now:?}");
    assert!(now["rd_req"] > boot["rd_req"]);
    assert_eq!(now["wr_bytes"] - boot["wr_bytes"], 4 * 512);
    assert!(now["wr_req"] > boot["wr_req"]);
    assert_eq!(now["flush_operations"], boot["flush_operations"] + 1);
    // The source path names the same disk; no name sums all disks.
    let path = k.dir.path().join("pool/st.raw");
    let by_path = k.ok(&format!("domblkstat st {}", path.display()));
    assert!(
        by_path.contains(&format!(" rd_bytes {}", now["rd_bytes"])),
        "{by_path}"
    );
    let err = k.wirt("domblkstat st vdz");
    assert!(
        !err.ok && err.stderr.contains("invalid path"),
        "{}",
        err.stderr
    );

    let s = domstats(&k, "st");
    assert_eq!(s["state.state"], "1", "{s:?}");
    assert_eq!(s["state.reason"], "1");
    assert!(s["cpu.time"].parse::<u64>().unwrap() > 0);
    assert_eq!(s["balloon.maximum"], "16384");
    assert_eq!(s["balloon.current"], "16384");
    assert_eq!(s["vcpu.current"], "1");
    assert_eq!(s["vcpu.maximum"], "1");
    assert_eq!(s["net.count"], "0");
    assert_eq!(s["block.count"], "1");
    assert_eq!(s["block.0.name"], "vda");
    assert_eq!(s["block.0.path"], path.display().to_string());
    assert_eq!(s["block.0.rd.bytes"], now["rd_bytes"].to_string());
    assert_eq!(s["block.0.rd.reqs"], now["rd_req"].to_string());
    assert_eq!(s["block.0.wr.bytes"], now["wr_bytes"].to_string());
    assert_eq!(s["block.0.fl.reqs"], now["flush_operations"].to_string());
    // Only the groups asked for.
    let s = domstats(&k, "--block st");
    assert!(s.keys().all(|n| n.starts_with("block.")), "{s:?}");

    k.ok("destroy st");
    let s = domstats(&k, "st");
    assert_eq!(s["state.state"], "5", "{s:?}");
    assert!(!s.contains_key("cpu.time"), "{s:?}");
    assert_eq!(s["block.count"], "1");
    assert!(!s.contains_key("block.0.rd.reqs"), "{s:?}");
    k.ok("undefine st");
    k.assert_no_vmms_left();
}
