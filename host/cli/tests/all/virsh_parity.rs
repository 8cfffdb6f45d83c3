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

#[test]
fn host_cpu_and_memory_statistics() {
    let cpu = "user:                     9797400000\n\
               system:               34678723400000\n\
               idle:                    87264900000\n\
               iowait:                    763600000\n";
    same("nodecpustats", cpu, "");
    same("nodecpustats --cpu 1", cpu, "");
    same(
        "nodecpustats --percent",
        "usage:           -nan%\nuser:            -nan%\nsystem:          -nan%\n\
         idle:            -nan%\niowait:          -nan%\n",
        "",
    );
    same(
        "nodecpustats --cpu -2",
        "",
        "error: Unable to get number of cpu stats\n\
         error: cpuNum in virNodeGetCPUStats only accepts -1 as a negative value\n",
    );
    same(
        "nodememstats",
        "",
        "error: Unable to get number of memory stats\n\
         error: this function is not supported by the connection driver: virNodeGetMemoryStats\n",
    );
}

#[test]
fn numa_free_memory() {
    same("freecell", "Total: 3072 KiB\n", "");
    same(
        "freecell --all",
        "    0:       2048 KiB\n    1:       4096 KiB\n--------------------\nTotal:       6144 KiB\n",
        "",
    );
    same("freecell --cellno 1", "1: 4096 KiB\n", "");
    same(
        "freecell --cellno 5",
        "",
        "error: invalid argument: Range exceeds available cells\n",
    );
    same(
        "freecell --cellno -1",
        "",
        "error: startCell in virNodeGetCellsFreeMemory must be zero or greater\n",
    );
    same(
        "freecell --all --cellno 0",
        "",
        "error: Options --all and --cellno are mutually exclusive\n",
    );
}

#[test]
fn cpu_map_and_models() {
    same(
        "nodecpumap",
        "CPUs present:   8\nCPUs online:    3\nCPU map:        y-y-y---\n",
        "",
    );
    same(
        "nodecpumap --pretty",
        "CPUs present:   8\nCPUs online:    3\nCPU map:        0,2,4\n",
        "",
    );
    same("cpu-models aarch64", "all CPU models are accepted\n", "");
    same(
        "cpu-models ppc64le",
        "POWER6\nPOWER7\nPOWER8\nPOWER9\nPOWER10\nPOWERPC_e5500\nPOWERPC_e6500\n",
        "",
    );
    same(
        "cpu-models foo",
        "",
        "error: failed to get CPU model names\n\
         error: invalid argument: cannot find architecture foo\n",
    );
    same(
        "cpu-models riscv64",
        "",
        "error: failed to get CPU model names\nerror: this function is not supported by the \
         connection driver: 'riscv64' architecture is not supported by CPU driver\n",
    );
    let x86 = run(env!("CARGO_BIN_EXE_wirt"), "cpu-models x86_64").unwrap();
    assert!(x86.ok);
    let models: Vec<&str> = x86.stdout.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(models.len(), 58);
    assert_eq!((models[0], models[57]), ("486", "Dhyana"));
    if let Some(virsh) = run("virsh", "cpu-models x86_64") {
        assert_eq!(virsh.stdout, x86.stdout);
    }
}

#[test]
fn guest_memory_and_disk_sizes() {
    same(
        "dommemstat test",
        "actual 2097152\nswap_in 0\nswap_out 0\nmajor_fault 0\nminor_fault 0\nunused 1048576\n\
         available 2097152\nusable 1048576\nlast_update 627319920\ndisk_caches 262144\n\
         hugetlb_pgalloc 0\nhugetlb_pgfail 0\nrss 1048576\n",
        "",
    );
    same(
        "destroy test; dommemstat test",
        "Domain 'test' destroyed\n",
        "error: Failed to get memory statistics for domain test\n\
         error: Requested operation is not valid: domain is not running\n",
    );
    same(
        "domblkinfo test vda",
        "Capacity:       1099506450432\nAllocation:     1099511627776\nPhysical:       1099511627776\n",
        "",
    );
    same(
        "domblkinfo test vda --human",
        "Capacity:       1023.995 GiB\nAllocation:     1.000 TiB\nPhysical:       1.000 TiB\n",
        "",
    );
    same(
        "domblkinfo test --all",
        " Target   Capacity        Allocation      Physical\n\
         ---------------------------------------------------------\n\
         \x20vda      1099506450432   1099511627776   1099511627776\n",
        "",
    );
    same(
        "domblkinfo test --all --human",
        " Target   Capacity       Allocation   Physical\n\
         -------------------------------------------------\n\
         \x20vda      1023.995 GiB   1.000 TiB    1.000 TiB\n",
        "",
    );
    same(
        "domblkinfo test vdb",
        "",
        "error: invalid argument: invalid path vdb not assigned to domain\n",
    );
    same(
        "domblkinfo test",
        "",
        "error: command 'domblkinfo' requires <device> option\n",
    );
}

#[test]
fn vcpu_pinning() {
    let table = " VCPU   CPU Affinity\n----------------------\n 0      0-7\n 1      0-7\n";
    same("vcpupin test", table, "");
    same(
        "vcpupin test 1",
        " VCPU   CPU Affinity\n----------------------\n 1      0-7\n",
        "",
    );
    same(
        "vcpupin test 1 3; vcpupin test",
        " VCPU   CPU Affinity\n----------------------\n 0      0-7\n 1      3\n",
        "",
    );
    same(
        "vcpupin test 5",
        "",
        "error: vcpu 5 is out of range of live cpu count 2\n",
    );
    same(
        "vcpupin test 0 9",
        "",
        "error: CPU 9 in cpulist '9' exceed the maxcpu 8\n",
    );
    same(
        "vcpupin test 0 x",
        "",
        "error: Invalid cpulist 'x'\nerror: invalid argument: Failed to parse bitmap 'x'\n",
    );
    same(
        "vcpupin test 1 2 --live",
        "",
        "error: unsupported flags (0x1) in function testDomainPinVcpuFlags\n",
    );
    same(
        "vcpupin test 0 1 --config; vcpupin test --config",
        table,
        "error: unsupported flags (0x2) in function testDomainPinVcpuFlags\n",
    );
}

/// vcpuinfo's CPU time is the wall clock (as libvirt's test driver fakes
/// it), so only live virsh can be compared, that line aside.
#[test]
fn vcpu_info() {
    let wirt = run(
        env!("CARGO_BIN_EXE_wirt"),
        "vcpupin test 1 3; vcpuinfo test; vcpuinfo test --pretty",
    )
    .unwrap();
    assert!(wirt.ok, "{}", wirt.stderr);
    let steady = |s: &str| -> String {
        s.lines()
            .filter(|l| !l.is_empty() && !l.starts_with("CPU time:"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    assert_eq!(
        steady(&wirt.stdout),
        "VCPU:           0\nCPU:            15\nState:          running\nCPU Affinity:   yyyyyyyy\n\
         VCPU:           1\nCPU:            3\nState:          running\nCPU Affinity:   ---y----\n\
         VCPU:           0\nCPU:            15\nState:          running\nCPU Affinity:   0-7 (out of 8)\n\
         VCPU:           1\nCPU:            3\nState:          running\nCPU Affinity:   3 (out of 8)\n"
    );
    if let Some(virsh) = run(
        "virsh",
        "vcpupin test 1 3; vcpuinfo test; vcpuinfo test --pretty",
    ) {
        assert_eq!(steady(&virsh.stdout), steady(&wirt.stdout));
    }
}

#[test]
fn scheduler_parameters() {
    let shown = "Scheduler      : fair\nweight         : 50\n";
    same("schedinfo test", shown, "");
    // libvirt's test driver checks a weight and keeps nothing.
    same("schedinfo test --set weight=100", shown, "");
    same(
        "schedinfo test --set foo=1",
        "Scheduler      : fair\n",
        "error: invalid scheduler option: foo\n",
    );
    same(
        "schedinfo test --set weight=abc",
        "Scheduler      : fair\n",
        "error: invalid argument: Invalid value for field 'weight': expected unsigned int\n",
    );
    same(
        "schedinfo test --current",
        "Scheduler      : fair\n",
        "error: unsupported flags (0x4) in function testDomainGetSchedulerParametersFlags\n",
    );
    same(
        "schedinfo test --live",
        "Scheduler      : fair\n",
        "error: unsupported flags (0x5) in function testDomainGetSchedulerParametersFlags\n",
    );
}

#[test]
fn emulator_pinning() {
    let shown = |list: &str| {
        format!("emulator: CPU Affinity\n----------------------------------\n       *: {list}\n")
    };
    same("emulatorpin test", &shown("0-7"), "");
    same("emulatorpin test 2; emulatorpin test", &shown("2"), "");
    same(
        "emulatorpin test 3 --config; emulatorpin test --config; emulatorpin test --live",
        &(shown("3") + &shown("0-7")),
        "",
    );
    same(
        "emulatorpin test 9",
        "",
        "error: CPU 9 in cpulist '9' exceed the maxcpu 8\n",
    );
}

#[test]
fn domain_cpu_statistics() {
    let cpu0 = "CPU0:\n\tcpu_time            24.386308517 seconds\n\tvcpu_time           23.151740627 seconds\n";
    let cpu1 = "CPU1:\n\tcpu_time            24.386308518 seconds\n\tvcpu_time           23.151740628 seconds\n";
    let total = "Total:\n\tcpu_time            48.772617035 seconds\n\tuser_time            5.540000000 seconds\n\tsystem_time          6.460000000 seconds\n";
    same("cpu-stats test", &format!("{cpu0}{cpu1}{total}"), "");
    same("cpu-stats test --total", total, "");
    same("cpu-stats test --start 1", cpu1, "");
    same(
        "cpu-stats test --count 5",
        &format!("Only 2 CPUs available to show\n{cpu0}{cpu1}"),
        "",
    );
    same(
        "cpu-stats test --start 2",
        "",
        "error: Start CPU 2 is out of range (min: 0, max: 1)\n",
    );
    same(
        "cpu-stats test --start -1",
        "",
        "error: Invalid value for start CPU\n",
    );
    same(
        "destroy test; cpu-stats test",
        "Domain 'test' destroyed\n",
        "error: Failed to retrieve CPU statistics for domain 'test'\n\
         error: Requested operation is not valid: domain is not running\n",
    );
}

#[test]
fn shell_builtins() {
    same("echo a   b", "a b\n", "");
    same("echo --shell \"it's\" ''", "'it'\\''s' ''\n", "");
    same("echo --xml '<&>'", "&lt;&amp;&gt;\n", "");
    same("echo --split 'a,b'", "a\nb\n", "");
    same("echo --err hi", "", "error: hi\n");
    same(
        "connect test:///default; uri; connect --name test:///default --readonly; uri",
        "test:///default\ntest:///default\n",
        "",
    );
}

#[test]
fn the_test_driver_changes_no_devices() {
    same(
        "attach-interface test network default --config",
        "",
        "error: Failed to attach interface\n\
         error: this function is not supported by the connection driver: virDomainAttachDeviceFlags\n",
    );
    same(
        "detach-interface test network --config",
        "",
        "error: Failed to detach interface\n\
         error: this function is not supported by the connection driver: virDomainDetachDeviceFlags\n",
    );
}

/// `desc`, `metadata`, `set-lifecycle-action` and `domcontrol`: the
/// description, title and application metadata of a domain set and read
/// back, blank lines and all, as virsh prints them.
#[test]
fn description_title_metadata_and_lifecycle_actions() {
    let script = "desc test; desc test --new-desc hello --live; desc test --live; \
                  desc test --title --new-desc T; desc test --title; \
                  metadata test http://x/ --key app --set '<foo>bar</foo>'; metadata test http://x/; \
                  metadata test http://x/ --remove; set-lifecycle-action test poweroff restart; \
                  set-lifecycle-action test reboot coredump-destroy; domcontrol test";
    same(
        script,
        "No description for domain: test\nDomain description updated successfully\nhello\n\
         Domain title updated successfully\nT\nMetadata modified\n<foo>bar</foo>\nMetadata removed\nok\n",
        "error: Unable to change lifecycle action.\n\
         error: unsupported configuration: Lifecycle event 'reboot' doesn't support 'coredump-destroy' action\n",
    );
    // Exactly, blank lines included: `desc` ends without one.
    if let (Some(w), Some(v)) = (
        run(env!("CARGO_BIN_EXE_wirt"), script),
        run("virsh", script),
    ) {
        assert_eq!(w.stdout, v.stdout);
    }
}
