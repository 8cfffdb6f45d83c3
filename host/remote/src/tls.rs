//! libvirt's `+tls` transport: TLS with certificates on both sides, in
//! libvirt's file layout, with rustls (ring) doing the cryptography.
//!
//! libvirt's protocol runs unchanged inside the encrypted stream. Both
//! sides of wirt read and write blocking sockets from several threads (a
//! reader, callers, event forwarders), which a TLS session cannot be split
//! into, so the TLS session lives in a small tokio task that pumps bytes
//! between the TCP connection and one end of a unix socket pair; the rest
//! of wirt gets the other end and treats it as any local socket.
//!
//! After the handshake the server sends one byte, 1, once its checks of
//! the client passed (libvirt's "TLS confirmation"); a libvirt client
//! waits for it before its first call.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wirt::error::ErrorCode;

/// libvirtd's TLS port, the default for `+tls` URIs.
pub const DEFAULT_TLS_PORT: u16 = 16514;

/// The byte a libvirt server sends, encrypted, once it accepts the client.
pub const CONFIRMATION: u8 = 1;

/// The CA certificate of libvirt's system-wide layout.
const SYSTEM_CA: &str = "/etc/pki/CA/cacert.pem";
/// Certificates and public parts of libvirt's system-wide layout.
const SYSTEM_DIR: &str = "/etc/pki/libvirt";

/// What can go wrong setting up or running TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file cannot be read.
    #[error("cannot read {what} '{}'", .path.display())]
    Read {
        /// Which file it is (CA certificate, server key, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file holds no usable PEM object of the kind wanted.
    #[error("cannot use {what} '{}'", .path.display())]
    Pem {
        /// Which file it is.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The certificates and key do not make a TLS configuration.
    #[error("invalid TLS credentials")]
    Credentials(#[source] rustls::Error),
    /// The CA certificates cannot verify anything.
    #[error("invalid CA certificate")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
    /// The host name of the URI cannot be checked against a certificate.
    #[error("invalid server name '{0}'")]
    ServerName(String),
    /// The handshake failed: a certificate was refused or the peer left.
    #[error("TLS handshake failed")]
    Handshake(#[source] io::Error),
    /// The server did not confirm the client's certificate.
    #[error("server verification (of our certificate or IP address) failed")]
    NotConfirmed,
    /// The peer did not finish the handshake in time.
    #[error("TLS handshake timed out")]
    Timeout,
    /// A socket pair or thread for the pump could not be made.
    #[error("cannot set up the TLS connection")]
    Setup(#[source] io::Error),
}

impl TlsError {
    /// libvirt's error number for it.
    pub fn code(&self) -> ErrorCode {
        match self {
            TlsError::Handshake(_) | TlsError::NotConfirmed => ErrorCode::AUTH_FAILED,
            TlsError::Timeout => ErrorCode::OPERATION_TIMEOUT,
            TlsError::ServerName(_) => ErrorCode::INVALID_ARG,
            TlsError::Read { .. }
            | TlsError::Pem { .. }
            | TlsError::Credentials(_)
            | TlsError::Verifier(_)
            | TlsError::Setup(_) => ErrorCode::SYSTEM_ERROR,
        }
    }
}

/// Which end of a connection credentials are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `clientcert.pem`, `clientkey.pem`.
    Client,
    /// `servercert.pem`, `serverkey.pem`.
    Server,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// Where the CA certificate, an end's certificate and its key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pki {
    /// CA certificates (PEM) that peers' certificates must chain to.
    pub ca: PathBuf,
    /// This end's certificate chain (PEM).
    pub cert: PathBuf,
    /// This end's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Pki {
    /// libvirt's `pkipath` layout: `cacert.pem`, `SIDEcert.pem`,
    /// `SIDEkey.pem`, all in `dir`.
    pub fn in_dir(dir: &Path, side: Side) -> Pki {
        Pki {
            ca: dir.join("cacert.pem"),
            cert: dir.join(format!("{}cert.pem", side.name())),
            key: dir.join(format!("{}key.pem", side.name())),
        }
    }

    /// Where libvirt looks without `pkipath`: for root, `/etc/pki/CA/cacert.pem`,
    /// `/etc/pki/libvirt/SIDEcert.pem` and `/etc/pki/libvirt/private/SIDEkey.pem`;
    /// for other users each file in `~/.pki/libvirt/` that exists, the
    /// system-wide one otherwise.
    pub fn default_for(side: Side, privileged: bool) -> Pki {
        let system = Pki {
            ca: PathBuf::from(SYSTEM_CA),
            cert: Path::new(SYSTEM_DIR).join(format!("{}cert.pem", side.name())),
            key: Path::new(SYSTEM_DIR)
                .join("private")
                .join(format!("{}key.pem", side.name())),
        };
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
        let Some(home) = home.filter(|_| !privileged) else {
            return system;
        };
        let user = Pki::in_dir(&Path::new(&home).join(".pki/libvirt"), side);
        let pick = |mine: PathBuf, theirs: PathBuf| if mine.exists() { mine } else { theirs };
        // libvirt takes a certificate and its key from one place only.
        let (cert, key) = if user.cert.exists() || user.key.exists() {
            (user.cert, user.key)
        } else {
            (system.cert, system.key)
        };
        Pki {
            ca: pick(user.ca, system.ca),
            cert,
            key,
        }
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |source| TlsError::Pem {
        what,
        path: path.to_path_buf(),
        source,
    };
    let certs = CertificateDer::pem_slice_iter(&read(what, path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err)?;
    if certs.is_empty() {
        return Err(pem_err(rustls::pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}

fn private_key(what: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(&read(what, path)?).map_err(|source| TlsError::Pem {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certificates("CA certificate", path)? {
        store.add(cert).map_err(TlsError::Credentials)?;
    }
    Ok(store)
}

/// ring, not aws-lc-rs: it builds without cmake and NASM. rustls 0.23.48
/// deprecates it for lacking post-quantum key exchange; libvirt's GnuTLS
/// peers (Debian 12's 3.7) offer none either, so X25519 and the NIST
/// curves are what any peer of wirtd negotiates today.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The daemon's TLS setup: its certificate and key, and the CA client
/// certificates must chain to. With `verify_client` false (libvirtd's
/// `tls_no_verify_certificate = 1`, for tests only) any client is let in,
/// with a certificate or without.
pub fn server_config(pki: &Pki, verify_client: bool) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let certs = certificates("server certificate", &pki.cert)?;
    let key = private_key("server key", &pki.key)?;
    let verifier: Arc<dyn ClientCertVerifier> = if verify_client {
        rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots(&pki.ca)?),
            provider.clone(),
        )
        .build()
        .map_err(TlsError::Verifier)?
    } else {
        Arc::new(Unverified(provider.clone()))
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Credentials)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(TlsError::Credentials)?;
    // A libvirt client waits for the socket to be readable after the
    // handshake and reads one record, expecting the confirmation byte: a
    // TLS 1.3 session ticket arriving first makes it fail ("Unable to
    // read TLS confirmation"). libvirt does not resume sessions anyway.
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// A client's TLS setup, as libvirt's: the server's certificate must chain
/// to the CA and name the host (unless `verify_server` is false, libvirt's
/// `no_verify=1`); the client's certificate and key are presented if both
/// files exist; with neither a server requiring one refuses the client.
pub fn client_config(pki: &Pki, verify_server: bool) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Credentials)?;
    let builder = if verify_server {
        builder.with_root_certificates(roots(&pki.ca)?)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
    };
    let missing = |what, path: &Path| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source: io::ErrorKind::NotFound.into(),
    };
    // As libvirt: neither file is an anonymous client, one alone an error.
    let config = match (pki.cert.exists(), pki.key.exists()) {
        (true, true) => {
            let certs = certificates("client certificate", &pki.cert)?;
            let key = private_key("client key", &pki.key)?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(TlsError::Credentials)?
        }
        (false, false) => builder.with_no_client_auth(),
        (true, false) => return Err(missing("client key", &pki.key)),
        (false, true) => return Err(missing("client certificate", &pki.cert)),
    };
    Ok(Arc::new(config))
}

/// The server name certificates are checked against: an IP address or a
/// DNS name, brackets of an IPv6 address removed.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|_| TlsError::ServerName(host.to_string()))
}

/// Makes the TLS session over `tcp` (connected, blocking) and returns the
/// plain end of the pump: libvirt's protocol written there goes out
/// encrypted. Fails if the handshake fails, the server does not confirm
/// the client, or either takes longer than `timeout`.
pub fn connect(
    tcp: std::net::TcpStream,
    name: ServerName<'static>,
    config: Arc<ClientConfig>,
    timeout: Duration,
) -> Result<UnixStream, TlsError> {
    let (plain, pumped) = UnixStream::pair().map_err(TlsError::Setup)?;
    let _ = tcp.set_nodelay(true);
    tcp.set_nonblocking(true).map_err(TlsError::Setup)?;
    pumped.set_nonblocking(true).map_err(TlsError::Setup)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(TlsError::Setup)?;
    let (done, ready) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("wirt-tls".into())
        .spawn(move || {
            runtime.block_on(async move {
                let setup = async {
                    let tcp = tokio::net::TcpStream::from_std(tcp).map_err(TlsError::Setup)?;
                    let connector = tokio_rustls::TlsConnector::from(config);
                    let mut tls = connector
                        .connect(name, tcp)
                        .await
                        .map_err(TlsError::Handshake)?;
                    let mut byte = [0u8];
                    // A server that closes instead of confirming refused us
                    // after the handshake (tls_allowed_dn_list, say).
                    tls.read_exact(&mut byte).await.map_err(|e| {
                        if e.kind() == io::ErrorKind::UnexpectedEof {
                            TlsError::NotConfirmed
                        } else {
                            TlsError::Handshake(e)
                        }
                    })?;
                    if byte[0] != CONFIRMATION {
                        return Err(TlsError::NotConfirmed);
                    }
                    let pumped =
                        tokio::net::UnixStream::from_std(pumped).map_err(TlsError::Setup)?;
                    Ok::<_, TlsError>((tls, pumped))
                };
                let outcome = tokio::time::timeout(timeout, setup)
                    .await
                    .unwrap_or(Err(TlsError::Timeout));
                match outcome {
                    Ok((mut tls, mut pumped)) => {
                        if done.send(Ok(())).is_ok() {
                            // Ends when either side closes; errors mean the same.
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut pumped).await;
                        }
                    }
                    Err(e) => {
                        let _ = done.send(Err(e));
                    }
                }
            })
        })
        .map_err(TlsError::Setup)?;
    ready
        .recv()
        .unwrap_or(Err(TlsError::Timeout))
        .map(|()| plain)
}

/// Accepts the TLS session of a client on `tcp` within `timeout` and sends
/// libvirt's confirmation; `check` may still refuse the client (by its
/// certificate chain) before that. Returns the session, for [`pump`].
pub async fn accept(
    tcp: tokio::net::TcpStream,
    acceptor: &tokio_rustls::TlsAcceptor,
    timeout: Duration,
    check: impl FnOnce(&[CertificateDer<'_>]) -> Result<(), String>,
) -> Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, TlsError> {
    let _ = tcp.set_nodelay(true);
    let handshake = async {
        let mut tls = acceptor.accept(tcp).await.map_err(TlsError::Handshake)?;
        let chain = tls.get_ref().1.peer_certificates().unwrap_or(&[]);
        check(chain).map_err(|why| TlsError::Handshake(io::Error::other(why)))?;
        tls.write_all(&[CONFIRMATION])
            .await
            .map_err(TlsError::Handshake)?;
        tls.flush().await.map_err(TlsError::Handshake)?;
        Ok::<_, TlsError>(tls)
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .unwrap_or(Err(TlsError::Timeout))
}

/// Pumps bytes between an accepted TLS session and a new socket pair, and
/// returns the pair's plain end (blocking) before pumping; the future ends
/// when either side closes.
pub fn pump<S>(mut tls: S) -> Result<(UnixStream, impl Future<Output = ()>), TlsError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (plain, pumped) = UnixStream::pair().map_err(TlsError::Setup)?;
    pumped.set_nonblocking(true).map_err(TlsError::Setup)?;
    let mut pumped = tokio::net::UnixStream::from_std(pumped).map_err(TlsError::Setup)?;
    Ok((plain, async move {
        let _ = tokio::io::copy_bidirectional(&mut tls, &mut pumped).await;
    }))
}

/// Accepts any certificate: libvirt's `no_verify=1` and
/// `tls_no_verify_certificate = 1`. Handshake signatures are still checked,
/// so the peer holds the key of the certificate it shows.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for Unverified {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_where_libvirt_looks_for_them() {
        let pki = Pki::in_dir(Path::new("/p"), Side::Client);
        assert_eq!(pki.ca, Path::new("/p/cacert.pem"));
        assert_eq!(pki.cert, Path::new("/p/clientcert.pem"));
        assert_eq!(pki.key, Path::new("/p/clientkey.pem"));
        let root = Pki::default_for(Side::Server, true);
        assert_eq!(root.ca, Path::new("/etc/pki/CA/cacert.pem"));
        assert_eq!(root.cert, Path::new("/etc/pki/libvirt/servercert.pem"));
        assert_eq!(
            root.key,
            Path::new("/etc/pki/libvirt/private/serverkey.pem")
        );
    }

    #[test]
    fn missing_or_lone_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::in_dir(dir.path(), Side::Server);
        let e = server_config(&pki, true).unwrap_err();
        assert_eq!(e.code(), ErrorCode::SYSTEM_ERROR);
        assert_eq!(
            e.to_string(),
            format!("cannot read server certificate '{}'", pki.cert.display())
        );
        // A client key without its certificate is a mistake, not anonymity.
        let pki = Pki::in_dir(dir.path(), Side::Client);
        std::fs::write(&pki.key, "").unwrap();
        let e = client_config(&pki, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("cannot read client certificate '{}'", pki.cert.display())
        );
        std::fs::write(&pki.cert, "not PEM").unwrap();
        let e = client_config(&pki, false).unwrap_err();
        assert!(matches!(e, TlsError::Pem { .. }), "{e:?}");
        assert_eq!(
            server_name("[::1]").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert!(matches!(
            server_name("bad name!"),
            Err(TlsError::ServerName(_))
        ));
    }
}
