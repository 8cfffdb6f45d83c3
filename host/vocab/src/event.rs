//! libvirt's domain lifecycle events and their details.

/// libvirt's `virDomainEventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[repr(u32)]
pub enum Event {
    /// Defined or redefined.
    Defined = 0,
    /// Its definition was removed.
    Undefined = 1,
    /// Started.
    Started = 2,
    /// Paused.
    Suspended = 3,
    /// Resumed.
    Resumed = 4,
    /// Stopped.
    Stopped = 5,
    /// Its guest finished shutting down.
    Shutdown = 6,
    /// Suspended by guest power management.
    PmSuspended = 7,
    /// Crashed.
    Crashed = 8,
}

/// Event details, numbered per event as in libvirt.
pub mod detail {
    /// `VIR_DOMAIN_EVENT_DEFINED_ADDED`.
    pub const DEFINED_ADDED: u32 = 0;
    /// `VIR_DOMAIN_EVENT_DEFINED_UPDATED`.
    pub const DEFINED_UPDATED: u32 = 1;
    /// `VIR_DOMAIN_EVENT_DEFINED_RENAMED`.
    pub const DEFINED_RENAMED: u32 = 2;
    /// `VIR_DOMAIN_EVENT_UNDEFINED_REMOVED`.
    pub const UNDEFINED_REMOVED: u32 = 0;
    /// `VIR_DOMAIN_EVENT_UNDEFINED_RENAMED`.
    pub const UNDEFINED_RENAMED: u32 = 1;
    /// `VIR_DOMAIN_EVENT_STARTED_BOOTED`.
    pub const STARTED_BOOTED: u32 = 0;
    /// `VIR_DOMAIN_EVENT_STARTED_MIGRATED`.
    pub const STARTED_MIGRATED: u32 = 1;
    /// `VIR_DOMAIN_EVENT_STARTED_RESTORED`.
    pub const STARTED_RESTORED: u32 = 2;
    /// `VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT`.
    pub const STARTED_FROM_SNAPSHOT: u32 = 3;
    /// `VIR_DOMAIN_EVENT_SUSPENDED_PAUSED`.
    pub const SUSPENDED_PAUSED: u32 = 0;
    /// `VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED`.
    pub const SUSPENDED_MIGRATED: u32 = 1;
    /// `VIR_DOMAIN_EVENT_SUSPENDED_RESTORED`.
    pub const SUSPENDED_RESTORED: u32 = 4;
    /// `VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT`.
    pub const SUSPENDED_FROM_SNAPSHOT: u32 = 5;
    /// `VIR_DOMAIN_EVENT_RESUMED_UNPAUSED`.
    pub const RESUMED_UNPAUSED: u32 = 0;
    /// `VIR_DOMAIN_EVENT_RESUMED_MIGRATED`.
    pub const RESUMED_MIGRATED: u32 = 1;
    /// `VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN`.
    pub const STOPPED_SHUTDOWN: u32 = 0;
    /// `VIR_DOMAIN_EVENT_STOPPED_DESTROYED`.
    pub const STOPPED_DESTROYED: u32 = 1;
    /// `VIR_DOMAIN_EVENT_STOPPED_CRASHED`.
    pub const STOPPED_CRASHED: u32 = 2;
    /// `VIR_DOMAIN_EVENT_STOPPED_MIGRATED`.
    pub const STOPPED_MIGRATED: u32 = 3;
    /// `VIR_DOMAIN_EVENT_STOPPED_SAVED`.
    pub const STOPPED_SAVED: u32 = 4;
    /// `VIR_DOMAIN_EVENT_STOPPED_FAILED`.
    pub const STOPPED_FAILED: u32 = 5;
    /// `VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT`.
    pub const STOPPED_FROM_SNAPSHOT: u32 = 6;
    /// `VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED`.
    pub const SHUTDOWN_FINISHED: u32 = 0;
    /// `VIR_DOMAIN_EVENT_CRASHED_PANICKED`.
    pub const CRASHED_PANICKED: u32 = 0;
}

impl Event {
    /// libvirt's number.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// The event libvirt numbers `n`; `None` for one wirt does not know.
    pub fn from_u32(n: u32) -> Option<Event> {
        Some(match n {
            0 => Event::Defined,
            1 => Event::Undefined,
            2 => Event::Started,
            3 => Event::Suspended,
            4 => Event::Resumed,
            5 => Event::Stopped,
            6 => Event::Shutdown,
            7 => Event::PmSuspended,
            8 => Event::Crashed,
            _ => return None,
        })
    }

    /// virsh's words for the event and its detail (`event --loop`).
    pub fn describe(self, detail: u32) -> (&'static str, &'static str) {
        let (name, details): (&str, &[&str]) = match self {
            Event::Defined => ("Defined", &["Added", "Updated", "Renamed", "Snapshot"]),
            Event::Undefined => ("Undefined", &["Removed", "Renamed"]),
            Event::Started => (
                "Started",
                &["Booted", "Migrated", "Restored", "Snapshot", "Event wakeup"],
            ),
            Event::Suspended => (
                "Suspended",
                &[
                    "Paused",
                    "Migrated",
                    "I/O Error",
                    "Watchdog",
                    "Restored",
                    "Snapshot",
                    "API error",
                    "Post-copy",
                    "Post-copy Error",
                ],
            ),
            Event::Resumed => (
                "Resumed",
                &[
                    "Unpaused",
                    "Migrated",
                    "Snapshot",
                    "Post-copy",
                    "Post-copy Error",
                ],
            ),
            Event::Stopped => (
                "Stopped",
                &[
                    "Shutdown",
                    "Destroyed",
                    "Crashed",
                    "Migrated",
                    "Saved",
                    "Failed",
                    "Snapshot",
                ],
            ),
            Event::Shutdown => (
                "Shutdown",
                &[
                    "Finished",
                    "Finished after guest request",
                    "Finished after host request",
                ],
            ),
            Event::PmSuspended => ("PMSuspended", &["Memory", "Disk"]),
            Event::Crashed => ("Crashed", &["Panicked", "Crashloaded"]),
        };
        (
            name,
            details.get(detail as usize).copied().unwrap_or("Unknown"),
        )
    }
}
