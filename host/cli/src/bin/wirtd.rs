//! `wirtd`: serves wirt's drivers over libvirt's remote protocol, so virsh,
//! python-libvirt and `wirt -c DRIVER+unix:///...` manage this host.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;
use wirt_remote::client::default_socket;
use wirt_remote::server::{self, Config, TlsListen, conf};
use wirt_remote::tls::{DEFAULT_TLS_PORT, Pki, Side};

/// libvirtd's `listen_addr` default: every address.
const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0";

#[derive(Parser, Debug)]
#[command(
    name = "wirtd",
    version,
    about = "wirt's daemon: libvirt's remote protocol on unix sockets and TLS"
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
    /// Also accept TLS connections with client certificates, as libvirtd
    /// --listen: on listen_addr:tls_port (default 0.0.0.0:16514) unless the
    /// config file says listen_tls = 0.
    #[arg(long)]
    listen: bool,
    /// Accept TLS connections on this address (overrides listen_addr and
    /// tls_port; implies --listen).
    #[arg(long, value_name = "ADDR")]
    tls: Option<SocketAddr>,
    /// TLS credentials in one directory, as libvirt's client pkipath:
    /// cacert.pem, servercert.pem, serverkey.pem (default: key_file,
    /// cert_file, ca_file, else /etc/pki/..., or ~/.pki/libvirt/ for
    /// non-root).
    #[arg(long, value_name = "DIR")]
    pki_path: Option<PathBuf>,
    /// Loopback address for unauthenticated TCP (tests).
    #[arg(long, value_name = "ADDR")]
    tcp: Option<SocketAddr>,
    /// The URI a client opening the default connection gets.
    #[arg(long, value_name = "URI")]
    default_uri: Option<String>,
    /// Log connections and refused calls on stderr.
    #[arg(short, long)]
    verbose: bool,
    /// Most clients served at once (libvirtd's max_clients, default 5000);
    /// more are closed.
    #[arg(long, value_name = "N")]
    max_clients: Option<usize>,
    /// Seconds a client may take to finish sending a packet it has begun
    /// (default 60).
    #[arg(long, value_name = "SECS")]
    packet_timeout: Option<u64>,
    /// The config file, in libvirtd.conf's syntax (default:
    /// /etc/wirt/wirtd.conf for --system, $XDG_CONFIG_HOME/wirt/wirtd.conf
    /// otherwise, if it exists). Flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
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

/// The config file: the one named, or the mode's default if it exists.
fn config_file(named: Option<PathBuf>, system: bool) -> Option<PathBuf> {
    if named.is_some() {
        return named;
    }
    let default = if system {
        PathBuf::from("/etc/wirt/wirtd.conf")
    } else {
        std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?
            .join("wirt")
            .join("wirtd.conf")
    };
    default.is_file().then_some(default)
}

fn fail(e: &dyn std::error::Error) -> ! {
    let mut line = format!("wirtd: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        line.push_str(&format!(": {s}"));
        source = s.source();
    }
    eprintln!("{line}");
    std::process::exit(1);
}

fn main() {
    let args = Args::parse();
    // A daemon may itself reach other daemons (peer-to-peer migration).
    wirt_remote::install();
    let system = args.system || (!args.session && is_root());
    let file = match config_file(args.config.clone(), system) {
        Some(path) => match conf::load(&path) {
            Ok(settings) => {
                for (line, key) in &settings.unknown {
                    eprintln!(
                        "wirtd: {}:{line}: ignoring unknown setting {key}",
                        path.display()
                    );
                }
                settings
            }
            Err(e) => fail(&e),
        },
        None => conf::Settings::default(),
    };
    let tls = tls_listen(&args, &file);
    let group = args.unix_sock_group.or(file.unix_sock_group);
    let rw_group = match group.as_deref() {
        None => None,
        Some(name) => match server::peer::resolve_group(name) {
            Some(gid) => Some(gid),
            None => {
                eprintln!("wirtd: unix_sock_group: no group {name:?}");
                std::process::exit(1);
            }
        },
    };
    let keepalive = match (file.keepalive_interval, file.keepalive_count) {
        (Some(i), _) if i <= 0 => None,
        (interval, count) => Some(server::Keepalive {
            interval: interval.map_or(server::DEFAULT_KEEPALIVE.interval, |i| {
                std::time::Duration::from_secs(i as u64)
            }),
            count: count.unwrap_or(server::DEFAULT_KEEPALIVE.count),
        }),
    };
    let packet_timeout = args
        .packet_timeout
        .or(file.packet_timeout)
        .map_or(server::DEFAULT_PACKET_TIMEOUT, |s| {
            std::time::Duration::from_secs(s.max(1))
        });
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
        rw_perms: args
            .unix_sock_rw_perms
            .or(file.unix_sock_rw_perms)
            .unwrap_or(server::DEFAULT_RW_PERMS),
        ro_perms: args
            .unix_sock_ro_perms
            .or(file.unix_sock_ro_perms)
            .unwrap_or(server::DEFAULT_RO_PERMS),
        policy: server::peer::Policy { rw_group },
        tcp: args.tcp,
        tls,
        default_uri: args.default_uri.unwrap_or_else(|| {
            if system {
                "kvm:///system".into()
            } else {
                "kvm:///session".into()
            }
        }),
        verbose: args.verbose,
        max_clients: args
            .max_clients
            .or(file.max_clients)
            .unwrap_or(server::DEFAULT_MAX_CLIENTS),
        packet_timeout,
        keepalive,
        max_workers: file.max_workers.unwrap_or(server::DEFAULT_MAX_WORKERS),
        max_client_requests: file
            .max_client_requests
            .unwrap_or(server::DEFAULT_MAX_CLIENT_REQUESTS),
    };
    autostart(&config.default_uri);
    for path in config.socket.iter().chain(&config.ro_socket) {
        eprintln!("wirtd: listening on {}", path.display());
    }
    if let Some(addr) = config.tcp {
        eprintln!("wirtd: listening on tcp {addr}");
    }
    if let Some(tls) = &config.tls {
        eprintln!("wirtd: listening on tls {}", tls.addr);
    }
    if let Err(e) = server::run(config) {
        fail(&e);
    }
}

/// The TLS listener, if `--tls`, or `--listen` with `listen_tls` (on by
/// default, as in libvirtd). Credentials as libvirtd finds them: the
/// config file's `ca_file`, `cert_file` and `key_file` (all three, or
/// none), else `--pki-path`, else libvirt's default locations.
fn tls_listen(args: &Args, file: &conf::Settings) -> Option<TlsListen> {
    let addr = match args.tls {
        Some(addr) => addr,
        None if args.listen && file.listen_tls != Some(false) => {
            let host = file.listen_addr.as_deref().unwrap_or(DEFAULT_LISTEN_ADDR);
            let Ok(ip) = host.parse::<IpAddr>() else {
                eprintln!("wirtd: listen_addr: {host:?} is not an IP address");
                std::process::exit(1);
            };
            SocketAddr::new(ip, file.tls_port.unwrap_or(DEFAULT_TLS_PORT))
        }
        None => return None,
    };
    let pki = match (&file.ca_file, &file.cert_file, &file.key_file) {
        (Some(ca), Some(cert), Some(key)) => Pki {
            ca: ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
        },
        (None, None, None) => match &args.pki_path {
            Some(dir) => Pki::in_dir(dir, Side::Server),
            None => Pki::default_for(Side::Server, is_root()),
        },
        _ => {
            eprintln!("wirtd: ca_file, cert_file and key_file must be set together");
            std::process::exit(1);
        }
    };
    Some(TlsListen {
        addr,
        pki,
        verify_client: file.tls_no_verify_certificate != Some(true),
        allowed_dn: file.tls_allowed_dn_list.clone(),
    })
}

/// Starts the host's autostart networks and domains, as libvirtd does when
/// it starts. Only for the local KVM host it serves by default: a test
/// host lives in memory and has nothing to start yet. Failures are
/// reported; the daemon serves anyway.
fn autostart(uri: &str) {
    if !uri.starts_with("kvm:") && !uri.starts_with("qemu:") {
        return;
    }
    let conn = match wirt::Connect::open(uri) {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("wirtd: cannot open {uri} to autostart: {e}");
            return;
        }
    };
    match conn.run_autostart() {
        Ok(report) => {
            for name in &report.networks {
                eprintln!("wirtd: autostarted network '{name}'");
            }
            for name in &report.domains {
                eprintln!("wirtd: autostarted domain '{name}'");
            }
            for (what, e) in &report.failed {
                eprintln!("wirtd: cannot autostart {what}: {e}");
            }
        }
        Err(e) => eprintln!("wirtd: autostart failed: {e}"),
    }
}
