//! `wirt`'s own options, before the command: virsh's `-c`, `-r`, `-q`,
//! plus `--json`. Everything from the first word that is not an option on
//! is the command, passed through untouched.

use clap::Parser;

/// wirt [options]... [<command_string>] | wirt [options]... <command> [args...]
#[derive(Parser, Debug)]
#[command(
    name = "wirt",
    version,
    disable_version_flag = true,
    about = "wirt: virsh's commands over wirt's drivers",
    after_help = "commands (non interactive mode): see 'wirt help'"
)]
pub struct Options {
    /// hypervisor connection URI
    #[arg(short = 'c', long = "connect", value_name = "URI")]
    pub connect: Option<String>,
    /// connect readonly
    #[arg(short = 'r', long = "readonly")]
    pub readonly: bool,
    /// quiet mode
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// machine-readable output (JSON)
    #[arg(long)]
    pub json: bool,
    /// program version (just the number, as virsh prints it)
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// The command and its arguments, or one `;`-joined command string.
    #[arg(trailing_var_arg = true)]
    pub command: Vec<String>,
}
