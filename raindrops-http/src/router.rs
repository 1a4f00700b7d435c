//! The framework-agnostic endpoint: a request in, status, headers and a
//! body out.

use core::fmt;

use raindrops_core::{is_unix_name, parse_tcp_addr};

use crate::metrics::Format;
use crate::response::{Body, HeaderValue, Headers, Response};
use crate::source::StatsSource;
use crate::text::{self, Counting, Sink};
use crate::time::Timestamp;
use crate::watcher::{
    MAX_ADDR_LEN, Tail, Which, last_data_recv_headers, render_index, render_summary_html,
    render_summary_txt, render_unknown_listener_html, summary_headers,
};

/// What the router needs to know of an HTTP request.
///
/// ```
/// use raindrops_http::Request;
/// let req = Request::new("GET", "/tail/127.0.0.1%3A80.txt?active_min=1")
///     .with_accept(Some("text/plain"));
/// assert_eq!(req.path, "/tail/127.0.0.1%3A80.txt");
/// assert_eq!(req.query, "active_min=1");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request<'a> {
    /// The method, case-sensitive (`GET`, `HEAD`, `POST`).
    pub method: &'a str,
    /// The path, still percent-encoded, without the query.
    pub path: &'a str,
    /// The query string without `?` (empty if none).
    pub query: &'a str,
    /// The `Accept` header.
    pub accept: Option<&'a str>,
    /// The `Referer` header (where a reset redirects back to).
    pub referer: Option<&'a str>,
    /// The time of the request (when a reset happened); the watcher's last
    /// sample time if `None`.
    pub now: Option<Timestamp>,
}

impl<'a> Request<'a> {
    /// A request for `target` (`path` or `path?query`).
    pub fn new(method: &'a str, target: &'a str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method,
            path,
            query,
            ..Request::default()
        }
    }

    /// The same request with an `Accept` header.
    #[must_use]
    pub fn with_accept(mut self, accept: Option<&'a str>) -> Self {
        self.accept = accept;
        self
    }

    /// The same request with a `Referer` header.
    #[must_use]
    pub fn with_referer(mut self, referer: Option<&'a str>) -> Self {
        self.referer = referer;
        self
    }

    /// The same request with its arrival time.
    #[must_use]
    pub fn with_now(mut self, now: Timestamp) -> Self {
        self.now = Some(now);
        self
    }
}

/// Routes requests to the stats pages; holds only configuration.
///
/// | path | methods | answer |
/// |---|---|---|
/// | `stats_path` (`/_raindrops`) | GET, HEAD | Ruby's middleware text, or by `Accept` Prometheus, OpenMetrics, JSON |
/// | `metrics_path` (`/metrics`) | GET, HEAD | Prometheus, or OpenMetrics by `Accept` |
/// | `last_data_recv_path` (`/last_data_recv`) | GET, HEAD | Ruby's `LastDataRecv`, if the source has that aggregate |
/// | `/` | GET, HEAD | Watcher index (if the source has a [`Watcher`](crate::Watcher)) |
/// | `/active/ADDR.txt`, `.html`; `/queued/...` | GET, HEAD | Watcher summaries (`.html`: the listener's page, 404 if it is not in the last sample) |
/// | `/tail/ADDR.txt?active_min=N&queued_min=N` | GET, HEAD | a [`Tail`] stream (with `X-Content-Type-Options: nosniff`, so that browsers show it as it comes) |
/// | `/reset/ADDR` | POST | forgets ADDR's history, 302 back |
///
/// Other methods on these paths get 405 with `Allow`, other paths 404; a
/// badly encoded or invalid address (neither `host:port` nor a Unix path)
/// or query value gets 400, a failing [`StatsSource::refresh`] 503. `HEAD`
/// gets the headers of `GET`, `Content-Length` included, and no body.
///
/// ```
/// use raindrops_core::{Family, ListenStats, Listener};
/// use raindrops_http::{Body, Request, Router, Snapshot};
/// let listeners = [Listener::new("0.0.0.0:80", Family::Tcp4, ListenStats::new(2, 1))];
/// let mut source = Snapshot { listeners: &listeners, ..Snapshot::new() };
/// let mut body = String::new();
/// let res = Router::new()
///     .handle(&Request::new("GET", "/_raindrops"), &mut source, &mut body)
///     .unwrap();
/// assert_eq!(res.status, 200);
/// assert_eq!(res.headers.get("Content-Type"), Some("text/plain"));
/// assert_eq!(res.headers.get("Content-Length"), Some("64"));
/// assert_eq!(res.body, Body::Written { len: 64 });
/// assert!(body.ends_with("0.0.0.0:80 queued: 1\n"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Router<'c> {
    stats_path: &'c str,
    metrics_path: Option<&'c str>,
    last_data_recv_path: Option<&'c str>,
    hostname: &'c str,
}

impl Default for Router<'_> {
    fn default() -> Self {
        Self::new()
    }
}

const GET_HEAD: &str = "GET, HEAD";

/// The route a path names, with its still-encoded address.
#[derive(Clone, Copy, Debug)]
enum Route<'p> {
    Stats,
    Metrics,
    LastDataRecv,
    Index,
    Summary(Which, &'p str, bool),
    Tail(&'p str),
    Reset(&'p str),
}

impl<'c> Router<'c> {
    /// The default paths (`/_raindrops`, `/metrics`, `/last_data_recv`)
    /// and hostname `localhost` in page titles.
    pub const fn new() -> Self {
        Router {
            stats_path: "/_raindrops",
            metrics_path: Some("/metrics"),
            last_data_recv_path: Some("/last_data_recv"),
            hostname: "localhost",
        }
    }

    /// Serves the middleware stats at `path` (Ruby's `:path` option).
    #[must_use]
    pub const fn stats_path(mut self, path: &'c str) -> Self {
        self.stats_path = path;
        self
    }

    /// Serves the metrics at `path`, or not at all.
    #[must_use]
    pub const fn metrics_path(mut self, path: Option<&'c str>) -> Self {
        self.metrics_path = path;
        self
    }

    /// Serves the `LastDataRecv` page at `path`, or not at all.
    #[must_use]
    pub const fn last_data_recv_path(mut self, path: Option<&'c str>) -> Self {
        self.last_data_recv_path = path;
        self
    }

    /// The host name shown in the Watcher page titles (Ruby's
    /// `Socket.gethostname`).
    #[must_use]
    pub const fn hostname(mut self, hostname: &'c str) -> Self {
        self.hostname = hostname;
        self
    }

    /// Whether `path` is the stats or the metrics path: what a middleware
    /// in front of an application answers itself (the Watcher paths would
    /// shadow the application's own).
    pub fn is_stats_path(&self, path: &str) -> bool {
        path == self.stats_path || Some(path) == self.metrics_path
    }

    fn route<'p>(&self, path: &'p str) -> Option<Route<'p>> {
        if path == self.stats_path {
            return Some(Route::Stats);
        }
        if Some(path) == self.metrics_path {
            return Some(Route::Metrics);
        }
        if Some(path) == self.last_data_recv_path {
            return Some(Route::LastDataRecv);
        }
        if path == "/" {
            return Some(Route::Index);
        }
        let nonempty = |s: &'p str| (!s.is_empty()).then_some(s);
        for (prefix, which) in [("/active/", Which::Active), ("/queued/", Which::Queued)] {
            if let Some(rest) = path.strip_prefix(prefix) {
                if let Some(a) = rest.strip_suffix(".txt").and_then(nonempty) {
                    return Some(Route::Summary(which, a, false));
                }
                if let Some(a) = rest.strip_suffix(".html").and_then(nonempty) {
                    return Some(Route::Summary(which, a, true));
                }
            }
        }
        if let Some(rest) = path.strip_prefix("/tail/") {
            return rest
                .strip_suffix(".txt")
                .and_then(nonempty)
                .map(Route::Tail);
        }
        path.strip_prefix("/reset/")
            .and_then(nonempty)
            .map(Route::Reset)
    }

    /// Answers `req` from `source`, writing the body (if any) to `body`.
    ///
    /// The body is written in one go, so `Content-Length` is exact; a
    /// `HEAD` writes nothing to `body`. The only error is `body` failing
    /// (a full fixed buffer; a `String` never fails), and the body written
    /// so far is then incomplete.
    pub fn handle<'r, S, W>(
        &self,
        req: &Request<'r>,
        source: &mut S,
        body: &mut W,
    ) -> Result<Response<'r>, fmt::Error>
    where
        S: StatsSource + ?Sized,
        W: fmt::Write + ?Sized,
    {
        let head = req.method == "HEAD";
        let mut out = Out {
            head,
            body: Counting {
                inner: body,
                len: 0,
            },
            headers: Headers::new(),
        };
        let Some(route) = self.route(req.path) else {
            return out.plain(404, "Not Found");
        };
        // The watcher routes exist only with a watcher.
        let needs_watcher = matches!(
            route,
            Route::Index | Route::Summary(..) | Route::Tail(_) | Route::Reset(_)
        );
        if needs_watcher && source.watcher().is_none() {
            return out.plain(404, "Not Found");
        }
        if matches!(route, Route::LastDataRecv) && source.last_data_recv().is_none() {
            return out.plain(404, "Not Found");
        }
        let allow = if matches!(route, Route::Reset(_)) {
            "POST"
        } else {
            GET_HEAD
        };
        let allowed = match allow {
            "POST" => req.method == "POST",
            _ => req.method == "GET" || head,
        };
        if !allowed {
            out.headers.push("Allow", HeaderValue::Static(allow));
            return out.plain(405, "Method Not Allowed");
        }
        match route {
            Route::Stats | Route::Metrics => {
                let offered: &[Format] = if matches!(route, Route::Stats) {
                    &[
                        Format::MiddlewareText,
                        Format::Prometheus,
                        Format::OpenMetrics,
                        Format::Json,
                    ]
                } else {
                    &[Format::Prometheus, Format::OpenMetrics]
                };
                let format = Format::negotiate(req.accept, offered);
                if let Err(e) = source.refresh() {
                    return out.plain_fmt(503, format_args!("Service Unavailable: {e}\n"));
                }
                out.headers
                    .push("Content-Type", HeaderValue::Static(format.content_type()));
                if offered.len() > 1 {
                    out.headers.push("Vary", HeaderValue::Static("Accept"));
                }
                out.render(|w| match format {
                    Format::MiddlewareText => crate::render_middleware_text(&*source, w),
                    Format::Prometheus => crate::render_prometheus(&*source, w),
                    Format::OpenMetrics => crate::render_openmetrics(&*source, w),
                    Format::Json => crate::render_json(&*source, w),
                })
            }
            Route::LastDataRecv => {
                let Some(agg) = source.last_data_recv() else {
                    return out.plain(404, "Not Found");
                };
                last_data_recv_headers(&mut out.headers, agg);
                out.render(|w| crate::histogram_text::write_histogram(w, agg))
            }
            Route::Index => {
                let Some(watcher) = source.watcher() else {
                    return out.plain(404, "Not Found");
                };
                let at = watcher.updated_at();
                out.headers
                    .push("Content-Type", HeaderValue::Static("text/html"));
                out.headers.push(
                    "Last-Modified",
                    HeaderValue::format(format_args!("{}", at.http_date())),
                );
                out.headers.push(
                    "Expires",
                    HeaderValue::format(format_args!(
                        "{}",
                        at.saturating_add(watcher.delay()).http_date()
                    )),
                );
                let hostname = self.hostname;
                out.render(|w| render_index(&*watcher, hostname, w))
            }
            Route::Summary(which, encoded, html) => {
                let addr = match decode_addr(encoded) {
                    Ok(a) => a,
                    Err(e) => return out.bad_request(e),
                };
                let Some(watcher) = source.watcher() else {
                    return out.plain(404, "Not Found");
                };
                let hostname = self.hostname;
                if html && watcher.current(&addr).is_none() {
                    // A person's page for a listener that is not there:
                    // 404 (Ruby's 200 of NaN read as if it existed). The
                    // `.txt` page keeps Ruby's empty summary for scripts.
                    out.headers
                        .push("Content-Type", HeaderValue::Static("text/html"));
                    return out.render_status(404, |w| {
                        render_unknown_listener_html(&*watcher, hostname, &addr, w)
                    });
                }
                let summary = watcher.summary(&addr, which);
                summary_headers(&mut out.headers, &summary, watcher.delay(), html);
                out.render(|w| {
                    if html {
                        render_summary_html(&*watcher, hostname, &addr, which, w)
                    } else {
                        render_summary_txt(&summary, w)
                    }
                })
            }
            Route::Tail(encoded) => {
                let addr = match decode_addr(encoded) {
                    Ok(a) => a,
                    Err(e) => return out.bad_request(e),
                };
                let (active_min, queued_min) = match tail_query(req.query) {
                    Ok(q) => q,
                    Err(e) => return out.bad_request(e),
                };
                let Some(tail) = Tail::new(&addr, active_min, queued_min) else {
                    return out.bad_request(BadRequest::AddrTooLong);
                };
                out.headers
                    .push("Content-Type", HeaderValue::Static("text/plain"));
                out.headers
                    .push("Cache-Control", HeaderValue::Static("no-transform"));
                // Without it, browsers hold text/plain back to sniff its
                // type, and a tail page stays blank while lines arrive.
                out.headers
                    .push("X-Content-Type-Options", HeaderValue::Static("nosniff"));
                out.headers.push(
                    "Expires",
                    HeaderValue::Static("Thu, 01 Jan 1970 00:00:00 GMT"),
                );
                Ok(Response {
                    status: 200,
                    headers: out.headers,
                    body: if head { Body::Empty } else { Body::Tail(tail) },
                })
            }
            Route::Reset(encoded) => {
                let addr = match decode_addr(encoded) {
                    Ok(a) => a,
                    Err(e) => return out.bad_request(e),
                };
                let Some(watcher) = source.watcher() else {
                    return out.plain(404, "Not Found");
                };
                if !watcher.reset(&addr, req.now) {
                    return out.plain(404, "Not Found");
                }
                let referer = req.referer.map(|r| r.trim_matches([' ', '\t']));
                let location = match referer {
                    Some(r) if is_header_value(r) && !r.is_empty() => r,
                    // Relative to /reset/ADDR: the Watcher's root.
                    _ => "../",
                };
                out.headers
                    .push("Location", HeaderValue::Borrowed(location));
                out.headers
                    .push("Content-Type", HeaderValue::Static("text/plain"));
                let status = 302;
                out.render_status(status, |w| write!(w, "Redirecting to {location}"))
            }
        }
    }
}

/// Whether `s` may be sent as a header value: visible ASCII, space, tab
/// and bytes above 0x7f (UTF-8), no control characters.
fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Why the router answered 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BadRequest {
    Encoding(text::DecodeError),
    AddrTooLong,
    Addr(raindrops_core::AddrError),
    Query(&'static str),
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadRequest::Encoding(text::DecodeError::Percent(at)) => {
                write!(f, "bad percent-encoding at byte {at} of the address")
            }
            BadRequest::Encoding(text::DecodeError::TooLong) | BadRequest::AddrTooLong => {
                write!(f, "address longer than {MAX_ADDR_LEN} bytes")
            }
            BadRequest::Encoding(text::DecodeError::NotUtf8) => f.write_str("address is not UTF-8"),
            BadRequest::Addr(e) => write!(f, "bad listener address: {e}"),
            BadRequest::Query(name) => {
                write!(f, "bad value for {name} (expected a decimal number)")
            }
        }
    }
}

/// Decodes and checks a listener address from a path: a Unix name as is,
/// a TCP address in its canonical form (`[fe80::1%eth0]:080` becomes
/// `[fe80::1]:80`, the form the listener tables use).
fn decode_addr(encoded: &str) -> Result<heapless::String<MAX_ADDR_LEN>, BadRequest> {
    let mut buf = [0u8; MAX_ADDR_LEN];
    let s = text::form_decode(encoded, &mut buf).map_err(BadRequest::Encoding)?;
    if is_unix_name(s) {
        return heapless::String::try_from(s).map_err(|_| BadRequest::AddrTooLong);
    }
    let sa = parse_tcp_addr(s).map_err(BadRequest::Addr)?;
    let mut out = heapless::String::new();
    fmt::Write::write_fmt(&mut out, format_args!("{sa}")).map_err(|_| BadRequest::AddrTooLong)?;
    Ok(out)
}

/// `active_min` and `queued_min` from a query string (other parameters
/// are ignored; an empty value is 0, as Ruby's `"".to_i`).
fn tail_query(query: &str) -> Result<(u32, u32), BadRequest> {
    let (mut active, mut queued) = (0, 0);
    for pair in query.split(['&', ';']) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let mut kbuf = [0u8; 16];
        let Ok(k) = text::form_decode(k, &mut kbuf) else {
            continue; // a long or odd key is not one of ours
        };
        let name = match k {
            "active_min" => "active_min",
            "queued_min" => "queued_min",
            _ => continue,
        };
        let mut vbuf = [0u8; 16];
        let v = text::form_decode(v, &mut vbuf).map_err(|_| BadRequest::Query(name))?;
        let n = if v.is_empty() {
            0
        } else if v.bytes().all(|b| b.is_ascii_digit()) {
            v.parse::<u32>().map_err(|_| BadRequest::Query(name))?
        } else {
            return Err(BadRequest::Query(name));
        };
        if name == "active_min" {
            active = n;
        } else {
            queued = n;
        }
    }
    Ok((active, queued))
}

/// The answer being built: headers so far and the counted body writer.
struct Out<'r, 'w, W: ?Sized> {
    head: bool,
    body: Counting<&'w mut W>,
    headers: Headers<'r>,
}

impl<'r, W: fmt::Write + ?Sized> Out<'r, '_, W> {
    /// Renders a 200 body with `f`: into the caller's writer for `GET`,
    /// into a counter for `HEAD`; adds `Content-Length`.
    fn render(
        self,
        f: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result,
    ) -> Result<Response<'r>, fmt::Error> {
        self.render_status(200, f)
    }

    fn render_status(
        mut self,
        status: u16,
        f: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result,
    ) -> Result<Response<'r>, fmt::Error> {
        let len = if self.head {
            let mut c = Counting {
                inner: Sink,
                len: 0,
            };
            f(&mut c)?;
            c.len
        } else {
            f(&mut self.body)?;
            self.body.len
        };
        self.headers
            .push("Content-Length", HeaderValue::format(format_args!("{len}")));
        Ok(Response {
            status,
            headers: self.headers,
            body: if self.head {
                Body::Empty
            } else {
                Body::Written { len }
            },
        })
    }

    fn plain(self, status: u16, msg: &'static str) -> Result<Response<'r>, fmt::Error> {
        self.plain_fmt(status, format_args!("{msg}"))
    }

    fn plain_fmt(
        mut self,
        status: u16,
        msg: fmt::Arguments<'_>,
    ) -> Result<Response<'r>, fmt::Error> {
        self.headers
            .push("Content-Type", HeaderValue::Static("text/plain"));
        self.render_status(status, |w| w.write_fmt(msg))
    }

    fn bad_request(self, e: BadRequest) -> Result<Response<'r>, fmt::Error> {
        self.plain_fmt(400, format_args!("Bad Request: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            decode_addr("%5Bfe80%3A%3A1%25eth0%5D%3A080").as_deref(),
            Ok("[fe80::1]:80")
        );
        assert_eq!(decode_addr("%2Ftmp%2Fa+b").as_deref(), Ok("/tmp/a b"));
        assert_eq!(decode_addr("@abs").as_deref(), Ok("@abs"));
        assert!(matches!(decode_addr("nope"), Err(BadRequest::Addr(_))));
        assert!(matches!(decode_addr("%zz"), Err(BadRequest::Encoding(_))));
        assert!(matches!(
            decode_addr(&"%2F".repeat(MAX_ADDR_LEN + 1)),
            Err(BadRequest::Encoding(text::DecodeError::TooLong))
        ));
    }

    #[test]
    fn queries() {
        assert_eq!(tail_query(""), Ok((0, 0)));
        assert_eq!(tail_query("active_min=2&queued_min=3&x=y"), Ok((2, 3)));
        assert_eq!(tail_query("queued%5Fmin=4;active_min="), Ok((0, 4)));
        assert_eq!(
            tail_query("active_min=-1"),
            Err(BadRequest::Query("active_min"))
        );
        assert_eq!(
            tail_query("queued_min=99999999999"),
            Err(BadRequest::Query("queued_min"))
        );
        assert_eq!(
            tail_query("queued_min=%zz"),
            Err(BadRequest::Query("queued_min"))
        );
        assert!(is_header_value("http://x/ é\t"));
        assert!(!is_header_value("a\r\nb"));
    }
}
