//! Host commands: version, uri, hostname, nodeinfo, capabilities,
//! maxvcpus, and `conformance` (runs the `wirt-conformance` binary installed
//! beside `wirt`).

mod builtins;
mod handlers;
mod monitor;

pub use builtins::BUILTINS;
use handlers::*;
use std::os::fd::AsFd;

use serde_json::json;

use crate::parse::{Args, data, flag, named};
use crate::{CmdError, CmdResult, Command, Ctx, Reply};

pub static COMMANDS: &[Command] = &[
    Command {
        name: "version",
        group: "Host and Hypervisor",
        help: "show version",
        opts: &[],
        run: version,
    },
    Command {
        name: "uri",
        group: "Host and Hypervisor",
        help: "print the hypervisor canonical URI",
        opts: &[],
        run: uri,
    },
    Command {
        name: "hostname",
        group: "Host and Hypervisor",
        help: "print the hypervisor hostname",
        opts: &[],
        run: hostname,
    },
    Command {
        name: "nodeinfo",
        group: "Host and Hypervisor",
        help: "node information",
        opts: &[],
        run: nodeinfo,
    },
    Command {
        name: "capabilities",
        group: "Host and Hypervisor",
        help: "capabilities",
        opts: &[],
        run: capabilities,
    },
    Command {
        name: "domcapabilities",
        group: "Host and Hypervisor",
        help: "domain capabilities",
        opts: &[
            named("virttype", "virtualization type (/domain/@type)"),
            named(
                "emulatorbin",
                "path to emulator binary (/domain/devices/emulator)",
            ),
            named("arch", "domain architecture (/domain/os/type/@arch)"),
            named("machine", "machine type (/domain/os/type/@machine)"),
            named("xpath", "xpath expression to filter the XML document"),
        ],
        run: domcapabilities,
    },
    Command {
        name: "maxvcpus",
        group: "Host and Hypervisor",
        help: "connection vcpu maximum",
        opts: &[],
        run: maxvcpus,
    },
    Command {
        name: "nodecpustats",
        group: "Host and Hypervisor",
        help: "Prints cpu stats of the node.",
        opts: &[
            named("cpu", "prints specified cpu statistics only."),
            flag("percent", "prints by percentage during 1 second."),
        ],
        run: monitor::nodecpustats,
    },
    Command {
        name: "nodememstats",
        group: "Host and Hypervisor",
        help: "Prints memory stats of the node.",
        opts: &[named("cell", "prints specified cell statistics only.")],
        run: monitor::nodememstats,
    },
    Command {
        name: "freecell",
        group: "Host and Hypervisor",
        help: "NUMA free memory",
        opts: &[
            named("cellno", "NUMA cell number"),
            flag("all", "show free memory for all NUMA cells"),
        ],
        run: monitor::freecell,
    },
    Command {
        name: "nodecpumap",
        group: "Host and Hypervisor",
        help: "node cpu map",
        opts: &[flag("pretty", "return human readable output")],
        run: monitor::nodecpumap,
    },
    Command {
        name: "cpu-models",
        group: "Host and Hypervisor",
        help: "CPU models",
        opts: &[data("arch", "architecture")],
        run: monitor::cpu_models,
    },
    Command {
        name: "conformance",
        group: "Plugins",
        help: "check a driver against the lifecycle rules (runs wirt-conformance)",
        opts: CONFORMANCE_OPTS,
        run: conformance,
    },
];

/// `wirt-conformance`'s options, passed through as given.
static CONFORMANCE_OPTS: &[crate::parse::Opt] = &[
    named(
        "uri",
        "connection URI to check (default: -c, else the default URI)",
    ),
    named("plugin", "driver plugin (.wasm) to check, loaded directly"),
    named("plugin-uri", "URI the plugin's open receives"),
    named("cases", "generated cases per property"),
    named("seed", "seed of the generator"),
    named("json", "also write the report as JSON to this file"),
    named("pool-dir", "directory for the storage property's pools"),
    named("pool-type", "pool type the storage property defines"),
    named("property", "run only these properties (comma-separated)"),
    flag("shared", "run every case on the URI's own host"),
];
