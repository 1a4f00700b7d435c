//! The router's answers: routes, methods, HEAD, bad input, the tail
//! stream, resets, failing sources, and a property test that any request
//! gives a well-formed response.

use std::time::Duration;

use proptest::prelude::*;
use raindrops_core::{Aggregate, Family, ListenStats, Listener};
use raindrops_http::{
    Body, Request, Response, Router, Snapshot, SourceError, StatsSource, Timestamp, Watcher,
    WatcherState, Which,
};

/// A listener record for tests, its family told by the name.
fn rec(name: &str, stats: ListenStats) -> Listener<&str> {
    let family = if name.starts_with('/') || name.starts_with('@') {
        Family::Unix
    } else if name.starts_with('[') {
        Family::Tcp6
    } else {
        Family::Tcp4
    };
    Listener::new(name, family, stats)
}

fn watcher() -> WatcherState {
    let mut w = WatcherState::new(Timestamp::new(1_700_000_000, 0), Duration::from_secs(1));
    for i in 0..5u32 {
        w.record(
            Timestamp::new(1_700_000_001 + i64::from(i), 250_000_000),
            [
                rec("127.0.0.1:8080", ListenStats::new(i, 4 - i).with_drops(9)),
                rec("/tmp/a b.sock", ListenStats::new(1, i)),
                rec("[fe80::1]:80", ListenStats::new(0, 0)),
            ],
        );
    }
    w
}

fn get<'r, S: StatsSource + ?Sized>(source: &mut S, req: &Request<'r>) -> (Response<'r>, String) {
    let mut body = String::new();
    let res = Router::new()
        .hostname("h")
        .handle(req, source, &mut body)
        .unwrap();
    (res, body)
}

#[test]
fn watcher_routes() {
    let mut w = watcher();
    let (res, body) = get(&mut w, &Request::new("GET", "/"));
    assert_eq!(res.status, 200);
    assert_eq!(
        res.headers.get("Last-Modified"),
        Some("Tue, 14 Nov 2023 22:13:25 GMT")
    );
    assert_eq!(
        res.headers.get("Expires"),
        Some("Tue, 14 Nov 2023 22:13:26 GMT")
    );
    // Beyond Ruby: backlog and drops columns, `-` where unknown.
    assert!(
        body.contains(
            "<th class='n'>queued</th><th class='n'>backlog</th><th class='n'>drops</th><th class='reset'>reset</th>"
        ),
        "{body}"
    );
    assert!(body.contains(
        "connections'>0</a></td><td class='n'>-</td><td class='n'>9</td><td class='reset'><form action='reset/127.0.0.1%3A8080'"
    ), "{body}");
    assert!(body.contains(
        "<td class='n'>-</td><td class='n'>-</td><td class='reset'><form action='reset/%2Ftmp%2Fa+b.sock'"
    ), "{body}");
    assert!(
        body.contains("<meta http-equiv='refresh' content='1'>"),
        "{body}"
    );
    assert!(
        !body.contains("Raindrops::Watcher"),
        "our own footer: {body}"
    );
    // Sorted by address: "/tmp..." < "127..." < "[fe80...".
    let p = |s: &str| body.find(s).unwrap();
    assert!(p(">&#x2F;tmp&#x2F;a b.sock<") < p(">127.0.0.1:8080<"));
    assert!(p(">127.0.0.1:8080<") < p(">[fe80::1]:80<"));

    // The scope id is dropped and the port canonicalised on lookup.
    let (res, body) = get(
        &mut w,
        &Request::new("GET", "/queued/%5Bfe80%3A%3A1%25eth0%5D%3A080.txt"),
    );
    assert_eq!(res.status, 200);
    assert_eq!(res.headers.get("X-Count"), Some("5"));
    assert_eq!(body, "Empty histogram");
    let (res, _) = get(
        &mut w,
        &Request::new("GET", "/active/%2Ftmp%2Fa+b.sock.html"),
    );
    assert_eq!(res.headers.get("Content-Type"), Some("text/html"));
    assert_eq!(res.headers.get("X-Mean"), Some("1.0"));
    assert_eq!(res.headers.get("X-Std-Dev"), Some("0.0"));
    assert_eq!(res.headers.len(), 14);

    for bad in [
        "/active/nope.txt",
        "/active/1.2.3.4.txt",
        "/queued/%zz.html",
        "/tail/1.2.3.4%3A99999.txt",
        "/active/%FF.txt",
    ] {
        let (res, body) = get(&mut w, &Request::new("GET", bad));
        assert_eq!(res.status, 400, "{bad}");
        assert!(body.starts_with("Bad Request: "), "{body}");
        assert_eq!(
            res.headers.get("Content-Length"),
            Some(body.len().to_string().as_str())
        );
    }
    // Found by the fuzzer: a non-ASCII Unix name in a summary page; it
    // is not listening, so the page says so with a 404.
    let (res, body) = get(
        &mut w,
        &Request::new("GET", "/queued//active/1on=%C8%865.html"),
    );
    assert_eq!(res.status, 404);
    assert_eq!(res.headers.get("Content-Type"), Some("text/html"));
    assert!(
        body.contains("<h1>No listener &#x2F;active&#x2F;1on=\u{206}5</h1>"),
        "{body}"
    );
    // A known listener's page: heading, link back, charts, readable mean.
    let (res, body) = get(
        &mut w,
        &Request::new("GET", "/queued/%2Ftmp%2Fa+b.sock.html"),
    );
    assert_eq!(res.status, 200);
    assert!(body.contains("<h1>&#x2F;tmp&#x2F;a b.sock</h1>"), "{body}");
    assert!(
        body.contains("<a href='../'>&larr; all listeners</a>"),
        "{body}"
    );
    assert!(body.contains("<svg id='chart-active'") && body.contains("<svg id='chart-queued'"));
    assert!(
        body.contains("<tr><th>mean</th><td class='n'>2.00</td></tr>"),
        "{body}"
    );
    assert!(
        body.contains("action='../reset/%2Ftmp%2Fa+b.sock'"),
        "{body}"
    );
    // The `.txt` page of an unknown listener stays Ruby's empty summary.
    let (res, _) = get(&mut w, &Request::new("GET", "/queued/10.9.8.7%3A1.txt"));
    assert_eq!((res.status, res.headers.get("X-Count")), (200, Some("0")));
    for missing in [
        "/active/.txt",
        "/active/x",
        "/tail/x.html",
        "/x",
        "",
        "/reset/",
    ] {
        assert_eq!(
            get(&mut w, &Request::new("GET", missing)).0.status,
            404,
            "{missing:?}"
        );
    }
}

#[test]
fn methods_and_head() {
    let mut w = watcher();
    for (method, path, allow) in [
        ("POST", "/", "GET, HEAD"),
        ("PUT", "/_raindrops", "GET, HEAD"),
        ("get", "/metrics", "GET, HEAD"),
        ("GET", "/reset/127.0.0.1%3A8080", "POST"),
        ("DELETE", "/active/127.0.0.1%3A8080.txt", "GET, HEAD"),
    ] {
        let (res, body) = get(&mut w, &Request::new(method, path));
        assert_eq!(
            (res.status, res.headers.get("Allow")),
            (405, Some(allow)),
            "{method} {path}"
        );
        assert_eq!(body, "Method Not Allowed");
    }
    for path in [
        "/",
        "/_raindrops",
        "/metrics",
        "/queued/127.0.0.1%3A8080.html",
    ] {
        let (g, gbody) = get(&mut w, &Request::new("GET", path));
        let (h, hbody) = get(&mut w, &Request::new("HEAD", path));
        assert_eq!(g.headers, h.headers, "{path}");
        assert_eq!(h.body, Body::Empty);
        assert!(hbody.is_empty());
        assert_eq!(g.body, Body::Written { len: gbody.len() });
    }
    let (h, _) = get(&mut w, &Request::new("HEAD", "/tail/127.0.0.1%3A8080.txt"));
    assert_eq!((h.status, h.body), (200, Body::Empty));
}

#[test]
fn tail_stream_and_reset() {
    let mut w = watcher();
    let (res, body) = get(
        &mut w,
        &Request::new(
            "GET",
            "/tail/127.0.0.1%3A8080.txt?active_min=4&queued_min=0",
        ),
    );
    assert_eq!(res.status, 200);
    assert!(body.is_empty());
    assert_eq!(
        res.headers.get("Expires"),
        Some("Thu, 01 Jan 1970 00:00:00 GMT")
    );
    assert_eq!(res.headers.get("Cache-Control"), Some("no-transform"));
    assert_eq!(res.headers.get("Content-Length"), None);
    let Body::Tail(tail) = res.body else {
        panic!("not a tail: {res:?}")
    };
    assert_eq!(
        (tail.addr(), tail.active_min(), tail.queued_min()),
        ("127.0.0.1:8080", 4, 0)
    );
    let mut out = String::new();
    assert!(tail.write_line(&w, &mut out).unwrap()); // active 4 in the last sample
    assert_eq!(
        out,
        "2023-11-14T22:13:25Z 127.0.0.1:8080          4          0\n"
    );
    w.record(
        Timestamp::new(1_700_000_010, 0),
        [rec("127.0.0.1:8080", ListenStats::new(3, 0))],
    );
    assert!(!tail.write_line(&w, &mut out).unwrap(), "below active_min");
    w.record(
        Timestamp::new(1_700_000_011, 0),
        [rec("/x", ListenStats::new(9, 9))],
    );
    assert!(!tail.write_line(&w, &mut out).unwrap(), "listener gone");
    assert_eq!(
        get(&mut w, &Request::new("GET", "/tail/%2Fx.txt?queued_min=x"))
            .0
            .status,
        400
    );

    let mut w = watcher();
    let req =
        Request::new("POST", "/reset/127.0.0.1%3A8080").with_now(Timestamp::new(1_800_000_000, 0));
    let (res, body) = get(&mut w, &req);
    assert_eq!(
        (res.status, res.headers.get("Location")),
        (302, Some("../"))
    );
    assert_eq!(body, "Redirecting to ../");
    let s = w.summary("127.0.0.1:8080", Which::Active);
    assert_eq!(s.aggregate.count(), 0);
    assert_eq!(s.reset_at, Timestamp::new(1_800_000_000, 0));
    let (res, _) = get(&mut w, &Request::new("POST", "/reset/127.0.0.1%3A8080"));
    assert_eq!(res.status, 404, "nothing sampled since the reset");
    let req = Request::new("POST", "/reset/%2Ftmp%2Fa+b.sock").with_referer(Some("http://h/x"));
    assert_eq!(
        get(&mut w, &req).0.headers.get("Location"),
        Some("http://h/x")
    );
    let req = Request::new("POST", "/reset/%5Bfe80%3A%3A1%5D%3A80")
        .with_referer(Some("a\r\nSet-Cookie: x"));
    assert_eq!(get(&mut w, &req).0.headers.get("Location"), Some("../"));
    assert_eq!(
        get(&mut w, &Request::new("POST", "/reset/10.0.0.1%3A1"))
            .0
            .status,
        404
    );
    // Found by the fuzzer: whitespace around the referer.
    w.record(
        Timestamp::new(1_700_000_020, 0),
        [rec("127.0.0.1:8080", ListenStats::new(1, 1))],
    );
    let req = Request::new("POST", "/reset/127.0.0.1%3A8080").with_referer(Some(" ht\t"));
    assert_eq!(get(&mut w, &req).0.headers.get("Location"), Some("ht"));
    // Found by the fuzzer: only SP and HTAB are whitespace to HTTP; a
    // trailing U+0085 (bytes C2 85, obs-text) is part of the value.
    w.record(
        Timestamp::new(1_700_000_030, 0),
        [rec("127.0.0.1:8080", ListenStats::new(1, 1))],
    );
    let req =
        Request::new("POST", "/reset/127.0.0.1%3A8080").with_referer(Some("hp//h/\t\ta,/\u{85}"));
    assert_eq!(
        get(&mut w, &req).0.headers.get("Location"),
        Some("hp//h/\t\ta,/\u{85}")
    );
}

struct Failing;

impl StatsSource for Failing {
    fn refresh(&mut self) -> Result<(), SourceError> {
        Err(SourceError {
            what: "netlink sock_diag dump",
            errno: Some(raindrops_core::Errno::from_raw(105)),
        })
    }
}

#[test]
fn sources_without_parts() {
    let (res, body) = get(&mut Failing, &Request::new("GET", "/metrics"));
    assert_eq!(res.status, 503);
    assert_eq!(
        body,
        format!(
            "Service Unavailable: netlink sock_diag dump failed: {}\n",
            std::io::Error::from_raw_os_error(105)
        )
    );
    // No watcher: its routes do not exist; no aggregate: no LastDataRecv.
    let mut snap = Snapshot::<&str>::new();
    for p in ["/", "/active/1.2.3.4%3A5.txt", "/last_data_recv"] {
        assert_eq!(get(&mut snap, &Request::new("GET", p)).0.status, 404, "{p}");
    }
    let agg: Aggregate = [10u64, 20, 25].into_iter().collect();
    let mut snap = Snapshot::<&str> {
        last_data_recv: Some(&agg),
        ..Snapshot::new()
    };
    let (res, body) = get(&mut snap, &Request::new("GET", "/last_data_recv"));
    assert_eq!(res.status, 200);
    assert_eq!(res.headers.get("X-Mean"), Some("18"));
    assert_eq!(res.headers.get("X-Std-Dev"), Some("8"));
    assert!(body.ends_with("|     3\n"), "{body}");
    // Negotiation and Vary.
    let (res, body) = get(
        &mut snap,
        &Request::new("GET", "/_raindrops").with_accept(Some("application/json")),
    );
    assert_eq!(res.headers.get("Content-Type"), Some("application/json"));
    assert_eq!(res.headers.get("Vary"), Some("Accept"));
    assert!(body.starts_with("{\"calling\":null"));
    let custom = Router::new()
        .stats_path("/stats")
        .metrics_path(None)
        .last_data_recv_path(None);
    let mut b = String::new();
    assert_eq!(
        custom
            .handle(&Request::new("GET", "/stats"), &mut snap, &mut b)
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        custom
            .handle(&Request::new("GET", "/metrics"), &mut snap, &mut b)
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        custom
            .handle(&Request::new("GET", "/_raindrops"), &mut snap, &mut b)
            .unwrap()
            .status,
        404
    );
}

/// What every answer must satisfy (the fuzz target checks the same).
fn well_formed(method: &str, res: &Response<'_>, body: &str) {
    assert!(
        matches!(res.status, 200 | 302 | 400 | 404 | 405 | 503),
        "{}",
        res.status
    );
    assert!(!res.reason().is_empty());
    for h in res.headers.iter() {
        assert!(!h.name.is_empty());
        assert!(
            h.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{}",
            h.name
        );
        let v = h.value.as_str();
        assert!(
            v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
            "{}: {v:?}",
            h.name
        );
        // No optional whitespace (SP, HTAB) around a field value.
        assert_eq!(v.trim_matches([' ', '\t']), v, "{}", h.name);
    }
    match &res.body {
        Body::Written { len } => {
            assert_eq!(*len, body.len());
            assert_eq!(
                res.headers.get("Content-Length"),
                Some(len.to_string().as_str())
            );
        }
        Body::Empty => {
            assert!(body.is_empty());
            assert_eq!(method, "HEAD");
        }
        Body::Tail(_) => assert!(body.is_empty() && res.headers.get("Content-Length").is_none()),
    }
}

proptest! {
    #[test]
    fn any_request_is_answered_well(
        method in prop_oneof![Just("GET".to_string()), Just("HEAD".to_string()), Just("POST".to_string()), "\\PC{0,8}"],
        prefix in prop_oneof![Just("/"), Just("/active/"), Just("/queued/"), Just("/tail/"), Just("/reset/"), Just("/_raindrops"), Just("/metrics")],
        rest in "(%[0-9A-Fa-f]{2}|%|[a-z0-9.:/\\[\\]@+ ]|\\PC){0,40}",
        suffix in prop_oneof![Just(""), Just(".txt"), Just(".html")],
        query in "\\PC{0,30}",
        accept in proptest::option::of("\\PC{0,60}"),
        referer in proptest::option::of("\\PC{0,20}"),
    ) {
        let mut w = watcher();
        let path = format!("{prefix}{rest}{suffix}");
        let mut req = Request::new(&method, &path).with_accept(accept.as_deref()).with_referer(referer.as_deref());
        req.query = &query;
        let mut body = String::new();
        let res = Router::new().handle(&req, &mut w, &mut body).unwrap();
        well_formed(&method, &res, &body);
    }
}
