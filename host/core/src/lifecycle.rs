//! The domain lifecycle of `docs/lifecycle.md` as pure functions:
//! which operation is legal in which state, and what state, events and
//! persistence follow. No I/O; `connect` calls this around every driver call.

use crate::error::ErrorCode;
pub use wirt_vocab::{Event, State, detail, reason};

/// What the rules need to know about a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The domain's state.
    pub state: State,
    /// It has a persistent configuration.
    pub persistent: bool,
    /// It has a managed save image.
    pub managed_save: bool,
    /// The number of its snapshots.
    pub snapshots: usize,
}

/// An operation on an existing domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `define`: a persistent configuration, new or replacing the current one.
    Define,
    /// `create` from XML whose UUID names this domain.
    Create,
    /// `start` (`virDomainCreate`).
    Start {
        /// Left paused (`--paused`).
        paused: bool,
    },
    /// `shutdown`: asks the guest to power off.
    Shutdown,
    /// `reboot`: asks the guest to reboot.
    Reboot,
    /// `reset`: a hard reset, no guest cooperation.
    Reset,
    /// `destroy`: stops the domain at once.
    Destroy,
    /// `suspend`: pauses the vCPUs.
    Suspend,
    /// `resume`: runs a paused domain again.
    Resume,
    /// `undefine`: drops the persistent configuration.
    Undefine {
        /// The managed save image goes too (`--managed-save`).
        managed_save: bool,
        /// Its snapshots' metadata goes too (`--snapshots-metadata`).
        snapshots_metadata: bool,
    },
    /// `managedsave`: saves the state to the domain's own image and stops it.
    ManagedSave,
    /// `managedsave-remove`: deletes the managed save image.
    ManagedSaveRemove,
    /// `save`: saves the state to a file and stops the domain.
    Save,
    /// Restore from a save image; `paused` when asked for (`--paused`)
    /// rather than because the image was saved paused.
    Restore {
        /// Left paused.
        paused: bool,
    },
    /// `autostart` on or off.
    SetAutostart,
    /// A change to the running domain (`VIR_DOMAIN_AFFECT_LIVE`).
    SetLive,
    /// A change to the persistent configuration (`VIR_DOMAIN_AFFECT_CONFIG`).
    SetConfig,
    /// `domrename`.
    Rename,
    /// `snapshot-create`.
    SnapshotCreate,
    /// `snapshot-revert`.
    SnapshotRevert,
    /// `snapshot-delete`.
    SnapshotDelete,
}

/// A refused operation: the class is always libvirt's operation-invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

impl Denied {
    /// libvirt's code for it: always `VIR_ERR_OPERATION_INVALID`.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::OPERATION_INVALID
    }
}

fn deny<T>(message: impl Into<String>) -> Result<T, Denied> {
    Err(Denied(message.into()))
}

/// Is `op` legal on a domain `name` with these `facts`?
pub fn check(name: &str, facts: &Facts, op: Op) -> Result<(), Denied> {
    let state = facts.state;
    let active = state.is_active();
    let transient = !facts.persistent;
    match op {
        Op::Define | Op::SnapshotCreate | Op::SnapshotRevert | Op::SnapshotDelete => Ok(()),
        Op::Create if active => deny(format!("domain '{name}' is already active")),
        Op::Create => Ok(()),
        Op::Start { .. } if active => deny("domain is already running"),
        Op::Start { .. } => Ok(()),
        Op::Suspend => match state {
            State::Running | State::Paused | State::Blocked => Ok(()),
            State::PmSuspended => deny("domain is pmsuspended"),
            _ => deny("domain is not running"),
        },
        Op::Resume => match state {
            State::Paused => Ok(()),
            State::PmSuspended => deny("domain is pmsuspended"),
            State::Shutoff => deny("domain is not running"),
            _ => deny("domain is not paused"),
        },
        Op::Shutdown | Op::Reboot => match state {
            State::Running | State::Blocked => Ok(()),
            _ => deny("domain is not running"),
        },
        Op::Reset => match state {
            State::Shutoff => deny("domain is not running"),
            _ => Ok(()),
        },
        Op::Destroy => match state {
            State::Shutoff => deny("domain is not running"),
            _ => Ok(()),
        },
        Op::Undefine { .. } if transient => deny("cannot undefine transient domain"),
        Op::Undefine { managed_save, .. } if facts.managed_save && !managed_save => {
            deny("Refusing to undefine while domain managed save image exists")
        }
        Op::Undefine {
            snapshots_metadata, ..
        } if facts.snapshots > 0 && !snapshots_metadata => deny(format!(
            "cannot delete {} domain with {} snapshots",
            if active { "active" } else { "inactive" },
            facts.snapshots
        )),
        Op::Undefine { .. } => Ok(()),
        Op::ManagedSave if transient => deny("cannot do managed save for transient domain"),
        Op::ManagedSave | Op::Save if !active => deny("domain is not running"),
        Op::ManagedSave | Op::Save => Ok(()),
        Op::ManagedSaveRemove => Ok(()),
        Op::Restore { .. } if active => deny(format!("domain '{name}' is already active")),
        Op::Restore { .. } => Ok(()),
        Op::SetAutostart if transient => deny("cannot set autostart for transient domain"),
        Op::SetAutostart => Ok(()),
        Op::SetLive if !active => deny("domain is not running"),
        Op::SetLive => Ok(()),
        Op::SetConfig if transient => deny("cannot change persistent config of a transient domain"),
        Op::SetConfig => Ok(()),
        Op::Rename if active => deny("cannot rename active domain"),
        Op::Rename => Ok(()),
    }
}

/// `Outcome::reason` when the operation leaves state and reason as they were.
pub const UNCHANGED: u32 = u32::MAX;

/// What follows a successful operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The new state.
    pub state: State,
    /// The new reason; `UNCHANGED` keeps the domain's current one (`facts`
    /// does not carry it).
    pub reason: u32,
    /// Lifecycle events, in the order they are emitted.
    pub events: Vec<(Event, u32)>,
    /// The domain is gone from the connection afterwards.
    pub remove: bool,
    /// The domain is persistent afterwards.
    pub persistent: bool,
    /// The domain has a managed save image afterwards.
    pub managed_save: bool,
    /// The domain took a new id (it was started).
    pub new_id: bool,
}

/// Computes the outcome of `op` applied to `facts`, given the state the
/// driver reported after doing it (for operations that involve the driver).
pub fn outcome(facts: &Facts, op: Op, driver: Option<(State, u32)>) -> Outcome {
    let mut out = Outcome {
        state: facts.state,
        reason: UNCHANGED,
        events: Vec::new(),
        remove: false,
        persistent: facts.persistent,
        managed_save: facts.managed_save,
        new_id: false,
    };
    let reported = |default: (State, u32)| driver.unwrap_or(default);
    let was_active = facts.state.is_active();
    let stopped_gone = |out: &mut Outcome| {
        if !out.persistent {
            out.remove = true;
        }
    };
    match op {
        Op::Define => {
            out.persistent = true;
            out.events.push((Event::Defined, detail::DEFINED_UPDATED));
        }
        Op::Create | Op::Start { .. } => {
            let restoring = facts.managed_save && matches!(op, Op::Start { .. });
            let default = if restoring {
                (State::Running, reason::RUNNING_RESTORED)
            } else {
                (State::Running, reason::RUNNING_BOOTED)
            };
            (out.state, out.reason) = reported(default);
            out.new_id = true;
            out.managed_save = false;
            out.events.push((
                Event::Started,
                if restoring {
                    detail::STARTED_RESTORED
                } else {
                    detail::STARTED_BOOTED
                },
            ));
            if out.state == State::Paused {
                out.events
                    .push((Event::Suspended, detail::SUSPENDED_PAUSED));
            }
        }
        Op::Restore { paused } => {
            (out.state, out.reason) = reported((State::Running, reason::RUNNING_RESTORED));
            out.new_id = true;
            out.events.push((Event::Started, detail::STARTED_RESTORED));
            if out.state == State::Paused {
                // libvirt: paused on request is "paused", paused as saved "restored".
                let why = if paused {
                    detail::SUSPENDED_PAUSED
                } else {
                    detail::SUSPENDED_RESTORED
                };
                out.events.push((Event::Suspended, why));
            }
        }
        Op::Shutdown => {
            (out.state, out.reason) = reported((State::Shutoff, reason::SHUTOFF_SHUTDOWN));
            if out.state == State::Shutoff {
                out.events
                    .push((Event::Shutdown, detail::SHUTDOWN_FINISHED));
                out.events.push((Event::Stopped, detail::STOPPED_SHUTDOWN));
                stopped_gone(&mut out);
            }
        }
        Op::Reboot => {
            (out.state, out.reason) = reported((State::Running, reason::RUNNING_BOOTED));
        }
        Op::Reset => {
            (out.state, out.reason) = reported((facts.state, UNCHANGED));
        }
        Op::Destroy => {
            (out.state, out.reason) = (State::Shutoff, reason::SHUTOFF_DESTROYED);
            out.events.push((Event::Stopped, detail::STOPPED_DESTROYED));
            stopped_gone(&mut out);
        }
        Op::Suspend => {
            if facts.state != State::Paused {
                (out.state, out.reason) = reported((State::Paused, reason::PAUSED_USER));
                out.events
                    .push((Event::Suspended, detail::SUSPENDED_PAUSED));
            }
        }
        Op::Resume => {
            (out.state, out.reason) = reported((State::Running, reason::RUNNING_UNPAUSED));
            out.events.push((Event::Resumed, detail::RESUMED_UNPAUSED));
        }
        Op::Undefine { .. } => {
            out.events
                .push((Event::Undefined, detail::UNDEFINED_REMOVED));
            out.managed_save = false;
            if was_active {
                out.persistent = false;
            } else {
                out.remove = true;
            }
        }
        Op::ManagedSave => {
            (out.state, out.reason) = (State::Shutoff, reason::SHUTOFF_SAVED);
            out.managed_save = true;
            out.events.push((Event::Stopped, detail::STOPPED_SAVED));
        }
        Op::Save => {
            (out.state, out.reason) = (State::Shutoff, reason::SHUTOFF_SAVED);
            out.events.push((Event::Stopped, detail::STOPPED_SAVED));
            stopped_gone(&mut out);
        }
        Op::ManagedSaveRemove => out.managed_save = false,
        Op::SnapshotRevert => {
            let (state, reason) = reported((State::Shutoff, reason::SHUTOFF_FROM_SNAPSHOT));
            (out.state, out.reason) = (state, reason);
            if was_active {
                out.events
                    .push((Event::Stopped, detail::STOPPED_FROM_SNAPSHOT));
            }
            if state.is_active() {
                out.new_id = true;
                out.events
                    .push((Event::Started, detail::STARTED_FROM_SNAPSHOT));
                if state == State::Paused {
                    out.events
                        .push((Event::Suspended, detail::SUSPENDED_FROM_SNAPSHOT));
                }
            } else {
                stopped_gone(&mut out);
            }
        }
        Op::Rename => {
            out.events
                .push((Event::Undefined, detail::UNDEFINED_RENAMED));
            out.events.push((Event::Defined, detail::DEFINED_RENAMED));
        }
        Op::SetAutostart
        | Op::SetLive
        | Op::SetConfig
        | Op::SnapshotCreate
        | Op::SnapshotDelete => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(state: State, persistent: bool) -> Facts {
        Facts {
            state,
            persistent,
            managed_save: false,
            snapshots: 0,
        }
    }

    #[test]
    fn table_of_the_spec() {
        let running = facts(State::Running, true);
        let paused = facts(State::Paused, true);
        let off = facts(State::Shutoff, true);
        let transient = facts(State::Running, false);
        let ms = Facts {
            managed_save: true,
            ..off
        };

        assert!(check("d", &running, Op::Start { paused: false }).is_err());
        assert!(check("d", &off, Op::Start { paused: false }).is_ok());
        assert!(check("d", &transient, Op::Start { paused: false }).is_err());
        assert!(check("d", &paused, Op::Suspend).is_ok());
        assert!(check("d", &off, Op::Suspend).is_err());
        assert_eq!(
            check("d", &running, Op::Resume),
            Err(Denied("domain is not paused".into()))
        );
        assert!(check("d", &paused, Op::Shutdown).is_err());
        assert!(check("d", &paused, Op::Reset).is_ok());
        assert!(check("d", &off, Op::Destroy).is_err());
        assert!(
            check(
                "d",
                &transient,
                Op::Undefine {
                    managed_save: false,
                    snapshots_metadata: false
                }
            )
            .is_err()
        );
        assert!(
            check(
                "d",
                &ms,
                Op::Undefine {
                    managed_save: false,
                    snapshots_metadata: false
                }
            )
            .is_err()
        );
        assert!(
            check(
                "d",
                &ms,
                Op::Undefine {
                    managed_save: true,
                    snapshots_metadata: false
                }
            )
            .is_ok()
        );
        assert!(check("d", &transient, Op::ManagedSave).is_err());
        assert!(check("d", &off, Op::Save).is_err());
        assert!(check("d", &transient, Op::SetAutostart).is_err());
        assert!(check("d", &off, Op::SetLive).is_err());
        assert!(check("d", &transient, Op::SetConfig).is_err());
        assert!(check("d", &running, Op::Rename).is_err());
        let snaps = Facts {
            snapshots: 1,
            ..off
        };
        assert_eq!(
            check(
                "d",
                &snaps,
                Op::Undefine {
                    managed_save: false,
                    snapshots_metadata: false
                }
            ),
            Err(Denied(
                "cannot delete inactive domain with 1 snapshots".into()
            ))
        );
    }

    #[test]
    fn outcomes() {
        let off = facts(State::Shutoff, true);
        let ms = Facts {
            managed_save: true,
            ..off
        };
        let o = outcome(&ms, Op::Start { paused: false }, None);
        assert_eq!(
            (o.state, o.reason, o.managed_save),
            (State::Running, reason::RUNNING_RESTORED, false)
        );
        assert_eq!(o.events, vec![(Event::Started, detail::STARTED_RESTORED)]);

        let transient = facts(State::Running, false);
        let o = outcome(&transient, Op::Destroy, None);
        assert!(o.remove);
        let o = outcome(
            &facts(State::Running, true),
            Op::Undefine {
                managed_save: false,
                snapshots_metadata: false,
            },
            None,
        );
        assert!(!o.remove && !o.persistent);

        let paused = outcome(
            &off,
            Op::Start { paused: true },
            Some((State::Paused, reason::PAUSED_USER)),
        );
        assert_eq!(paused.events.len(), 2);

        let same = outcome(&facts(State::Paused, true), Op::Suspend, None);
        assert!(same.events.is_empty());
    }
}
