//! Migration, shaped like libvirt's `virDomainMigrate3`: the client drives
//! five steps across two connections (Begin on the source, Prepare on the
//! destination, Perform on the source, Finish on the destination, Confirm
//! on the source), passing each step's cookie to the next. A cookie is
//! opaque bytes from one host to the other: whatever the destination needs
//! (the source host's identity) and the source needs back.
//!
//! [`Domain::migrate`] is `virDomainMigrateVersion3Full`; the steps are
//! public so the daemon can serve them one procedure at a time.

use std::os::unix::net::UnixStream;

use super::{Connect, Domain, DomainBackend, DomainRef, Error, Result};
use crate::error::ErrorCode;

/// libvirt's `VIR_MIGRATE_*` flag bits.
pub mod migrate_flags {
    use wirt_vocab::flags::Migrate;

    /// `VIR_MIGRATE_LIVE`.
    pub const LIVE: u32 = Migrate::LIVE.bits();
    /// `VIR_MIGRATE_PEER2PEER`.
    pub const PEER2PEER: u32 = Migrate::PEER2PEER.bits();
    /// `VIR_MIGRATE_TUNNELLED`.
    pub const TUNNELLED: u32 = Migrate::TUNNELLED.bits();
    /// `VIR_MIGRATE_PERSIST_DEST`.
    pub const PERSIST_DEST: u32 = Migrate::PERSIST_DEST.bits();
    /// `VIR_MIGRATE_UNDEFINE_SOURCE`.
    pub const UNDEFINE_SOURCE: u32 = Migrate::UNDEFINE_SOURCE.bits();
    /// `VIR_MIGRATE_PAUSED`.
    pub const PAUSED: u32 = Migrate::PAUSED.bits();
    /// `VIR_MIGRATE_NON_SHARED_DISK`.
    pub const NON_SHARED_DISK: u32 = Migrate::NON_SHARED_DISK.bits();
    /// `VIR_MIGRATE_NON_SHARED_INC`.
    pub const NON_SHARED_INC: u32 = Migrate::NON_SHARED_INC.bits();
    /// `VIR_MIGRATE_CHANGE_PROTECTION`.
    pub const CHANGE_PROTECTION: u32 = Migrate::CHANGE_PROTECTION.bits();
    /// `VIR_MIGRATE_UNSAFE`.
    pub const UNSAFE: u32 = Migrate::UNSAFE.bits();
    /// `VIR_MIGRATE_OFFLINE`.
    pub const OFFLINE: u32 = Migrate::OFFLINE.bits();
    /// `VIR_MIGRATE_ABORT_ON_ERROR`.
    pub const ABORT_ON_ERROR: u32 = Migrate::ABORT_ON_ERROR.bits();
    /// `VIR_MIGRATE_AUTO_CONVERGE`.
    pub const AUTO_CONVERGE: u32 = Migrate::AUTO_CONVERGE.bits();
    /// The bits wirt acts on (others are refused as libvirt refuses a
    /// flag its driver does not know).
    pub const SUPPORTED: u32 = LIVE
        | PEER2PEER
        | TUNNELLED
        | PERSIST_DEST
        | UNDEFINE_SOURCE
        | PAUSED
        | UNSAFE
        | OFFLINE
        | ABORT_ON_ERROR
        | NON_SHARED_DISK;
}

/// libvirt's migration parameter names (`VIR_MIGRATE_PARAM_*`).
pub mod param_names {
    /// `VIR_MIGRATE_PARAM_URI`: where the data goes (`tcp://host:port`).
    pub const URI: &str = "migrate_uri";
    /// `VIR_MIGRATE_PARAM_DEST_NAME`.
    pub const DEST_NAME: &str = "destination_name";
    /// `VIR_MIGRATE_PARAM_DEST_XML`.
    pub const DEST_XML: &str = "destination_xml";
    /// `VIR_MIGRATE_PARAM_PERSIST_XML`.
    pub const PERSIST_XML: &str = "persistent_xml";
    /// `VIR_MIGRATE_PARAM_BANDWIDTH` (MiB/s).
    pub const BANDWIDTH: &str = "bandwidth";
    /// `VIR_MIGRATE_PARAM_LISTEN_ADDRESS`.
    pub const LISTEN_ADDRESS: &str = "listen_address";
}

/// The parameters of one migration (libvirt's typed parameter list, with
/// the names wirt understands).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrateParams {
    /// `migrate_uri`: where the destination listens for the data.
    pub uri: Option<String>,
    /// `destination_name`: the domain's name on the destination.
    pub dest_name: Option<String>,
    /// `destination_xml`: the definition the destination starts.
    pub dest_xml: Option<String>,
    /// `persistent_xml`: the definition stored with `PERSIST_DEST`.
    pub persist_xml: Option<String>,
    /// `bandwidth`: MiB/s, 0 = unlimited.
    pub bandwidth_mib_s: Option<u64>,
    /// `listen_address`: where the destination listens, without a port.
    pub listen_address: Option<String>,
}

/// What the source's Begin step hands on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Begun {
    /// The cookie for Prepare.
    pub cookie: Vec<u8>,
    /// The definition the destination should start.
    pub xml: String,
}

/// What the destination's Prepare step hands on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// The cookie for Perform.
    pub cookie: Vec<u8>,
    /// Where the source should send the data, when the destination chose it.
    pub uri: Option<String>,
}

impl Domain {
    /// Migrates the domain to `dest` (libvirt's `virDomainMigrate3`, the
    /// client-managed v3 protocol); returns the domain on the destination.
    /// On failure the domain keeps running here and nothing is left there.
    pub fn migrate(&self, dest: &Connect, params: &MigrateParams, flags: u32) -> Result<Domain> {
        self.connect().check_writable()?;
        dest.check_writable()?;
        if flags & migrate_flags::PEER2PEER != 0 {
            return Err(Error::api(
                ErrorCode::ARGUMENT_UNSUPPORTED,
                "use virDomainMigrateToURI3 for peer-to-peer migration",
            ));
        }
        if flags & migrate_flags::TUNNELLED != 0 {
            return Err(no_tunnel_without_p2p());
        }
        let r = run_v3(
            self.connect().backend(),
            self.reference(),
            dest.backend(),
            params,
            flags,
        )?;
        Ok(dest.domain(r))
    }

    /// Peer-to-peer migration (libvirt's `virDomainMigrateToURI3` with
    /// `VIR_MIGRATE_PEER2PEER`): the source's host itself connects to
    /// `dconnuri` and drives the steps there; with `TUNNELLED` the data
    /// goes through that connection. On failure the domain keeps running
    /// here and nothing is left there.
    pub fn migrate_to_uri(&self, dconnuri: &str, params: &MigrateParams, flags: u32) -> Result<()> {
        self.connect().check_writable()?;
        if flags & migrate_flags::PEER2PEER == 0 {
            // Without it libvirt hands the URI to the hypervisor ("direct").
            return Err(Error::api(
                ErrorCode::ARGUMENT_UNSUPPORTED,
                "direct migration is not supported: use VIR_MIGRATE_PEER2PEER",
            ));
        }
        self.connect()
            .backend()
            .domain_migrate_p2p(self.reference(), dconnuri, params, flags)
    }
}

fn no_tunnel_without_p2p() -> Error {
    Error::api(
        ErrorCode::ARGUMENT_UNSUPPORTED,
        "cannot perform tunnelled migration without using peer2peer flag",
    )
}

/// libvirt's `virDomainMigrateVersion3Full`: the five steps between the
/// source `src` and the destination `dst`, whoever drives them (a client
/// holding both connections, or the source's host for a peer-to-peer
/// migration). With `TUNNELLED` the data goes through a socket pair whose
/// ends the two backends are given instead of a TCP connection between
/// the hosts. Returns the domain on the destination.
pub fn run_v3(
    src: &dyn DomainBackend,
    dom: &DomainRef,
    dst: &dyn DomainBackend,
    params: &MigrateParams,
    flags: u32,
) -> Result<DomainRef> {
    let tunnelled = flags & migrate_flags::TUNNELLED != 0;
    if tunnelled && flags & migrate_flags::PEER2PEER == 0 {
        return Err(no_tunnel_without_p2p());
    }
    let mut params = params.clone();
    let begun = src.domain_migrate_begin(dom, &params, flags)?;
    let mut flags = flags;
    if flags & migrate_flags::OFFLINE == 0
        && matches!(
            src.domain_state(dom),
            Ok((crate::lifecycle::State::Paused, _))
        )
    {
        flags |= migrate_flags::PAUSED;
    }
    let dest_flags = flags & !(migrate_flags::ABORT_ON_ERROR | migrate_flags::AUTO_CONVERGE);
    params.dest_xml = Some(begun.xml);
    // Nothing to undo on the source yet: without change protection,
    // Begin starts no job there.
    let (prepared, tunnel) = if tunnelled && flags & migrate_flags::OFFLINE == 0 {
        let (here, there) = UnixStream::pair().map_err(|e| {
            Error::api(
                ErrorCode::SYSTEM_ERROR,
                format!("cannot make the migration tunnel: {e}"),
            )
        })?;
        let prepared =
            dst.domain_migrate_prepare_tunnel(&params, &begun.cookie, dest_flags, there)?;
        (prepared, Some(here))
    } else {
        (
            dst.domain_migrate_prepare(&params, &begun.cookie, dest_flags)?,
            None,
        )
    };
    if let Some(uri) = prepared.uri {
        params.uri = Some(uri);
    }
    let mut first_error = None;
    let mut notify_source = true;
    let cookie = if params.uri.is_none() && tunnel.is_none() {
        first_error = Some(Error::api(
            ErrorCode::INTERNAL_ERROR,
            "domainMigratePrepare3 did not set uri",
        ));
        Vec::new()
    } else if flags & migrate_flags::OFFLINE != 0 {
        Vec::new()
    } else {
        let performed = match tunnel {
            Some(t) => src.domain_migrate_perform_tunnel(dom, &params, &prepared.cookie, flags, t),
            None => src.domain_migrate_perform(dom, &params, &prepared.cookie, flags),
        };
        match performed {
            Ok(cookie) => cookie,
            Err(e) => {
                // Perform failed: the source already knows.
                notify_source = false;
                first_error = Some(e);
                Vec::new()
            }
        }
    };
    if params.dest_name.is_none() {
        params.dest_name = Some(dom.name.clone());
    }
    let finished = dst.domain_migrate_finish(&params, &cookie, dest_flags, first_error.is_some());
    let (arrived, cookie) = match finished {
        Ok((r, cookie)) if first_error.is_none() => (Some(r), cookie),
        Ok(_) => (None, Vec::new()),
        Err(e) => {
            first_error.get_or_insert(e);
            (None, Vec::new())
        }
    };
    if notify_source {
        let confirmed = src.domain_migrate_confirm(dom, &params, &cookie, flags, arrived.is_none());
        if let Err(e) = confirmed {
            tracing::warn!(domain = %dom.name, error = %e, "confirming the migration failed");
            if arrived.is_none() {
                first_error.get_or_insert(e);
            }
        }
    }
    match (arrived, first_error) {
        (Some(r), _) => Ok(r),
        (None, Some(e)) => Err(e),
        (None, None) => Err(Error::api(
            ErrorCode::OPERATION_FAILED,
            "migration unexpectedly failed",
        )),
    }
}

impl Domain {
    /// Begin (source): checks the domain can go; returns its definition and
    /// the cookie for Prepare.
    pub fn migrate_begin(&self, params: &MigrateParams, flags: u32) -> Result<Begun> {
        self.connect().check_writable()?;
        self.connect()
            .backend()
            .domain_migrate_begin(self.reference(), params, flags)
    }

    /// Perform (source): sends the domain to the destination Prepare set up.
    pub fn migrate_perform(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
    ) -> Result<Vec<u8>> {
        self.connect().check_writable()?;
        self.connect()
            .backend()
            .domain_migrate_perform(self.reference(), params, cookie, flags)
    }

    /// Confirm (source): the domain goes away (migrated) or, `cancelled`,
    /// runs on here.
    pub fn migrate_confirm(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        cancelled: bool,
    ) -> Result<()> {
        self.connect().check_writable()?;
        self.connect().backend().domain_migrate_confirm(
            self.reference(),
            params,
            cookie,
            flags,
            cancelled,
        )
    }
}

impl Connect {
    /// Prepare (destination): makes ready to receive the domain whose
    /// definition is `params.dest_xml`.
    pub fn migrate_prepare(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
    ) -> Result<Prepared> {
        self.check_writable()?;
        self.backend().domain_migrate_prepare(params, cookie, flags)
    }

    /// Prepare (destination) for a tunnelled migration: the data arrives
    /// through `tunnel`, one end of a socket pair whose other end the
    /// caller carries from the source.
    pub fn migrate_prepare_tunnel(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        tunnel: UnixStream,
    ) -> Result<Prepared> {
        self.check_writable()?;
        self.backend()
            .domain_migrate_prepare_tunnel(params, cookie, flags, tunnel)
    }

    /// Finish (destination): the domain runs here, or, `cancelled`, what
    /// Prepare made is gone.
    pub fn migrate_finish(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        cancelled: bool,
    ) -> Result<(Domain, Vec<u8>)> {
        self.check_writable()?;
        let (r, cookie): (DomainRef, Vec<u8>) = self
            .backend()
            .domain_migrate_finish(params, cookie, flags, cancelled)?;
        Ok((self.domain(r), cookie))
    }
}

impl Domain {
    /// The longest pause a live migration of this domain may cause, ms.
    pub fn migrate_max_downtime(&self) -> Result<u64> {
        self.connect()
            .backend()
            .domain_migrate_max_downtime(self.reference())
    }

    /// Sets the longest pause a live migration may cause, ms.
    pub fn migrate_set_max_downtime(&self, ms: u64) -> Result<()> {
        self.connect().check_writable()?;
        self.connect()
            .backend()
            .domain_migrate_set_max_downtime(self.reference(), ms)
    }

    /// The migration bandwidth cap in MiB/s (0: none).
    pub fn migrate_max_speed(&self) -> Result<u64> {
        self.connect()
            .backend()
            .domain_migrate_max_speed(self.reference())
    }

    /// Sets the migration bandwidth cap in MiB/s (0: none).
    pub fn migrate_set_max_speed(&self, mib_s: u64) -> Result<()> {
        self.connect().check_writable()?;
        self.connect()
            .backend()
            .domain_migrate_set_max_speed(self.reference(), mib_s)
    }
}

/// The transfer's figures a wirt source puts in Perform's cookie (none
/// for a simulated migration or another implementation's cookie), for a
/// daemon's log.
pub fn cookie_figures(cookie: &[u8]) -> Option<crate::driver::MigrationStats> {
    #[derive(serde::Deserialize)]
    struct Figures {
        stats: Option<crate::driver::MigrationStats>,
    }
    serde_json::from_slice::<Figures>(cookie).ok()?.stats
}

/// A domain's job as libvirt's `virDomainGetJobStats` reports it: the job
/// type (`VIR_DOMAIN_JOB_*`: 0 none, 2 unbounded, 3 completed) and typed
/// values under libvirt's names (`operation`, `time_elapsed`, `downtime`,
/// `data_total`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobStats {
    /// `VIR_DOMAIN_JOB_*`.
    pub job_type: i32,
    /// The values, in libvirt's names.
    pub params: Vec<(String, super::StatValue)>,
}

/// A domain's job ended (libvirt's `VIR_DOMAIN_EVENT_ID_JOB_COMPLETED`):
/// a migration, on the source and on the destination, with the figures
/// `virDomainGetJobStats` gives with `job_flags::COMPLETED`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobCompletedEvent {
    /// The domain's name.
    pub name: String,
    /// The domain's UUID.
    pub uuid: uuid::Uuid,
    /// Its id when the job ended (-1 if it is not running).
    pub id: i32,
    /// The job's statistics, in libvirt's names (`operation`, ...).
    pub params: Vec<(String, super::StatValue)>,
}

impl JobCompletedEvent {
    /// virsh's `event --event job-completed` lines.
    pub fn virsh_lines(&self) -> String {
        let mut out = format!("event 'job-completed' for domain '{}':\n", self.name);
        for (k, v) in &self.params {
            out += &format!("\t{k}: {v}\n");
        }
        out
    }
}

impl Connect {
    /// Job-completed events of this connection's host, from now on.
    pub fn job_completed_events(&self) -> Result<crate::events::EventStream<JobCompletedEvent>> {
        self.backend().job_completed_events()
    }
}

/// `virDomainGetJobStats` flags.
pub mod job_flags {
    /// `VIR_DOMAIN_JOB_STATS_COMPLETED`: the last completed job.
    pub const COMPLETED: u32 = 1;
    /// `VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED`.
    pub const KEEP_COMPLETED: u32 = 2;
}

impl Domain {
    /// Aborts the current job: a migration out fails and the domain stays.
    pub fn abort_job(&self) -> Result<()> {
        self.connect().check_writable()?;
        self.connect().backend().domain_abort_job(self.reference())
    }

    /// The current job, or with `job_flags::COMPLETED` the last completed
    /// one (a migration's figures, on either host).
    pub fn job_stats(&self, flags: u32) -> Result<JobStats> {
        self.connect()
            .backend()
            .domain_job_stats(self.reference(), flags)
    }
}
