//! What a plugin's `Store` holds: its WASI context (no network, no
//! environment, only the preopens it was granted), its limits, captured
//! output, and the implementation of the `host` interface it imports.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::Limits;
use super::bindings::wirt::driver::{host, types};

/// Receives the domain status changes a plugin reports on its own.
pub type StatusSink = Arc<dyn Fn(&str, types::DomainStatus) + Send + Sync>;

/// A directory granted to a plugin: the host path, where the guest sees
/// it, and whether it may write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preopen {
    /// The directory on the host.
    pub host: std::path::PathBuf,
    /// Where the plugin sees it.
    pub guest: String,
    /// The plugin may not write it.
    pub read_only: bool,
}

/// What a plugin instance's `Store` holds: its WASI context, limits,
/// grants and log.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limits: StoreLimits,
    pub(super) output: super::log::GuestLog,
    plugin: Arc<str>,
    status_sink: Option<StatusSink>,
    preopens: Vec<Preopen>,
    net: Option<Arc<super::NetHost>>,
}

/// One monotonic origin for every instance, so a re-created instance sees
/// the clock continue rather than restart.
fn monotonic_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl HostState {
    pub(super) fn new(
        plugin: &str,
        limits: &Limits,
        status_sink: Option<StatusSink>,
        preopens: &[Preopen],
        net: Option<Arc<super::NetHost>>,
        output: super::log::GuestLog,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        // Time comes only through the `host` interface, which the host can
        // account for; WASI's own clocks are stopped at zero.
        wasi.wall_clock(StoppedClock).monotonic_clock(StoppedClock);
        wasi.stdout(output.clone())
            .stderr(output.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for dir in preopens {
            let perms = if dir.read_only {
                wasmtime_wasi::FsPerms::ReadOnly
            } else {
                wasmtime_wasi::FsPerms::ReadWrite
            };
            // A directory that vanished is simply not granted; the plugin's
            // calls on it then fail with "not found".
            if let Err(e) = wasi.preopened_dir(&dir.host, &dir.guest, perms) {
                tracing::warn!(plugin, dir = %dir.host.display(), error = %e, "cannot grant directory");
            }
        }
        HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            output,
            plugin: plugin.into(),
            status_sink,
            preopens: preopens.to_vec(),
            net,
        }
    }

    pub(super) fn net_host(&self) -> Option<&super::NetHost> {
        self.net.as_deref()
    }

    pub(super) fn plugin_name(&self) -> &str {
        &self.plugin
    }

    pub(super) fn preopens(&self) -> &[Preopen] {
        &self.preopens
    }

    /// The tail of what the guest wrote (a Rust guest's panic message
    /// lands there), for the error the user sees.
    pub(super) fn last_words(&self) -> String {
        self.output.last_words()
    }
}

/// A clock that never moves: plugins get no time but the host's.
struct StoppedClock;

impl wasmtime_wasi::HostWallClock for StoppedClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
    fn now(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for StoppedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: u32, message: String) {
        let plugin = &*self.plugin;
        match level {
            0 | 1 => tracing::error!(plugin, "{message}"),
            2 => tracing::warn!(plugin, "{message}"),
            3 => tracing::info!(plugin, "{message}"),
            4 => tracing::debug!(plugin, "{message}"),
            _ => tracing::trace!(plugin, "{message}"),
        }
    }

    fn now_ns(&mut self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }

    fn monotonic_ns(&mut self) -> u64 {
        monotonic_origin().elapsed().as_nanos() as u64
    }

    fn domain_status_changed(&mut self, uuid: String, status: types::DomainStatus) {
        if let Some(sink) = &self.status_sink {
            sink(&uuid, status);
        }
    }

    fn file_data_ranges(&mut self, path: String) -> Option<Vec<(u64, u64)>> {
        let host = super::extents::resolve(&self.preopens, &path)?;
        super::extents::data_ranges(&host)
    }
}
