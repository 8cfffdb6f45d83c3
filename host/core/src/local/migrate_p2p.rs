//! Peer-to-peer migration (libvirt's `VIR_MIGRATE_PEER2PEER`): this host
//! is the source and drives the five steps itself, over a connection of
//! its own to the destination (`dconnuri`, usually another daemon), as
//! libvirt's `qemuMigrationSrcPerformPeer2Peer3` does. The client only
//! makes one call: Perform with the destination's URI.

use super::Local;
use crate::connect::migrate_flags as mf;
use crate::connect::{Connect, DomainRef, Error, MigrateParams, Result, check_flags, run_v3};
use crate::error::ErrorCode;

impl Local {
    pub(crate) fn migrate_p2p(
        &self,
        dom: &DomainRef,
        dconnuri: &str,
        params: &MigrateParams,
        flags: u32,
    ) -> Result<()> {
        check_flags(flags, mf::SUPPORTED, "virDomainMigratePerform3Params")?;
        // libvirt's wording and code for a destination it cannot reach.
        let dest = Connect::open(dconnuri).map_err(|e| {
            Error::api(
                ErrorCode::OPERATION_FAILED,
                format!("Failed to connect to remote libvirt URI {dconnuri}: {e}"),
            )
        })?;
        run_v3(self, dom, dest.backend(), params, flags).map(|_| ())
    }
}
