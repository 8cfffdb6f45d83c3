//! Domain commands.

mod blockjob;
mod describe;
mod devices;
mod event;
mod iface;
mod info;
mod lifecycle;
mod media;
mod migrate;
mod monitor;
mod settings;
mod stats;

use iface::*;
use info::*;
use lifecycle::*;
use migrate::*;
use settings::*;
use stats::*;
use std::path::Path;

use serde_json::json;

use crate::parse::{Args, argv, data, data_opt, flag, named};
use crate::{CmdError, CmdResult, Command, Context, Ctx, Reply};
use crate::{common, lookup};
use wirt::Domain;
use wirt::connect::domain_flags as df;
use wirt::connect::list_flags as lf;
use wirt::lifecycle::State;
use wirt::xml::units;

const G: &str = "Domain Management";

const M: &str = "Domain Monitoring";

pub use blockjob::COMMANDS as BLOCK_JOB_COMMANDS;
pub use describe::COMMANDS as DESCRIBE_COMMANDS;
pub use devices::COMMANDS as DEVICE_COMMANDS;
pub use media::COMMANDS as MEDIA_COMMANDS;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "list",
        group: M,
        help: "list domains",
        run: list,
        opts: &[
            flag("all", "list inactive & active domains"),
            flag("inactive", "list inactive domains"),
            flag("transient", "list transient domains"),
            flag("persistent", "list persistent domains"),
            flag("with-snapshot", "list domains with existing snapshot"),
            flag("without-snapshot", "list domains without a snapshot"),
            flag("state-running", "list domains in running state"),
            flag("state-paused", "list domains in paused state"),
            flag("state-shutoff", "list domains in shutoff state"),
            flag("state-other", "list domains in other states"),
            flag("autostart", "list domains with autostart enabled"),
            flag("no-autostart", "list domains with autostart disabled"),
            flag("with-managed-save", "list domains with managed save state"),
            flag("without-managed-save", "list domains without managed save"),
            flag("uuid", "list uuid's only"),
            flag("name", "list domain names only"),
            flag("id", "list domain IDs only"),
            flag("table", "list table (default)"),
            flag(
                "managed-save",
                "mark inactive domains with managed save state",
            ),
            flag("title", "show domain title"),
        ],
    },
    Command {
        name: "define",
        group: G,
        help: "define (but don't start) a domain from an XML file",
        run: define,
        opts: &[
            data("file", "file containing an XML domain description"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "create",
        group: G,
        help: "create a domain from an XML file",
        run: create,
        opts: &[
            data("file", "file containing an XML domain description"),
            flag("paused", "leave the guest paused after creation"),
            flag(
                "autodestroy",
                "automatically destroy the guest when virsh disconnects",
            ),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "undefine",
        group: G,
        help: "undefine a domain",
        run: undefine,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("managed-save", "remove domain managed state file"),
            flag(
                "snapshots-metadata",
                "remove all domain snapshot metadata, if inactive",
            ),
            flag("nvram", "remove nvram file"),
            flag("keep-nvram", "keep nvram file"),
            flag(
                "checkpoints-metadata",
                "remove all domain checkpoint metadata",
            ),
        ],
    },
    Command {
        name: "start",
        group: G,
        help: "start a (previously defined) inactive domain",
        run: start,
        opts: &[
            data("domain", "name of the inactive domain"),
            flag("paused", "leave the guest paused after start"),
            flag(
                "autodestroy",
                "automatically destroy the guest when virsh disconnects",
            ),
            flag("bypass-cache", "avoid file system cache when loading"),
            flag(
                "force-boot",
                "force fresh boot by discarding any managed save",
            ),
        ],
    },
    Command {
        name: "shutdown",
        group: G,
        help: "gracefully shutdown a domain",
        run: shutdown,
        opts: &[
            data("domain", "domain name, id or uuid"),
            named("mode", "shutdown mode"),
        ],
    },
    Command {
        name: "reboot",
        group: G,
        help: "reboot a domain",
        run: reboot,
        opts: &[
            data("domain", "domain name, id or uuid"),
            named("mode", "shutdown mode"),
        ],
    },
    Command {
        name: "reset",
        group: G,
        help: "reset a domain",
        run: reset,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "destroy",
        group: G,
        help: "destroy (stop) a domain",
        run: destroy,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("graceful", "terminate gracefully"),
        ],
    },
    Command {
        name: "suspend",
        group: G,
        help: "suspend a domain",
        run: suspend,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "resume",
        group: G,
        help: "resume a domain",
        run: resume,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "dominfo",
        group: M,
        help: "domain information",
        run: dominfo,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "domblkstat",
        group: M,
        help: "get device block stats for a domain",
        run: domblkstat,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("device", "block device"),
            flag("human", "print a more human readable output"),
        ],
    },
    Command {
        name: "domifstat",
        group: M,
        help: "get network interface stats for a domain",
        run: domifstat,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data(
                "interface",
                "interface device specified by name or MAC Address",
            ),
        ],
    },
    Command {
        name: "domstats",
        group: M,
        help: "get statistics about one or multiple domains",
        run: domstats,
        opts: &[
            flag("state", "report domain state"),
            flag("cpu-total", "report domain physical cpu usage"),
            flag("balloon", "report domain balloon statistics"),
            flag("vcpu", "report domain virtual cpu information"),
            flag("interface", "report domain network interface information"),
            flag("block", "report domain block device statistics"),
            flag("list-active", "list only active domains"),
            flag("list-inactive", "list only inactive domains"),
            flag("list-persistent", "list only persistent domains"),
            flag("list-transient", "list only transient domains"),
            flag("list-running", "list only running domains"),
            flag("list-paused", "list only paused domains"),
            flag("list-shutoff", "list only shutoff domains"),
            flag("list-other", "list only domains in other states"),
            flag("enforce", "enforce requested stats parameters"),
            data_opt("domain", "domain name, id or uuid"),
        ],
    },
    Command {
        name: "domstate",
        group: M,
        help: "domain state",
        run: domstate,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("reason", "also print reason for the state"),
        ],
    },
    Command {
        name: "domfsfreeze",
        group: G,
        help: "Freeze domain's mounted filesystems.",
        run: domfsfreeze,
        opts: &[
            data("domain", "domain name, id or uuid"),
            argv("mountpoint", "mountpoint path to be frozen"),
        ],
    },
    Command {
        name: "domfsthaw",
        group: G,
        help: "Thaw domain's mounted filesystems.",
        run: domfsthaw,
        opts: &[
            data("domain", "domain name, id or uuid"),
            argv("mountpoint", "mountpoint path to be thawed"),
        ],
    },
    Command {
        name: "domhostname",
        group: G,
        help: "print the domain's hostname",
        run: domhostname,
        opts: &[
            data("domain", "domain name, id or uuid"),
            named("source", "address source: 'lease' or 'agent'"),
        ],
    },
    Command {
        name: "domid",
        group: G,
        help: "convert a domain name or UUID to domain id",
        run: domid,
        opts: &[data("domain", "domain name or uuid")],
    },
    Command {
        name: "domtime",
        group: G,
        help: "domain time",
        run: domtime,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("now", "set to the time of the host running virsh"),
            flag("pretty", "print domain's time in human readable form"),
            flag(
                "sync",
                "instead of setting given time, synchronize from domain's RTC",
            ),
            named("time", "time to set"),
        ],
    },
    Command {
        name: "domname",
        group: G,
        help: "convert a domain id or UUID to domain name",
        run: domname,
        opts: &[data("domain", "domain id or uuid")],
    },
    Command {
        name: "domuuid",
        group: G,
        help: "convert a domain name or id to domain UUID",
        run: domuuid,
        opts: &[data("domain", "domain id or name")],
    },
    Command {
        name: "dumpxml",
        group: G,
        help: "domain information in XML",
        run: dumpxml,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("inactive", "show inactive defined XML"),
            flag(
                "security-info",
                "include security sensitive information in XML dump",
            ),
            flag("update-cpu", "update guest CPU according to host CPU"),
            flag("migratable", "provide XML suitable for migrations"),
        ],
    },
    Command {
        name: "autostart",
        group: G,
        help: "autostart a domain",
        run: autostart,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("disable", "disable autostarting"),
        ],
    },
    Command {
        name: "migrate",
        group: G,
        help: "migrate domain to another host",
        run: migrate,
        opts: &[
            flag("live", "live migration"),
            flag("offline", "offline migration"),
            flag("p2p", "peer-2-peer migration"),
            flag("direct", "direct migration"),
            flag("tunnelled", "tunnelled migration"),
            flag("persistent", "persist VM on destination"),
            flag("undefinesource", "undefine VM on source"),
            flag(
                "suspend",
                "do not restart the domain on the destination host",
            ),
            flag(
                "copy-storage-all",
                "migration with non-shared storage with full disk copy",
            ),
            flag(
                "copy-storage-inc",
                "migration with non-shared storage with incremental copy",
            ),
            flag("unsafe", "force migration even if it may be unsafe"),
            flag("abort-on-error", "abort on soft errors during migration"),
            flag("verbose", "display the progress of migration"),
            data("domain", "domain name, id or uuid"),
            data(
                "desturi",
                "connection URI of the destination host as seen from the client(normal migration) or source(p2p migration)",
            ),
            data_opt("migrateuri", "migration URI, usually can be omitted"),
            named(
                "listen-address",
                "listen address that destination should bind to for incoming migration",
            ),
            named(
                "dname",
                "rename to new name during migration (if supported)",
            ),
            named("bandwidth", "migration bandwidth limit in MiB/s"),
            named("xml", "filename containing updated XML for the target"),
            named(
                "timeout",
                "run action specified by --timeout-* option (suspend by default) if live migration exceeds timeout (in seconds)",
            ),
            flag("timeout-suspend", "suspend the guest after timeout"),
            flag("timeout-postcopy", "switch to post-copy after timeout"),
        ],
    },
    Command {
        name: "domjobinfo",
        group: M,
        help: "domain job information",
        run: domjobinfo,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("completed", "return statistics of a recently completed job"),
            flag(
                "keep-completed",
                "don't destroy statistics of a recently completed job",
            ),
            flag(
                "anystats",
                "print statistics for any kind of job (even failed ones)",
            ),
            flag("rawstats", "print the raw data returned by libvirt"),
        ],
    },
    Command {
        name: "domjobabort",
        group: G,
        help: "abort active domain job",
        run: domjobabort,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "migrate-setmaxdowntime",
        group: G,
        help: "set maximum tolerable downtime",
        run: migrate_setmaxdowntime,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data(
                "downtime",
                "maximum tolerable downtime (in milliseconds) for migration",
            ),
        ],
    },
    Command {
        name: "migrate-getmaxdowntime",
        group: G,
        help: "get maximum tolerable downtime",
        run: migrate_getmaxdowntime,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "migrate-setspeed",
        group: G,
        help: "Set the maximum migration bandwidth",
        run: migrate_setspeed,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("bandwidth", "migration bandwidth limit in MiB/s"),
        ],
    },
    Command {
        name: "migrate-getspeed",
        group: G,
        help: "Get the maximum migration bandwidth",
        run: migrate_getspeed,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "domrename",
        group: G,
        help: "rename a domain",
        run: domrename,
        opts: &[
            data("domain", "domain name or uuid"),
            data("new-name", "new domain name"),
        ],
    },
    Command {
        name: "setmem",
        group: G,
        help: "change memory allocation",
        run: setmem,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("size", "new memory size, as scaled integer (default KiB)"),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
        ],
    },
    Command {
        name: "setmaxmem",
        group: G,
        help: "change maximum memory limit",
        run: setmaxmem,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data(
                "size",
                "new maximum memory size, as scaled integer (default KiB)",
            ),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
        ],
    },
    Command {
        name: "setvcpus",
        group: G,
        help: "change number of virtual CPUs",
        run: setvcpus,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("count", "number of virtual CPUs"),
            flag("maximum", "set maximum limit on next boot"),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
            flag("guest", "modify cpu state in the guest"),
        ],
    },
    Command {
        name: "vcpucount",
        group: M,
        help: "domain vcpu counts",
        run: vcpucount,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("maximum", "get maximum count of vcpus"),
            flag("active", "get number of currently active vcpus"),
            flag("live", "get value from running domain"),
            flag("config", "get value to be used on next boot"),
            flag("current", "get value according to current domain state"),
            flag("guest", "retrieve vcpu count from the guest"),
        ],
    },
    Command {
        name: "save",
        group: G,
        help: "save a domain state to a file",
        run: save,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("file", "where to save the data"),
            flag("bypass-cache", "avoid file system cache when saving"),
            named("xml", "filename containing updated XML for the target"),
            flag("running", "set domain to be running on restore"),
            flag("paused", "set domain to be paused on restore"),
            flag("verbose", "display the progress of save"),
        ],
    },
    Command {
        name: "restore",
        group: G,
        help: "restore a domain from a saved state in a file",
        run: restore,
        opts: &[
            data("file", "the state to restore"),
            flag("bypass-cache", "avoid file system cache when restoring"),
            named("xml", "filename containing updated XML for the target"),
            flag("running", "restore domain into running state"),
            flag("paused", "restore domain into paused state"),
        ],
    },
    Command {
        name: "save-image-dumpxml",
        group: G,
        help: "saved state domain information in XML",
        run: save_image_dumpxml,
        opts: &[
            data("file", "saved state file to read"),
            flag(
                "security-info",
                "include security sensitive information in XML dump",
            ),
        ],
    },
    Command {
        name: "managedsave",
        group: G,
        help: "managed save of a domain state",
        run: managedsave,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("bypass-cache", "avoid file system cache when saving"),
            flag("running", "set domain to be running on next start"),
            flag("paused", "set domain to be paused on next start"),
            flag("verbose", "display the progress of save"),
        ],
    },
    Command {
        name: "managedsave-remove",
        group: G,
        help: "Remove managed save of a domain",
        run: managedsave_remove,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "domblklist",
        group: M,
        help: "list all domain blocks",
        run: domblklist,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("inactive", "get inactive rather than running configuration"),
            flag("details", "additionally display the type and device value"),
        ],
    },
    Command {
        name: "domiflist",
        group: M,
        help: "list all domain virtual interfaces",
        run: domiflist,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("inactive", "get inactive rather than running configuration"),
        ],
    },
    Command {
        name: "domif-setlink",
        group: M,
        help: "set link state of a virtual interface",
        run: domif_setlink,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("interface", "interface device (MAC Address)"),
            data("state", "new state of the device"),
            flag("config", "affect next boot"),
        ],
    },
    Command {
        name: "domif-getlink",
        group: M,
        help: "get link state of a virtual interface",
        run: domif_getlink,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("interface", "interface device (MAC Address)"),
            flag("config", "Get persistent interface state"),
        ],
    },
    Command {
        name: "console",
        group: G,
        help: "connect to the guest console",
        run: console,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("devname", "character device name"),
            flag("force", "force console connection"),
            flag("safe", "only connect if safe console handling is supported"),
        ],
    },
    Command {
        name: "event",
        group: G,
        help: "Domain Events",
        run: event::event,
        opts: &[
            data_opt("domain", "filter by domain name, id or uuid"),
            named("event", "which event type to wait for"),
            flag("all", "wait for all events instead of just one type"),
            flag(
                "loop",
                "loop until timeout or interrupt, rather than one-shot",
            ),
            named("timeout", "timeout seconds"),
            flag("list", "list valid event types"),
            flag("timestamp", "show timestamp for each printed event"),
        ],
    },
    Command {
        name: "dommemstat",
        group: M,
        help: "get memory statistics for a domain",
        run: monitor::dommemstat,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
        ],
    },
    Command {
        name: "domblkinfo",
        group: M,
        help: "domain block device size information",
        run: monitor::domblkinfo,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("device", "block device"),
            flag("human", "Human readable output"),
            flag("all", "display all block devices info"),
        ],
    },
    Command {
        name: "vcpuinfo",
        group: G,
        help: "detailed domain vcpu information",
        run: monitor::vcpuinfo,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("pretty", "return human readable output"),
        ],
    },
    Command {
        name: "vcpupin",
        group: G,
        help: "control or query domain vcpu affinity",
        run: monitor::vcpupin,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("vcpu", "vcpu number"),
            data_opt(
                "cpulist",
                "host cpu number(s) to set, or omit option to query",
            ),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
        ],
    },
    Command {
        name: "emulatorpin",
        group: G,
        help: "control or query domain emulator affinity",
        run: monitor::emulatorpin,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt(
                "cpulist",
                "host cpu number(s) to set, or omit option to query",
            ),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
        ],
    },
    Command {
        name: "cpu-stats",
        group: M,
        help: "show domain cpu statistics",
        run: monitor::cpu_stats,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("total", "Show total statistics only"),
            named("start", "Show statistics from this CPU"),
            named("count", "Number of shown CPUs at most"),
        ],
    },
    Command {
        name: "schedinfo",
        group: G,
        help: "show/set scheduler parameters",
        run: monitor::schedinfo,
        opts: &[
            data("domain", "domain name, id or uuid"),
            named("weight", "weight for XEN_CREDIT"),
            named("cap", "cap for XEN_CREDIT"),
            flag("current", "get/set current scheduler info"),
            flag("config", "get/set value to be used on next boot"),
            flag("live", "get/set value from running domain"),
            named("set", "parameter=value"),
        ],
    },
];

fn dom(ctx: &mut Ctx, args: &Args) -> Result<Domain, CmdError> {
    lookup::domain(ctx, args.req("domain"))
}

macro_rules! simple {
    ($fn:ident, $call:ident, $fail:literal, $ok:literal) => {
        fn $fn(ctx: &mut Ctx, args: &Args) -> CmdResult {
            let d = dom(ctx, args)?;
            // virsh names the domain as the user did (`suspend 1`).
            let name = args.req("domain");
            d.$call().ctx(|| format!($fail, name))?;
            Ok(Reply::message(format!($ok, name)))
        }
    };
}

simple!(
    shutdown,
    shutdown,
    "Failed to shutdown domain '{}'",
    "Domain '{}' is being shutdown"
);

simple!(
    reset,
    reset,
    "Failed to reset domain '{}'",
    "Domain '{}' was reset"
);

simple!(
    destroy,
    destroy,
    "Failed to destroy domain '{}'",
    "Domain '{}' destroyed"
);

simple!(
    suspend,
    suspend,
    "Failed to suspend domain '{}'",
    "Domain '{}' suspended"
);

simple!(
    resume,
    resume,
    "Failed to resume domain '{}'",
    "Domain '{}' resumed"
);
