//! Control protocol messages (see PROTOCOL.md). Requests carry an optional
//! `id` echoed in the response; events carry an `event` field and no `id`.

use serde::{Deserialize, Serialize};

/// Protocol version reported by `hello`.
pub const VERSION: u32 = 1;

/// A descriptor the request refers to.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FdRef {
    /// A descriptor number the VMM inherited at spawn.
    Fd(i32),
    /// The n-th descriptor sent with this request line (SCM_RIGHTS).
    Passed(usize),
}

/// Where the kernel comes from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KernelRef {
    /// A built-in image: `"test-guest"`.
    Builtin(String),
    /// A descriptor (inherited number) of a bzImage or ELF file.
    Fd(i32),
    /// The n-th descriptor sent with this request line.
    Passed(usize),
}

impl Default for KernelRef {
    fn default() -> Self {
        KernelRef::Builtin(BUILTIN_TEST_GUEST.into())
    }
}

/// Name of the built-in test guest.
pub const BUILTIN_TEST_GUEST: &str = "test-guest";

/// What to do when the guest powers off, reboots or crashes (libvirt's
/// `on_poweroff` / `on_reboot` / `on_crash`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum LifecycleAction {
    /// Stop the VM (state shutoff).
    Destroy,
    /// Start it again.
    Restart,
    /// Keep it, stopped, for inspection (crash: state crashed).
    Preserve,
}

/// The three lifecycle policies.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Policies {
    /// Guest powered off.
    pub on_poweroff: LifecycleAction,
    /// Guest rebooted.
    pub on_reboot: LifecycleAction,
    /// Guest crashed.
    pub on_crash: LifecycleAction,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            on_poweroff: LifecycleAction::Destroy,
            on_reboot: LifecycleAction::Restart,
            on_crash: LifecycleAction::Destroy,
        }
    }
}

/// The format of a disk image, always stated by the host: the VMM never
/// guesses it from the content (a raw guest can write a qcow2 header).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DiskFormat {
    /// Bytes as the guest sees them (records without a format mean raw).
    #[default]
    Raw,
    /// qcow2, possibly on a chain of backing files.
    Qcow2,
}

impl DiskFormat {
    /// The name libvirt uses (`<driver type='...'/>`).
    pub fn name(self) -> &'static str {
        match self {
            DiskFormat::Raw => "raw",
            DiskFormat::Qcow2 => "qcow2",
        }
    }
}

/// A disk.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiskRef {
    /// The image (the top of the chain for qcow2).
    pub fd: FdRef,
    /// Its format.
    #[serde(default)]
    pub format: DiskFormat,
    /// A qcow2 disk's backing files, opened read-only, nearest first: the
    /// VMM cannot open paths, so the host walks the chain and hands it over.
    /// Each file's format comes from the header of the image above it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backing: Vec<FdRef>,
    /// Refuse guest writes.
    #[serde(default)]
    pub readonly: bool,
    /// Device id (virtio-blk GET_ID, at most 20 bytes).
    #[serde(default)]
    pub serial: String,
}

/// A disk moving onto another image ([`Request::Snapshot`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiskSwitch {
    /// Index of the disk in the boot's (or restore's) `disks`.
    pub index: usize,
    /// The image it is served from afterwards.
    pub disk: DiskRef,
}

/// What an [`Request::InternalSnapshot`] does to each disk's image.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum InternalOp {
    /// Record the image's current state under the snapshot's name.
    Create,
    /// Drop the snapshot of that name from the image.
    Delete,
}

/// A disk whose qcow2 image takes an internal snapshot
/// ([`Request::InternalSnapshot`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InternalDisk {
    /// Index of the disk in the boot's (or restore's) `disks`.
    pub index: usize,
    /// The same disk, opened again (writable): its image's snapshot table
    /// and refcounts change through this descriptor, and the disk is served
    /// from it afterwards, since the image's metadata changed under the
    /// handle that served it so far.
    pub disk: DiskRef,
}

/// A network card's link: cable plugged in or not.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum LinkState {
    /// Plugged in.
    Up,
    /// Unplugged: frames are dropped both ways.
    Down,
}

/// What a card's descriptor is.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NicKind {
    /// A tap the host opened with `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`.
    #[default]
    Tap,
    /// A connected unix stream socket in QEMU's "stream" framing (4-byte
    /// big-endian length, then the frame), e.g. to passt.
    Stream,
}

/// A network card: a tap, or a stream socket to passt.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NicRef {
    /// The tap or the socket.
    pub fd: FdRef,
    /// What `fd` is; a tap if absent.
    #[serde(default, skip_serializing_if = "is_tap")]
    pub backend: NicKind,
    /// MAC address the guest sees, `"52:54:00:12:34:56"`.
    pub mac: String,
    /// Link state; `up` at boot, as saved at restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkState>,
    /// MTU offered to the guest (VIRTIO_NET_F_MTU); none: 1500, not offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
}

fn is_tap(k: &NicKind) -> bool {
    *k == NicKind::Tap
}

fn default_memory_mib() -> u64 {
    64
}

fn default_vcpus() -> u8 {
    1
}

/// `boot`: build a VM and start it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BootRequest {
    /// Kernel; the built-in test guest by default.
    #[serde(default)]
    pub kernel: KernelRef,
    /// Initial ramdisk.
    #[serde(default)]
    pub initrd: Option<FdRef>,
    /// Kernel command line (virtio-mmio devices are appended).
    #[serde(default)]
    pub cmdline: Option<String>,
    /// RAM in MiB.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
    /// vCPUs.
    #[serde(default = "default_vcpus")]
    pub vcpus: u8,
    /// Disks in virtio-mmio slot order.
    #[serde(default)]
    pub disks: Vec<DiskRef>,
    /// Network cards, in virtio-mmio slot order after the disks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nics: Vec<NicRef>,
    /// Start with vCPUs parked (state paused).
    #[serde(default)]
    pub paused: bool,
    /// Lifecycle policies.
    #[serde(default, flatten)]
    pub policies: Policies,
}

/// `restore`: rebuild a saved VM in this (fresh) VMM.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestoreRequest {
    /// The save file, read sequentially.
    pub from: FdRef,
    /// The same disks as at save time, in the same order.
    #[serde(default)]
    pub disks: Vec<DiskRef>,
    /// The same network cards (MAC, MTU) as at save time, on any taps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nics: Vec<NicRef>,
    /// Kernel for later reboots, if it was not the built-in one.
    #[serde(default)]
    pub kernel: Option<KernelRef>,
    /// Initrd for later reboots.
    #[serde(default)]
    pub initrd: Option<FdRef>,
    /// Keep vCPUs parked (state paused).
    #[serde(default)]
    pub paused: bool,
    /// `migrate-receive` only: the disks' contents come with the stream
    /// (`disks` are this host's own images, of the source's sizes).
    #[serde(default)]
    pub copy_storage: bool,
    /// Lifecycle policies.
    #[serde(default, flatten)]
    pub policies: Policies,
}

fn yes() -> bool {
    true
}

fn default_max_downtime_ms() -> u64 {
    300
}

fn default_max_rounds() -> u32 {
    30
}

/// `migrate-send`: live-migrate the VM to a destination VMM over a
/// connected stream socket.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MigrateSendRequest {
    /// The connection to the destination (unix or TCP, connected by the host).
    pub to: FdRef,
    /// Longest pause allowed for the last round, at the measured rate
    /// (libvirt's default: 300 ms).
    #[serde(default = "default_max_downtime_ms")]
    pub max_downtime_ms: u64,
    /// Bandwidth cap in MiB/s; none: as fast as the connection goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_mib_s: Option<u64>,
    /// Pre-copy rounds after which the guest is paused whatever is left.
    #[serde(default = "default_max_rounds")]
    pub max_rounds: u32,
    /// The read end of a pipe: once it is readable (the host wrote to it)
    /// the guest is paused after the current round and the rest sent, as
    /// if it had converged (virsh's `--timeout-suspend`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converge: Option<FdRef>,
    /// The write end of a pipe: the source writes a line of JSON
    /// ([`MigrationProgress`]) at each round and at most every 100 ms
    /// within one; a line the pipe has no room for is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<FdRef>,
    /// Copy the disks' contents too (libvirt's `--copy-storage-all`): the
    /// destination has images of its own, of the same sizes.
    #[serde(default)]
    pub copy_storage: bool,
}

/// How far a migration out has come (a line on the `progress` pipe).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MigrationProgress {
    /// Guest RAM, bytes.
    pub memory_bytes: u64,
    /// Bytes written to the connection so far.
    pub bytes_sent: u64,
    /// Bytes of the current round not sent yet.
    pub remaining_bytes: u64,
    /// The current round (1: all of RAM).
    pub rounds: u32,
    /// Pages dirtied per second during the last round.
    pub dirty_rate_pages_s: u64,
    /// Downtime the dirty pages would take at the measured rate, ms.
    pub expected_downtime_ms: f64,
}

/// How a migration went, on the source (libvirt's domjobinfo fields).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MigrationStats {
    /// Guest RAM (data total), bytes.
    pub memory_bytes: u64,
    /// Bytes written to the connection (data processed).
    pub bytes_sent: u64,
    /// Dirty bytes left when the guest was paused (data remaining then).
    pub remaining_bytes: u64,
    /// Pre-copy rounds, the first (all RAM) included; the final, paused
    /// transfer is not counted.
    pub rounds: u32,
    /// Pages sent with data.
    pub pages_sent: u64,
    /// Pages sent as zero runs (or skipped in the first round).
    pub zero_pages: u64,
    /// Dirty pages found at the start of each round after the first, and
    /// at the pause (last entry).
    pub dirty_pages: Vec<u64>,
    /// Pages dirtied per second during the last round.
    pub dirty_rate_pages_s: u64,
    /// Measured transfer rate of the last round, bytes per second.
    pub rate_bytes_s: u64,
    /// Downtime the last round was expected to take, ms.
    pub expected_downtime_ms: f64,
    /// Pause of the source to the destination's acknowledgement and the
    /// go-ahead sent back, ms.
    pub downtime_ms: f64,
    /// Whole migration, ms.
    pub total_ms: f64,
    /// Disk data sent (a storage migration), bytes: each disk's chunks
    /// holding data once, then those the guest wrote meanwhile.
    #[serde(default)]
    pub disk_bytes: u64,
    /// Chunks sent again because the guest wrote them after they went.
    #[serde(default)]
    pub disk_chunks_resent: u64,
}

/// How an incoming migration went, on the destination.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct IncomingStats {
    /// Bytes read from the connection.
    pub bytes_received: u64,
    /// Rounds the source announced.
    pub rounds: u32,
    /// Pages received with data.
    pub pages: u64,
    /// Pages received as zero runs.
    pub zero_pages: u64,
    /// Disk data received (a storage migration), bytes.
    #[serde(default)]
    pub disk_bytes: u64,
    /// End of the stream to the guest running here, ms.
    pub restore_ms: f64,
    /// Whole incoming migration, ms.
    pub total_ms: f64,
}

/// The result of `migrate-send` and `migrate-receive`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MigrateReply {
    /// The domain's status afterwards.
    pub status: StatusReply,
    /// Source statistics (`migrate-send`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<MigrationStats>,
    /// Destination statistics (`migrate-receive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<IncomingStats>,
}

/// A request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Version and current state.
    Hello,
    /// Build and start a VM. Precondition: no VM (fresh VMM or shut off).
    Boot(BootRequest),
    /// State, reason, CPU time, memory.
    Status,
    /// Park the vCPUs. Precondition: running.
    Pause,
    /// Unpark them. Precondition: paused.
    Resume,
    /// Ask the guest to power off; state "in shutdown" until it does.
    Shutdown,
    /// Ask the guest to reboot.
    Reboot,
    /// Hard reset: rebuild the VM now, as if the reset line was pulled.
    Reset,
    /// Stop the VM now (state shutoff, reason destroyed). Always works.
    Destroy,
    /// Stop the VM if any and exit the process.
    Quit,
    /// Write a save file. Pauses first; with `stop` (default) the VM is then
    /// stopped (shutoff, reason saved), else it goes back to its state.
    Save {
        /// Where to write.
        to: FdRef,
        /// Stop the VM afterwards.
        #[serde(default = "yes")]
        stop: bool,
    },
    /// Rebuild a saved VM. Precondition: no VM.
    Restore(RestoreRequest),
    /// Live-migrate the VM to the VMM at the other end of `to`; on success
    /// the VM is stopped here (shutoff, reason migrated). Precondition:
    /// running or paused.
    MigrateSend(MigrateSendRequest),
    /// Take over a VM migrating in from `from` (same fields as `restore`).
    /// Precondition: no VM.
    MigrateReceive(RestoreRequest),
    /// Turn this connection into a raw console stream (after the response).
    Console {
        /// Replay recent output first.
        #[serde(default)]
        replay: bool,
    },
    /// Type into the serial console.
    ConsoleInput {
        /// Bytes, as UTF-8 text.
        data: String,
    },
    /// Recent console output (up to 64 KiB).
    ConsoleHistory,
    /// Try to open a file from the control thread and from vCPU 0; report
    /// whether seccomp refused it.
    SandboxCheck,
    /// An internal snapshot of qcow2 disks, atomically: with the vCPUs
    /// parked and every device worker held, the machine state goes to
    /// `memory` (if given), each disk of `disks` is flushed, `action`
    /// changes its image's snapshot table through the image opened again,
    /// and the disk is served from that; then the VM goes back to its state. A create that
    /// fails on one disk is undone on the disks done before it.
    /// Precondition: running or paused.
    InternalSnapshot {
        /// What to do.
        action: InternalOp,
        /// The snapshot's name inside the images.
        name: String,
        /// Where to write the machine state (a save file), if anywhere.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        memory: Option<FdRef>,
        /// The disks.
        disks: Vec<InternalDisk>,
    },
    /// An external snapshot, atomically: with the vCPUs parked and every
    /// device worker held, the machine state goes to `memory` (if given)
    /// and each disk of `disks` moves onto its new image (an overlay over
    /// the image served so far); then the VM goes back to its state. Every
    /// new image is opened before anything changes, so a bad one changes
    /// nothing. Precondition: running or paused.
    Snapshot {
        /// Where to write the machine state (a save file), if anywhere.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        memory: Option<FdRef>,
        /// Disks to move, by index in the boot's `disks`.
        #[serde(default)]
        disks: Vec<DiskSwitch>,
    },
    /// Merges disk `index`'s overlay down: what the image served now (the
    /// overlay, passed again as `top` to be read alone) holds is copied into
    /// `base`, the image below it (writable, with its own chain), and the
    /// disk is served from `base` afterwards. The guest waits meanwhile.
    /// Precondition: running or paused.
    Commit {
        /// Index of the disk in the boot's `disks`.
        index: usize,
        /// The overlay, read-only.
        top: FdRef,
        /// The image it covers.
        base: DiskRef,
    },
    /// Block copy: what the guest sees of disk `index` is copied into
    /// `dest` (a new image of the same size); with `shallow`, only what
    /// its top image (passed again as `top`, read alone) holds, `dest`
    /// being an overlay over the same backing files. With `pivot` the disk
    /// is served from `dest` afterwards. The guest waits meanwhile.
    /// Precondition: running or paused.
    Copy {
        /// Index of the disk in the boot's `disks`.
        index: usize,
        /// The copy.
        dest: DiskRef,
        /// The top image alone, for a shallow copy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        top: Option<FdRef>,
        /// Serve the disk from `dest` afterwards.
        #[serde(default)]
        pivot: bool,
    },
    /// Grows disk `index` to `bytes` while the guest runs; the guest hears
    /// of it with a configuration interrupt. Precondition: running or
    /// paused.
    Resize {
        /// Index of the disk in the boot's `disks`.
        index: usize,
        /// The new size, a whole number of sectors, not below the current.
        bytes: u64,
    },
    /// Plug or unplug a network card, named by `nic` (index) or `mac`.
    SetLink {
        /// Index in the `nics` list of the boot or restore.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nic: Option<usize>,
        /// Or its MAC address.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mac: Option<String>,
        /// The new state.
        link: LinkState,
    },
    /// Plugs a disk into the running machine (the lowest free virtio
    /// slot); it becomes the last of the `disks`. A guest that speaks the
    /// power-control protocol is asked to rescan its slots; Linux, which
    /// has no virtio-mmio hotplug, sees it at its next boot. Answers
    /// `{"index", "slot"}`. Precondition: running or paused.
    AttachDisk {
        /// The disk, its files passed with the request.
        disk: DiskRef,
    },
    /// Pulls disk `index` out (a surprise removal); later disks move down
    /// one index. Its image is flushed and no longer touched when the
    /// answer comes. Precondition: running or paused.
    DetachDisk {
        /// Index in the current `disks`.
        index: usize,
    },
    /// Plugs a network card in, as [`Request::AttachDisk`] a disk; it
    /// becomes the last of the `nics`.
    AttachNic {
        /// The card, its tap or socket passed with the request.
        nic: NicRef,
    },
    /// Pulls network card `index` out; its tap closes.
    DetachNic {
        /// Index in the current `nics`.
        index: usize,
    },
    /// Starts a block job on disk `index` while the guest runs: its data
    /// is copied into `dest` on a thread of its own, the guest's writes
    /// tracked. Without `top`, what the guest sees (data only: `dest`
    /// reads as zeroes); with `top` (the disk's top image, read alone),
    /// only what it holds: an active commit when `dest` is the image below
    /// it, a shallow copy when `dest` is an overlay over the same backing
    /// files. Answers as `mirror-status`. One job per disk.
    MirrorStart {
        /// Index of the disk.
        index: usize,
        /// The copy, the same size as the disk.
        dest: DiskRef,
        /// The top image alone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        top: Option<FdRef>,
        /// Bytes per second at most for the first pass; none: unlimited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bandwidth: Option<u64>,
    },
    /// How far disk `index`'s job is: `done` and `total` bytes of the first
    /// pass, `ready` once it is over, `pending` bytes written since,
    /// `error` if the pass failed.
    MirrorStatus {
        /// Index of the disk.
        index: usize,
    },
    /// Ends disk `index`'s job: waits for the first pass, then with the
    /// guest held copies what it wrote since; with `pivot` the disk is
    /// served from the copy afterwards.
    MirrorFinish {
        /// Index of the disk.
        index: usize,
        /// Serve the disk from the copy.
        #[serde(default)]
        pivot: bool,
    },
    /// Changes how fast disk `index`'s first pass may go, bytes per
    /// second (0: unlimited), from now on.
    MirrorSetSpeed {
        /// Index of the disk.
        index: usize,
        /// The new limit.
        bandwidth: u64,
    },
    /// Stops disk `index`'s job; the copy stays as far as it got.
    MirrorCancel {
        /// Index of the disk.
        index: usize,
    },
    /// Changes what the VMM does when the guest powers off, reboots or
    /// crashes (the `on_*` fields, as at boot). Precondition: a VM.
    SetPolicies(Policies),
}

/// A request line: the request plus an optional correlation id.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Envelope {
    /// Echoed in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The request.
    #[serde(flatten)]
    pub request: Request,
}

/// An error in a response.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// `invalid-request`, `invalid-state`, `bad-fd` or `failed`.
    pub kind: String,
    /// The whole error chain, for humans.
    pub message: String,
}

/// A response line.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// The request's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Whether it worked.
    pub ok: bool,
    /// Result data, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// The result of `status`, and of every request that answers with a
/// status. Both ends use this type: the VMM builds it, the host reads it,
/// and a missing or unknown field is an error on the host's side rather
/// than a silent zero.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatusReply {
    /// libvirt's `virDomainState`.
    pub state: u32,
    /// The state's reason, numbered per state as in libvirt.
    pub reason: u32,
    /// virsh's word for the state.
    pub state_name: String,
    /// vCPU threads' CPU time, summed over reboots.
    pub cpu_time_ns: u64,
    /// Guest memory, KiB.
    pub memory_kib: u64,
    /// vCPUs.
    pub vcpus: u32,
    /// A shutdown was asked for and the guest has not obeyed yet.
    pub shutdown_requested: bool,
    /// Masked CPUID features the host KVM still shows the guest.
    pub forced_cpuid: Vec<String>,
    /// Clients attached to the console.
    pub console_clients: usize,
    /// One record per network card (see PROTOCOL.md).
    pub nics: Vec<serde_json::Value>,
    /// One record per disk, in `disks` order.
    pub disks: Vec<DiskStatus>,
}

/// A disk's I/O counters since the VMM opened it (kept across guest
/// reboots): libvirt's block statistics. Failed requests count in
/// `errors` only.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DiskStatus {
    /// Reads done.
    pub rd_req: u64,
    /// Bytes read.
    pub rd_bytes: u64,
    /// Time spent serving reads, ns.
    pub rd_total_ns: u64,
    /// Writes done (discards and write-zeroes not counted).
    pub wr_req: u64,
    /// Bytes written.
    pub wr_bytes: u64,
    /// Time spent serving writes, ns.
    pub wr_total_ns: u64,
    /// Flushes done.
    pub flush_req: u64,
    /// Time spent serving flushes, ns.
    pub flush_total_ns: u64,
    /// Requests that failed or were malformed.
    pub errors: u64,
}

/// libvirt's virDomainState numbers, as the protocol carries them.
pub mod state {
    use wirt_vocab::State;

    /// VIR_DOMAIN_NOSTATE.
    pub const NOSTATE: u32 = State::NoState as u32;
    /// VIR_DOMAIN_RUNNING.
    pub const RUNNING: u32 = State::Running as u32;
    /// VIR_DOMAIN_PAUSED.
    pub const PAUSED: u32 = State::Paused as u32;
    /// VIR_DOMAIN_SHUTDOWN (being shut down).
    pub const SHUTDOWN: u32 = State::Shutdown as u32;
    /// VIR_DOMAIN_SHUTOFF.
    pub const SHUTOFF: u32 = State::Shutoff as u32;
    /// VIR_DOMAIN_CRASHED.
    pub const CRASHED: u32 = State::Crashed as u32;
}

/// libvirt's state reasons, as the protocol carries them.
pub use wirt_vocab::reason;

/// Name of a virDomainState number.
pub fn state_name(state: u32) -> &'static str {
    wirt_vocab::State::from_u32(state).map_or("no state", wirt_vocab::State::virsh_name)
}

/// An asynchronous event line.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Event {
    /// `poweroff`, `reboot`, `crashed`, `shutdown-requested`.
    pub event: String,
    /// virDomainState after the event.
    pub state: u32,
    /// Reason number after the event.
    pub reason: u32,
    /// Free text (e.g. a crash description).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        let e: Envelope = serde_json::from_str(r#"{"id":3,"op":"status"}"#).unwrap();
        assert_eq!(e.id, Some(3));
        assert_eq!(e.request, Request::Status);
        let e: Envelope = serde_json::from_str(
            r#"{"op":"boot","memory_mib":32,"disks":[{"fd":{"fd":5},"serial":"d0"}],"on_reboot":"destroy"}"#,
        )
        .unwrap();
        let Request::Boot(b) = e.request else {
            panic!("not boot")
        };
        assert_eq!(b.kernel, KernelRef::Builtin("test-guest".into()));
        assert_eq!(b.memory_mib, 32);
        assert_eq!(b.disks[0].fd, FdRef::Fd(5));
        // Records from before formats existed are raw, without backing files.
        assert_eq!(b.disks[0].format, DiskFormat::Raw);
        assert!(b.disks[0].backing.is_empty());
        assert_eq!(b.policies.on_reboot, LifecycleAction::Destroy);
        assert_eq!(b.policies.on_crash, LifecycleAction::Destroy);
        let e: Envelope = serde_json::from_str(
            r#"{"op":"boot","nics":[{"fd":{"passed":0},"mac":"52:54:00:00:00:01","link":"down"}]}"#,
        )
        .unwrap();
        let Request::Boot(b) = e.request else {
            panic!("not boot")
        };
        assert_eq!(b.nics[0].link, Some(LinkState::Down));
        assert_eq!(b.nics[0].mtu, None);
        let e: Envelope =
            serde_json::from_str(r#"{"op":"set-link","mac":"52:54:00:00:00:01","link":"up"}"#)
                .unwrap();
        assert_eq!(
            e.request,
            Request::SetLink {
                nic: None,
                mac: Some("52:54:00:00:00:01".into()),
                link: LinkState::Up
            }
        );
        let e: Envelope = serde_json::from_str(r#"{"op":"save","to":{"passed":0}}"#).unwrap();
        assert_eq!(
            e.request,
            Request::Save {
                to: FdRef::Passed(0),
                stop: true
            }
        );
        let e: Envelope =
            serde_json::from_str(r#"{"op":"migrate-send","to":{"passed":0}}"#).unwrap();
        assert_eq!(
            e.request,
            Request::MigrateSend(MigrateSendRequest {
                to: FdRef::Passed(0),
                max_downtime_ms: 300,
                bandwidth_mib_s: None,
                max_rounds: 30,
                converge: None,
                progress: None,
                copy_storage: false,
            })
        );
        let e: Envelope =
            serde_json::from_str(r#"{"op":"migrate-receive","from":{"fd":4}}"#).unwrap();
        let Request::MigrateReceive(r) = e.request else {
            panic!("not migrate-receive")
        };
        assert_eq!(r.from, FdRef::Fd(4));
        let line = serde_json::to_string(&Envelope {
            id: None,
            request: Request::ConsoleInput { data: "p".into() },
        })
        .unwrap();
        assert_eq!(line, r#"{"op":"console-input","data":"p"}"#);
    }

    #[test]
    fn disk_formats() {
        let d: DiskRef = serde_json::from_str(
            r#"{"fd":{"fd":5},"format":"qcow2","backing":[{"fd":6},{"passed":1}]}"#,
        )
        .unwrap();
        assert_eq!(d.format, DiskFormat::Qcow2);
        assert_eq!(d.backing, vec![FdRef::Fd(6), FdRef::Passed(1)]);
        // A format the VMM cannot serve is a malformed request, never raw.
        assert!(serde_json::from_str::<DiskRef>(r#"{"fd":{"fd":5},"format":"vmdk"}"#).is_err());
        let raw = serde_json::to_string(&DiskRef {
            fd: FdRef::Fd(3),
            format: DiskFormat::Raw,
            backing: Vec::new(),
            readonly: false,
            serial: String::new(),
        })
        .unwrap();
        assert_eq!(
            raw,
            r#"{"fd":{"fd":3},"format":"raw","readonly":false,"serial":""}"#
        );
    }
}
