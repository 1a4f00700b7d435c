//! Helpers for the raindrops-diag tests: the kernel's own view through
//! `ss`, and the Ruby gem's listener statistics as plain values.

use std::collections::BTreeMap;
use std::process::Command;

/// One listening socket as `ss -ltnm` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsListener {
    /// The local address as `ss` prints it (`127.0.0.1:8080`, `[::1]:8080`, `*:8080`).
    pub local: String,
    /// Recv-Q: connections in the accept queue.
    pub queued: u32,
    /// Send-Q: the backlog limit.
    pub backlog: u32,
    /// `d<N>` of `skmem:(...)`: drops.
    pub drops: Option<u64>,
}

/// The TCP listeners on `port` as `ss -ltnm` sees them, or `None` where
/// `ss` is missing or fails (see [`skip_oracle`](crate::skip_oracle): with
/// `RAINDROPS_REQUIRE_RUBY=1` that is a failure).
///
/// # Panics
///
/// When `ss` runs but its output cannot be parsed, or is missing under
/// `RAINDROPS_REQUIRE_RUBY=1`.
pub fn ss_tcp_listeners(port: u16) -> Option<Vec<SsListener>> {
    let out = match Command::new("ss")
        .args(["-Htlnm", &format!("sport = :{port}")])
        .output()
    {
        Ok(o) if o.status.success() => o,
        other => {
            let why = format!("`ss -Htlnm` unavailable: {other:?}");
            return crate::skip_oracle(&why, "apt-get install -y iproute2");
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v = Vec::new();
    let mut cur: Option<SsListener> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("skmem:(") {
            let c = cur.as_mut().expect("skmem line after a socket line");
            for f in rest.trim_end_matches(')').split(',') {
                if let Some(d) = f.strip_prefix('d') {
                    c.drops = Some(d.parse().expect("drops number"));
                }
            }
            continue;
        }
        let cols: Vec<&str> = t.split_whitespace().collect();
        if cols.len() < 4 || cols[0] != "LISTEN" {
            // ss prints skmem on the same line in some versions.
            if let Some(i) = t.find("skmem:(") {
                let c = cur.as_mut().expect("socket line");
                for f in t[i + 7..].trim_end_matches(')').split(',') {
                    if let Some(d) = f.strip_prefix('d') {
                        c.drops = Some(d.parse().expect("drops"));
                    }
                }
            }
            continue;
        }
        if let Some(c) = cur.take() {
            v.push(c);
        }
        let mut l = SsListener {
            local: cols[3].to_string(),
            queued: cols[1].parse().expect("Recv-Q"),
            backlog: cols[2].parse().expect("Send-Q"),
            drops: None,
        };
        if let Some(i) = t.find("skmem:(") {
            for f in t[i + 7..].trim_end_matches(')').split(',') {
                if let Some(d) = f.strip_prefix('d') {
                    l.drops = Some(d.parse().expect("drops"));
                }
            }
        }
        cur = Some(l);
    }
    if let Some(c) = cur.take() {
        v.push(c);
    }
    Some(v)
}

/// The Ruby snippet that prints `name active queued` per line for the
/// hash returned by a `Raindrops::Linux` query.
pub const RUBY_PRINT_STATS: &str =
    "def rd_print(h); h.each { |k, v| puts \"#{k} #{v.active} #{v.queued}\" }; end\n";

/// Parses the output of [`RUBY_PRINT_STATS`]' `rd_print`: names (which may
/// contain spaces) with `(active, queued)`, in the Ruby hash's order.
///
/// # Panics
///
/// On a malformed line.
pub fn parse_ruby_stats(out: &str) -> Vec<(String, (u32, u32))> {
    out.lines()
        .map(|l| {
            let mut it = l.rsplitn(3, ' ');
            let q = it.next().and_then(|s| s.parse().ok()).expect("queued");
            let a = it.next().and_then(|s| s.parse().ok()).expect("active");
            let name = it.next().expect("name").to_string();
            (name, (a, q))
        })
        .collect()
}

/// [`parse_ruby_stats`] as a map, for comparisons without order.
pub fn ruby_stats_map(out: &str) -> BTreeMap<String, (u32, u32)> {
    parse_ruby_stats(out).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under `RAINDROPS_REQUIRE_RUBY=1`, a missing oracle fails the test:
    /// a child test process runs with `ss` off its `PATH`.
    #[test]
    fn missing_ss_fails_when_required() {
        if std::env::var_os("RD_TESTUTIL_CHILD").is_some() {
            let _ = ss_tcp_listeners(1);
            return;
        }
        let me = std::env::current_exe().unwrap();
        let run = |require: &str| {
            Command::new(&me)
                .args([
                    "--exact",
                    "--nocapture",
                    "diag::tests::missing_ss_fails_when_required",
                ])
                .env("RD_TESTUTIL_CHILD", "1")
                .env("PATH", "/nonexistent")
                .env(crate::REQUIRE_RUBY_ENV, require)
                .output()
                .unwrap()
        };
        let required = run("1");
        assert!(!required.status.success(), "{required:?}");
        let text = String::from_utf8_lossy(&required.stderr);
        assert!(text.contains("an oracle is missing"), "{text}");
        let optional = run("0");
        assert!(optional.status.success(), "{optional:?}");
        let err = String::from_utf8_lossy(&optional.stderr);
        assert!(err.contains("skipping differential test"), "{err}");
    }

    #[test]
    fn parses_ruby_lines() {
        let v = parse_ruby_stats("127.0.0.1:80 1 2\n@a b 0 3\n");
        assert_eq!(v[0], ("127.0.0.1:80".to_string(), (1, 2)));
        assert_eq!(v[1], ("@a b".to_string(), (0, 3)));
    }
}
