//! Secrets, as libvirt's secret driver keeps them: a host-level store
//! beside the registry. Ephemeral secrets live in memory only; the others,
//! for a host with a state dir (`kvm:`), in `<state>/secrets/`: the
//! definition as `<uuid>.xml` and the value as `<uuid>.value`, both 0600.
//! `test:` hosts keep everything in memory, as libvirt's test driver does.
//!
//! Values are never logged: they travel as [`SecretValue`], whose `Debug`
//! redacts them, and no message here names one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::Local;
use crate::connect::secret_flags as flags;
use crate::connect::{Error, Result, SecretBackend, SecretRef, SecretValue};
use crate::error::ErrorCode;
use crate::events::{EventStream, SecretEvent, SecretLifecycle};
use crate::xml::secret::{SecretDef, UsageType};

/// One secret: its definition and, once set, its value.
#[derive(Clone, Debug)]
struct Entry {
    def: SecretDef,
    value: Option<SecretValue>,
}

/// The secrets of one connection state.
#[derive(Debug, Default)]
pub(crate) struct SecretStore {
    /// Where persistent secrets live; `None`: all in memory.
    dir: Option<PathBuf>,
    entries: BTreeMap<Uuid, Entry>,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

fn no_secret(detail: String) -> Error {
    Error::api(ErrorCode::NO_SECRET, detail)
}

fn secret_ref(def: &SecretDef) -> SecretRef {
    SecretRef {
        uuid: def.uuid,
        usage_type: def.usage_type as i32,
        usage_id: def.usage_id.clone(),
    }
}

impl SecretStore {
    /// A store whose persistent secrets live in `dir` (created on first write).
    pub fn on_disk(dir: PathBuf) -> SecretStore {
        SecretStore {
            dir: Some(dir),
            entries: BTreeMap::new(),
        }
    }

    fn xml_path(dir: &Path, uuid: &Uuid) -> PathBuf {
        dir.join(format!("{uuid}.xml"))
    }

    fn value_path(dir: &Path, uuid: &Uuid) -> PathBuf {
        dir.join(format!("{uuid}.value"))
    }

    /// Reads the persistent secrets again: another process (wirtd, another
    /// `wirt`) may have changed them. Ephemeral ones stay as they are.
    fn refresh(&mut self) {
        let Some(dir) = self.dir.clone() else {
            return;
        };
        self.entries.retain(|_, e| e.def.ephemeral);
        let Ok(files) = std::fs::read_dir(&dir) else {
            return;
        };
        for file in files.filter_map(|f| f.ok()) {
            let path = file.path();
            if path.extension().and_then(|e| e.to_str()) != Some("xml") {
                continue;
            }
            let def = match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| SecretDef::parse(&t).map_err(|e| e.to_string()))
            {
                Ok(def) => def,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable secret definition");
                    continue;
                }
            };
            let value = std::fs::read(Self::value_path(&dir, &def.uuid))
                .ok()
                .map(SecretValue::new);
            self.entries.insert(def.uuid, Entry { def, value });
        }
    }

    fn save(&self, entry: &Entry) -> Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        if entry.def.ephemeral {
            return Ok(());
        }
        let path = Self::xml_path(dir, &entry.def.uuid);
        crate::registry::write_atomic(&path, entry.def.to_xml().as_bytes())?;
        let value_path = Self::value_path(dir, &entry.def.uuid);
        match &entry.value {
            Some(v) => crate::registry::write_atomic(&value_path, v.expose())?,
            None => remove(&value_path)?,
        }
        Ok(())
    }

    fn delete_files(&self, uuid: &Uuid) -> Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        remove(&Self::value_path(dir, uuid))?;
        remove(&Self::xml_path(dir, uuid))
    }

    fn get(&self, r: &SecretRef) -> Result<&Entry> {
        self.entries
            .get(&r.uuid)
            .ok_or_else(|| no_secret(format!("no secret with matching uuid '{}'", r.uuid)))
    }
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(io(format!("cannot remove {}", path.display()))(e))
        }
        _ => Ok(()),
    }
}

impl Local {
    /// The store, current with the state dir, under the state dir's lock
    /// (held by the registry guard) so two processes never interleave.
    fn with_secrets<R>(&self, f: impl FnOnce(&mut SecretStore) -> Result<R>) -> Result<R> {
        let _disk = self.state.lock();
        let mut store = self.state.secrets.lock().unwrap_or_else(|p| p.into_inner());
        store.refresh();
        f(&mut store)
    }

    fn secret_event(&self, r: &SecretRef, event: SecretLifecycle) {
        self.state.secret_events.emit(SecretEvent {
            uuid: r.uuid,
            usage_type: r.usage_type,
            usage_id: r.usage_id.clone(),
            event,
        });
    }
}

/// libvirt's `virSecretObjListAdd` checks: a UUID keeps its usage, a usage
/// belongs to one UUID, and a private secret stays private.
fn check_define(store: &SecretStore, def: &SecretDef) -> Result<()> {
    let conflict = |msg: String| Error::api(ErrorCode::INTERNAL_ERROR, msg);
    if let Some(old) = store.entries.get(&def.uuid) {
        if old.def.usage_id != def.usage_id {
            return Err(conflict(format!(
                "a secret with UUID {} is already defined for use with {}",
                def.uuid, old.def.usage_id
            )));
        }
        if old.def.private && !def.private {
            return Err(conflict(
                "cannot change private flag on existing secret".into(),
            ));
        }
    } else if def.usage_type != UsageType::None
        && let Some(other) = store
            .entries
            .values()
            .find(|e| e.def.usage_type == def.usage_type && e.def.usage_id == def.usage_id)
    {
        return Err(conflict(format!(
            "a secret with UUID {} already defined for use with {}",
            other.def.uuid, def.usage_id
        )));
    }
    Ok(())
}

impl SecretBackend for Local {
    fn lookup_secret_by_uuid(&self, uuid: &Uuid) -> Result<SecretRef> {
        self.with_secrets(|s| {
            s.entries
                .get(uuid)
                .map(|e| secret_ref(&e.def))
                .ok_or_else(|| no_secret(format!("no secret with matching uuid '{uuid}'")))
        })
    }

    fn lookup_secret_by_usage(&self, usage_type: i32, usage_id: &str) -> Result<SecretRef> {
        self.with_secrets(|s| {
            s.entries
                .values()
                .find(|e| e.def.usage_type as i32 == usage_type && e.def.usage_id == usage_id)
                .map(|e| secret_ref(&e.def))
                .ok_or_else(|| no_secret(format!("no secret with matching usage '{usage_id}'")))
        })
    }

    fn list_all_secrets(&self, f: u32) -> Result<Vec<SecretRef>> {
        let group = |bits: u32, hit: u32| f & bits == 0 || f & hit != 0;
        self.with_secrets(|s| {
            Ok(s.entries
                .values()
                .filter(|e| {
                    let d = &e.def;
                    group(
                        flags::LIST_EPHEMERAL | flags::LIST_NO_EPHEMERAL,
                        if d.ephemeral {
                            flags::LIST_EPHEMERAL
                        } else {
                            flags::LIST_NO_EPHEMERAL
                        },
                    ) && group(
                        flags::LIST_PRIVATE | flags::LIST_NO_PRIVATE,
                        if d.private {
                            flags::LIST_PRIVATE
                        } else {
                            flags::LIST_NO_PRIVATE
                        },
                    )
                })
                .map(|e| secret_ref(&e.def))
                .collect())
        })
    }

    fn define_secret_xml(&self, xml: &str, _flags: u32) -> Result<SecretRef> {
        let def = SecretDef::parse(xml)?;
        let r = secret_ref(&def);
        self.with_secrets(|s| {
            check_define(s, &def)?;
            let value = s.entries.get(&def.uuid).and_then(|e| e.value.clone());
            let was_persistent = s.entries.get(&def.uuid).is_some_and(|e| !e.def.ephemeral);
            let entry = Entry { def, value };
            if entry.def.ephemeral && was_persistent {
                // Now kept in memory only: its files go.
                s.delete_files(&entry.def.uuid)?;
            }
            s.save(&entry)?;
            s.entries.insert(entry.def.uuid, entry);
            Ok(())
        })?;
        self.secret_event(&r, SecretLifecycle::Defined);
        Ok(r)
    }

    fn secret_xml_desc(&self, secret: &SecretRef, _flags: u32) -> Result<String> {
        self.with_secrets(|s| Ok(s.get(secret)?.def.to_xml()))
    }

    fn secret_set_value(&self, secret: &SecretRef, value: &[u8], _flags: u32) -> Result<()> {
        self.with_secrets(|s| {
            let mut entry = s.get(secret)?.clone();
            entry.value = Some(SecretValue::new(value.to_vec()));
            s.save(&entry)?;
            s.entries.insert(entry.def.uuid, entry);
            Ok(())
        })?;
        self.secret_event(secret, SecretLifecycle::ValueChanged);
        Ok(())
    }

    fn secret_value(&self, secret: &SecretRef, _flags: u32) -> Result<SecretValue> {
        self.with_secrets(|s| {
            let entry = s.get(secret)?;
            if entry.def.private {
                return Err(Error::api(ErrorCode::INVALID_SECRET, "secret is private"));
            }
            entry
                .value
                .clone()
                .ok_or_else(|| no_secret(format!("secret '{}' does not have a value", secret.uuid)))
        })
    }

    fn secret_undefine(&self, secret: &SecretRef) -> Result<()> {
        let r = self.with_secrets(|s| {
            let r = secret_ref(&s.get(secret)?.def);
            s.delete_files(&secret.uuid)?;
            s.entries.remove(&secret.uuid);
            Ok(r)
        })?;
        self.secret_event(&r, SecretLifecycle::Undefined);
        Ok(())
    }

    fn secret_events(&self) -> Result<EventStream<SecretEvent>> {
        Ok(self.state.secret_events.subscribe())
    }
}
