//! The web configuration file of `serve --web-config-file`: the Prometheus
//! exporter-toolkit format (TLS, basic auth, response headers, a rate
//! limit), parsed strictly: an unknown key, a duplicate key, a wrong type
//! or an unsupported value is an error naming its line.
//!
//! What is read and how it differs from the toolkit is in
//! docs/serve.md. This file uses only std and yaml-rust2, so that the
//! fuzz target `cli_web_config` can compile it on its own.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The largest configuration file read (inline certificates included).
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 20;
/// How deep mappings and sequences may nest (the format needs 3).
const MAX_DEPTH: usize = 8;
/// The most YAML nodes a file may have.
const MAX_NODES: usize = 100_000;

/// The headers `http_server_config.headers` may set, with the values
/// allowed where the toolkit restricts them.
pub(crate) const HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// A parsed web configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WebConfig {
    /// TLS, if `tls_server_config` is there.
    pub(crate) tls: Option<TlsSettings>,
    /// Headers added to every response.
    pub(crate) headers: Vec<(&'static str, String)>,
    /// User names and their bcrypt hashes; empty: no authentication.
    pub(crate) users: Vec<(String, String)>,
    /// A token bucket for all requests, if configured.
    pub(crate) rate_limit: Option<RateLimit>,
}

/// Where a PEM text comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pem {
    /// A file (relative paths are relative to the configuration file).
    File(PathBuf),
    /// The text itself (`cert:`, `key:`, `client_ca:`).
    Inline(String),
}

/// `client_auth_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// No client certificate asked for.
    None,
    /// A client certificate is verified if the client sends one.
    VerifyIfGiven,
    /// A verified client certificate is required.
    RequireAndVerify,
}

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// `tls_server_config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub(crate) cert: Pem,
    pub(crate) key: Pem,
    pub(crate) client_ca: Option<Pem>,
    pub(crate) client_auth: ClientAuth,
    pub(crate) min_version: TlsVersion,
    pub(crate) max_version: TlsVersion,
    /// TLS 1.2 cipher suite names (Go's, which are the IANA names); empty:
    /// the defaults.
    pub(crate) cipher_suites: Vec<String>,
    /// Key exchange groups by Go's curve names, in preference order.
    pub(crate) curve_preferences: Vec<String>,
    pub(crate) prefer_server_cipher_suites: bool,
}

/// `rate_limit`: at most `burst` requests at once, one more each `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateLimit {
    pub(crate) interval: Duration,
    pub(crate) burst: u32,
}

/// Why a configuration was refused: what, and where in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConfigError {
    /// 1-based line, 0 when the error is not about one place.
    pub(crate) line: usize,
    pub(crate) msg: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.msg)
        } else {
            f.write_str(&self.msg)
        }
    }
}

fn err<T>(line: usize, msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError {
        line,
        msg: msg.into(),
    })
}

/// Reads and parses the file at `path` (at most [`MAX_FILE_BYTES`]).
pub(crate) fn load(path: &Path) -> Result<WebConfig, ConfigError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| ConfigError {
        line: 0,
        msg: format!("cannot open: {e}"),
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ConfigError {
            line: 0,
            msg: format!("cannot read: {e}"),
        })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return err(0, format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| ConfigError {
        line: 0,
        msg: format!("not UTF-8 (byte {})", e.valid_up_to()),
    })?;
    parse(text, path.parent().unwrap_or(Path::new(".")))
}

/// One YAML node, with the line it starts on.
#[derive(Debug)]
enum Node {
    Scalar {
        value: String,
        plain: bool,
        line: usize,
    },
    Seq(Vec<Node>, usize),
    Map(Vec<(String, usize, Node)>, usize),
}

impl Node {
    fn line(&self) -> usize {
        match self {
            Node::Scalar { line, .. } | Node::Seq(_, line) | Node::Map(_, line) => *line,
        }
    }
}

/// A tree builder over the parser's events, with the limits above (no
/// recursion, so no input can exhaust the stack).
fn tree(text: &str) -> Result<Option<Node>, ConfigError> {
    let mut parser = Parser::new_from_str(text);
    // Open collections: the node being built and, inside a mapping, the
    // key waiting for its value.
    let mut stack: Vec<(Node, Option<(String, usize)>)> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    let mut nodes = 0usize;
    loop {
        let (event, mark): (Event, Marker) = parser.next_token().map_err(|e| ConfigError {
            line: e.marker().line(),
            msg: format!("not YAML: {}", e.info()),
        })?;
        let line = mark.line();
        let done: Option<Node> = match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return err(line, "more than one YAML document");
                }
                continue;
            }
            Event::Alias(_) => return err(line, "YAML aliases are not allowed here"),
            Event::Scalar(value, style, _, tag) => {
                if tag.is_some() {
                    return err(line, "YAML tags are not allowed here");
                }
                Some(Node::Scalar {
                    value,
                    plain: style == TScalarStyle::Plain,
                    line,
                })
            }
            Event::SequenceStart(_, ref tag) | Event::MappingStart(_, ref tag) => {
                if tag.is_some() {
                    return err(line, "YAML tags are not allowed here");
                }
                if stack.len() >= MAX_DEPTH {
                    return err(line, format!("nested deeper than {MAX_DEPTH} levels"));
                }
                let node = if matches!(event, Event::SequenceStart(..)) {
                    Node::Seq(Vec::new(), line)
                } else {
                    Node::Map(Vec::new(), line)
                };
                stack.push((node, None));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => stack.pop().map(|(n, _)| n),
        };
        let Some(node) = done else { continue };
        nodes += 1;
        if nodes > MAX_NODES {
            return err(line, format!("more than {MAX_NODES} YAML nodes"));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some((Node::Seq(items, _), _)) => items.push(node),
            Some((Node::Map(entries, _), pending)) => match pending.take() {
                None => match node {
                    Node::Scalar { value, line, .. } => {
                        if entries.iter().any(|(k, _, _)| *k == value) {
                            return err(line, format!("duplicate key {}", quoted(&value)));
                        }
                        *pending = Some((value, line));
                    }
                    other => return err(other.line(), "a key must be a plain string"),
                },
                Some((key, kline)) => entries.push((key, kline, node)),
            },
            Some((Node::Scalar { .. }, _)) => unreachable_scalar()?,
        }
    }
    Ok(root)
}

/// A scalar is never pushed on the stack; kept as an error, not a panic.
fn unreachable_scalar() -> Result<(), ConfigError> {
    err(0, "internal error: scalar as a collection")
}

/// `s` quoted for an error message, escaped and cut to 60 characters.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == 60 {
            out.push_str("...");
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// Parses a configuration; relative file names are taken relative to `dir`.
pub(crate) fn parse(text: &str, dir: &Path) -> Result<WebConfig, ConfigError> {
    let mut config = WebConfig::default();
    let root = match tree(text)? {
        None => return Ok(config),
        Some(Node::Scalar { value, plain, .. }) if plain && is_null(&value) => {
            return Ok(config);
        }
        Some(n) => n,
    };
    let top = map(&root, "the file")?;
    for (key, line, value) in top {
        match key.as_str() {
            "tls_server_config" => {
                if !is_null_node(value) {
                    config.tls = tls(value, dir)?;
                }
            }
            "http_server_config" => config.headers = http_server(value)?,
            "basic_auth_users" => config.users = users(value)?,
            "rate_limit" => config.rate_limit = rate_limit(value)?,
            other => return unknown(*line, other, "the file", &TOP_KEYS),
        }
    }
    Ok(config)
}

const TOP_KEYS: [&str; 4] = [
    "tls_server_config",
    "http_server_config",
    "basic_auth_users",
    "rate_limit",
];

fn unknown<T>(line: usize, key: &str, section: &str, known: &[&str]) -> Result<T, ConfigError> {
    err(
        line,
        format!(
            "unknown key {} in {section} (known: {})",
            quoted(key),
            known.join(", ")
        ),
    )
}

fn is_null(v: &str) -> bool {
    matches!(v, "" | "~" | "null" | "Null" | "NULL")
}

fn is_null_node(n: &Node) -> bool {
    matches!(n, Node::Scalar { value, plain: true, .. } if is_null(value))
}

fn map<'n>(n: &'n Node, what: &str) -> Result<&'n [(String, usize, Node)], ConfigError> {
    match n {
        Node::Map(entries, _) => Ok(entries),
        _ if is_null_node(n) => Ok(&[]),
        other => err(other.line(), format!("{what} must be a mapping")),
    }
}

fn string<'n>(n: &'n Node, what: &str) -> Result<&'n str, ConfigError> {
    match n {
        Node::Scalar { value, .. } => Ok(value),
        other => err(other.line(), format!("{what} must be a string")),
    }
}

fn strings(n: &Node, what: &str) -> Result<Vec<String>, ConfigError> {
    match n {
        Node::Seq(items, _) => items
            .iter()
            .map(|i| string(i, what).map(String::from))
            .collect(),
        _ if is_null_node(n) => Ok(Vec::new()),
        other => err(other.line(), format!("{what} must be a list of strings")),
    }
}

fn boolean(n: &Node, what: &str) -> Result<bool, ConfigError> {
    match n {
        Node::Scalar {
            value, plain: true, ..
        } if value == "true" => Ok(true),
        Node::Scalar {
            value, plain: true, ..
        } if value == "false" => Ok(false),
        other => err(other.line(), format!("{what} must be true or false")),
    }
}

fn tls(n: &Node, dir: &Path) -> Result<Option<TlsSettings>, ConfigError> {
    const KEYS: [&str; 13] = [
        "cert",
        "key",
        "client_ca",
        "cert_file",
        "key_file",
        "client_auth_type",
        "client_ca_file",
        "client_allowed_sans",
        "min_version",
        "max_version",
        "cipher_suites",
        "prefer_server_cipher_suites",
        "curve_preferences",
    ];
    let entries = map(n, "tls_server_config")?;
    let mut cert = None;
    let mut key = None;
    let mut client_ca = None;
    let mut client_auth = ClientAuth::None;
    let mut min_version = TlsVersion::Tls12;
    let mut max_version = TlsVersion::Tls13;
    let mut cipher_suites = Vec::new();
    let mut curve_preferences = Vec::new();
    let mut prefer_server_cipher_suites = true;
    let file = |v: &Node, what: &str| -> Result<Option<Pem>, ConfigError> {
        let s = string(v, what)?;
        if s.is_empty() {
            return Ok(None);
        }
        Ok(Some(Pem::File(dir.join(s))))
    };
    let inline = |v: &Node, what: &str| -> Result<Option<Pem>, ConfigError> {
        let s = string(v, what)?;
        Ok((!s.is_empty()).then(|| Pem::Inline(s.to_string())))
    };
    let one = |slot: &mut Option<Pem>, new: Option<Pem>, line: usize, what: &str| {
        if new.is_some() && slot.is_some() {
            return err(line, format!("both {what} and {what}_file are set"));
        }
        if new.is_some() {
            *slot = new;
        }
        Ok(())
    };
    for (k, line, v) in entries {
        let line = *line;
        match k.as_str() {
            "cert" => one(&mut cert, inline(v, k)?, line, "cert")?,
            "cert_file" => one(&mut cert, file(v, k)?, line, "cert")?,
            "key" => one(&mut key, inline(v, k)?, line, "key")?,
            "key_file" => one(&mut key, file(v, k)?, line, "key")?,
            "client_ca" => one(&mut client_ca, inline(v, k)?, line, "client_ca")?,
            "client_ca_file" => one(&mut client_ca, file(v, k)?, line, "client_ca")?,
            "client_auth_type" => {
                client_auth = match string(v, k)? {
                    "" | "NoClientCert" => ClientAuth::None,
                    "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
                    "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
                    s @ ("RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert") => {
                        return err(
                            line,
                            format!(
                                "client_auth_type {s} accepts certificates nobody verified; \
                                 use RequireAndVerifyClientCert (or VerifyClientCertIfGiven)"
                            ),
                        );
                    }
                    s => {
                        return err(
                            line,
                            format!(
                                "unknown client_auth_type {} (known: NoClientCert, \
                                 VerifyClientCertIfGiven, RequireAndVerifyClientCert)",
                                quoted(s)
                            ),
                        );
                    }
                }
            }
            "client_allowed_sans" => {
                if !strings(v, k)?.is_empty() {
                    return err(
                        line,
                        "client_allowed_sans is not supported: give each client a \
                         certificate from a CA of its own (client_ca_file)",
                    );
                }
            }
            "min_version" => min_version = version(v, k)?,
            "max_version" => max_version = version(v, k)?,
            "cipher_suites" => cipher_suites = strings(v, k)?,
            "curve_preferences" => curve_preferences = strings(v, k)?,
            "prefer_server_cipher_suites" => prefer_server_cipher_suites = boolean(v, k)?,
            other => return unknown(line, other, "tls_server_config", &KEYS),
        }
    }
    let line = n.line();
    if entries.is_empty() {
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (cert, key) else {
        return err(
            line,
            "tls_server_config needs cert_file (or cert) and key_file (or key)",
        );
    };
    if client_ca.is_some() && client_auth == ClientAuth::None {
        return err(
            line,
            "client_ca_file is set but client_auth_type is NoClientCert: \
             set client_auth_type: RequireAndVerifyClientCert",
        );
    }
    if client_ca.is_none() && client_auth != ClientAuth::None {
        return err(
            line,
            "client_auth_type verifies client certificates but no client_ca_file is set",
        );
    }
    if min_version > max_version {
        return err(line, "min_version is above max_version");
    }
    Ok(Some(TlsSettings {
        cert,
        key,
        client_ca,
        client_auth,
        min_version,
        max_version,
        cipher_suites,
        curve_preferences,
        prefer_server_cipher_suites,
    }))
}

fn version(n: &Node, what: &str) -> Result<TlsVersion, ConfigError> {
    match string(n, what)? {
        "TLS12" => Ok(TlsVersion::Tls12),
        "TLS13" => Ok(TlsVersion::Tls13),
        s @ ("TLS10" | "TLS11") => err(
            n.line(),
            format!("{what} {s} is not supported: TLS 1.0 and 1.1 are obsolete (RFC 8996)"),
        ),
        s => err(
            n.line(),
            format!("unknown {what} {} (known: TLS12, TLS13)", quoted(s)),
        ),
    }
}

fn http_server(n: &Node) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let mut headers = Vec::new();
    for (k, line, v) in map(n, "http_server_config")? {
        match k.as_str() {
            // HTTP/2 needs no setting here: raindrops serves HTTP/1.1, which
            // Prometheus uses for scrapes.
            "http2" => {
                boolean(v, k)?;
            }
            "headers" => {
                for (name, hline, value) in map(v, "headers")? {
                    let Some((canonical, allowed)) =
                        HEADERS.iter().find(|(h, _)| h.eq_ignore_ascii_case(name))
                    else {
                        let known: Vec<&str> = HEADERS.iter().map(|(h, _)| *h).collect();
                        return err(
                            *hline,
                            format!(
                                "header {} cannot be configured (known: {})",
                                quoted(name),
                                known.join(", ")
                            ),
                        );
                    };
                    let value = string(value, name)?;
                    if value.is_empty() {
                        continue;
                    }
                    if !allowed.is_empty() && !allowed.contains(&value) {
                        return err(
                            *hline,
                            format!(
                                "{canonical} must be one of {}, not {}",
                                allowed.join(", "),
                                quoted(value)
                            ),
                        );
                    }
                    if !value
                        .bytes()
                        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
                    {
                        return err(*hline, format!("{canonical}: not a header value"));
                    }
                    headers.push((*canonical, value.to_string()));
                }
            }
            other => return unknown(*line, other, "http_server_config", &["http2", "headers"]),
        }
    }
    Ok(headers)
}

fn users(n: &Node) -> Result<Vec<(String, String)>, ConfigError> {
    let mut users = Vec::new();
    for (user, line, hash) in map(n, "basic_auth_users")? {
        if user.contains(':') {
            return err(*line, format!("user name {} has a colon", quoted(user)));
        }
        let hash = string(hash, "a password hash")?;
        if !is_bcrypt(hash) {
            return err(
                *line,
                format!(
                    "the password of {} is not a bcrypt hash ($2y$10$ and 53 characters, \
                     as htpasswd -nBC 10 writes)",
                    quoted(user)
                ),
            );
        }
        users.push((user.clone(), hash.to_string()));
    }
    Ok(users)
}

/// Whether `h` has the shape of a bcrypt hash: `$2a$`, `$2b$`, `$2x$` or
/// `$2y$`, a cost of 04 to 31, `$`, then 53 characters of bcrypt's base64.
pub(crate) fn is_bcrypt(h: &str) -> bool {
    let b = h.as_bytes();
    b.len() == 60
        && b.starts_with(b"$2")
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[6] == b'$'
        && std::str::from_utf8(&b[4..6])
            .ok()
            .and_then(|c| c.parse::<u8>().ok())
            .is_some_and(|c| (4..=31).contains(&c) && b[4].is_ascii_digit())
        && b[7..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/')
}

fn rate_limit(n: &Node) -> Result<Option<RateLimit>, ConfigError> {
    let mut interval = Duration::ZERO;
    let mut burst = 0u32;
    for (k, line, v) in map(n, "rate_limit")? {
        match k.as_str() {
            "interval" => {
                let s = string(v, k)?;
                interval = duration(s).ok_or_else(|| ConfigError {
                    line: *line,
                    msg: format!("bad interval {} (for example 1s, 100ms, 1m30s)", quoted(s)),
                })?;
            }
            "burst" => {
                let s = string(v, k)?;
                burst = s.parse().map_err(|_| ConfigError {
                    line: *line,
                    msg: format!("bad burst {} (a whole number)", quoted(s)),
                })?;
            }
            other => return unknown(*line, other, "rate_limit", &["interval", "burst"]),
        }
    }
    if interval.is_zero() {
        return Ok(None);
    }
    if burst == 0 {
        return err(
            n.line(),
            "rate_limit with an interval needs a burst of 1 or more",
        );
    }
    Ok(Some(RateLimit { interval, burst }))
}

/// A Go duration (`1s`, `1.5s`, `300ms`, `1m30s`, `0`), at most a day.
pub(crate) fn duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num.starts_with('.') && num.len() == 1 {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = next;
    }
    (total.is_finite() && total <= 86_400.0).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$10$V43EmWTy9XI/1lq5No/QGuwM9U605L7.n6ivg2pQzgqeQQI077Tuy";

    fn p(text: &str) -> Result<WebConfig, ConfigError> {
        parse(text, Path::new("/etc/raindrops"))
    }

    #[test]
    fn the_toolkit_sample_file() {
        let c = p(&format!(
            "# TLS and basic authentication configuration example.\n\
             tls_server_config:\n  cert_file: server.crt\n  key_file: /abs/server.key\n\n\
             basic_auth_users:\n  alice: {HASH}\n  bob: '{HASH}'\n\n\
             rate_limit:\n  interval: \"1s\"\n  burst: 20\n"
        ))
        .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert, Pem::File("/etc/raindrops/server.crt".into()));
        assert_eq!(tls.key, Pem::File("/abs/server.key".into()));
        assert_eq!(
            (tls.min_version, tls.max_version),
            (TlsVersion::Tls12, TlsVersion::Tls13)
        );
        assert_eq!(c.users.len(), 2);
        assert_eq!(c.users[1], ("bob".into(), HASH.into()));
        assert_eq!(
            c.rate_limit,
            Some(RateLimit {
                interval: Duration::from_secs(1),
                burst: 20
            })
        );
    }

    #[test]
    fn empty_and_partial_files() {
        assert_eq!(p("").unwrap(), WebConfig::default());
        assert_eq!(p("# nothing\n").unwrap(), WebConfig::default());
        assert_eq!(p("tls_server_config:\n").unwrap(), WebConfig::default());
        let c = p("http_server_config:\n  http2: false\n  headers:\n    x-frame-options: deny\n    Strict-Transport-Security: max-age=31536000\n").unwrap();
        assert_eq!(
            c.headers,
            [
                ("X-Frame-Options", "deny".to_string()),
                ("Strict-Transport-Security", "max-age=31536000".to_string())
            ]
        );
    }

    #[test]
    fn refusals_name_the_line_and_the_key() {
        for (text, line, part) in [
            (
                "tls_server_config:\n  cert_file: a\n  keyfile: b\n",
                3,
                "unknown key \"keyfile\" in tls_server_config",
            ),
            ("bogus: 1\n", 1, "unknown key \"bogus\" in the file"),
            (
                "basic_auth_users:\n  a: b\n  a: c\n",
                3,
                "duplicate key \"a\"",
            ),
            ("basic_auth_users:\n  al:ice: x\n", 0, "colon"),
            (
                "basic_auth_users:\n  alice: plaintext\n",
                2,
                "not a bcrypt hash",
            ),
            ("tls_server_config:\n  cert_file: a\n", 2, "needs cert_file"),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS11\n",
                4,
                "obsolete",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n",
                4,
                "nobody verified",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
                2,
                "NoClientCert",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  cert: b\n  key_file: c\n",
                3,
                "both cert",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
                2,
                "above",
            ),
            (
                "http_server_config:\n  headers:\n    X-Powered-By: me\n",
                3,
                "cannot be configured",
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                3,
                "must be one of",
            ),
            (
                "rate_limit:\n  interval: 1 s\n  burst: 1\n",
                2,
                "bad interval",
            ),
            ("rate_limit:\n  interval: 1s\n", 2, "burst"),
            ("- a\n- b\n", 1, "must be a mapping"),
            ("a: &x 1\nb: *x\n", 2, "aliases"),
            ("a: !!str 1\n", 1, "tags"),
            ("---\na: 1\n---\nb: 2\n", 3, "more than one"),
            ("tls_server_config: [\n", 0, "not YAML"),
            ("? [a, b]\n: c\n", 0, "plain string"),
        ] {
            let e = p(text).expect_err(text);
            assert!(e.msg.contains(part), "{text:?}: {e}");
            if line > 0 {
                assert_eq!(e.line, line, "{text:?}: {e}");
            }
        }
    }

    #[test]
    fn deep_nesting_and_floods_are_refused_without_recursion() {
        // Refused by our depth limit or by the scanner's own: an error
        // either way, not a stack overflow.
        let deep = "[".repeat(200_000);
        let e = p(&deep).unwrap_err().msg;
        assert!(
            e.contains("nested deeper") || e.contains("recursion limit"),
            "{e}"
        );
        let deep = "- ".repeat(20) + "x";
        assert!(p(&deep).unwrap_err().msg.contains("nested deeper"));
        let deep = format!("{}1{}", "{a: ".repeat(50), "}".repeat(50));
        assert!(p(&deep).is_err());
        let wide = format!("basic_auth_users: [{}]\n", "1,".repeat(MAX_NODES + 1));
        assert!(p(&wide).unwrap_err().msg.contains("nodes"));
    }

    #[test]
    fn bcrypt_shapes() {
        assert!(is_bcrypt(HASH));
        assert!(is_bcrypt(&HASH.replace("$2y$", "$2b$")));
        assert!(!is_bcrypt(&HASH.replace("$10$", "$03$")));
        assert!(!is_bcrypt(&HASH.replace("$10$", "$32$")));
        assert!(!is_bcrypt(&HASH.replace("$10$", "$+1$")));
        assert!(!is_bcrypt(&HASH[..59]));
        assert!(!is_bcrypt(&HASH.replace('X', "\u{e9}")));
        assert!(!is_bcrypt(&HASH.replace('X', "-")));
    }

    #[test]
    fn go_durations() {
        assert_eq!(duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(duration("0"), Some(Duration::ZERO));
        assert_eq!(duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(duration("250ms"), Some(Duration::from_millis(250)));
        for bad in ["", "s", "1", "1x", ".s", "25h", "1e9s", "-1s"] {
            assert_eq!(duration(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_parsed_or_refused(text in "\\PC{0,200}") {
            let _ = p(&text);
        }

        #[test]
        fn yaml_like_text_is_parsed_or_refused(
            text in "([a-z_]{1,12}:( [a-zA-Z0-9$./\"'\\[\\]{},&*!-]{0,20})?\n( {2,4}- ?[a-z]{0,8}\n)?){0,12}"
        ) {
            let _ = p(&text);
        }

        #[test]
        fn users_round_trip(users in proptest::collection::btree_map("[a-zA-Z0-9_.@-]{1,20}", 0u8..3, 0..8)) {
            let mut text = String::from("basic_auth_users:\n");
            for u in users.keys() {
                text.push_str(&format!("  \"{u}\": {HASH}\n"));
            }
            let c = p(&text).unwrap();
            let got: Vec<&str> = c.users.iter().map(|(u, _)| u.as_str()).collect();
            let want: Vec<&str> = users.keys().map(String::as_str).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
