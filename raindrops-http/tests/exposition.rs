//! Every Prometheus and OpenMetrics output checked by real parsers:
//! `promtool check metrics` (Prometheus' own linter and parser) and the
//! Python `prometheus_client` parsers (its `openmetrics.parser` is strict
//! about OpenMetrics 1.0), including hostile label values. The parsed label
//! values must read back as the originals.
//!
//! The parsers are oracles like Ruby: missing, the test is skipped with a
//! reason, unless `RAINDROPS_REQUIRE_RUBY=1` (CI) makes that a failure.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use raindrops_core::{Aggregate, Family, ListenStats, Listener};
use raindrops_http::{
    Histogram, Metric, MetricKind, Snapshot, StatsSource, Timestamp, WatcherState,
    render_openmetrics, render_prometheus,
};

const HOSTILE: [&str; 6] = [
    "0.0.0.0:80",
    "[::1]:8080",
    "/tmp/q\"uote",
    "/tmp/back\\slash\\",
    "/tmp/new\nline",
    "/tmp/ünï☃ \u{1F600}",
];

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

fn run(cmd: &mut Command, input: &str) -> Option<(i32, String)> {
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return raindrops_testutil::skip(&format!("cannot run {cmd:?}: {e}"));
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.code().unwrap_or(-1), text))
}

/// `promtool check metrics`: exit 0 means it parsed and found no lint
/// problem (3 is a lint problem, 1 a parse error).
fn promtool(text: &str) {
    let Some((code, out)) = run(Command::new("promtool").args(["check", "metrics"]), text) else {
        return;
    };
    assert_eq!(code, 0, "promtool rejected:\n{out}\n--- input ---\n{text}");
}

const PY: &str = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families as prom
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
fmt, expected = sys.argv[1], json.loads(sys.argv[2])
fams = list((om if fmt == "om" else prom)(sys.stdin.read()))
got = [s.labels["listener"] for f in fams for s in f.samples if s.name == "raindrops_listener_active"]
assert got == expected, (got, expected)
print(json.dumps({f.name: [f.type, f.documentation, len(f.samples)] for f in fams}, sort_keys=True))
"#;

/// Parses with `prometheus_client` (`om`: OpenMetrics, `prom`: 0.0.4),
/// checks the `listener` labels read back as `listeners`, and returns the
/// families as `{"name": [type, help, samples]}` JSON.
fn python(fmt: &str, text: &str, listeners: &[&str]) -> Option<String> {
    let has = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output();
    match has {
        Ok(o) if o.status.success() => {}
        _ => {
            return raindrops_testutil::skip(
                "python3 with prometheus_client is missing (pip install prometheus_client)",
            );
        }
    }
    // Listener names reach the labels through SafeText (a name with a raw
    // newline, never escaped by its source, shows as `\x0a`).
    let expected = format!(
        "[{}]",
        listeners
            .iter()
            .map(|l| json_str(&raindrops_core::SafeText(l).to_string()))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (code, out) = run(
        Command::new("python3").args(["-c", PY, fmt, &expected]),
        text,
    )?;
    assert_eq!(
        code, 0,
        "prometheus_client ({fmt}) rejected:\n{out}\n--- input ---\n{text}"
    );
    Some(out)
}

/// A JSON string literal (non-ASCII characters as they are, valid JSON).
fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn check_both<S: StatsSource>(source: &S, listeners: &[&str]) -> (String, String) {
    let mut prom = String::new();
    render_prometheus(source, &mut prom).unwrap();
    let mut om = String::new();
    render_openmetrics(source, &mut om).unwrap();
    assert!(om.ends_with("# EOF\n"));
    promtool(&prom);
    let p = python("prom", &prom, listeners).unwrap_or_default();
    let o = python("om", &om, listeners).unwrap_or_default();
    (p, o)
}

#[test]
fn hostile_labels_and_every_family() {
    let stats: Vec<Listener<&str>> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let s = ListenStats::new(i as u32, 2 * i as u32);
            let s = if i % 2 == 0 {
                s.with_backlog(128)
                    .with_drops(u64::MAX - i as u64)
                    .with_syn_recv(3)
            } else {
                s
            };
            rec(n, s)
        })
        .collect();
    let agg: Aggregate = [0u64, 1, 2, 3, 1000, u64::MAX / 4].into_iter().collect();
    let empty = Aggregate::new();
    let metrics = [
        Metric::new(
            "myapp-jobs.done",
            "Jobs \"done\" \\ so far\nsecond line",
            MetricKind::Counter,
            7,
        ),
        Metric {
            labels: &[("queue", "a\"b\\c\nd☃"), ("9bad-name", "x")],
            ..Metric::new("myapp_depth", "Queue depth.", MetricKind::Gauge, 3)
        },
        Metric {
            labels: &[("queue", "other"), ("9bad-name", "y")],
            ..Metric::new("myapp_depth", "Queue depth.", MetricKind::Gauge, 4)
        },
        Metric::new(
            "already_total",
            "A counter named with _total.",
            MetricKind::Counter,
            1,
        ),
    ];
    let hist = [
        Histogram {
            name: "myapp_queue_length",
            help: "Queue \"length\".",
            labels: &[("listener", "/tmp/new\nline")],
            aggregate: &agg,
            fixed: None,
        },
        Histogram {
            name: "myapp_queue_length",
            help: "Queue \"length\".",
            labels: &[("listener", "[::1]:8080")],
            aggregate: &empty,
            fixed: None,
        },
    ];
    let source = Snapshot {
        calling: Some(1),
        writing: Some(usize::MAX),
        listeners: &stats,
        metrics: &metrics,
        histograms: &hist,
        ..Snapshot::new()
    };
    let (p, o) = check_both(&source, &HOSTILE);
    if p.is_empty() {
        return; // skipped
    }
    for fam in [
        r#""raindrops_calling": ["gauge""#,
        r#""raindrops_listener_backlog": ["gauge""#,
        r#""raindrops_listener_syn_recv": ["gauge""#,
        r#""raindrops_listener_drops": ["counter", "Connections the kernel dropped"#,
        r#""myapp_jobs_done": ["counter", "Jobs \"done\" \\ so far\nsecond line", 1]"#,
        r#""already": ["counter""#,
        r#""myapp_depth": ["gauge", "Queue depth.", 2]"#,
        r#""myapp_queue_length": ["histogram", "Queue \"length\".""#,
    ] {
        assert!(o.contains(fam), "{fam} not in OpenMetrics parse: {o}");
        assert!(p.contains(fam), "{fam} not in Prometheus parse: {p}");
    }
    // backlog, drops and syn_recv only for the listeners that know them.
    assert!(o.contains(r#""raindrops_listener_drops": ["counter", "Connections the kernel dropped at this listener: a full accept queue, and with TCP_DEFER_ACCEPT each handshake ACK without data.", 3]"#), "{o}");
}

#[test]
fn nothing_known_is_still_valid() {
    let source = Snapshot::<&str>::new();
    let mut prom = String::new();
    render_prometheus(&source, &mut prom).unwrap();
    assert_eq!(prom, "");
    let mut om = String::new();
    render_openmetrics(&source, &mut om).unwrap();
    assert_eq!(om, "# EOF\n");
    check_both(&source, &[]);
}

#[test]
fn watcher_state_histograms() {
    let mut w = WatcherState::new(Timestamp::new(1_700_000_000, 0), Duration::from_secs(1));
    w.set_histogram_buckets(Some(&[0, 1, 2, 5, 10, 20, 50, 100]))
        .unwrap();
    for i in 0..50u32 {
        w.record(
            Timestamp::new(1_700_000_001 + i64::from(i), 0),
            HOSTILE.iter().map(|&n| {
                rec(
                    n,
                    ListenStats::new(i % 7, (i * 31) % 100).with_drops(u64::from(i)),
                )
            }),
        );
    }
    // The Watcher keeps its sample sorted by address.
    let mut sorted: Vec<&str> = HOSTILE.to_vec();
    sorted.sort();
    let tcp: Vec<&str> = sorted
        .iter()
        .copied()
        .filter(|n| !n.starts_with('/'))
        .collect();
    let unix: Vec<&str> = sorted
        .iter()
        .copied()
        .filter(|n| n.starts_with('/'))
        .collect();
    let order: Vec<&str> = tcp.into_iter().chain(unix).collect();
    let (p, o) = check_both(&w, &order);
    if p.is_empty() {
        return;
    }
    for fam in [
        r#""raindrops_watcher_active": ["histogram""#,
        r#""raindrops_watcher_queued": ["histogram""#,
    ] {
        assert!(o.contains(fam), "{o}");
    }
}

#[test]
fn json_is_valid_json() {
    let stats: Vec<Listener<&str>> = HOSTILE
        .iter()
        .map(|&n| rec(n, ListenStats::new(1, 2).with_drops(3)))
        .collect();
    let agg: Aggregate = [1u64, 5].into_iter().collect();
    let hist = [Histogram {
        name: "h\u{7}",
        help: "\u{0}ctl",
        labels: &[("k\"", "v\n")],
        aggregate: &agg,
        fixed: None,
    }];
    let source = Snapshot {
        listeners: &stats,
        histograms: &hist,
        ..Snapshot::new()
    };
    let mut json = String::new();
    raindrops_http::render_json(&source, &mut json).unwrap();
    // Names reach JSON through SafeText, as every output (docs/escaping.md).
    let expected = format!(
        "[{}]",
        HOSTILE
            .iter()
            .map(|l| json_str(&raindrops_core::SafeText(l).to_string()))
            .collect::<Vec<_>>()
            .join(",")
    );
    let script = r#"
import sys, json
d = json.loads(sys.stdin.read())
assert [l["address"] for l in d["listeners"]] == json.loads(sys.argv[1])
assert d["histograms"][0]["name"] == "h\x07" and d["histograms"][0]["help"] == "\x00ctl"
assert d["histograms"][0]["labels"] == {'k"': "v\n"}
print("OK")
"#;
    let Some((code, out)) = run(
        Command::new("python3").args(["-c", script, &expected]),
        &json,
    ) else {
        return;
    };
    assert_eq!((code, out.as_str()), (0, "OK\n"), "{json}");
}
