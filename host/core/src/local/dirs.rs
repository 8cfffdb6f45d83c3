//! Where the local host keeps its files, for the system and the session
//! instance alike: `kvm:` connections, and the daemon's default sockets.

use std::path::PathBuf;

/// Where a local connection keeps its files.
#[derive(Clone, Debug)]
pub struct LocalDirs {
    /// Persistent configs, snapshots and images.
    pub state: PathBuf,
    /// Sockets, pid files and records of running guests.
    pub runtime: PathBuf,
    /// Guest console logs.
    pub logs: PathBuf,
}

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn home() -> PathBuf {
    env_dir("HOME").unwrap_or_else(|| PathBuf::from("/"))
}

/// The user id, from the owner of this process's /proc entry (no libc).
fn uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

impl LocalDirs {
    /// `WIRT_STATE_DIR` / `WIRT_RUNTIME_DIR` / `WIRT_LOG_DIR` override the
    /// defaults: `/var/lib/wirt`, `/run/wirt`, `/var/log/wirt` for system;
    /// the XDG config, runtime and cache dirs for session.
    pub fn for_mode(system: bool) -> LocalDirs {
        let (state, runtime, logs) = if system {
            (
                PathBuf::from("/var/lib/wirt"),
                PathBuf::from("/run/wirt"),
                PathBuf::from("/var/log/wirt"),
            )
        } else {
            let config = env_dir("XDG_CONFIG_HOME").unwrap_or_else(|| home().join(".config"));
            let cache = env_dir("XDG_CACHE_HOME").unwrap_or_else(|| home().join(".cache"));
            let runtime = env_dir("XDG_RUNTIME_DIR")
                .map(|d| d.join("wirt"))
                .unwrap_or_else(|| std::env::temp_dir().join(format!("wirt-{}", uid())));
            (config.join("wirt"), runtime, cache.join("wirt").join("log"))
        };
        let state = env_dir("WIRT_STATE_DIR").unwrap_or(state);
        LocalDirs {
            logs: env_dir("WIRT_LOG_DIR").unwrap_or_else(|| {
                if std::env::var_os("WIRT_STATE_DIR").is_some() {
                    state.join("log")
                } else {
                    logs
                }
            }),
            runtime: env_dir("WIRT_RUNTIME_DIR").unwrap_or(runtime),
            state,
        }
    }
}
