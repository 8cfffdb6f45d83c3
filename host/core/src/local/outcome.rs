//! What a lifecycle outcome does to a domain's registry entry: its new
//! state and definitions, what is stored, and the events it sends, for an
//! operation the host ran and for a change a driver reported.

use uuid::Uuid;

use super::ConnState;
use super::domain::{forget, persist};
use crate::connect::Result;
use crate::driver::DomainStatus;
use crate::events::DomainEvent;
use crate::lifecycle::{self, Facts, State, UNCHANGED};
use crate::registry::{DomainObj, Registry, SaveImage};

pub(crate) fn facts(obj: &DomainObj) -> Facts {
    Facts {
        state: obj.state,
        persistent: obj.persistent(),
        managed_save: obj.managed_save.is_some(),
        snapshots: obj.snapshots.len(),
    }
}

pub(crate) fn state_of(status: &DomainStatus) -> (State, u32) {
    (
        State::from_u32(status.state).unwrap_or(State::NoState),
        status.reason,
    )
}

pub(crate) fn event_for(obj: &DomainObj, (event, detail): (lifecycle::Event, u32)) -> DomainEvent {
    DomainEvent {
        name: obj.name().to_string(),
        uuid: obj.uuid(),
        id: obj.id_or_minus_one(),
        event,
        detail,
    }
}

/// Records an outcome in the registry and returns the events to emit.
pub(crate) fn apply_outcome(
    state: &ConnState,
    reg: &mut Registry,
    uuid: &Uuid,
    out: &lifecycle::Outcome,
    status: Option<DomainStatus>,
) -> Result<Vec<DomainEvent>> {
    let new_id = if out.new_id {
        Some(reg.allocate_id())
    } else {
        None
    };
    let obj = reg
        .domain_mut(uuid)
        .expect("caller checked the domain exists");
    // Events name the domain as it is now, with the id it has after the change.
    let name = obj.name().to_string();
    if out.reason != UNCHANGED {
        obj.state = out.state;
        obj.reason = out.reason;
    }
    if let Some(id) = new_id {
        obj.id = Some(id);
    }
    if !obj.state.is_active() {
        obj.id = None;
        obj.live = None;
        // A block job ends with the guest (its new image stays).
        obj.block_jobs.clear();
    } else if obj.live.is_none() {
        obj.live = obj.config.clone();
    }
    // A fresh run: the live definition names the host devices it got.
    if new_id.is_some()
        && let Some(live) = obj.live.as_mut()
    {
        let targets = state
            .drivers
            .hypervisor
            .interface_targets(&uuid.to_string());
        super::nic::record_targets(live, &targets);
    }
    if let Some(status) = status {
        obj.status = status;
    }
    if !out.persistent {
        obj.config = None;
    }
    if !out.managed_save
        && let Some(SaveImage::File(path)) = obj.managed_save.take()
    {
        let _ = std::fs::remove_file(path);
    }
    let id = obj.id_or_minus_one();
    let events: Vec<DomainEvent> = out
        .events
        .iter()
        .map(|&(event, detail)| DomainEvent {
            name: name.clone(),
            uuid: *uuid,
            id,
            event,
            detail,
        })
        .collect();
    let persistent = obj.persistent();
    if out.remove {
        reg.remove_domain(uuid);
        forget(state, reg, uuid)?;
    } else if persistent {
        persist(state, reg, uuid)?;
    } else {
        forget(state, reg, uuid)?;
    }
    reg.record_runtime(uuid)?;
    if new_id.is_some() {
        reg.record_next_id()?;
    }
    Ok(events)
}

/// Applies a status the driver reported on its own (guest powered off,
/// crashed, finished shutting down).
pub(crate) fn apply_driver_status(
    state: &ConnState,
    reg: &mut Registry,
    uuid: &Uuid,
    status: DomainStatus,
) -> Vec<DomainEvent> {
    let (new_state, reason) = state_of(&status);
    // A late report about a domain the host already stopped changes nothing.
    // Nor does one that only gives another reason for the state the domain
    // is in: the host knows better why (a restore, a revert, a migration in
    // look alike to a VMM), and a report queued before a stop and a new
    // start must not rename how the new run began. Decided on the summary,
    // so a listing reads no definition of a guest whose state holds.
    let Some((known, _)) = reg.domain_state(uuid) else {
        return Vec::new();
    };
    if new_state == known || !known.is_active() {
        return Vec::new();
    }
    let Some(obj) = reg.domain(uuid) else {
        return Vec::new();
    };
    // A guest that left for another host stops here when the migration's
    // Confirm says so, in libvirt's order of events.
    if reason == lifecycle::reason::SHUTOFF_MIGRATED && super::migrate::migrating_out(state, uuid) {
        return Vec::new();
    }
    let facts = facts(obj);
    let out = match new_state {
        State::Shutoff => {
            let (event, detail) = match reason {
                lifecycle::reason::SHUTOFF_CRASHED => (
                    lifecycle::Event::Stopped,
                    lifecycle::detail::STOPPED_CRASHED,
                ),
                lifecycle::reason::SHUTOFF_DESTROYED => (
                    lifecycle::Event::Stopped,
                    lifecycle::detail::STOPPED_DESTROYED,
                ),
                lifecycle::reason::SHUTOFF_FAILED => {
                    (lifecycle::Event::Stopped, lifecycle::detail::STOPPED_FAILED)
                }
                // A VMM stops by itself once its guest moved to another host.
                lifecycle::reason::SHUTOFF_MIGRATED => (
                    lifecycle::Event::Stopped,
                    lifecycle::detail::STOPPED_MIGRATED,
                ),
                _ => (
                    lifecycle::Event::Stopped,
                    lifecycle::detail::STOPPED_SHUTDOWN,
                ),
            };
            let mut events = Vec::new();
            if reason == lifecycle::reason::SHUTOFF_SHUTDOWN {
                events.push((
                    lifecycle::Event::Shutdown,
                    lifecycle::detail::SHUTDOWN_FINISHED,
                ));
            }
            events.push((event, detail));
            lifecycle::Outcome {
                state: new_state,
                reason,
                events,
                remove: !facts.persistent,
                persistent: facts.persistent,
                managed_save: facts.managed_save,
                new_id: false,
            }
        }
        State::Crashed => lifecycle::Outcome {
            state: new_state,
            reason,
            events: vec![(
                lifecycle::Event::Crashed,
                lifecycle::detail::CRASHED_PANICKED,
            )],
            remove: false,
            persistent: facts.persistent,
            managed_save: facts.managed_save,
            new_id: false,
        },
        _ => lifecycle::Outcome {
            state: new_state,
            reason,
            events: Vec::new(),
            remove: false,
            persistent: facts.persistent,
            managed_save: facts.managed_save,
            new_id: false,
        },
    };
    apply_outcome(state, reg, uuid, &out, Some(status)).unwrap_or_default()
}
