//! Where a remote URI points, and the name the daemon is asked to open.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use super::{ClientError, Result};
use crate::socket::Stream;
use crate::tls::{self, DEFAULT_TLS_PORT, Pki, Side};
use wirt::LocalDirs;
use wirt::connect::ParsedUri;

/// libvirtd's TCP port, the default for `+tcp` URIs.
pub const DEFAULT_TCP_PORT: u16 = 16509;

/// URI parameters that configure the transport, not the daemon's driver.
const TRANSPORT_PARAMS: &[&str] = &[
    "name",
    "socket",
    "mode",
    "proxy",
    "no_verify",
    "no_tty",
    "pkipath",
    "keyfile",
    "command",
    "netcat",
    "known_hosts",
    "sshauth",
];

/// A daemon's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A unix socket at this path.
    Unix(PathBuf),
    /// A TCP address (`host:port`).
    Tcp(String),
    /// TLS over TCP, libvirt's `+tls`.
    Tls(TlsTarget),
}

/// A `+tls` daemon and the credentials to reach it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTarget {
    /// `host:port`.
    pub addr: String,
    /// The host the server's certificate must name.
    pub host: String,
    /// The CA, the client's certificate and key.
    pub pki: Pki,
    /// Check the server's certificate (libvirt's `no_verify=1` turns it off).
    pub verify: bool,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Unix(path) => write!(f, "{}", path.display()),
            Target::Tcp(addr) => f.write_str(addr),
            Target::Tls(t) => f.write_str(&t.addr),
        }
    }
}

impl Target {
    /// Connects within `timeout`.
    pub fn connect(&self, timeout: Duration) -> Result<Stream> {
        let unreachable = |source| ClientError::Unreachable {
            target: self.to_string(),
            source,
        };
        match self {
            // A unix connect does not wait for the daemon: it either finds a
            // listening socket or fails at once.
            Target::Unix(path) => UnixStream::connect(path)
                .map(Stream::Unix)
                .map_err(unreachable),
            Target::Tcp(addr) => self.tcp(addr, timeout).map(Stream::Tcp),
            Target::Tls(t) => {
                // Credentials first: a missing file is reported as such,
                // whether or not the daemon is up.
                let config = tls::client_config(&t.pki, t.verify).map_err(ClientError::Tls)?;
                let name = tls::server_name(&t.host).map_err(ClientError::Tls)?;
                let tcp = self.tcp(&t.addr, timeout)?;
                tls::connect(tcp, name, config, timeout)
                    .map(Stream::Unix)
                    .map_err(ClientError::Tls)
            }
        }
    }

    fn tcp(&self, addr: &str, timeout: Duration) -> Result<TcpStream> {
        let unreachable = |source| ClientError::Unreachable {
            target: self.to_string(),
            source,
        };
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(unreachable)?.collect();
        let mut last = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(ClientError::Timeout {
                        target: self.to_string(),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(unreachable(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
        })))
    }
}

/// `host:port`, with `port` if the URI names none.
fn host_port(host: &str, port: u16) -> String {
    let host = if host.is_empty() { "localhost" } else { host };
    if host.contains(':') && !host.starts_with('[') || host.contains("]:") {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

/// The sockets of a wirtd: the read-write one and the read-only one, in
/// `/run/wirt` (system) or `$XDG_RUNTIME_DIR/wirt` (session), or
/// `WIRT_RUNTIME_DIR`.
pub fn default_socket(system: bool, read_only: bool) -> PathBuf {
    let dir = LocalDirs::for_mode(system).runtime;
    dir.join(if read_only {
        "wirt-sock-ro"
    } else {
        "wirt-sock"
    })
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The address and the URI to open there: `test+unix:///default?socket=S`
/// opens `test:///default` through S.
pub(super) fn resolve(uri: &ParsedUri) -> Result<(Target, Option<String>)> {
    let transport = uri.transport.as_deref().unwrap_or("unix");
    let param = |key: &str| {
        uri.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let target = match transport {
        "unix" => Target::Unix(match param("socket") {
            Some(path) => PathBuf::from(path),
            None => {
                let system = match uri.path.as_str() {
                    "/system" => true,
                    "/session" => false,
                    _ => is_root(),
                };
                default_socket(system, param("mode").as_deref() == Some("ro"))
            }
        }),
        "tcp" => Target::Tcp(host_port(&uri.host, DEFAULT_TCP_PORT)),
        "tls" => {
            let addr = host_port(&uri.host, DEFAULT_TLS_PORT);
            let host = match addr.rsplit_once(':') {
                Some((host, _)) => host.to_string(),
                None => addr.clone(),
            };
            let pki = match param("pkipath") {
                Some(dir) => Pki::in_dir(std::path::Path::new(&dir), Side::Client),
                None => Pki::default_for(Side::Client, is_root()),
            };
            // libvirt: any value but 0 turns the check off.
            let verify = param("no_verify").is_none_or(|v| v == "0");
            Target::Tls(TlsTarget {
                addr,
                host,
                pki,
                verify,
            })
        }
        other => return Err(ClientError::Transport(other.to_string())),
    };
    if let Some(name) = param("name") {
        return Ok((target, (!name.is_empty()).then_some(name)));
    }
    let rest: Vec<String> = uri
        .query
        .iter()
        .filter(|(k, _)| !TRANSPORT_PARAMS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut name = format!("{}://{}", uri.scheme, uri.path);
    if !rest.is_empty() {
        name.push('?');
        name.push_str(&rest.join("&"));
    }
    Ok((target, Some(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(uri: &str) -> (Target, Option<String>) {
        resolve(&ParsedUri::parse(uri).unwrap()).unwrap()
    }

    #[test]
    fn strips_transport_and_socket() {
        let (t, name) = resolved("test+unix:///default?socket=/tmp/s");
        assert_eq!(t, Target::Unix("/tmp/s".into()));
        assert_eq!(name.as_deref(), Some("test:///default"));
        let (t, name) = resolved("test+tcp://127.0.0.1:1234/default");
        assert_eq!(t, Target::Tcp("127.0.0.1:1234".into()));
        assert_eq!(name.as_deref(), Some("test:///default"));
        let (t, _) = resolved("qemu+tcp://example.org/system");
        assert_eq!(t, Target::Tcp("example.org:16509".into()));
        let (_, name) = resolved("kvm+unix:///session?socket=/s&extra=1");
        assert_eq!(name.as_deref(), Some("kvm:///session?extra=1"));
        let (t, name) = resolved("kvm+unix:///session");
        assert_eq!(t, Target::Unix(default_socket(false, false)));
        assert_eq!(name.as_deref(), Some("kvm:///session"));
        let (t, name) = resolved("test+tls://127.0.0.1:1234/default?pkipath=/p&no_verify=1");
        assert_eq!(
            t,
            Target::Tls(TlsTarget {
                addr: "127.0.0.1:1234".into(),
                host: "127.0.0.1".into(),
                pki: Pki::in_dir(std::path::Path::new("/p"), Side::Client),
                verify: false,
            })
        );
        assert_eq!(name.as_deref(), Some("test:///default"));
        let (t, name) = resolved("qemu+tls://example.org/system");
        let Target::Tls(t) = t else { panic!("{t:?}") };
        assert_eq!(
            (t.addr.as_str(), t.host.as_str()),
            ("example.org:16514", "example.org")
        );
        assert!(t.verify);
        assert_eq!(name.as_deref(), Some("qemu:///system"));
        assert!(matches!(
            resolve(&ParsedUri::parse("qemu+ssh://h/system").unwrap()),
            Err(ClientError::Transport(t)) if t == "ssh"
        ));
    }
}
