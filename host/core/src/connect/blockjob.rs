//! Block jobs on a running domain's disks: commit an overlay down, copy a
//! disk to a new image, watch and end the job (`virDomainBlockCommit`,
//! `virDomainBlockCopy`, `virDomainGetBlockJobInfo`,
//! `virDomainBlockJobAbort`...), and their events.

use serde::Serialize;

use super::{Connect, Domain, DomainRef, Result, StatValue};
use crate::events::{BlockJobEvent, DeviceEvent, EventStream};

fn unsupported<T>(function: &str) -> Result<T> {
    Err(super::Error::api(
        crate::error::ErrorCode::NO_SUPPORT,
        function.to_string(),
    ))
}

/// libvirt's `virDomainBlockJobType`.
pub mod block_job_type {
    /// `VIR_DOMAIN_BLOCK_JOB_TYPE_PULL`.
    pub const PULL: i32 = 1;
    /// `VIR_DOMAIN_BLOCK_JOB_TYPE_COPY`.
    pub const COPY: i32 = 2;
    /// `VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT`.
    pub const COMMIT: i32 = 3;
    /// `VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT`.
    pub const ACTIVE_COMMIT: i32 = 4;
}

/// libvirt's `virConnectDomainEventBlockJobStatus`.
pub mod block_job_status {
    /// `VIR_DOMAIN_BLOCK_JOB_COMPLETED`.
    pub const COMPLETED: i32 = 0;
    /// `VIR_DOMAIN_BLOCK_JOB_FAILED`.
    pub const FAILED: i32 = 1;
    /// `VIR_DOMAIN_BLOCK_JOB_CANCELED`.
    pub const CANCELED: i32 = 2;
    /// `VIR_DOMAIN_BLOCK_JOB_READY`.
    pub const READY: i32 = 3;
}

/// libvirt's flag bits of the block job calls.
pub mod block_flags {
    /// `VIR_DOMAIN_BLOCK_COMMIT_SHALLOW`.
    pub const COMMIT_SHALLOW: u32 = 1;
    /// `VIR_DOMAIN_BLOCK_COMMIT_DELETE`: remove the committed images.
    pub const COMMIT_DELETE: u32 = 2;
    /// `VIR_DOMAIN_BLOCK_COMMIT_ACTIVE`: the top is the active layer.
    pub const COMMIT_ACTIVE: u32 = 4;
    /// `VIR_DOMAIN_BLOCK_COMMIT_RELATIVE`.
    pub const COMMIT_RELATIVE: u32 = 8;
    /// `VIR_DOMAIN_BLOCK_COMMIT_BANDWIDTH_BYTES`.
    pub const COMMIT_BANDWIDTH_BYTES: u32 = 16;
    /// `VIR_DOMAIN_BLOCK_COPY_SHALLOW`: copy the top image only.
    pub const COPY_SHALLOW: u32 = 1;
    /// `VIR_DOMAIN_BLOCK_COPY_REUSE_EXT`: the destination exists.
    pub const COPY_REUSE_EXT: u32 = 2;
    /// `VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB`.
    pub const COPY_TRANSIENT_JOB: u32 = 4;
    /// `VIR_DOMAIN_BLOCK_COPY_SYNCHRONOUS_WRITES`.
    pub const COPY_SYNCHRONOUS_WRITES: u32 = 8;
    /// `VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC`.
    pub const ABORT_ASYNC: u32 = 1;
    /// `VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT`: finish on the new image.
    pub const ABORT_PIVOT: u32 = 2;
    /// `VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES` (and `SPEED_BANDWIDTH_BYTES`).
    pub const BANDWIDTH_BYTES: u32 = 1;
    /// `VIR_DOMAIN_BLOCK_RESIZE_BYTES`.
    pub const RESIZE_BYTES: u32 = 1;
}

/// A block job's progress (`virDomainBlockJobInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockJobInfo {
    /// One of [`block_job_type`].
    pub job_type: i32,
    /// Bytes per second (MiB/s unless asked in bytes), 0 for unlimited.
    pub bandwidth: u64,
    /// Progress: `cur` of `end`; equal when the job is ready.
    pub cur: u64,
    /// The job's total: the disk's size.
    pub end: u64,
}

/// Block jobs, on what serves a connection.
pub trait BlockJobBackend {
    /// Starts committing `top` (default: the active layer) of `disk` into
    /// `base` (default: the image below it).
    fn domain_block_commit(
        &self,
        _dom: &DomainRef,
        _disk: &str,
        _base: Option<&str>,
        _top: Option<&str>,
        _bandwidth: u64,
        _flags: u32,
    ) -> Result<()> {
        unsupported("virDomainBlockCommit")
    }
    /// Starts copying `disk` to the image `dest_xml` (a `<disk>`) describes.
    fn domain_block_copy(
        &self,
        _dom: &DomainRef,
        _disk: &str,
        _dest_xml: &str,
        _params: &[(String, StatValue)],
        _flags: u32,
    ) -> Result<()> {
        unsupported("virDomainBlockCopy")
    }
    /// Starts pulling the backing files' data into `disk`'s top image
    /// (down to `base`, or all of it).
    fn domain_block_rebase(
        &self,
        _dom: &DomainRef,
        _disk: &str,
        _base: Option<&str>,
        _bandwidth: u64,
        _flags: u32,
    ) -> Result<()> {
        unsupported("virDomainBlockRebase")
    }
    /// The block job on `disk`, if any.
    fn domain_block_job_info(
        &self,
        _dom: &DomainRef,
        _disk: &str,
        _flags: u32,
    ) -> Result<Option<BlockJobInfo>> {
        unsupported("virDomainGetBlockJobInfo")
    }
    /// Ends the block job on `disk`: cancelled, or finished on the new
    /// image with [`block_flags::ABORT_PIVOT`].
    fn domain_block_job_abort(&self, _dom: &DomainRef, _disk: &str, _flags: u32) -> Result<()> {
        unsupported("virDomainBlockJobAbort")
    }
    /// Sets the block job's bandwidth.
    fn domain_block_job_set_speed(
        &self,
        _dom: &DomainRef,
        _disk: &str,
        _bandwidth: u64,
        _flags: u32,
    ) -> Result<()> {
        unsupported("virDomainBlockJobSetSpeed")
    }
    /// Resizes a running domain's disk (KiB, or bytes with
    /// [`block_flags::RESIZE_BYTES`]).
    fn domain_block_resize(
        &self,
        _dom: &DomainRef,
        _disk: &str,
        _size: u64,
        _flags: u32,
    ) -> Result<()> {
        unsupported("virDomainBlockResize")
    }
    /// Block job events of this connection's host, from now on.
    fn block_job_events(&self) -> Result<EventStream<BlockJobEvent>> {
        unsupported("virConnectDomainEventRegisterAny")
    }
    /// Device added / removed events of this connection's host, from now on.
    fn device_events(&self) -> Result<EventStream<DeviceEvent>> {
        unsupported("virConnectDomainEventRegisterAny")
    }
}

impl Domain {
    /// Starts committing `top` of `disk` into `base` (`None`: the active
    /// layer, and the image below it). flags: [`block_flags`] `COMMIT_*`.
    pub fn block_commit(
        &self,
        disk: &str,
        base: Option<&str>,
        top: Option<&str>,
        bandwidth: u64,
        flags: u32,
    ) -> Result<()> {
        self.connect().check_writable()?;
        self.connect().backend().domain_block_commit(
            self.reference(),
            disk,
            base,
            top,
            bandwidth,
            flags,
        )
    }

    /// Starts copying `disk` to the image the `<disk>` XML `dest_xml`
    /// describes. flags: [`block_flags`] `COPY_*`.
    pub fn block_copy(
        &self,
        disk: &str,
        dest_xml: &str,
        params: &[(String, StatValue)],
        flags: u32,
    ) -> Result<()> {
        self.connect().check_writable()?;
        self.connect()
            .backend()
            .domain_block_copy(self.reference(), disk, dest_xml, params, flags)
    }

    /// Starts pulling `disk`'s backing data into its top image.
    pub fn block_rebase(
        &self,
        disk: &str,
        base: Option<&str>,
        bandwidth: u64,
        flags: u32,
    ) -> Result<()> {
        self.connect().check_writable()?;
        self.connect()
            .backend()
            .domain_block_rebase(self.reference(), disk, base, bandwidth, flags)
    }

    /// The block job on `disk`, if one runs.
    pub fn block_job_info(&self, disk: &str, flags: u32) -> Result<Option<BlockJobInfo>> {
        self.connect()
            .backend()
            .domain_block_job_info(self.reference(), disk, flags)
    }

    /// Ends the block job on `disk` (with [`block_flags::ABORT_PIVOT`]: on
    /// its new image).
    pub fn block_job_abort(&self, disk: &str, flags: u32) -> Result<()> {
        self.connect().check_writable()?;
        self.connect()
            .backend()
            .domain_block_job_abort(self.reference(), disk, flags)
    }

    /// Sets the block job's bandwidth.
    pub fn block_job_set_speed(&self, disk: &str, bandwidth: u64, flags: u32) -> Result<()> {
        self.connect().check_writable()?;
        self.connect().backend().domain_block_job_set_speed(
            self.reference(),
            disk,
            bandwidth,
            flags,
        )
    }

    /// Resizes the running domain's `disk`.
    pub fn block_resize(&self, disk: &str, size: u64, flags: u32) -> Result<()> {
        self.connect().check_writable()?;
        self.connect()
            .backend()
            .domain_block_resize(self.reference(), disk, size, flags)
    }
}

impl Connect {
    /// Block job events (`VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2`) of this
    /// connection's host, from now on.
    pub fn block_job_events(&self) -> Result<EventStream<BlockJobEvent>> {
        self.backend().block_job_events()
    }

    /// Devices plugged into or out of running domains
    /// (`VIR_DOMAIN_EVENT_ID_DEVICE_ADDED`, `_DEVICE_REMOVED`), from now on.
    pub fn device_events(&self) -> Result<EventStream<DeviceEvent>> {
        self.backend().device_events()
    }
}
