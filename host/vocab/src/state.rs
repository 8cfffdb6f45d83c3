//! libvirt's `virDomainState` and the reasons of each state.

macro_rules! numbered {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $n:literal => $word:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
        #[repr(u32)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $n, )*
        }

        impl $name {
            /// Every value, in libvirt's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The value libvirt numbers `n`; `None` for a number this
            /// version of wirt does not know.
            pub fn from_u32(n: u32) -> Option<$name> {
                match n {
                    $( $n => Some($name::$variant), )*
                    _ => None,
                }
            }

            /// libvirt's number.
            pub fn as_u32(self) -> u32 {
                self as u32
            }

            /// virsh's words for it.
            pub fn words(self) -> &'static str {
                match self {
                    $( $name::$variant => $word, )*
                }
            }
        }

        impl TryFrom<u32> for $name {
            type Error = u32;

            fn try_from(n: u32) -> Result<Self, u32> {
                $name::from_u32(n).ok_or(n)
            }
        }

        impl From<$name> for u32 {
            fn from(v: $name) -> u32 {
                v as u32
            }
        }
    };
}

numbered! {
    /// libvirt's `virDomainState`.
    State {
        /// No state (`VIR_DOMAIN_NOSTATE`).
        NoState = 0 => "no state",
        /// Running.
        Running = 1 => "running",
        /// Blocked on a resource ("idle" in virsh).
        Blocked = 2 => "idle",
        /// Paused.
        Paused = 3 => "paused",
        /// Being shut down.
        Shutdown = 4 => "in shutdown",
        /// Shut off.
        Shutoff = 5 => "shut off",
        /// Crashed.
        Crashed = 6 => "crashed",
        /// Suspended by guest power management.
        PmSuspended = 7 => "pmsuspended",
    }
}

impl State {
    /// Every state but shut off counts as active.
    pub fn is_active(self) -> bool {
        self != State::Shutoff
    }

    /// virsh's word for the state (`list`, `domstate`).
    pub fn virsh_name(self) -> &'static str {
        self.words()
    }

    /// virsh's word for a reason of this state (`domstate --reason`);
    /// "unknown" for a number it does not know.
    pub fn reason_name(self, reason: u32) -> &'static str {
        Reason::of(self, reason).map_or("unknown", Reason::words)
    }
}

numbered! {
    /// Why a domain is running.
    RunningReason {
        /// Unknown.
        Unknown = 0 => "unknown",
        /// Booted normally.
        Booted = 1 => "booted",
        /// Migrated in.
        Migrated = 2 => "migrated",
        /// Restored from a save image.
        Restored = 3 => "restored",
        /// Reverted to a snapshot.
        FromSnapshot = 4 => "from snapshot",
        /// Resumed after a pause.
        Unpaused = 5 => "unpaused",
        /// A migration was cancelled.
        MigrationCanceled = 6 => "migration canceled",
        /// A save was cancelled.
        SaveCanceled = 7 => "save canceled",
        /// Woken from power management.
        Wakeup = 8 => "event wakeup",
        /// Restarted after a crash.
        Crashed = 9 => "crashed",
        /// Running in post-copy migration.
        Postcopy = 10 => "post-copy",
        /// Post-copy migration failed.
        PostcopyFailed = 11 => "post-copy failed",
    }
}

numbered! {
    /// Why a domain is paused.
    PausedReason {
        /// Unknown.
        Unknown = 0 => "unknown",
        /// Paused by the user.
        User = 1 => "user",
        /// Paused for migration.
        Migration = 2 => "migrating",
        /// Paused for a save.
        Save = 3 => "saving",
        /// Paused for a core dump.
        Dump = 4 => "dumping",
        /// Paused on an I/O error.
        IoError = 5 => "I/O error",
        /// Paused by the watchdog.
        Watchdog = 6 => "watchdog",
        /// Reverted to a paused snapshot.
        FromSnapshot = 7 => "from snapshot",
        /// Paused while shutting down.
        ShuttingDown = 8 => "shutting down",
        /// Paused while a snapshot is taken.
        Snapshot = 9 => "creating snapshot",
        /// Paused after a crash.
        Crashed = 10 => "crashed",
        /// Started paused.
        StartingUp = 11 => "starting up",
        /// Paused in post-copy migration.
        Postcopy = 12 => "post-copy",
        /// Post-copy migration failed.
        PostcopyFailed = 13 => "post-copy failed",
        /// Paused after an API error.
        ApiError = 14 => "api error",
    }
}

numbered! {
    /// Why a domain is being shut down.
    ShutdownReason {
        /// Unknown.
        Unknown = 0 => "unknown",
        /// Asked by the user.
        User = 1 => "user",
    }
}

numbered! {
    /// Why a domain is shut off.
    ShutoffReason {
        /// Unknown (never started).
        Unknown = 0 => "unknown",
        /// The guest shut down.
        Shutdown = 1 => "shutdown",
        /// Destroyed.
        Destroyed = 2 => "destroyed",
        /// Crashed.
        Crashed = 3 => "crashed",
        /// Migrated away.
        Migrated = 4 => "migrated",
        /// Saved.
        Saved = 5 => "saved",
        /// Failed to start.
        Failed = 6 => "failed",
        /// Reverted to a shut-off snapshot.
        FromSnapshot = 7 => "from snapshot",
        /// Stopped by the daemon.
        Daemon = 8 => "daemon",
    }
}

numbered! {
    /// Why a domain is crashed.
    CrashedReason {
        /// Unknown.
        Unknown = 0 => "unknown",
        /// The guest panicked.
        Panicked = 1 => "panicked",
    }
}

/// A state's reason, checked against the state it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The only reason of no state, blocked and pmsuspended.
    Unknown(State),
    /// A reason of running.
    Running(RunningReason),
    /// A reason of paused.
    Paused(PausedReason),
    /// A reason of being shut down.
    Shutdown(ShutdownReason),
    /// A reason of shut off.
    Shutoff(ShutoffReason),
    /// A reason of crashed.
    Crashed(CrashedReason),
}

impl Reason {
    /// Reason number `n` of `state`; `None` when `state` has no such reason.
    pub fn of(state: State, n: u32) -> Option<Reason> {
        Some(match state {
            State::NoState | State::Blocked | State::PmSuspended => {
                (n == 0).then_some(Reason::Unknown(state))?
            }
            State::Running => Reason::Running(RunningReason::from_u32(n)?),
            State::Paused => Reason::Paused(PausedReason::from_u32(n)?),
            State::Shutdown => Reason::Shutdown(ShutdownReason::from_u32(n)?),
            State::Shutoff => Reason::Shutoff(ShutoffReason::from_u32(n)?),
            State::Crashed => Reason::Crashed(CrashedReason::from_u32(n)?),
        })
    }

    /// The state this reason belongs to.
    pub fn state(self) -> State {
        match self {
            Reason::Unknown(s) => s,
            Reason::Running(_) => State::Running,
            Reason::Paused(_) => State::Paused,
            Reason::Shutdown(_) => State::Shutdown,
            Reason::Shutoff(_) => State::Shutoff,
            Reason::Crashed(_) => State::Crashed,
        }
    }

    /// libvirt's number, within its state.
    pub fn as_u32(self) -> u32 {
        match self {
            Reason::Unknown(_) => 0,
            Reason::Running(r) => r.as_u32(),
            Reason::Paused(r) => r.as_u32(),
            Reason::Shutdown(r) => r.as_u32(),
            Reason::Shutoff(r) => r.as_u32(),
            Reason::Crashed(r) => r.as_u32(),
        }
    }

    /// virsh's words for the reason.
    pub fn words(self) -> &'static str {
        match self {
            Reason::Unknown(_) => "unknown",
            Reason::Running(r) => r.words(),
            Reason::Paused(r) => r.words(),
            Reason::Shutdown(r) => r.words(),
            Reason::Shutoff(r) => r.words(),
            Reason::Crashed(r) => r.words(),
        }
    }
}

/// Reason numbers as the contract and the wire carry them (`u32`), for
/// code that compares raw numbers. Each is the matching enum's value.
pub mod reason {
    use super::*;

    /// Any state's "unknown" reason.
    pub const UNKNOWN: u32 = 0;
    /// [`RunningReason::Booted`].
    pub const RUNNING_BOOTED: u32 = RunningReason::Booted as u32;
    /// [`RunningReason::Migrated`].
    pub const RUNNING_MIGRATED: u32 = RunningReason::Migrated as u32;
    /// [`RunningReason::Restored`].
    pub const RUNNING_RESTORED: u32 = RunningReason::Restored as u32;
    /// [`RunningReason::FromSnapshot`].
    pub const RUNNING_FROM_SNAPSHOT: u32 = RunningReason::FromSnapshot as u32;
    /// [`RunningReason::Unpaused`].
    pub const RUNNING_UNPAUSED: u32 = RunningReason::Unpaused as u32;
    /// [`RunningReason::MigrationCanceled`].
    pub const RUNNING_MIGRATION_CANCELED: u32 = RunningReason::MigrationCanceled as u32;
    /// [`RunningReason::SaveCanceled`].
    pub const RUNNING_SAVE_CANCELED: u32 = RunningReason::SaveCanceled as u32;
    /// [`RunningReason::Crashed`].
    pub const RUNNING_CRASHED: u32 = RunningReason::Crashed as u32;
    /// [`PausedReason::User`].
    pub const PAUSED_USER: u32 = PausedReason::User as u32;
    /// [`PausedReason::Migration`].
    pub const PAUSED_MIGRATION: u32 = PausedReason::Migration as u32;
    /// [`PausedReason::Save`].
    pub const PAUSED_SAVE: u32 = PausedReason::Save as u32;
    /// [`PausedReason::FromSnapshot`].
    pub const PAUSED_FROM_SNAPSHOT: u32 = PausedReason::FromSnapshot as u32;
    /// [`PausedReason::StartingUp`].
    pub const PAUSED_STARTING_UP: u32 = PausedReason::StartingUp as u32;
    /// [`ShutdownReason::User`].
    pub const SHUTDOWN_USER: u32 = ShutdownReason::User as u32;
    /// [`ShutoffReason::Unknown`].
    pub const SHUTOFF_UNKNOWN: u32 = ShutoffReason::Unknown as u32;
    /// [`ShutoffReason::Shutdown`].
    pub const SHUTOFF_SHUTDOWN: u32 = ShutoffReason::Shutdown as u32;
    /// [`ShutoffReason::Destroyed`].
    pub const SHUTOFF_DESTROYED: u32 = ShutoffReason::Destroyed as u32;
    /// [`ShutoffReason::Crashed`].
    pub const SHUTOFF_CRASHED: u32 = ShutoffReason::Crashed as u32;
    /// [`ShutoffReason::Migrated`].
    pub const SHUTOFF_MIGRATED: u32 = ShutoffReason::Migrated as u32;
    /// [`ShutoffReason::Saved`].
    pub const SHUTOFF_SAVED: u32 = ShutoffReason::Saved as u32;
    /// [`ShutoffReason::Failed`].
    pub const SHUTOFF_FAILED: u32 = ShutoffReason::Failed as u32;
    /// [`ShutoffReason::FromSnapshot`].
    pub const SHUTOFF_FROM_SNAPSHOT: u32 = ShutoffReason::FromSnapshot as u32;
    /// [`ShutoffReason::Daemon`].
    pub const SHUTOFF_DAEMON: u32 = ShutoffReason::Daemon as u32;
    /// [`CrashedReason::Panicked`].
    pub const CRASHED_PANICKED: u32 = CrashedReason::Panicked as u32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_checked() {
        for &s in State::ALL {
            assert_eq!(State::from_u32(s.as_u32()), Some(s));
        }
        assert_eq!(State::from_u32(8), None);
        assert_eq!(State::try_from(42), Err(42));
        assert_eq!(
            Reason::of(State::Shutoff, 5),
            Some(Reason::Shutoff(ShutoffReason::Saved))
        );
        assert_eq!(Reason::of(State::Shutoff, 9), None);
        assert_eq!(Reason::of(State::Blocked, 1), None);
        assert_eq!(State::Paused.reason_name(11), "starting up");
        assert_eq!(State::Running.reason_name(99), "unknown");
    }
}
