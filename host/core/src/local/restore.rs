//! Restoring a domain from a save image: the same rules as define and
//! create, then the driver takes the state.

use std::path::Path;

use super::Local;
use super::domain::{apply_outcome, check_unique, domain_ref, facts};

use crate::connect::{DomainRef, Result, check_flags};
use crate::driver::SAVE_PAUSED;
use crate::lifecycle::{self, Op, State};
use crate::registry::DomainObj;

impl Local {
    /// Restores a domain saved to `path`. flags: 2 running, 4 paused
    /// (default: as it was when saved).
    pub(super) fn restore_image(&self, path: &Path, flags: u32) -> Result<DomainRef> {
        let state = &self.state;
        check_flags(flags, 1 | 2 | 4, "virDomainRestoreFlags")?;
        let mut image = super::save_image::open(path)?;
        let def = self.parse_domain(&image.xml, false)?;
        let paused = match flags & 6 {
            4 => true,
            2 => false,
            _ => !image.running,
        };
        let paused_requested = flags & 6 == 4;
        let mut reg = state.lock();
        self.restore_driver_state(&mut reg)?;
        // The same uniqueness rules as define and create.
        check_unique(&reg, &def)?;
        let uuid = def.uuid;
        let existed = match reg.domain(&uuid) {
            Some(obj) => {
                lifecycle::check(
                    obj.name(),
                    &facts(obj),
                    Op::Restore {
                        paused: paused_requested,
                    },
                )?;
                true
            }
            None => false,
        };
        let config = self.start_config(&reg, &def, None)?;
        let len = image.payload_len;
        let status = state.drivers.hypervisor.restore(
            &config,
            &mut image.file,
            len,
            if paused { SAVE_PAUSED } else { 0 },
        )?;
        if existed {
            let obj = reg.domain_mut(&uuid).expect("checked");
            obj.live = Some(def);
        } else {
            reg.insert_domain(DomainObj::transient(def));
        }
        let obj = reg.domain(&uuid).expect("stored");
        let mut before = facts(obj);
        before.state = State::Shutoff;
        let out = lifecycle::outcome(
            &before,
            Op::Restore {
                paused: paused_requested,
            },
            Some((
                State::from_u32(status.state).unwrap_or(State::Running),
                status.reason,
            )),
        );
        let events = apply_outcome(state, &mut reg, &uuid, &out, Some(status))?;
        let handle = domain_ref(reg.domain(&uuid).expect("restored"));
        drop(reg);
        state.emit(events);
        Ok(handle)
    }
}
