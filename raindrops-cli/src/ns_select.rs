//! Which listeners of each network namespace `--all-namespaces`,
//! `--namespace` and `-p` show: the rules of the plain sampler
//! (docs/selection.md), applied to each namespace's dump of every
//! listener.
//!
//! Names as typed (`127.0.0.1:80`, `:80`, `localhost:80`, `/run/app.sock`,
//! `/run/user/*`) are selectors; exact ones (one address, one path) are
//! always shown where they listen, the others unless excluded; without
//! names, `--include`, `--exclude` and the ephemeral-port rule choose.
//! In one namespace (`-p` alone) an exact name where nothing listens is a
//! row of zeros, as without `-p`; across namespaces it is shown only where
//! it listens.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use raindrops_core::{EscapedName, Family, ListenStats, PortRange, Selection, Selector, Verdict};

use crate::fail::Failure;
use crate::sample::{Listener, SelectionArgs, ephemeral_range, parse_selector, shown};

/// One name from the command line, as a selector text.
#[derive(Clone, Debug)]
struct Name {
    /// How the row is named when nothing listens there (display form).
    shown: String,
    /// Selector texts that find it (a path and what it resolves to).
    texts: Vec<String>,
    /// Whether it names one listener (an address, a path without `*`/`?`).
    exact: Option<Family>,
}

/// The names and selection flags, checked.
#[derive(Clone, Debug, Default)]
pub(crate) struct Choice {
    names: Vec<Name>,
    include: Vec<String>,
    exclude: Vec<String>,
    ephemeral: Option<PortRange>,
}

impl Choice {
    /// The choice of `names` and `selection` (`None`: every listener,
    /// without the ephemeral-port rule, as `serve` samples). Bad names and
    /// selectors are a usage failure, as without namespaces.
    pub(crate) fn new(
        names: &[OsString],
        selection: Option<&SelectionArgs>,
    ) -> Result<Self, Failure> {
        let mut c = Choice::default();
        for raw in names {
            c.names.push(name(raw)?);
        }
        if let Some(sel) = selection {
            for s in &sel.include {
                parse_selector("--include", s)?;
            }
            for s in &sel.exclude {
                parse_selector("--exclude", s)?;
            }
            c.include.clone_from(&sel.include);
            c.exclude.clone_from(&sel.exclude);
            c.ephemeral = if sel.all_ports {
                None
            } else {
                ephemeral_range()
            };
        }
        Ok(c)
    }

    /// The listeners of one namespace to show, from its dump of every
    /// listener (`listeners`: TCP ones, then Unix ones): per family, the
    /// exact names in the order given, then what the selectors keep; with
    /// `zeros`, exact names where nothing listens as rows of zeros.
    pub(crate) fn apply(&self, listeners: Vec<Listener>, zeros: bool) -> Vec<Listener> {
        let include = parse(&self.include);
        let exclude = parse(&self.exclude);
        let selection = Selection::new()
            .with_include(&include)
            .with_exclude(&exclude)
            .with_ephemeral(self.ephemeral);
        let names: Vec<(&Name, Vec<Selector<'_>>)> =
            self.names.iter().map(|n| (n, parse(&n.texts))).collect();
        let all = self.names.is_empty();
        let excluded = |l: &Listener| exclude.iter().any(|s| s.matches(l));
        let mut out = Vec::with_capacity(listeners.len());
        let (tcp, unix): (Vec<Listener>, Vec<Listener>) =
            listeners.into_iter().partition(|l| l.family.is_tcp());
        for (is_tcp, mut group) in [(true, tcp), (false, unix)] {
            // Exact names first, in the order given.
            for (n, sels) in names.iter().filter(|(n, _)| n.exact.is_some()) {
                if n.exact.is_some_and(|f| f.is_tcp()) != is_tcp {
                    continue;
                }
                match group.iter().position(|l| sels.iter().any(|s| s.matches(l))) {
                    Some(i) => out.push(group.remove(i)),
                    None if zeros => out.push(Listener::new(
                        n.shown.clone(),
                        n.exact.unwrap_or(Family::Unix),
                        ListenStats::new(0, 0),
                    )),
                    None => {}
                }
            }
            out.extend(group.into_iter().filter(|l| {
                let patterns = names
                    .iter()
                    .filter(|(n, _)| n.exact.is_none())
                    .any(|(_, sels)| sels.iter().any(|s| s.matches(l)));
                if patterns {
                    !excluded(l)
                } else if all {
                    selection.verdict(l) == Verdict::Selected
                } else {
                    include.iter().any(|s| s.matches(l)) && !excluded(l)
                }
            }));
        }
        out
    }
}

/// The selectors of `texts`, checked when they were given.
fn parse(texts: &[String]) -> Vec<Selector<'_>> {
    texts
        .iter()
        .filter_map(|s| Selector::parse(s).ok())
        .collect()
}

/// A name as typed: a Unix path or abstract name (any bytes; a path is
/// also found by what it resolves to), or a TCP address or selector.
fn name(raw: &OsString) -> Result<Name, Failure> {
    let bytes = raw.as_bytes();
    if bytes.first().is_some_and(|b| *b == b'/' || *b == b'@') {
        let display = EscapedName(bytes).to_string();
        let mut texts = vec![display.clone()];
        if bytes[0] == b'/' {
            if let Ok(t) = std::fs::canonicalize(raw) {
                let t = EscapedName(t.as_os_str().as_bytes()).to_string();
                if t != display {
                    texts.push(t);
                }
            }
        }
        let exact = !display.contains(['*', '?']);
        return Ok(Name {
            shown: display,
            texts,
            exact: exact.then_some(Family::Unix),
        });
    }
    let Some(n) = raw.to_str() else {
        return Err(Failure::Usage(format!(
            "bad listener address {}: not UTF-8",
            EscapedName(bytes)
        )));
    };
    let sel = Selector::parse(n)
        .map_err(|e| Failure::Usage(format!("bad listener address {}: {e}", shown(n))))?;
    let exact = sel.exact_addr();
    Ok(Name {
        // As the query names it: canonical, scope id removed.
        shown: exact.map_or_else(
            || n.to_string(),
            |a| std::net::SocketAddr::new(a.ip(), a.port()).to_string(),
        ),
        texts: vec![n.to_string()],
        exact: exact.map(|a| Family::of_addr(&a)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(name: &str, family: Family) -> Listener {
        Listener::new(name.into(), family, ListenStats::new(1, 0))
    }

    fn names(v: &[Listener]) -> Vec<&str> {
        v.iter().map(|l| l.name.as_str()).collect()
    }

    fn dump() -> Vec<Listener> {
        vec![
            l("0.0.0.0:80", Family::Tcp4),
            l("127.0.0.1:8080", Family::Tcp4),
            l("127.0.0.1:45000", Family::Tcp4),
            l("[::1]:8080", Family::Tcp6),
            l("/run/app.sock", Family::Unix),
            l("@bus", Family::Unix),
        ]
    }

    fn choice(n: &[&str], sel: Option<&SelectionArgs>) -> Choice {
        let n: Vec<OsString> = n.iter().map(OsString::from).collect();
        Choice::new(&n, sel).unwrap()
    }

    #[test]
    fn every_listener_and_the_ephemeral_rule() {
        assert_eq!(names(&choice(&[], None).apply(dump(), false)).len(), 6);
        let mut c = choice(&[], None);
        c.ephemeral = PortRange::new(32768, 60999);
        let got = c.apply(dump(), false);
        assert!(!names(&got).contains(&"127.0.0.1:45000"));
        let sel = SelectionArgs {
            exclude: vec!["@*".into()],
            ..SelectionArgs::default()
        };
        let got = choice(&[], Some(&sel)).apply(dump(), false);
        assert!(!names(&got).contains(&"@bus"));
    }

    #[test]
    fn exact_names_first_patterns_then() {
        let c = choice(&["@bus", ":8080", "127.0.0.1:9", "0.0.0.0:80"], None);
        // Across namespaces: only where they listen.
        assert_eq!(
            names(&c.apply(dump(), false)),
            ["0.0.0.0:80", "127.0.0.1:8080", "[::1]:8080", "@bus"]
        );
        // In one namespace: zeros for an exact name where nothing listens.
        let one = c.apply(dump(), true);
        assert_eq!(
            names(&one),
            [
                "127.0.0.1:9",
                "0.0.0.0:80",
                "127.0.0.1:8080",
                "[::1]:8080",
                "@bus"
            ]
        );
        assert_eq!(one[0].stats, ListenStats::new(0, 0));
        assert_eq!(one[0].family, Family::Tcp4);
        let unix = choice(&["/run/*"], None).apply(dump(), true);
        assert_eq!(names(&unix), ["/run/app.sock"]);
    }

    #[test]
    fn bad_names_are_usage_errors() {
        for bad in ["1.2.3.4:99999", "[1:::5", "nope"] {
            assert!(
                matches!(
                    Choice::new(&[OsString::from(bad)], None),
                    Err(Failure::Usage(_))
                ),
                "{bad}"
            );
        }
        let sel = SelectionArgs {
            include: vec!["[::1".into()],
            ..SelectionArgs::default()
        };
        assert!(matches!(
            Choice::new(&[], Some(&sel)),
            Err(Failure::Usage(_))
        ));
    }
}
