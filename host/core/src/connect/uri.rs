//! Connection URIs: `scheme[+transport]://[host]/path[?query]`.

use super::{Error, Result};
use crate::error::ErrorCode;

/// A parsed connection URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUri {
    /// The driver: `test`, `kvm`, `qemu`, a plugin's scheme.
    pub scheme: String,
    /// `unix`, `tcp`, `tls`...: present when a daemon serves the URI.
    pub transport: Option<String>,
    /// The host part, empty for local URIs.
    pub host: String,
    /// The path: `/default`, `/session`, a node file.
    pub path: String,
    /// `key=value` pairs after `?`, in order.
    pub query: Vec<(String, String)>,
}

impl ParsedUri {
    /// Splits `uri` into its parts; refuses what is not a URI.
    pub fn parse(uri: &str) -> Result<ParsedUri> {
        let bad = || Error::api(ErrorCode::NO_CONNECT, uri.to_string());
        let (scheme, rest) = uri.split_once("://").ok_or_else(bad)?;
        let (scheme, transport) = match scheme.split_once('+') {
            Some((s, t)) => (s.to_string(), Some(t.to_string())),
            None => (scheme.to_string(), None),
        };
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(bad());
        }
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, q),
            None => (rest, ""),
        };
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let query = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.to_string(), String::new()),
            })
            .collect();
        Ok(ParsedUri {
            scheme,
            transport,
            host: host.to_string(),
            path: path.to_string(),
            query,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        let u = ParsedUri::parse("test+unix:///default?socket=/tmp/s").unwrap();
        assert_eq!(u.scheme, "test");
        assert_eq!(u.transport.as_deref(), Some("unix"));
        assert_eq!(u.path, "/default");
        assert_eq!(u.query, vec![("socket".into(), "/tmp/s".into())]);
        assert!(ParsedUri::parse("nonsense").is_err());
    }
}
