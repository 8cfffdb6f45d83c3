//! The one wasmtime `Engine` of a process, with its code cache and the
//! epoch ticker that enforces call deadlines.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Cache, CacheConfig, Config, Engine};

use super::Error;

/// How often the epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The process's wasmtime `Engine`, with its code cache and epoch ticker.
pub struct Runtime {
    engine: Engine,
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// Where compiled machine code is cached: `$WIRT_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/wirt`, else `~/.cache/wirt`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WIRT_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("wirt"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("wirt"))
}

impl Runtime {
    /// The process's runtime, caching compiled code in [`cache_dir`].
    pub fn get() -> Result<&'static Runtime, Error> {
        RUNTIME
            .get_or_init(|| Runtime::build(cache_dir().as_deref()).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| Error::Runtime(e.clone().into()))
    }

    /// A runtime of its own, caching compiled code under `cache` (`None`:
    /// compile every time). For tools and benchmarks that must not share
    /// the process's cache; plugins loaded with [`super::Plugin::load_in`].
    pub fn with_cache_dir(cache: Option<&Path>) -> Result<Runtime, Error> {
        Runtime::build(cache).map_err(|e| Error::Runtime(e.into_boxed_dyn_error()))
    }

    fn build(cache: Option<&Path>) -> wasmtime::Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // The async component-model machinery costs ~3x per synchronous call
        // and drivers are called synchronously.
        config.concurrency_support(false);
        if let Some(dir) = cache {
            // A cache that cannot be set up costs start-up time, not correctness.
            if std::fs::create_dir_all(dir).is_ok() {
                let mut cache = CacheConfig::new();
                cache.with_directory(dir.join("code"));
                if let Ok(cache) = Cache::new(cache) {
                    config.cache(Some(cache));
                }
            }
        }
        let engine = Engine::new(&config)?;
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("wirt-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(wasmtime::Error::from)?;
        Ok(Runtime { engine })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}
