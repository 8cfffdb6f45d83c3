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

#[test]
fn domifaddr_answers_the_test_drivers_addresses() {
    let header = " Name       MAC address          Protocol     Address\n\
                  -------------------------------------------------------------------------------\n";
    same(
        "domifaddr test --full",
        &format!("{header} testnet0   aa:bb:cc:dd:ee:ff    ipv4         192.168.122.3/24\n"),
        "",
    );
    // A second domain (id 2) with a bridge and two network interfaces, one
    // with its own target name; inactive, it has no addresses.
    let two = "<domain type='test'><name>two</name><memory>65536</memory>\
        <os><type>hvm</type></os><devices>\
        <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/></interface>\
        <interface type='network'><mac address='52:54:00:00:00:02'/><source network='default'/></interface>\
        <interface type='network'><mac address='52:54:00:00:00:03'/><source network='default'/>\
        <target dev='mytap'/></interface></devices></domain>";
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("two.xml");
    std::fs::write(&xml, two).unwrap();
    let define = format!("define {}", xml.display());
    same(
        &format!("{define}; domifaddr two"),
        &format!("Domain 'two' defined from {}\n", xml.display()),
        "error: Failed to query for interfaces addresses\n\
         error: Requested operation is not valid: domain is not running\n",
    );
    same(
        &format!(
            "{define}; start two; domifaddr two --source arp; domifaddr two --interface mytap"
        ),
        &format!(
            "Domain 'two' defined from {}\nDomain 'two' started\n{header}\
             \x20testnet0   52:54:00:00:00:01    ipv4         192.168.0.1/24\n\
             \x20testnet1   52:54:00:00:00:02    ipv4         192.168.122.24/24\n\
             \x20mytap      52:54:00:00:00:03    ipv4         192.168.122.25/24\n{header}\
             \x20mytap      52:54:00:00:00:03    ipv4         192.168.122.25/24\n",
            xml.display()
        ),
        "",
    );
}

#[test]
fn the_test_driver_hands_out_no_dhcp_leases() {
    same(
        "net-dhcp-leases default",
        "",
        "error: Failed to get leases info for default\n\
         error: this function is not supported by the connection driver: virNetworkGetDHCPLeases\n",
    );
}
