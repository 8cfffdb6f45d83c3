//! Plugin commands (no virsh twin): plugin-list, plugin-info, plugin-install.

mod handlers;

use handlers::*;
use std::path::Path;

use serde_json::json;

use crate::parse::{Args, data, named};
use crate::{CmdError, CmdResult, Command, Ctx, Reply};
use wirt::plugin::catalog::{self, Entry, error_chain};
use wirt::plugin::manifest::Access;
use wirt::plugin::policy::Policy;

const G: &str = "Plugins";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "plugin-list",
        group: G,
        help: "list driver plugins",
        opts: &[],
        run: list,
    },
    Command {
        name: "plugin-info",
        group: G,
        help: "show a plugin's exports, imports and capabilities",
        opts: &[data("plugin", "plugin name, or a .wasm file")],
        run: info,
    },
    Command {
        name: "plugin-install",
        group: G,
        help: "validate a plugin and install it for this user",
        opts: &[
            data("file", "the plugin's .wasm file"),
            named("manifest", "its plugin.toml (default: beside the .wasm)"),
        ],
        run: install,
    },
];

fn policy() -> Result<Policy, CmdError> {
    Policy::load().map_err(|e| CmdError::msg(error_chain(&e)))
}
