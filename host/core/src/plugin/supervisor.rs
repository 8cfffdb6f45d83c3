//! One plugin instance at a time per handle, calls serialised through it.
//! A failed call discards the instance; the next call builds a fresh one and
//! replays the handle's initialiser, so callers never see a poisoned store.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap};

use super::bindings::exports::wirt::driver::{hypervisor, network, storage};
use super::host_state::{HostState, StatusSink};
use super::runtime::EPOCH_TICK;
use super::{Error, Plugin};

/// A live instance: its store and the interfaces it exports.
pub struct Instance {
    /// Its wasmtime store.
    pub store: Store<HostState>,
    /// Its `hypervisor` export, if any.
    pub hypervisor: Option<hypervisor::Guest>,
    /// Its `storage` export, if any.
    pub storage: Option<storage::Guest>,
    /// Its `network` export, if any.
    pub network: Option<network::Guest>,
}

/// Runs on every fresh instance before its first call (for example the
/// hypervisor's `open`, and re-adopting what the host knows is running).
pub type Initializer = Box<dyn Fn(&mut Instance) -> wasmtime::Result<()> + Send>;

struct Slot {
    instance: Option<Instance>,
    /// Directories the next instance is granted.
    preopens: Vec<super::host_state::Preopen>,
    /// Host networking granted to the next instance.
    net: Option<Arc<super::NetHost>>,
    failures: u32,
    init: Vec<Initializer>,
    /// An instance holding state was discarded since `take_lost` last looked.
    lost: bool,
    /// Not before this is a failed instance re-created.
    retry_after: Option<Instant>,
}

/// A plugin's one instance at a time: made on demand, re-created after a
/// failure, quarantined after too many.
pub struct PluginHandle {
    plugin: Arc<Plugin>,
    status_sink: Option<StatusSink>,
    slot: Mutex<Slot>,
    /// The plugin's stdout/stderr, across its instances.
    output: super::log::GuestLog,
}

/// Live handles, for health reports (`plugin-list` in a daemon).
static HANDLES: Mutex<Vec<std::sync::Weak<PluginHandle>>> = Mutex::new(Vec::new());

/// The health of the live instances of plugin `name` (worst wins).
pub fn health(name: &str) -> Option<&'static str> {
    let mut handles = HANDLES.lock().unwrap_or_else(|p| p.into_inner());
    handles.retain(|h| h.strong_count() > 0);
    let states: Vec<&'static str> = handles
        .iter()
        .filter_map(|h| h.upgrade())
        .filter(|h| h.plugin.name == name)
        .map(|h| h.health().0)
        .collect();
    if states.is_empty() {
        None
    } else if states.contains(&"quarantined") {
        Some("quarantined")
    } else {
        Some("loaded")
    }
}

/// Where a plugin's output is logged: `$WIRT_PLUGIN_LOG_DIR/<name>.log`,
/// else `<cache dir>/logs/<name>.log`.
pub fn log_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("WIRT_PLUGIN_LOG_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| super::cache_dir().map(|d| d.join("logs")))
        .map(|d| d.join(format!("{name}.log")))
}

/// The wait before re-creating an instance after `failures` failures in a
/// row: 10 ms doubling, at most a second.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(10u64 << failures.saturating_sub(1).min(7)).min(Duration::from_secs(1))
}

impl std::fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHandle")
            .field("plugin", &self.plugin)
            .finish()
    }
}

impl PluginHandle {
    /// A handle of `plugin`, whose status reports go to `status_sink`. No
    /// instance runs until the first call.
    pub fn new(plugin: Arc<Plugin>, status_sink: Option<StatusSink>) -> Self {
        let output = super::log::GuestLog::new(log_path(&plugin.name).as_deref());
        PluginHandle {
            plugin,
            status_sink,
            slot: Mutex::new(Slot {
                instance: None,
                preopens: Vec::new(),
                net: None,
                failures: 0,
                init: Vec::new(),
                lost: false,
                retry_after: None,
            }),
            output,
        }
    }

    /// Makes the handle visible to [`super::health`].
    pub fn track(self: &Arc<Self>) {
        HANDLES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(self));
    }

    /// The plugin it runs.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// Adds an initialiser, run now on the live instance (if any) and on
    /// every instance created later.
    pub fn add_initializer(&self, init: Initializer) -> Result<(), Error> {
        let mut slot = self.lock();
        slot.init.push(init);
        if slot.instance.is_some() {
            let Slot { instance, init, .. } = &mut *slot;
            let live = instance.as_mut().expect("checked above");
            let last = init.last().expect("just pushed");
            if let Err(e) = self.guarded(live, |i| last(i)) {
                slot.instance = None;
                return Err(self.classify(e, None));
            }
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        // A panic while holding the lock leaves at worst a stale instance,
        // which the next failure discards.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn instantiate(&self, slot: &mut Slot) -> Result<(), Error> {
        let plugin = &self.plugin;
        let state = HostState::new(
            &plugin.name,
            &plugin.limits,
            self.status_sink.clone(),
            &slot.preopens,
            slot.net.clone(),
            self.output.clone(),
        );
        let mut store = Store::new(plugin.pre.engine(), state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(self.deadline_ticks());
        let instance = plugin
            .pre
            .instantiate(&mut store)
            .map_err(|e| Error::Instantiate {
                plugin: plugin.name.clone(),
                version: plugin.version.clone(),
                source: e.into_boxed_dyn_error(),
            })?;
        let load_err = |e: wasmtime::Error| Error::Instantiate {
            plugin: plugin.name.clone(),
            version: plugin.version.clone(),
            source: e.into_boxed_dyn_error(),
        };
        let mut live = Instance {
            hypervisor: plugin
                .hypervisor
                .as_ref()
                .map(|i| i.load(&mut store, &instance))
                .transpose()
                .map_err(load_err)?,
            storage: plugin
                .storage
                .as_ref()
                .map(|i| i.load(&mut store, &instance))
                .transpose()
                .map_err(load_err)?,
            network: plugin
                .network
                .as_ref()
                .map(|i| i.load(&mut store, &instance))
                .transpose()
                .map_err(load_err)?,
            store,
        };
        for init in &slot.init {
            if let Err(e) = self.guarded(&mut live, |i| init(i)) {
                return Err(self.classify(e, Some(&live)));
            }
        }
        slot.instance = Some(live);
        Ok(())
    }

    fn deadline_ticks(&self) -> u64 {
        (self.plugin.limits.call_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }

    fn guarded<R>(
        &self,
        live: &mut Instance,
        f: impl FnOnce(&mut Instance) -> wasmtime::Result<R>,
    ) -> wasmtime::Result<R> {
        live.store.set_epoch_deadline(self.deadline_ticks());
        self.output.begin_call();
        f(live)
    }

    /// Turns a failed call into the error the user sees: timeout, memory cap
    /// or crash, with the guest's own last words when it left any.
    fn classify(&self, error: wasmtime::Error, live: Option<&Instance>) -> Error {
        let plugin = self.plugin.name.clone();
        let version = self.plugin.version.clone();
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                return Error::Timeout {
                    plugin,
                    version,
                    seconds: self.plugin.limits.call_timeout.as_secs_f64(),
                };
            }
            Some(Trap::AllocationTooLarge) => {
                return Error::MemoryCap {
                    plugin,
                    version,
                    limit_mib: self.plugin.limits.memory_bytes >> 20,
                };
            }
            _ => {}
        }
        let text = format!("{error:#}");
        if text.contains("forcing trap when growing memory") || text.contains("memory minimum size")
        {
            return Error::MemoryCap {
                plugin,
                version,
                limit_mib: self.plugin.limits.memory_bytes >> 20,
            };
        }
        let words = live
            .map(|l| l.store.data().last_words())
            .unwrap_or_default();
        // The user sees the trap itself; the wasm backtrace goes to the log.
        tracing::debug!(plugin, version, error = ?error, "plugin instance trapped");
        let source: super::BoxError = match error.downcast_ref::<Trap>() {
            Some(trap) => Box::new(*trap),
            None => error.into_boxed_dyn_error(),
        };
        Error::Trap {
            plugin,
            version,
            detail: if words.is_empty() {
                String::new()
            } else {
                format!(": {words}")
            },
            source,
        }
    }

    /// Runs `f` against the live instance, creating it first if needed.
    /// Calls are serialised. On a trap the instance is thrown away.
    pub fn call<R>(
        &self,
        f: impl FnOnce(&mut Instance) -> wasmtime::Result<R>,
    ) -> Result<R, Error> {
        let mut slot = self.lock();
        if slot.failures >= self.plugin.limits.max_failures {
            return Err(Error::Quarantined {
                plugin: self.plugin.name.clone(),
                version: self.plugin.version.clone(),
                failures: slot.failures,
            });
        }
        if slot.instance.is_none() {
            // Back off before re-creating a failed instance. Calls are
            // serialised, so waiting with the slot held delays only this
            // plugin's callers.
            if let Some(wait) = slot
                .retry_after
                .take()
                .and_then(|t| t.checked_duration_since(Instant::now()))
            {
                std::thread::sleep(wait);
            }
            if let Err(e) = self.instantiate(&mut slot) {
                slot.failures += 1;
                slot.retry_after = Some(Instant::now() + backoff(slot.failures));
                return Err(e);
            }
        }
        let live = slot.instance.as_mut().expect("instantiated above");
        match self.guarded(live, f) {
            Ok(r) => {
                slot.failures = 0;
                Ok(r)
            }
            Err(e) => {
                let err = self.classify(e, slot.instance.as_ref());
                slot.instance = None;
                slot.lost = true;
                slot.failures += 1;
                slot.retry_after = Some(Instant::now() + backoff(slot.failures));
                Err(err)
            }
        }
    }

    /// How the plugin is doing: "loaded", or "quarantined" after too many
    /// failures in a row, with the number of consecutive failures.
    pub fn health(&self) -> (&'static str, u32) {
        let slot = self.lock();
        let quarantined = slot.failures >= self.plugin.limits.max_failures;
        (
            if quarantined { "quarantined" } else { "loaded" },
            slot.failures,
        )
    }

    /// Drops the live instance (its next call starts afresh) and forgets
    /// past failures, lifting a quarantine.
    pub fn reset(&self) {
        let mut slot = self.lock();
        if slot.instance.take().is_some() {
            slot.lost = true;
        }
        slot.failures = 0;
        slot.retry_after = None;
    }

    /// Changes the directories granted to the plugin. WASI grants are fixed
    /// per instance, so the next call runs in a fresh instance.
    pub fn set_preopens(&self, preopens: Vec<super::host_state::Preopen>) {
        let mut slot = self.lock();
        if slot.preopens != preopens {
            slot.preopens = preopens;
            slot.instance = None;
        }
    }

    /// Grants host networking (`netcap`) to the plugin's next instance.
    pub fn set_net_host(&self, net: Arc<super::NetHost>) {
        let mut slot = self.lock();
        slot.net = Some(net);
        slot.instance = None;
    }

    /// True once after an instance (and the state it held) was thrown away:
    /// the caller then tells the fresh instance what it must know again.
    pub fn take_lost(&self) -> bool {
        std::mem::take(&mut self.lock().lost)
    }
}
