//! `wirt-storage-dir-sandbox PLUGIN.wasm [TESTS.wasm] [--bench]`
//!
//! Runs the storage-dir plugin in wasmtime with exactly the grants the host
//! gives it (one read-write preopen, `/pools/<uuid>`, per pool; no network,
//! no environment, no other path) and checks it from the host's side:
//!
//! 1. `TESTS.wasm`, the crate's tests built for wasm32-wasip2 (`cargo test
//!    --target wasm32-wasip2 --no-run`), run as a WASI command: plugin code
//!    that tries to open paths outside its preopen must get errors.
//! 2. `PLUGIN.wasm`, the component, driven through its `storage` export the
//!    way the host will; the files it writes are checked with `stat` and
//!    `qemu-img check`.
//! 3. With `--bench`: wipe and clone of a sparse 10 GiB volume, and 1 GiB
//!    upload/download in 1 MiB chunks against plain file I/O.
//!
//! After each part, nothing outside the pool directory may have changed.

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Instant, SystemTime};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Result, Store, bail, ensure, format_err};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    world: "storage-driver",
    path: "../../../wit",
});

use exports::wirt::driver::storage::Guest as Storage;
use wirt::driver::types::{DomainStatus, Error as DriverError, PoolConfig, VolumeConfig};

/// The granted pool (the tests in `src/tests/sandbox.rs` use the same uuids).
const UUID: &str = "efc17fd8-7a13-4208-864f-8686bd066d33";
/// A pool that is not granted.
const UUID2: &str = "0b3f1b52-5d0e-4c7e-9d0c-0a8b2b6c1f10";
const LINKS: [&str; 3] = ["passwd", "up.raw", "abs.raw"];
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    logs: Vec<String>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wirt::driver::types::Host for State {}

impl wirt::driver::host::Host for State {
    fn log(&mut self, level: u32, message: String) {
        self.logs.push(format!("[{level}] {message}"));
    }

    fn now_ns(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }

    fn monotonic_ns(&mut self) -> u64 {
        0
    }

    fn domain_status_changed(&mut self, _uuid: String, _status: DomainStatus) {}

    /// "The host cannot tell": the plugin then reads every byte, the path
    /// that must work inside the sandbox whatever the host offers. (The
    /// host's SEEK_DATA answer is tested in host/core.)
    fn file_data_ranges(&mut self, _path: String) -> Option<Vec<(u64, u64)>> {
        None
    }
}

/// A temporary directory: `pool/` (granted) and `outside.raw` (not).
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    pool: PathBuf,
    passwd_mtime: i64,
}

impl Fixture {
    fn new() -> Result<Fixture> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path().to_path_buf();
        let pool = root.join("pool");
        fs::create_dir(&pool)?;
        fs::write(pool.join("real.raw"), b"real data")?;
        fs::write(root.join("outside.raw"), b"outside the pool")?;
        symlink("/etc/passwd", pool.join("passwd"))?;
        symlink("../outside.raw", pool.join("up.raw"))?;
        symlink(root.join("outside.raw"), pool.join("abs.raw"))?;
        let passwd_mtime = fs::metadata("/etc/passwd")?.mtime();
        Ok(Fixture {
            _tmp: tmp,
            root,
            pool,
            passwd_mtime,
        })
    }

    /// What the host gives the plugin: the pool directory, read-write, at
    /// `/pools/<uuid>`; no network; nothing else.
    fn wasi(&self, command: bool) -> Result<WasiCtx> {
        let mut builder = WasiCtx::builder();
        builder
            .preopened_dir(&self.pool, format!("/pools/{UUID}"), FsPerms::ReadWrite)?
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if command {
            builder.inherit_stdout().inherit_stderr().args(&[
                "sandbox-tests",
                "--test-threads=1",
                "--nocapture",
            ]);
        }
        Ok(builder.build())
    }

    fn check_untouched(&self) -> Result<()> {
        let mut names: Vec<_> = fs::read_dir(&self.root)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        names.sort();
        ensure!(
            names == ["outside.raw", "pool"],
            "something escaped the pool: {names:?}"
        );
        ensure!(
            fs::read(self.root.join("outside.raw"))? == b"outside the pool",
            "outside.raw changed"
        );
        ensure!(
            fs::metadata("/etc/passwd")?.mtime() == self.passwd_mtime,
            "/etc/passwd changed"
        );
        for link in LINKS {
            ensure!(
                fs::symlink_metadata(self.pool.join(link))?
                    .file_type()
                    .is_symlink(),
                "{link} replaced"
            );
        }
        Ok(())
    }
}

fn store(engine: &Engine, wasi: WasiCtx) -> Store<State> {
    Store::new(
        engine,
        State {
            wasi,
            table: ResourceTable::new(),
            logs: Vec::new(),
        },
    )
}

fn run_tests(engine: &Engine, path: &str) -> Result<()> {
    let fixture = Fixture::new()?;
    let mut linker = Linker::<State>::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let component = Component::from_file(engine, path)?;
    let mut store = store(engine, fixture.wasi(true)?);
    let command = Command::instantiate(&mut store, &component, &linker)?;
    match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => {}
        Ok(Err(())) => bail!("the WASI tests failed"),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(0)) => {}
            Some(I32Exit(code)) => bail!("the WASI tests exited with {code}"),
            None => return Err(e),
        },
    }
    fixture.check_untouched()?;
    println!("WASI tests: passed; nothing outside the pool changed");
    Ok(())
}

struct Plugin {
    store: Store<State>,
    driver: StorageDriver,
}

impl Plugin {
    fn new(engine: &Engine, component: &Component, fixture: &Fixture) -> Result<Plugin> {
        let mut linker = Linker::<State>::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        StorageDriver::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
        let mut store = store(engine, fixture.wasi(false)?);
        let driver = StorageDriver::instantiate(&mut store, component, &linker)?;
        Ok(Plugin { store, driver })
    }

    fn call<T>(
        &mut self,
        f: impl FnOnce(&Storage, &mut Store<State>) -> Result<Result<T, DriverError>>,
    ) -> Result<T> {
        f(self.driver.wirt_driver_storage(), &mut self.store)?
            .map_err(|e| format_err!("driver error {}: {}", e.code, e.message))
    }

    fn fails<T: std::fmt::Debug>(
        &mut self,
        code: u32,
        f: impl FnOnce(&Storage, &mut Store<State>) -> Result<Result<T, DriverError>>,
    ) -> Result<String> {
        match f(self.driver.wirt_driver_storage(), &mut self.store)? {
            Err(e) if e.code == code => Ok(e.message),
            other => bail!("expected error code {code}, got {other:?}"),
        }
    }
}

fn pool_config(uuid: &str, target: &Path) -> PoolConfig {
    PoolConfig {
        uuid: uuid.into(),
        name: "sandboxed".into(),
        pool_type: "dir".into(),
        target_path: Some(target.display().to_string()),
        source_path: None,
        mode: Some(0o711),
    }
}

fn vol(name: &str, capacity: u64, allocation: u64, format: &str) -> VolumeConfig {
    VolumeConfig {
        name: name.into(),
        capacity,
        allocation,
        format: format.into(),
        backing: None,
    }
}

fn allocated(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path)?.blocks() * 512)
}

fn qemu_img(args: &[&str]) -> Option<String> {
    let out = Process::new("qemu-img").args(args).output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Some(format!(
        "{}{text}",
        if out.status.success() { "" } else { "FAILED: " }
    ))
}

fn drive_plugin(engine: &Engine, component: &Component) -> Result<()> {
    let fixture = Fixture::new()?;
    let mut p = Plugin::new(engine, component, &fixture)?;
    let config = pool_config(UUID, &fixture.pool);
    let target = fixture.pool.display().to_string();

    ensure!(p.call(|s, st| Ok(Ok(s.call_pool_types(st)?)))? == ["dir"]);
    let msg = p.fails(38, |s, st| {
        s.call_pool_start(st, &pool_config(UUID2, Path::new("/srv/x")))
    })?;
    println!("start of an ungranted pool: {msg}");
    p.call(|s, st| s.call_pool_start(st, &config))?;
    let vols = p.call(|s, st| s.call_pool_refresh(st, UUID))?;
    let listed: Vec<_> = vols
        .iter()
        .map(|v| (v.name.as_str(), v.path.as_str()))
        .collect();
    ensure!(
        listed == [("real.raw", format!("{target}/real.raw").as_str())],
        "refresh: {listed:?}"
    );
    for link in LINKS {
        p.fails(50, |s, st| s.call_get_volume_info(st, UUID, link))?;
        p.fails(50, |s, st| s.call_volume_read(st, UUID, link, 0, 100))?;
        p.fails(50, |s, st| s.call_volume_write(st, UUID, link, 0, b"x"))?;
        p.fails(50, |s, st| s.call_volume_wipe(st, UUID, link, 0, 0))?;
    }
    let msg = p.fails(8, |s, st| {
        s.call_volume_create(st, UUID, &vol("x/y.raw", MIB, 0, "raw"), 0)
    })?;
    ensure!(msg == "volume name 'x/y.raw' cannot contain '/'", "{msg}");
    p.fails(8, |s, st| {
        s.call_volume_create(st, UUID, &vol("../escape.raw", MIB, 0, "raw"), 0)
    })?;

    // Sparse, partly and fully preallocated raw volumes.
    let info =
        p.call(|s, st| s.call_volume_create(st, UUID, &vol("sparse.raw", 64 * MIB, 0, "raw"), 0))?;
    ensure!(info.path == format!("{target}/sparse.raw") && info.key == info.path);
    ensure!(
        fs::metadata(&info.path)?.len() == 64 * MIB
            && allocated(Path::new(&info.path))? < 64 * 1024
    );
    p.call(|s, st| s.call_volume_create(st, UUID, &vol("part.raw", 64 * MIB, 16 * MIB, "raw"), 0))?;
    let part = allocated(&fixture.pool.join("part.raw"))?;
    ensure!(
        (16 * MIB..17 * MIB).contains(&part),
        "part.raw allocates {part}"
    );
    p.fails(90, |s, st| {
        s.call_volume_create(st, UUID, &vol("part.raw", MIB, 0, "raw"), 0)
    })?;
    println!(
        "raw: sparse 64 MiB allocates {} bytes, 16 MiB-preallocated allocates {part}",
        allocated(Path::new(&info.path))?
    );

    // Data in and out in chunks.
    p.call(|s, st| s.call_volume_write(st, UUID, "sparse.raw", MIB + 3, b"hello from the host"))?;
    ensure!(
        p.call(|s, st| s.call_volume_read(st, UUID, "sparse.raw", MIB + 3, 19))?
            == b"hello from the host"
    );
    p.fails(9, |s, st| {
        s.call_volume_write(st, UUID, "sparse.raw", 64 * MIB - 1, b"xx")
    })?;
    ensure!(
        p.call(|s, st| s.call_volume_read(st, UUID, "sparse.raw", 0, u32::MAX))?
            .len()
            == 4 << 20
    );

    // Clone (sparse-aware), resize, wipe, delete.
    let copy = p.call(|s, st| {
        s.call_volume_clone(st, UUID, &vol("copy.raw", 0, 0, ""), UUID, "sparse.raw", 0)
    })?;
    ensure!(
        fs::read(&copy.path)? == fs::read(&info.path)?,
        "the clone differs"
    );
    ensure!(
        allocated(Path::new(&copy.path))? <= 8192,
        "the clone is not sparse"
    );
    let grown = p.call(|s, st| s.call_volume_resize(st, UUID, "copy.raw", 128 * MIB, 0))?;
    ensure!(grown.capacity == 128 * MIB && fs::metadata(&copy.path)?.len() == 128 * MIB);
    p.call(|s, st| s.call_volume_wipe(st, UUID, "sparse.raw", 0, 0))?;
    ensure!(fs::read(&info.path)?.iter().all(|&b| b == 0));
    p.fails(3, |s, st| s.call_volume_wipe(st, UUID, "sparse.raw", 8, 0))?;
    p.call(|s, st| s.call_volume_delete(st, UUID, "copy.raw", 0))?;
    ensure!(!Path::new(&copy.path).exists());

    // qcow2, checked by qemu-img.
    let img =
        p.call(|s, st| s.call_volume_create(st, UUID, &vol("img.qcow2", GIB, GIB, "qcow2"), 0))?;
    ensure!(
        img.capacity == GIB && img.format == "qcow2" && img.allocation == 196_624,
        "{img:?}"
    );
    p.call(|s, st| s.call_volume_resize(st, UUID, "img.qcow2", 2 * GIB, 0))?;
    match qemu_img(&["check", &img.path]) {
        Some(report) => {
            println!("qemu-img check {}:\n{report}", img.path);
            ensure!(report.contains("No errors were found on the image."));
            let info = qemu_img(&["info", "--output=json", &img.path]).unwrap_or_default();
            ensure!(
                info.contains("\"virtual-size\": 2147483648")
                    && info.contains("\"format\": \"qcow2\""),
                "{info}"
            );
        }
        None => wirt_testkit::require("qemu-img", "the sandbox's qcow2 image is not checked"),
    }

    // Pool delete: refused while active, then while not empty.
    p.fails(55, |s, st| s.call_pool_delete(st, &config, 0))?;
    let usage = p.call(|s, st| s.call_get_pool_usage(st, UUID))?;
    println!("get-pool-usage: {usage:?}");
    p.call(|s, st| s.call_pool_stop(st, UUID))?;
    p.fails(55, |s, st| s.call_pool_refresh(st, UUID))?;
    let msg = p.fails(9, |s, st| s.call_pool_delete(st, &config, 0))?;
    ensure!(
        msg == format!("failed to remove pool '{target}': Directory not empty"),
        "{msg}"
    );

    for line in &p.store.data().logs {
        println!("plugin log: {line}");
    }
    fixture.check_untouched()?;
    println!("component: passed; nothing outside the pool changed");
    Ok(())
}

fn bench(engine: &Engine, component: &Component) -> Result<()> {
    let fixture = Fixture::new()?;
    let mut p = Plugin::new(engine, component, &fixture)?;
    p.call(|s, st| s.call_pool_start(st, &pool_config(UUID, &fixture.pool)))?;
    let time = |what: &str, t: Instant| {
        let s = t.elapsed().as_secs_f64();
        println!("{what}: {:.3} s", s);
        s
    };

    let t = Instant::now();
    p.call(|s, st| s.call_volume_create(st, UUID, &vol("big.raw", 10 * GIB, 0, "raw"), 0))?;
    time("create sparse 10 GiB", t);
    p.call(|s, st| s.call_volume_write(st, UUID, "big.raw", 5 * GIB, &[1; 4096]))?;
    let t = Instant::now();
    p.call(|s, st| s.call_volume_wipe(st, UUID, "big.raw", 0, 0))?;
    time("wipe sparse 10 GiB", t);
    let t = Instant::now();
    p.call(|s, st| s.call_volume_clone(st, UUID, &vol("big2.raw", 0, 0, ""), UUID, "big.raw", 0))?;
    time("clone sparse 10 GiB", t);
    ensure!(allocated(&fixture.pool.join("big2.raw"))? < MIB);
    for name in ["big.raw", "big2.raw"] {
        p.call(|s, st| s.call_volume_delete(st, UUID, name, 0))?;
    }

    let chunk: Vec<u8> = (0..MIB as usize).map(|i| (i % 253) as u8 + 1).collect();
    p.call(|s, st| s.call_volume_create(st, UUID, &vol("up.img", GIB, 0, "raw"), 0))?;
    let t = Instant::now();
    for i in 0..GIB / MIB {
        p.call(|s, st| s.call_volume_write(st, UUID, "up.img", i * MIB, &chunk))?;
    }
    let upload = time("upload 1 GiB (1 MiB chunks)", t);
    let t = Instant::now();
    let mut n = 0u64;
    while n < GIB {
        n += p
            .call(|s, st| s.call_volume_read(st, UUID, "up.img", n, MIB as u32))?
            .len() as u64;
    }
    let download = time("download 1 GiB (1 MiB chunks)", t);

    let native = fixture.root.join("native.img");
    let t = Instant::now();
    {
        use std::io::Write;
        let mut f = fs::File::create(&native)?;
        for _ in 0..GIB / MIB {
            f.write_all(&chunk)?;
        }
    }
    let native_write = time("native write 1 GiB", t);
    let t = Instant::now();
    {
        use std::io::Read;
        let mut f = fs::File::open(&native)?;
        let mut buf = vec![0u8; MIB as usize];
        while f.read(&mut buf)? > 0 {}
    }
    let native_read = time("native read 1 GiB", t);
    fs::remove_file(&native)?;
    println!(
        "ratio plugin/native: upload {:.2}, download {:.2}",
        upload / native_write,
        download / native_read
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench_too = args.iter().any(|a| a == "--bench");
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(plugin) = files.first() else {
        bail!("usage: wirt-storage-dir-sandbox PLUGIN.wasm [TESTS.wasm] [--bench]");
    };
    let engine = Engine::default();
    if let Some(tests) = files.get(1) {
        run_tests(&engine, tests)?;
    }
    let component = Component::from_file(&engine, plugin)?;
    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(&engine)
        .map(|(name, _)| name.to_string())
        .collect();
    println!("plugin imports: {}", imports.join(", "));
    drive_plugin(&engine, &component)?;
    if bench_too {
        bench(&engine, &component)?;
    }
    Ok(())
}
