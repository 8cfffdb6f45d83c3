//! One lock per state dir, so that every process using it (`wirt`
//! commands, `wirtd`) serialises its mutations: each holds the lock across
//! read, check and write, and re-reads the state first when another process
//! changed it meanwhile. Without it two `wirt start X` both start X, and two
//! `wirt define` of one name both succeed.
//!
//! The lock is `flock` on `STATE/lock`, which the kernel releases when a
//! process dies. The file also holds a generation number, bumped before
//! every write to the state dir: a process that finds another number than
//! the one it last saw reloads.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Error, Result};

/// Digits of the generation number in the lock file.
const WIDTH: usize = 20;

/// The lock of one state dir, shared by the process's users of that dir.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
    /// The generation this process last read or wrote.
    seen: AtomicU64,
}

impl StateLock {
    /// Opens (creating) `dir/lock`; the state it guards is not yet seen.
    pub fn open(dir: &Path) -> Result<StateLock> {
        let path = dir.join("lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(super::store::PRIVATE_FILE)
            .open(&path)
            .map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
        Ok(StateLock {
            file,
            path,
            seen: AtomicU64::new(u64::MAX),
        })
    }

    /// Waits for the lock. Within a process, callers are serialised by the
    /// registry's mutex before they get here.
    pub fn lock(&self) -> Result<()> {
        self.file.lock().map_err(|source| Error::Lock {
            path: self.path.clone(),
            source,
        })
    }

    /// Releases the lock.
    pub fn unlock(&self) {
        let _ = self.file.unlock();
    }

    /// The generation now. Call with the lock held.
    pub fn generation(&self) -> u64 {
        let mut buf = [0u8; WIDTH];
        let n = self.file.read_at(&mut buf, 0).unwrap_or(0);
        std::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Whether another process wrote since this one last looked (always
    /// true the first time); the current generation counts as seen after.
    /// Call with the lock held.
    pub fn changed(&self) -> bool {
        let now = self.generation();
        self.seen.swap(now, Ordering::AcqRel) != now
    }

    /// Announces a write, before it happens: a process that dies halfway
    /// still makes the others reload. Call with the lock held.
    pub fn bump(&self) {
        let next = self.generation().wrapping_add(1);
        let text = format!("{next:0WIDTH$}\n");
        if let Err(e) = self.file.write_at(text.as_bytes(), 0) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot record a state change");
        }
        self.seen.store(next, Ordering::Release);
    }
}

/// Removes what a process killed while writing left in `dir`: temporaries
/// (`.NAME.tmp-PID`) of writers that are gone, and domain definitions
/// without their metadata, which `persist` writes second, so such a
/// definition was never reported defined. Call with the lock held;
/// returns how many files were removed.
pub fn clean_leftovers(root: &Path, runtime: Option<&Path>) -> usize {
    // `secrets`: a dead writer's temporary may hold a secret's value.
    let mut dirs: Vec<PathBuf> = ["domains", "networks", "pools", "secrets"]
        .iter()
        .map(|k| root.join(k))
        .collect();
    if let Ok(snaps) = std::fs::read_dir(root.join("snapshots")) {
        dirs.extend(snaps.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    if let Some(runtime) = runtime {
        dirs.push(runtime.join("domains"));
        dirs.push(runtime.to_path_buf());
    }
    let mut removed = clean_temporaries(&dirs);
    // One listing, not a stat per definition: a host with many domains
    // pays for this at every open.
    let domains = root.join("domains");
    if let Ok(entries) = std::fs::read_dir(&domains) {
        let names: std::collections::HashSet<std::ffi::OsString> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        for name in &names {
            let path = domains.join(name);
            if path.extension().is_some_and(|x| x == "xml")
                && !names.contains(path.with_extension("json").file_name().unwrap_or_default())
            {
                removed += remove(&path, "a definition whose define did not finish");
            }
        }
    }
    removed
}

/// Removes from `dirs` the temporaries (`.NAME.tmp-PID`) of writers that
/// are gone; returns how many.
pub fn clean_temporaries(dirs: &[PathBuf]) -> usize {
    let mut removed = 0;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if let Some(pid) = temporary_of(name)
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                removed += remove(&entry.path(), "a temporary file of a writer that died");
            }
        }
    }
    removed
}

/// The writer's pid, if `name` is one of `write_atomic`'s temporaries.
fn temporary_of(name: &str) -> Option<u32> {
    let (_, pid) = name.strip_prefix('.')?.rsplit_once(".tmp-")?;
    pid.parse().ok()
}

/// 1 if `path` was removed.
fn remove(path: &Path, what: &str) -> usize {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "removed {what}");
            1
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove {what}");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_tell_a_process_when_another_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let a = StateLock::open(dir.path()).unwrap();
        let b = StateLock::open(dir.path()).unwrap();
        a.lock().unwrap();
        assert!(a.changed(), "never seen yet");
        assert!(!a.changed());
        a.bump();
        assert!(!a.changed(), "its own write");
        a.unlock();
        b.lock().unwrap();
        assert!(b.changed());
        b.unlock();
        // While one holds the lock the other cannot take it.
        a.lock().unwrap();
        assert!(b.file.try_lock().is_err());
        a.unlock();
        assert!(b.file.try_lock().is_ok());
    }

    #[test]
    fn leftovers_of_dead_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let domains = dir.path().join("domains");
        std::fs::create_dir_all(&domains).unwrap();
        let uuid = "1c8cff5b-3228-4065-bb12-66f7d48d4f1a";
        let done = "6695eb01-f6a4-8304-79aa-97f2502e193f";
        for name in [
            format!("{done}.xml"),
            format!("{done}.json"),
            format!("{uuid}.xml"),
            // A pid that cannot exist, and this live process's.
            format!(".{done}.xml.tmp-{}", u32::MAX),
            format!(".{done}.json.tmp-{}", std::process::id()),
        ] {
            std::fs::write(domains.join(name), "x").unwrap();
        }
        assert_eq!(clean_leftovers(dir.path(), None), 2);
        let mut left: Vec<String> = std::fs::read_dir(&domains)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![
            format!(".{done}.json.tmp-{}", std::process::id()),
            format!("{done}.json"),
            format!("{done}.xml"),
        ];
        want.sort();
        assert_eq!(left, want);
        assert_eq!(temporary_of(".a.xml.tmp-12"), Some(12));
        assert_eq!(temporary_of("a.xml"), None);
    }
}
