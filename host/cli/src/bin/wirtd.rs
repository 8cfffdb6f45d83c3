//! `wirtd`: serves wirt's drivers over libvirt's remote protocol, so virsh,
//! python-libvirt and `wirt -c DRIVER+unix:///...` manage this host.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use wirt_remote::client::default_socket;
use wirt_remote::server::{self, Config};

/// libvirtd's TCP port, for `--listen` without `--tcp`.
const DEFAULT_TCP: &str = "127.0.0.1:16509";

#[derive(Parser, Debug)]
#[command(
    name = "wirtd",
    version,
    about = "wirt's daemon: libvirt's remote protocol on unix sockets"
)]
struct Args {
    /// Serve the system instance: sockets in /run/wirt, default URI kvm:///system
    /// (the default for root).
    #[arg(long, conflicts_with = "session")]
    system: bool,
    /// Serve the session instance: sockets in $XDG_RUNTIME_DIR/wirt (or
    /// WIRT_RUNTIME_DIR), default URI kvm:///session (the default otherwise).
    #[arg(long)]
    session: bool,
    /// The read-write socket (mode 0600).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The read-only socket (mode 0666).
    #[arg(long, value_name = "PATH")]
    ro_socket: Option<PathBuf>,
    /// A group (name or number) whose members may use the read-write socket
    /// besides root and the daemon's user; it owns both sockets
    /// (libvirtd's unix_sock_group).
    #[arg(long, value_name = "GROUP")]
    unix_sock_group: Option<String>,
    /// Mode of the read-write socket, in octal (libvirtd's unix_sock_rw_perms).
    #[arg(long, value_name = "MODE", value_parser = octal)]
    unix_sock_rw_perms: Option<u32>,
    /// Mode of the read-only socket, in octal (libvirtd's unix_sock_ro_perms).
    #[arg(long, value_name = "MODE", value_parser = octal)]
    unix_sock_ro_perms: Option<u32>,
    /// Serve no read-only socket.
    #[arg(long)]
    no_ro_socket: bool,
    /// Also accept TCP connections, on --tcp or 127.0.0.1:16509.
    #[arg(long)]
    listen: bool,
    /// Loopback address for unauthenticated TCP (tests).
    #[arg(long, value_name = "ADDR")]
    tcp: Option<SocketAddr>,
    /// The URI a client opening the default connection gets.
    #[arg(long, value_name = "URI")]
    default_uri: Option<String>,
    /// Log connections and refused calls on stderr.
    #[arg(short, long)]
    verbose: bool,
    /// Most clients served at once (libvirtd's max_clients); more are closed.
    #[arg(long, value_name = "N", default_value_t = server::DEFAULT_MAX_CLIENTS)]
    max_clients: usize,
    /// Seconds a client may take to finish sending a packet it has begun.
    #[arg(long, value_name = "SECS", default_value_t = server::DEFAULT_PACKET_TIMEOUT.as_secs())]
    packet_timeout: u64,
}

fn octal(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not a mode in octal, such as 0770"))
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn main() {
    let args = Args::parse();
    // A daemon may itself reach other daemons (peer-to-peer migration).
    wirt_remote::install();
    let system = args.system || (!args.session && is_root());
    let tcp = match (args.tcp, args.listen) {
        (Some(addr), _) => Some(addr),
        (None, true) => DEFAULT_TCP.parse().ok(),
        (None, false) => None,
    };
    let rw_group = match args.unix_sock_group.as_deref() {
        None => None,
        Some(name) => match server::peer::resolve_group(name) {
            Some(gid) => Some(gid),
            None => {
                eprintln!("wirtd: unix_sock_group: no group {name:?}");
                std::process::exit(1);
            }
        },
    };
    let config = Config {
        socket: Some(args.socket.unwrap_or_else(|| default_socket(system, false))),
        ro_socket: if args.no_ro_socket {
            None
        } else {
            Some(
                args.ro_socket
                    .unwrap_or_else(|| default_socket(system, true)),
            )
        },
        rw_perms: args.unix_sock_rw_perms.unwrap_or(server::DEFAULT_RW_PERMS),
        ro_perms: args.unix_sock_ro_perms.unwrap_or(server::DEFAULT_RO_PERMS),
        policy: server::peer::Policy { rw_group },
        tcp,
        default_uri: args.default_uri.unwrap_or_else(|| {
            if system {
                "kvm:///system".into()
            } else {
                "kvm:///session".into()
            }
        }),
        verbose: args.verbose,
        max_clients: args.max_clients,
        packet_timeout: std::time::Duration::from_secs(args.packet_timeout.max(1)),
    };
    for path in config.socket.iter().chain(&config.ro_socket) {
        eprintln!("wirtd: listening on {}", path.display());
    }
    if let Some(addr) = config.tcp {
        eprintln!("wirtd: listening on tcp {addr}");
    }
    if let Err(e) = server::run(config) {
        let mut line = format!("wirtd: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            line.push_str(&format!(": {s}"));
            source = s.source();
        }
        eprintln!("{line}");
        std::process::exit(1);
    }
}
