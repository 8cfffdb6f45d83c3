//! wirtd's config file, in libvirtd.conf's syntax and with its names where
//! libvirtd has them: `name = value` lines, integers, strings in double or
//! single quotes, lists `[ "a", "b" ]` (which may span lines), `#`
//! comments. As libvirtd does, a key it does not know is ignored (the caller
//! warns); a known key with a value of the wrong type is an error naming the
//! file, line and key.

use std::path::{Path, PathBuf};

use wirt::error::ErrorCode;

/// What a config file sets; `None` keeps the default (or the flag).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `max_clients`.
    pub max_clients: Option<usize>,
    /// `max_anonymous_clients`: clients not yet authenticated. With `none`
    /// every client is authenticated at accept, so none ever waits.
    pub max_anonymous_clients: Option<usize>,
    /// `max_client_requests`: calls of one client in progress at once.
    pub max_client_requests: Option<usize>,
    /// `max_workers`: calls of all clients running at once.
    pub max_workers: Option<usize>,
    /// `keepalive_interval` in seconds; -1 turns keepalive off.
    pub keepalive_interval: Option<i64>,
    /// `keepalive_count`.
    pub keepalive_count: Option<u32>,
    /// `unix_sock_group`.
    pub unix_sock_group: Option<String>,
    /// `unix_sock_ro_perms`.
    pub unix_sock_ro_perms: Option<u32>,
    /// `unix_sock_rw_perms`.
    pub unix_sock_rw_perms: Option<u32>,
    /// `packet_timeout` (wirtd's own): seconds to finish a packet begun.
    pub packet_timeout: Option<u64>,
    /// `listen_tls`: with `--listen`, serve TLS (libvirtd's default: 1).
    pub listen_tls: Option<bool>,
    /// `listen_addr`: the address TLS listens on.
    pub listen_addr: Option<String>,
    /// `tls_port` (a string, as libvirtd has it).
    pub tls_port: Option<u16>,
    /// `key_file`: the server's private key.
    pub key_file: Option<PathBuf>,
    /// `cert_file`: the server's certificate.
    pub cert_file: Option<PathBuf>,
    /// `ca_file`: the CA certificate clients' certificates must chain to.
    pub ca_file: Option<PathBuf>,
    /// `tls_allowed_dn_list`: patterns a client certificate's subject
    /// must match one of.
    pub tls_allowed_dn_list: Option<Vec<String>>,
    /// `tls_no_verify_certificate`: admit clients whatever certificate
    /// they show, or none (tests only).
    pub tls_no_verify_certificate: Option<bool>,
    /// Keys wirtd does not know, with their lines: ignored, as libvirtd
    /// ignores them, for the caller to warn about.
    pub unknown: Vec<(usize, String)>,
}

/// Why a config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// The file cannot be read.
    #[error("cannot read {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not libvirtd.conf's syntax.
    #[error("{}:{line}: {detail}", .path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where, from 1.
        line: usize,
        /// What is wrong.
        detail: String,
    },
    /// A known key with a value it cannot take.
    #[error("{}:{line}: {key} must be {expected}", .path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// Where, from 1.
        line: usize,
        /// The key.
        key: String,
        /// What it takes.
        expected: &'static str,
    },
    /// A setting libvirtd has and wirtd does not perform.
    #[error("{}:{line}: {key} = \"{value}\" is not supported: {why}", .path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Where, from 1.
        line: usize,
        /// The key.
        key: String,
        /// Its value.
        value: String,
        /// What wirtd does instead.
        why: &'static str,
    },
}

impl ConfError {
    /// libvirt's error number for it.
    pub fn code(&self) -> ErrorCode {
        match self {
            ConfError::Read { .. } => ErrorCode::OPEN_FAILED,
            ConfError::Syntax { .. } | ConfError::Value { .. } => ErrorCode::CONF_SYNTAX,
            ConfError::Unsupported { .. } => ErrorCode::CONFIG_UNSUPPORTED,
        }
    }
}

/// A value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Int(i64),
    Str(String),
    List(Vec<Value>),
}

/// Reads and checks `path`.
pub fn load(path: &Path) -> Result<Settings, ConfError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Checks `text`, the content of `path`.
pub fn parse(path: &Path, text: &str) -> Result<Settings, ConfError> {
    let entries = Parser {
        chars: text.chars().collect(),
        at: 0,
        line: 1,
    }
    .entries()
    .map_err(|(line, detail)| ConfError::Syntax {
        path: path.to_path_buf(),
        line,
        detail,
    })?;
    let mut s = Settings::default();
    for (line, key, value) in entries {
        let bad = |expected| ConfError::Value {
            path: path.to_path_buf(),
            line,
            key: key.clone(),
            expected,
        };
        let count = |min: i64| match value {
            Value::Int(n) if n >= min => Ok(n),
            _ => Err(bad(if min > 0 {
                "a positive integer"
            } else {
                "an integer of 0 or more"
            })),
        };
        let string = || match &value {
            Value::Str(v) => Ok(v.clone()),
            _ => Err(bad("a string in quotes")),
        };
        let perms = || {
            string().and_then(|v| {
                u32::from_str_radix(&v, 8)
                    .ok()
                    .filter(|m| *m <= 0o777)
                    .ok_or_else(|| bad("a mode in octal, in quotes, such as \"0770\""))
            })
        };
        let flag = || match value {
            Value::Int(n @ (0 | 1)) => Ok(n == 1),
            _ => Err(bad("0 or 1")),
        };
        let file = || string().map(PathBuf::from);
        match key.as_str() {
            "listen_tls" => s.listen_tls = Some(flag()?),
            "listen_addr" => s.listen_addr = Some(string()?),
            "tls_port" => {
                let port = string()?
                    .parse()
                    .map_err(|_| bad("a port number in quotes, such as \"16514\""))?;
                s.tls_port = Some(port);
            }
            "key_file" => s.key_file = Some(file()?),
            "cert_file" => s.cert_file = Some(file()?),
            "ca_file" => s.ca_file = Some(file()?),
            "tls_no_verify_certificate" => s.tls_no_verify_certificate = Some(flag()?),
            "tls_allowed_dn_list" => {
                let Value::List(items) = &value else {
                    return Err(bad("a list of strings"));
                };
                let patterns = items
                    .iter()
                    .map(|v| match v {
                        Value::Str(p) => Ok(p.clone()),
                        _ => Err(bad("a list of strings")),
                    })
                    .collect::<Result<_, _>>()?;
                s.tls_allowed_dn_list = Some(patterns);
            }
            "auth_tls" => match string()?.as_str() {
                "none" => {}
                v => {
                    return Err(ConfError::Unsupported {
                        path: path.to_path_buf(),
                        line,
                        key: key.clone(),
                        value: v.to_string(),
                        why: "TLS clients are authenticated by their certificate only \
                              (auth_tls = \"none\")",
                    });
                }
            },
            "max_clients" => s.max_clients = Some(count(1)? as usize),
            "max_anonymous_clients" => s.max_anonymous_clients = Some(count(0)? as usize),
            "max_client_requests" => s.max_client_requests = Some(count(1)? as usize),
            "max_workers" => s.max_workers = Some(count(1)? as usize),
            "keepalive_interval" => match value {
                Value::Int(n) if n >= -1 => s.keepalive_interval = Some(n),
                _ => return Err(bad("a number of seconds, or -1 for no keepalive")),
            },
            "keepalive_count" => {
                s.keepalive_count = Some(u32::try_from(count(0)?).unwrap_or(u32::MAX))
            }
            "unix_sock_group" => s.unix_sock_group = Some(string()?),
            "unix_sock_ro_perms" => s.unix_sock_ro_perms = Some(perms()?),
            "unix_sock_rw_perms" => s.unix_sock_rw_perms = Some(perms()?),
            "packet_timeout" => s.packet_timeout = Some(count(1)? as u64),
            "auth_unix_ro" | "auth_unix_rw" => {
                let v = string()?;
                match v.as_str() {
                    "none" => {}
                    "polkit" | "sasl" => {
                        return Err(ConfError::Unsupported {
                            path: path.to_path_buf(),
                            line,
                            key: key.clone(),
                            value: v,
                            why: "wirtd performs no authentication but \"none\" (peers are \
                                  checked by uid and unix_sock_group)",
                        });
                    }
                    _ => return Err(bad("\"none\"")),
                }
            }
            _ => s.unknown.push((line, key)),
        }
    }
    Ok(s)
}

/// A statement-at-a-time reader of virConf's syntax.
struct Parser {
    chars: Vec<char>,
    at: usize,
    line: usize,
}

type Parsed<T> = Result<T, (usize, String)>;

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn err<T>(&self, detail: impl Into<String>) -> Parsed<T> {
        Err((self.line, detail.into()))
    }

    /// Skips blanks and comments, and newlines too if `lines`.
    fn skip(&mut self, lines: bool) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' => {
                    self.bump();
                }
                '\n' if lines => {
                    self.bump();
                }
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                _ => return,
            }
        }
    }

    fn entries(mut self) -> Parsed<Vec<(usize, String, Value)>> {
        let mut out = Vec::new();
        loop {
            self.skip(true);
            let Some(c) = self.peek() else {
                return Ok(out);
            };
            if !(c.is_ascii_alphabetic() || c == '_') {
                return self.err(format!("expected a setting name, found {c:?}"));
            }
            let line = self.line;
            let mut key = String::new();
            while let Some(c) = self
                .peek()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
            {
                key.push(c);
                self.bump();
            }
            self.skip(false);
            if self.bump() != Some('=') {
                return Err((line, format!("expected '=' after {key}")));
            }
            self.skip(false);
            let value = self.value()?;
            self.skip(false);
            if self.peek() == Some(';') {
                self.bump();
                self.skip(false);
            }
            match self.peek() {
                None | Some('\n') => {}
                Some(c) => return self.err(format!("unexpected {c:?} after the value of {key}")),
            }
            out.push((line, key, value));
        }
    }

    fn value(&mut self) -> Parsed<Value> {
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                let mut s = String::new();
                loop {
                    match self.peek() {
                        Some('\n') | None => return self.err("a string is not closed"),
                        Some(c) => {
                            self.bump();
                            if c == q {
                                return Ok(Value::Str(s));
                            }
                            s.push(c);
                        }
                    }
                }
            }
            Some('[') => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    self.skip(true);
                    if self.peek() == Some(']') {
                        self.bump();
                        return Ok(Value::List(items));
                    }
                    items.push(self.value()?);
                    self.skip(true);
                    match self.bump() {
                        Some(',') => {}
                        Some(']') => return Ok(Value::List(items)),
                        _ => return self.err("expected ',' or ']' in a list"),
                    }
                }
            }
            Some(c) if c == '-' || c == '+' || c.is_ascii_digit() => {
                let mut s = String::new();
                while let Some(c) = self
                    .peek()
                    .filter(|c| c.is_ascii_digit() || (s.is_empty() && matches!(c, '-' | '+')))
                {
                    s.push(c);
                    self.bump();
                }
                s.parse()
                    .map(Value::Int)
                    .or_else(|_| self.err(format!("{s:?} is not an integer")))
            }
            Some(c) => self.err(format!("expected a value, found {c:?}")),
            None => self.err("expected a value, found the end of the file"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Settings, ConfError> {
        parse(Path::new("/etc/wirt/wirtd.conf"), text)
    }

    #[test]
    fn libvirtd_conf_syntax_and_names() {
        let s = parse_str(
            "# wirtd.conf\n\
             max_clients = 20\n\
             max_anonymous_clients = 0   # none wait\n\
             max_client_requests = 5\n\
             max_workers=4;\n\
             keepalive_interval = -1\n\
             keepalive_count = 3\n\
             unix_sock_group = \"libvirt\"\n\
             unix_sock_ro_perms = '0777'\n\
             unix_sock_rw_perms = \"0770\"\n\
             auth_unix_ro = \"none\"\n\
             auth_unix_rw = \"none\"\n\
             packet_timeout = 30\n\
             tls_allowed_dn_list = [\"DN1\",\n  \"DN2\", # second\n]\n\
             listen_tls = 0\n\
             listen_addr = \"192.0.2.1\"\n\
             tls_port = \"16600\"\n\
             key_file = \"/k.pem\"\n\
             cert_file = \"/c.pem\"\n\
             ca_file = \"/ca.pem\"\n\
             tls_no_verify_certificate = 1\n\
             auth_tls = \"none\"\n\
             listen_tcp = 1\n",
        )
        .unwrap();
        assert_eq!(
            s,
            Settings {
                max_clients: Some(20),
                max_anonymous_clients: Some(0),
                max_client_requests: Some(5),
                max_workers: Some(4),
                keepalive_interval: Some(-1),
                keepalive_count: Some(3),
                unix_sock_group: Some("libvirt".into()),
                unix_sock_ro_perms: Some(0o777),
                unix_sock_rw_perms: Some(0o770),
                packet_timeout: Some(30),
                listen_tls: Some(false),
                listen_addr: Some("192.0.2.1".into()),
                tls_port: Some(16600),
                key_file: Some("/k.pem".into()),
                cert_file: Some("/c.pem".into()),
                ca_file: Some("/ca.pem".into()),
                tls_allowed_dn_list: Some(vec!["DN1".into(), "DN2".into()]),
                tls_no_verify_certificate: Some(true),
                unknown: vec![(25, "listen_tcp".into())],
            }
        );
        assert_eq!(parse_str("").unwrap(), Settings::default());
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let msg = |text: &str| parse_str(text).unwrap_err().to_string();
        assert_eq!(
            msg("\nmax_clients = \"20\"\n"),
            "/etc/wirt/wirtd.conf:2: max_clients must be a positive integer"
        );
        assert_eq!(
            msg("max_workers = 0"),
            "/etc/wirt/wirtd.conf:1: max_workers must be a positive integer"
        );
        assert_eq!(
            msg("unix_sock_rw_perms = 770"),
            "/etc/wirt/wirtd.conf:1: unix_sock_rw_perms must be a string in quotes"
        );
        assert_eq!(
            msg("unix_sock_rw_perms = \"0999\""),
            "/etc/wirt/wirtd.conf:1: unix_sock_rw_perms must be a mode in octal, in quotes, such as \"0770\""
        );
        assert_eq!(
            msg("# x\nkeepalive_interval = -2"),
            "/etc/wirt/wirtd.conf:2: keepalive_interval must be a number of seconds, or -1 for no keepalive"
        );
        assert_eq!(
            msg("max_clients 20"),
            "/etc/wirt/wirtd.conf:1: expected '=' after max_clients"
        );
        assert_eq!(
            msg("a = \"open\n"),
            "/etc/wirt/wirtd.conf:1: a string is not closed"
        );
        assert_eq!(
            msg("a = 1 2"),
            "/etc/wirt/wirtd.conf:1: unexpected '2' after the value of a"
        );
        assert_eq!(
            msg("a = [1,\n 2\n 3]"),
            "/etc/wirt/wirtd.conf:3: expected ',' or ']' in a list"
        );
        assert_eq!(
            msg("= 1"),
            "/etc/wirt/wirtd.conf:1: expected a setting name, found '='"
        );
        let e = parse_str("x = \"\"\nauth_unix_rw = \"polkit\"").unwrap_err();
        assert_eq!(e.code(), ErrorCode::CONFIG_UNSUPPORTED);
        assert!(
            e.to_string()
                .starts_with("/etc/wirt/wirtd.conf:2: auth_unix_rw = \"polkit\" is not supported"),
            "{e}"
        );
        let e = parse_str("auth_unix_ro = 'sasl'").unwrap_err();
        assert!(
            e.to_string()
                .contains("auth_unix_ro = \"sasl\" is not supported"),
            "{e}"
        );
        assert_eq!(
            msg("auth_unix_ro = 'kerberos'"),
            "/etc/wirt/wirtd.conf:1: auth_unix_ro must be \"none\""
        );
        assert_eq!(
            parse_str("max_clients = x").unwrap_err().code(),
            ErrorCode::CONF_SYNTAX
        );
        assert_eq!(
            msg("tls_port = 16514"),
            "/etc/wirt/wirtd.conf:1: tls_port must be a string in quotes"
        );
        assert_eq!(
            msg("listen_tls = 2"),
            "/etc/wirt/wirtd.conf:1: listen_tls must be 0 or 1"
        );
        assert_eq!(
            msg("tls_allowed_dn_list = [\"a\", 1]"),
            "/etc/wirt/wirtd.conf:1: tls_allowed_dn_list must be a list of strings"
        );
        let e = parse_str("auth_tls = \"sasl\"").unwrap_err();
        assert_eq!(e.code(), ErrorCode::CONFIG_UNSUPPORTED);
        let e = load(Path::new("/nonexistent/wirtd.conf")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::OPEN_FAILED);
        assert_eq!(e.to_string(), "cannot read /nonexistent/wirtd.conf");
    }
}
