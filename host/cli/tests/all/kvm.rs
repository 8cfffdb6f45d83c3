//! The KVM driver end to end through the `wirt` CLI: each command is its own
//! process, so every step also proves the host re-attaches to running VMMs.
//! Needs /dev/kvm and the `wirt-vmm` binary (built by `cargo test --workspace`);
//! skips with a message otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub(crate) struct Kvm {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) vmm: PathBuf,
}

pub(crate) fn kvm() -> Option<Kvm> {
    if !wirt_testkit::kvm_or_skip() {
        return None;
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_wirt"));
    let vmm = bin.with_file_name("wirt-vmm");
    if !vmm.is_file() {
        wirt_testkit::require("wirt-vmm", "not built (`cargo test --workspace` builds it)");
        return None;
    }
    Some(Kvm {
        dir: tempfile::tempdir().unwrap(),
        vmm,
    })
}

impl Drop for Kvm {
    /// A failed test must not leave its guests running.
    fn drop(&mut self) {
        for pid in self.vmms() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

pub(crate) struct Out {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) ok: bool,
}

impl Kvm {
    /// `program` with this test's state dir, runtime dir and VMM.
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("WIRT_STATE_DIR", self.dir.path().join("state"))
            .env("WIRT_RUNTIME_DIR", self.dir.path().join("run"))
            .env("WIRT_VMM", &self.vmm);
        cmd
    }

    pub(crate) fn wirt(&self, script: &str) -> Out {
        let out = self
            .command(env!("CARGO_BIN_EXE_wirt"))
            .args(["-c", "kvm:///session", script])
            .output()
            .unwrap();
        Out {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            ok: out.status.success(),
        }
    }

    pub(crate) fn ok(&self, script: &str) -> String {
        let out = self.wirt(script);
        assert!(out.ok, "`{script}` failed: {}", out.stderr);
        out.stdout
    }

    pub(crate) fn state(&self, dom: &str) -> String {
        self.ok(&format!("domstate {dom} --reason"))
            .trim()
            .to_string()
    }

    /// Polls until the domain reaches `want` (the guest acts on its own time).
    fn wait_state(&self, dom: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = self.state(dom);
            if now == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{dom} stayed '{now}', expected '{want}'"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A domain whose disk is a volume of a dir pool, holding a pattern the
    /// test guest checksums.
    pub(crate) fn domain(&self, name: &str) -> PathBuf {
        let pool = self.dir.path().join("pool");
        let mut pattern = vec![0u8; 512];
        for (i, b) in pattern.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let upload = self.dir.path().join(format!("{name}.pattern"));
        std::fs::write(&upload, pattern).unwrap();
        if !pool.exists() {
            self.ok(&format!(
                "pool-define-as pool dir --target {}; pool-build pool; pool-start pool",
                pool.display()
            ));
        }
        self.ok(&format!(
            "vol-create-as pool {name}.raw 1M --allocation 0; vol-upload {name}.raw {} --pool pool",
            upload.display()
        ));
        let xml = format!(
            "<domain type='kvm'><name>{name}</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
             <os><type>hvm</type></os><devices><disk type='volume' device='disk'>\
             <source pool='pool' volume='{name}.raw'/><target dev='vda' bus='virtio'/></disk></devices></domain>"
        );
        let file = self.dir.path().join(format!("{name}.xml"));
        std::fs::write(&file, xml).unwrap();
        file
    }

    /// The domain index the host keeps in its runtime dir.
    pub(crate) fn domain_index(&self) -> PathBuf {
        self.dir.path().join("run").join("domain-index.json")
    }

    /// Kills the VMM of domain `name` behind the host's back (SIGKILL, as
    /// a crash), and waits until its process is gone.
    pub(crate) fn kill_vmm(&self, name: &str) {
        let uuid = self.ok(&format!("domuuid {name}")).trim().to_string();
        let record = self.dir.path().join(format!("run/vmm/{uuid}.json"));
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
        let pid = record["pid"].as_u64().unwrap();
        assert!(
            Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// VMM processes serving this test's domains (their sockets live in
    /// its directory).
    pub(crate) fn vmms(&self) -> Vec<u32> {
        crate::support::vmms_under(self.dir.path())
    }

    /// Every domain is off: no VMM may be left behind.
    pub(crate) fn assert_no_vmms_left(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.vmms().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = self.vmms();
        for pid in &left {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        assert!(left.is_empty(), "VMMs left running: {left:?}");
    }

    pub(crate) fn console(&self, dom: &str) -> String {
        let out = self
            .command(env!("CARGO_BIN_EXE_wirt"))
            .args(["-c", "kvm:///session", "console", dom])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends a guest command (`!line`) on the console until the console
    /// shows a line starting with `answer` that `accept` takes (the console
    /// replays recent output first, so earlier answers show up too: the
    /// last one counts); returns that line.
    pub(crate) fn guest_command(
        &self,
        dom: &str,
        line: &str,
        answer: &str,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        console_command(
            || self.command(env!("CARGO_BIN_EXE_wirt")),
            dom,
            line,
            answer,
            accept,
        )
    }

    /// Runs `wirt script` and returns its peak resident memory in KiB
    /// (measured by a parent of its own, so no other child counts).
    fn peak_rss_kib(&self, script: &str) -> u64 {
        let measure = "import resource, subprocess, sys\n\
                       r = subprocess.run(sys.argv[1:])\n\
                       print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
                       sys.exit(r.returncode)";
        let out = self
            .command("python3")
            .args([
                "-c",
                measure,
                env!("CARGO_BIN_EXE_wirt"),
                "-c",
                "kvm:///session",
                script,
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout.lines().last().unwrap().trim().parse().unwrap()
    }

    pub(crate) fn wait_console(&self, dom: &str, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.console(dom);
            if seen.contains(text) {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "console of {dom} never showed {text:?}: {seen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn kvm_domain_lifecycle_across_processes() {
    let Some(k) = kvm() else { return };
    let xml = k.domain("g1");
    k.ok(&format!("define {}", xml.display()));
    assert_eq!(k.state("g1"), "shut off (unknown)");
    k.ok("start g1");
    // A new process finds the running VMM again.
    assert!(k.ok("list").contains(" g1     running"));
    let console = k.wait_console("g1", "guest: ready");
    assert!(console.contains("wirt test guest 1 booting"), "{console}");
    assert!(console.contains("blk: id vda"), "{console}");
    // The guest read the pattern uploaded into the volume.
    assert!(console.contains("blk: sector 0 sum"), "{console}");
    assert!(
        !console.contains("blk: sector 0 sum 0000000000000000"),
        "{console}"
    );

    k.ok("suspend g1");
    assert_eq!(k.state("g1"), "paused (user)");
    k.ok("resume g1");
    assert_eq!(k.state("g1"), "running (unpaused)");

    let image = k.dir.path().join("g1.sav");
    k.ok(&format!("save g1 {}", image.display()));
    assert_eq!(k.state("g1"), "shut off (saved)");
    k.ok(&format!("restore {}", image.display()));
    assert_eq!(k.state("g1"), "running (restored)");
    let dominfo = k.ok("dominfo g1");
    assert!(dominfo.contains("State:          running"), "{dominfo}");

    k.ok("managedsave g1");
    assert!(k.ok("list --all --managed-save").contains(" g1     saved"));
    k.ok("start g1");
    assert_eq!(k.state("g1"), "running (restored)");

    // Cooperative shutdown: "in shutdown" until the guest obeys.
    let out = k.ok("shutdown g1; domstate g1");
    assert!(out.contains("is being shutdown"), "{out}");
    k.wait_state("g1", "shut off (shutdown)");

    k.ok("start g1");
    k.ok("destroy g1");
    assert_eq!(k.state("g1"), "shut off (destroyed)");
    let err = k.wirt("destroy g1");
    assert!(!err.ok);
    assert!(
        err.stderr.contains("Requested operation is not valid"),
        "{}",
        err.stderr
    );
    k.ok("undefine g1");
    assert!(!k.ok("list --all").contains("g1"));
    k.assert_no_vmms_left();
}

#[test]
fn kvm_a_vmm_that_breaks_its_sandbox_dies_and_the_domain_is_crashed() {
    let Some(k) = kvm() else { return };
    let xml = k.domain("g3");
    k.ok(&format!("define {}; start g3", xml.display()));
    let uuid = k.ok("domuuid g3").trim().to_string();
    let socket = k
        .dir
        .path()
        .join("run")
        .join("vmm")
        .join(format!("{uuid}.sock"));
    let mut vmm = wirt_kvm::control::client::Client::new(
        std::os::unix::net::UnixStream::connect(&socket).unwrap(),
    );
    // Opening a file is what a VMM never does: the filter kills it.
    let answer = vmm.request(wirt_kvm::control::protocol::Request::SandboxCheck);
    assert!(answer.is_err(), "the VMM survived: {answer:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while k.state("g3") != "shut off (crashed)" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(k.state("g3"), "shut off (crashed)");
    // Each `wirt` is a new process: the second one must say the same.
    assert_eq!(k.state("g3"), "shut off (crashed)");
}

#[test]
fn kvm_vmm_death_is_a_crash_and_persisted_state_survives() {
    let Some(k) = kvm() else { return };
    let xml = k.domain("g2");
    k.ok(&format!("define {}; autostart g2; start g2", xml.display()));
    k.kill_vmm("g2");
    assert_eq!(k.state("g2"), "shut off (crashed)");
    let info = k.ok("dominfo g2");
    assert!(
        info.contains("Autostart:      enable"),
        "settings persist: {info}"
    );
    assert!(k.ok("dumpxml g2 --inactive").contains("<name>g2</name>"));
}

#[test]
fn kvm_snapshots_keep_machine_state_and_overlay_raw_disks() {
    let Some(k) = kvm() else { return };
    let diskless = k.dir.path().join("nodisk.xml");
    std::fs::write(
        &diskless,
        "<domain type='kvm'><name>nd</name><memory unit='MiB'>16</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>",
    )
    .unwrap();
    k.ok(&format!("define {}; start nd", diskless.display()));
    k.wait_console("nd", "guest: ready");
    k.ok("snapshot-create-as nd s1");
    k.ok("destroy nd");
    k.ok("snapshot-revert nd s1");
    assert_eq!(k.state("nd"), "running (from snapshot)");
    let info = k.ok("snapshot-info nd s1");
    assert!(info.contains("State:          running"), "{info}");
    k.ok("snapshot-delete nd s1; destroy nd; undefine nd");

    // A writable raw disk has no room for snapshots: it gets a qcow2
    // overlay (an external snapshot, as libvirt takes of raw disks), and
    // deleting the snapshot merges the overlay back into the raw image.
    let xml = k.domain("withdisk");
    k.ok(&format!("define {}; start withdisk", xml.display()));
    k.wait_console("withdisk", "guest: ready");
    k.ok("snapshot-create-as withdisk s1");
    let overlay = k.dir.path().join("pool/withdisk.s1");
    assert!(overlay.is_file());
    let dump = k.ok("snapshot-dumpxml withdisk s1");
    assert!(dump.contains("<memory snapshot='external'"), "{dump}");
    k.ok("snapshot-delete withdisk s1");
    assert!(!overlay.exists());
    assert!(k.ok("domblklist withdisk").contains("withdisk.raw"));
    assert!(k.ok("snapshot-list withdisk --name").trim().is_empty());
    k.ok("destroy withdisk");
}

/// `reboot` returns once a cooperative guest has reset: a save right after
/// it must not carry the request into the restored guest (which would then
/// reboot under the user: "running (booted)" instead of "restored").
#[test]
fn kvm_reboot_is_done_when_it_returns() {
    let Some(k) = kvm() else { return };
    let xml = k.domain("g4");
    k.ok(&format!("define {}; start g4", xml.display()));
    k.wait_console("g4", "guest: ready");
    // `console` with no input shows what arrives within its grace period:
    // poll rather than read once.
    k.ok("reboot g4");
    k.wait_console("g4", "guest: rebooting");
    // Booted again and obeying the power-control port: a reboot asked for
    // during boot would be a Ctrl-Alt-Del the save carries along.
    let deadline = Instant::now() + Duration::from_secs(20);
    while k.console("g4").matches("guest: ready").count() < 2 {
        assert!(Instant::now() < deadline, "g4 did not boot again");
        std::thread::sleep(Duration::from_millis(20));
    }
    // One process, so no process start-up between the steps.
    let out = k.ok("reboot g4; managedsave g4; start g4; domstate g4 --reason");
    assert!(out.contains("running (restored)"), "{out}");
    k.ok("destroy g4");
    k.assert_no_vmms_left();
}

/// A shutdown asked for while the guest is still booting (before it says it
/// obeys the power-control port) is delivered once it does.
#[test]
fn kvm_shutdown_during_boot_is_obeyed() {
    let Some(k) = kvm() else { return };
    let xml = k.domain("g5");
    k.ok(&format!("define {}", xml.display()));
    // One process: the request lands within the guest's first milliseconds.
    k.ok("start g5; shutdown g5");
    k.wait_state("g5", "shut off (shutdown)");
    k.assert_no_vmms_left();
}

/// Issue 15, finding 3: definitions were stored 0644 in a 0755 state dir,
/// and save, managed-save and snapshot memory images were 0644. Everything
/// wirt writes for a domain is now the owner's only (libvirt: 0600).
#[test]
fn kvm_state_files_and_memory_images_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let Some(k) = kvm() else { return };
    let xml = k.dir.path().join("priv.xml");
    std::fs::write(
        &xml,
        "<domain type='kvm'><name>priv</name><memory unit='MiB'>16</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>",
    )
    .unwrap();
    let saved = k.dir.path().join("priv.save");
    k.ok(&format!("define {}; start priv", xml.display()));
    k.wait_console("priv", "guest: ready");
    k.ok("snapshot-create-as priv s1");
    k.ok(&format!("save priv {}", saved.display()));
    k.ok(&format!("restore {}", saved.display()));
    k.ok("managedsave priv");

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&saved), 0o600, "the save image");
    let mut seen = (0, 0);
    // The runtime dir itself holds the daemon's sockets (the read-only one
    // is everyone's); what wirt makes in it is private.
    let run = k.dir.path().join("run");
    let mut stack = vec![k.dir.path().join("state"), run.clone()];
    while let Some(dir) = stack.pop() {
        if dir != run {
            assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        }
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
                seen.0 += 1;
                let name = path.to_string_lossy();
                if name.ends_with(".save") || name.ends_with(".state") {
                    seen.1 += 1;
                }
            }
        }
    }
    assert!(seen.0 >= 4 && seen.1 >= 2, "files, images seen: {seen:?}");
    k.ok("start priv; destroy priv");
    k.assert_no_vmms_left();
}

/// Issue 15, finding 4: managed save held the whole guest in the host
/// process (a 2 GiB guest peaked it at 4.2 GB). The VMM now writes guest
/// RAM straight into the image, zero pages as holes, and restore streams it
/// back: the host stays small whatever the guest's size.
#[test]
fn kvm_managed_save_streams_guest_memory_past_the_host() {
    use std::os::unix::fs::MetadataExt;
    let Some(k) = kvm() else { return };
    if !wirt_testkit::have("python3", "--version") {
        wirt_testkit::require("python3", "measures the peak memory of `wirt`");
        return;
    }
    const LIMIT_KIB: u64 = 256 << 10;
    let xml = k.dir.path().join("big.xml");
    std::fs::write(
        &xml,
        "<domain type='kvm'><name>big</name><memory unit='GiB'>1</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>",
    )
    .unwrap();
    k.ok(&format!("define {}; start big", xml.display()));
    k.wait_console("big", "guest: ready");
    // Touch 8 MiB of the guest's 1 GiB: 2048 pages, each written (a page's
    // first touch costs ~1 ms under this machine's software KVM). The old
    // path held all 1 GiB in the host whatever the guest touched.
    let number = |line: &str| -> u64 { line.rsplit(' ').next().unwrap().parse().unwrap() };
    k.guest_command("big", "dirty 8 20", "dirty: on counter ", |_| true);
    k.guest_command("big", "dirty", "dirty: on counter ", |l| number(l) >= 2048);
    let stopped = k.guest_command("big", "dirty stop", "dirty: off counter ", |_| true);
    let before = number(&stopped);

    let saving = k.peak_rss_kib("managedsave big");
    assert!(saving < LIMIT_KIB, "managedsave peaked at {saving} KiB");
    let uuid = k.ok("domuuid big").trim().to_string();
    let image = k
        .dir
        .path()
        .join("state")
        .join("domains")
        .join(format!("{uuid}.save"));
    let meta = std::fs::metadata(&image).unwrap();
    assert!(
        meta.len() > 1 << 30,
        "the image covers all RAM: {}",
        meta.len()
    );
    let allocated = meta.blocks() * 512;
    assert!(
        allocated < 64 << 20,
        "untouched RAM became holes: {allocated} bytes allocated"
    );

    let restoring = k.peak_rss_kib("start big");
    eprintln!(
        "1 GiB guest: managedsave peak {saving} KiB, start peak {restoring} KiB, \
         image {} bytes long, {allocated} allocated",
        meta.len()
    );
    assert!(
        restoring < LIMIT_KIB,
        "start from the image peaked at {restoring} KiB"
    );
    // The guest's memory came back: the counter (in guest RAM) goes on
    // from where it stopped; a guest restored without it would say 0.
    k.guest_command("big", "dirty 4 20", "dirty: on counter ", |l| {
        number(l) >= before
    });
    k.ok("destroy big");
    k.assert_no_vmms_left();
}

/// Found by the soak: a host killed between spawning a VMM and recording
/// the domain as running left a VMM that no later process adopted. The next
/// open stops it.
#[test]
fn kvm_a_vmm_no_host_recorded_is_stopped_at_the_next_open() {
    let Some(k) = kvm() else { return };
    let xml = k.domain("orphan");
    k.ok(&format!("define {}; start orphan", xml.display()));
    assert_eq!(k.vmms().len(), 1);
    // As if the host had died before storing the runtime record.
    let uuid = k.ok("domuuid orphan").trim().to_string();
    let record = k
        .dir
        .path()
        .join("run")
        .join("domains")
        .join(format!("{uuid}.json"));
    std::fs::remove_file(&record).unwrap();
    // That host bumped the state dir's generation before it spawned the
    // VMM, so no domain index written since stands for the state dir.
    let _ = std::fs::remove_file(k.domain_index());
    assert!(k.state("orphan").starts_with("shut off"));
    k.assert_no_vmms_left();
    // And it starts again normally.
    k.ok("start orphan; destroy orphan");
    k.assert_no_vmms_left();
}

/// Issue 15, finding 4: 1 TiB guests were accepted and started (guest RAM
/// is reserved lazily). Start refuses a guest larger than the host's RAM;
/// define still takes it, as libvirt's does.
#[test]
fn kvm_start_refuses_a_guest_larger_than_the_host() {
    let Some(k) = kvm() else { return };
    let xml = k.dir.path().join("huge.xml");
    std::fs::write(
        &xml,
        "<domain type='kvm'><name>huge</name><memory unit='TiB'>1</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>",
    )
    .unwrap();
    k.ok(&format!("define {}", xml.display()));
    let out = k.wirt("start huge");
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("domain 'huge' needs 1073741824 KiB of memory, more than this host's"),
        "{}",
        out.stderr
    );
    assert_eq!(k.state("huge"), "shut off (unknown)");
    k.assert_no_vmms_left();
}

/// Issue 15, finding 6: define accepted 255 vCPUs that start then refused
/// (the VMM boots at most 32). The connection's maximum is the driver's,
/// so define refuses what start could not run, with libvirt's error.
#[test]
fn kvm_define_refuses_more_vcpus_than_the_vmm_runs() {
    let Some(k) = kvm() else { return };
    let xml = |n: u32| {
        let file = k.dir.path().join(format!("v{n}.xml"));
        std::fs::write(
            &file,
            format!(
                "<domain type='kvm'><name>v{n}</name><memory unit='MiB'>16</memory>\
                 <vcpu>{n}</vcpu><os><type>hvm</type></os></domain>"
            ),
        )
        .unwrap();
        file
    };
    assert_eq!(k.ok("maxvcpus").trim(), "32");
    let out = k.wirt(&format!("define {}", xml(255).display()));
    assert!(!out.ok);
    assert!(
        out.stderr.contains(
            "requested vcpus is greater than max allowable vcpus for the connection: 255 > 32"
        ),
        "{}",
        out.stderr
    );
    assert!(k.ok("list --all --name").trim().is_empty());
    k.ok(&format!("define {}; undefine v32", xml(32).display()));
}

/// Issue 15, finding 6: a `<kernel>` FIFO blocked `start` while it held
/// the registry (every call, read-only `list` too, hung), and `/dev/zero`
/// was read by the VMM without bound. Both are refused at once.
#[test]
fn kvm_start_refuses_a_kernel_that_is_not_a_regular_file() {
    let Some(k) = kvm() else { return };
    let fifo = k.dir.path().join("kernel.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for (name, kernel) in [("fifo", fifo.to_str().unwrap()), ("zero", "/dev/zero")] {
        let xml = k.dir.path().join(format!("{name}.xml"));
        std::fs::write(
            &xml,
            format!(
                "<domain type='kvm'><name>{name}</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
                 <os><type>hvm</type><kernel>{kernel}</kernel></os></domain>"
            ),
        )
        .unwrap();
        k.ok(&format!("define {}", xml.display()));
        let start = Instant::now();
        let out = k.wirt(&format!("start {name}"));
        assert!(!out.ok);
        assert!(
            out.stderr
                .contains(&format!("kernel {kernel} is not a regular file")),
            "{}",
            out.stderr
        );
        assert!(start.elapsed() < Duration::from_secs(20));
        assert!(k.state(name).starts_with("shut off"));
        k.ok(&format!("undefine {name}"));
    }
    k.assert_no_vmms_left();
}

/// A qcow2 disk (`<driver type='qcow2'/>`) over a raw backing file: the host
/// walks the chain and hands it to the VMM; the guest reads the backing
/// data through the overlay and its boot self-test writes into the overlay
/// only. Formats the VMM cannot serve are refused, naming disk and format.
#[test]
fn kvm_qcow2_disks_with_a_backing_file() {
    let Some(k) = kvm() else { return };
    if !wirt_testkit::have("qemu-img", "--version") {
        wirt_testkit::require("qemu-img", "the qcow2 overlay is made by qemu-img");
        return;
    }
    let base = k.dir.path().join("base.raw");
    let data: Vec<u8> = (0..64 * 512).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(&base, &data).unwrap();
    let overlay = k.dir.path().join("overlay.qcow2");
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw"])
        .arg(&overlay)
        .arg("32K")
        .status()
        .unwrap();
    assert!(made.success());
    let domain = |name: &str, format: &str, path: &Path| {
        let xml = k.dir.path().join(format!("{name}.xml"));
        std::fs::write(
            &xml,
            format!(
                "<domain type='kvm'><name>{name}</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
                 <os><type>hvm</type></os><devices><disk type='file' device='disk'>\
                 <driver name='qemu' type='{format}'/><source file='{}'/>\
                 <target dev='vda' bus='virtio'/></disk></devices></domain>",
                path.display()
            ),
        )
        .unwrap();
        xml
    };
    let xml = domain("q1", "qcow2", &overlay);
    k.ok(&format!("define {}; start q1", xml.display()));
    let console = k.wait_console("q1", "guest: ready");
    let sum = |sector: usize, bytes: &[u8]| {
        format!(
            "blk: sector {sector} sum {:016x}",
            wirt_kvm::guest::range_checksum(bytes)
        )
    };
    assert!(console.contains(&sum(0, &data[..512])), "{console}");
    let complement: Vec<u8> = data[..512].iter().map(|b| !b).collect();
    assert!(console.contains(&sum(1, &complement)), "{console}");
    k.ok("destroy q1");
    assert_eq!(
        std::fs::read(&base).unwrap(),
        data,
        "the backing file is read-only"
    );
    let check = Command::new("qemu-img")
        .args(["check", "-f", "qcow2"])
        .arg(&overlay)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let mut expected = data.clone();
    expected[512..1024].copy_from_slice(&complement);
    expected.truncate(32 << 10);
    let reference = k.dir.path().join("expected.raw");
    std::fs::write(&reference, &expected).unwrap();
    let compare = Command::new("qemu-img")
        .args(["compare", "-f", "qcow2", "-F", "raw"])
        .arg(&overlay)
        .arg(&reference)
        .output()
        .unwrap();
    assert!(
        compare.status.success(),
        "{}",
        String::from_utf8_lossy(&compare.stdout)
    );
    k.ok("undefine q1");

    let xml = domain("v1", "vmdk", &base);
    k.ok(&format!("define {}", xml.display()));
    let out = k.wirt("start v1");
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("disk 'vda': format 'vmdk' is not supported, only raw and qcow2"),
        "{}",
        out.stderr
    );
    k.ok("undefine v1");
    k.assert_no_vmms_left();
}

/// [`Kvm::guest_command`] with `wirt` run by `wirt()` (its environment, or a
/// network namespace, are the caller's).
pub(crate) fn console_command(
    wirt: impl Fn() -> Command,
    dom: &str,
    line: &str,
    answer: &str,
    accept: impl Fn(&str) -> bool,
) -> String {
    use std::io::Write as _;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut child = wirt()
            .args(["-c", "kvm:///session", "console", dom])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("!{line}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&out.stdout);
        let last = out
            .lines()
            .map(str::trim_end)
            .rfind(|l| l.starts_with(answer));
        if let Some(found) = last.filter(|l| accept(l)) {
            return found.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no accepted {answer:?} after !{line}: {out}"
        );
    }
}

/// A read-only command answers from the state each VMM publishes: with
/// the VMM's socket out of reach, `list` and `domstate` still tell the
/// truth (a host that connected would call the guest crashed).
#[test]
fn kvm_a_listing_reads_published_state_without_connecting() {
    let Some(k) = kvm() else { return };
    let xml = k.domain("g5");
    k.ok(&format!("define {}; start g5", xml.display()));
    let uuid = k.ok("domuuid g5").trim().to_string();
    let socket = k
        .dir
        .path()
        .join("run")
        .join("vmm")
        .join(format!("{uuid}.sock"));
    let aside = socket.with_extension("aside");
    let hidden = |f: &dyn Fn()| {
        std::fs::rename(&socket, &aside).unwrap();
        f();
        std::fs::rename(&aside, &socket).unwrap();
    };
    hidden(&|| {
        assert!(k.ok("list").contains(" g5     running"));
        assert_eq!(k.state("g5"), "running (booted)");
    });
    k.ok("suspend g5");
    hidden(&|| {
        assert_eq!(k.state("g5"), "paused (user)");
        assert!(k.ok("list --all").contains(" g5     paused"));
    });
    // Using the domain connects: with the socket back, that works.
    k.ok("resume g5");
    assert_eq!(k.state("g5"), "running (unpaused)");
    k.ok("destroy g5");
    assert_eq!(k.state("g5"), "shut off (destroyed)");
    k.assert_no_vmms_left();
}

/// wirt-vmm serves disks on virtio only: a disk on another bus (as
/// virt-install asks for a generic OS) is refused at start, not served as
/// virtio behind the definition's back.
#[test]
fn kvm_start_refuses_a_disk_on_a_bus_it_does_not_have() {
    let Some(k) = kvm() else { return };
    let disk = k.dir.path().join("d.raw");
    std::fs::write(&disk, vec![0u8; 1 << 20]).unwrap();
    for (target, bus) in [
        ("<target dev='hda' bus='ide'/>", "ide"),
        ("<target dev='sda'/>", "scsi"),
    ] {
        let xml = k.dir.path().join("bus.xml");
        std::fs::write(
            &xml,
            format!(
                "<domain type='kvm'><name>bus</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
                 <os><type>hvm</type></os><devices><disk type='file' device='disk'>\
                 <source file='{}'/>{target}</disk></devices></domain>",
                disk.display()
            ),
        )
        .unwrap();
        k.ok(&format!("define {}", xml.display()));
        let out = k.wirt("start bus");
        assert!(!out.ok);
        assert!(
            out.stderr.contains(&format!(
                "unsupported configuration: disk '{}': bus '{bus}' is not supported",
                if bus == "ide" { "hda" } else { "sda" }
            )),
            "{}",
            out.stderr
        );
        assert_eq!(k.state("bus"), "shut off (unknown)");
        k.ok("undefine bus");
    }
    k.assert_no_vmms_left();
}
