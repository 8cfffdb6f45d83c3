//! wirtd's TLS listener, as libvirtd's `listen_tls`: every client shows a
//! certificate the CA signed (unless `tls_no_verify_certificate`), whose
//! subject matches `tls_allowed_dn_list` if one is set. A client refused at
//! the handshake never reaches the dispatcher; one that passes is served as
//! a read-write client with no further authentication (libvirtd's
//! `auth_tls = "none"`). Handshakes run as tokio tasks with the packet
//! timeout, so a silent peer holds a place under `max_clients` for that
//! long and nothing else.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

use super::{Origin, ServerError, Shared, Slot, start_client};
use crate::socket::Stream;
use crate::tls::{self, Pki};

/// libvirtd's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListen {
    /// Where to listen (`listen_addr`, `tls_port`).
    pub addr: SocketAddr,
    /// The server's certificate and key and the CA (`cert_file`,
    /// `key_file`, `ca_file`).
    pub pki: Pki,
    /// Refuse clients without a certificate the CA signed (libvirtd's
    /// default; `tls_no_verify_certificate = 1` turns it off).
    pub verify_client: bool,
    /// Patterns (`*`, `?`) a client certificate's subject must match one of
    /// (`tls_allowed_dn_list`); `None` admits every verified client.
    pub allowed_dn: Option<Vec<String>>,
}

/// What the accept loop needs for each TLS client.
#[derive(Clone)]
pub(super) struct Acceptor {
    tls: tokio_rustls::TlsAcceptor,
    allowed_dn: Option<Arc<Vec<String>>>,
}

impl Acceptor {
    /// Reads the credentials: a missing or bad file stops the daemon at
    /// start, as it stops libvirtd.
    pub(super) fn new(listen: &TlsListen) -> Result<Acceptor, ServerError> {
        let config =
            tls::server_config(&listen.pki, listen.verify_client).map_err(ServerError::Tls)?;
        Ok(Acceptor {
            tls: tokio_rustls::TlsAcceptor::from(config),
            allowed_dn: listen.allowed_dn.clone().map(Arc::new),
        })
    }
}

/// Handshakes with a client and serves it, or drops it: a failed or
/// timed-out handshake ends only this task.
pub(super) async fn serve(
    tcp: tokio::net::TcpStream,
    from: Option<SocketAddr>,
    acceptor: Acceptor,
    slot: Slot,
    shared: Arc<Shared>,
) {
    let from = from.map_or_else(|| "an unknown address".to_string(), |a| a.to_string());
    let allowed = acceptor.allowed_dn.clone();
    let check = |chain: &[CertificateDer<'_>]| -> Result<(), String> {
        match (&allowed, chain.first()) {
            (None, _) => Ok(()),
            (Some(_), None) => Err("no client certificate to match tls_allowed_dn_list".into()),
            (Some(patterns), Some(cert)) => {
                let dn = subject(cert)?;
                if patterns.iter().any(|p| glob(p, &dn)) {
                    Ok(())
                } else {
                    Err(format!(
                        "client's Distinguished Name is not on the list: {dn}"
                    ))
                }
            }
        }
    };
    let session = match tls::accept(tcp, &acceptor.tls, shared.packet_timeout, check).await {
        Ok(session) => session,
        Err(e) => {
            let why = chain(&e);
            tracing::info!(%from, error = %why, "TLS client refused");
            if shared.verbose {
                eprintln!("wirtd: refused TLS client {from}: {why}");
            }
            return;
        }
    };
    let (plain, pump) = match tls::pump(session) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wirtd: cannot set up a TLS connection: {}", chain(&e));
            return;
        }
    };
    tracing::info!(%from, "TLS client verified");
    if shared.verbose {
        eprintln!("wirtd: TLS client {from} verified");
    }
    start_client(Stream::Unix(plain), Origin::Tls, slot, &shared);
    pump.await;
}

/// An error with its causes, for the log.
fn chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        line.push_str(": ");
        line.push_str(&s.to_string());
        source = s.source();
    }
    line
}

/// A certificate's subject as GnuTLS (and so libvirtd's
/// `tls_allowed_dn_list`) writes it: attributes in the certificate's
/// order, `C=GB,O=Example,CN=client1`.
fn subject(cert: &CertificateDer<'_>) -> Result<String, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("cannot read the client certificate: {e}"))?;
    let registry = x509_parser::objects::oid_registry();
    let rdns: Vec<String> = cert
        .subject()
        .iter()
        .map(|rdn| {
            let attrs: Vec<String> = rdn
                .iter()
                .map(|a| {
                    let ty = x509_parser::objects::oid2abbrev(a.attr_type(), registry)
                        .map_or_else(|_| a.attr_type().to_id_string(), |s| s.to_string());
                    let ty = if ty == "Email" { "EMAIL".into() } else { ty };
                    format!("{ty}={}", a.as_str().unwrap_or_default())
                })
                .collect();
            attrs.join("+")
        })
        .collect();
    Ok(rdns.join(","))
}

/// GLib's `g_pattern_match_simple`, which libvirtd matches DNs with: `*`
/// is any run of characters, `?` any one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // The classic backtracking matcher: linear but for `*` retries.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_patterns_match_as_glibs() {
        let dn = "C=GB,ST=London,L=London,O=Red Hat,CN=client1";
        assert!(glob("C=GB,ST=London,L=London,O=Red Hat,CN=*", dn));
        assert!(glob(dn, dn));
        assert!(glob("*CN=client?", dn));
        assert!(!glob("*CN=client", dn));
        assert!(!glob("C=GB,O=*", dn));
        assert!(glob("*", ""));
    }

    #[test]
    fn subjects_read_as_gnutls_writes_them() {
        let mut params = rcgen::CertificateParams::default();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "GB");
        dn.push(rcgen::DnType::OrganizationName, "Red Hat");
        dn.push(rcgen::DnType::CommonName, "client1");
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(subject(cert.der()).unwrap(), "C=GB,O=Red Hat,CN=client1");
    }
}
