//! The one table of per-listener fields that every output is rendered
//! from: the JSON keys, the table and Watcher columns, and the Prometheus
//! and OpenMetrics labels and metric families.
//!
//! Adding a per-listener output is adding one row to [`LISTENER_FIELDS`]:
//! JSON ([`render_json`](crate::render_json)), the text table
//! ([`render_table`](crate::render_table)) and the metrics
//! ([`render_prometheus`](crate::render_prometheus),
//! [`render_openmetrics`](crate::render_openmetrics)) pick it up from
//! there. The meaning of each number is documented in the repository's
//! `docs/listener-stats.md`; the HELP text here is its one-line summary.

use core::fmt;

use raindrops_core::Listener;

/// The value of one field for one listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A number.
    Int(u64),
    /// A string (a name in display form, a family).
    Str(&'a str),
    /// Not known for this listener (not measured, or not applicable, as
    /// the `drops` of a Unix socket): `null` in JSON, `-` in tables, no
    /// sample in the metrics.
    Unknown,
}

impl Value<'_> {
    /// Whether the value is known.
    pub const fn is_known(&self) -> bool {
        !matches!(self, Value::Unknown)
    }
}

impl fmt::Display for Value<'_> {
    /// The value as a table shows it: the number, the string, or `-`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Str(s) => f.write_str(s),
            Value::Unknown => f.write_str("-"),
        }
    }
}

/// How a field appears in Prometheus text and OpenMetrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposition {
    /// Not exported.
    None,
    /// A label, with this name, on every listener sample.
    Label(&'static str),
    /// A gauge family of its own, one sample per listener that knows it.
    Gauge {
        /// The family name.
        name: &'static str,
        /// The `# HELP` text.
        help: &'static str,
    },
    /// A counter family of its own (samples get the `_total` suffix).
    Counter {
        /// The family name, without `_total`.
        name: &'static str,
        /// The `# HELP` text.
        help: &'static str,
    },
}

/// When the text table shows a field's column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// Not a column.
    None,
    /// Always, with this title (`-` where unknown).
    Always(&'static str),
    /// With this title when any listener knows the value (for example
    /// `SYN_RECV`, counted only when asked for).
    WhenKnown(&'static str),
}

/// One per-listener field: its names in each output and how to read it.
#[derive(Clone, Copy)]
pub struct ListenerField {
    /// The key in JSON objects (unique in the table).
    pub key: &'static str,
    /// The column of the text table and the Watcher index.
    pub column: Column,
    /// Where it goes in Prometheus text and OpenMetrics.
    pub exposition: Exposition,
    /// Reads the value from a listener.
    pub value: for<'a> fn(&Listener<&'a str>) -> Value<'a>,
}

impl fmt::Debug for ListenerField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerField")
            .field("key", &self.key)
            .field("column", &self.column)
            .field("exposition", &self.exposition)
            .finish_non_exhaustive()
    }
}

fn int<T: Into<u64>>(v: Option<T>) -> Value<'static> {
    v.map_or(Value::Unknown, |v| Value::Int(v.into()))
}

fn str(v: Option<&str>) -> Value<'_> {
    v.map_or(Value::Unknown, Value::Str)
}

/// Every per-listener field, in output order (JSON keys, table columns,
/// labels). The position of a row is its bit in a [`FieldSet`].
pub const LISTENER_FIELDS: &[ListenerField] = &[
    ListenerField {
        key: "address",
        column: Column::Always("ADDRESS"),
        exposition: Exposition::Label("listener"),
        value: |l| Value::Str(l.name),
    },
    ListenerField {
        key: "family",
        column: Column::Always("FAMILY"),
        exposition: Exposition::Label("family"),
        value: |l| Value::Str(l.family.as_str()),
    },
    ListenerField {
        key: "type",
        column: Column::None,
        exposition: Exposition::None,
        value: |l| Value::Str(l.family.protocol()),
    },
    ListenerField {
        key: "active",
        column: Column::Always("ACTIVE"),
        exposition: Exposition::Gauge {
            name: "raindrops_listener_active",
            help: "Connections accepted by the application and still established.",
        },
        value: |l| Value::Int(l.stats.active.into()),
    },
    ListenerField {
        key: "queued",
        column: Column::Always("QUEUED"),
        exposition: Exposition::Gauge {
            name: "raindrops_listener_queued",
            help: "Connections waiting in the accept queue.",
        },
        value: |l| Value::Int(l.stats.queued.into()),
    },
    ListenerField {
        key: "backlog",
        column: Column::Always("BACKLOG"),
        exposition: Exposition::Gauge {
            name: "raindrops_listener_backlog",
            help: "Accept queue limit of the listener (listen backlog as capped by the kernel).",
        },
        value: |l| int(l.stats.backlog),
    },
    ListenerField {
        key: "drops",
        column: Column::Always("DROPS"),
        exposition: Exposition::Counter {
            name: "raindrops_listener_drops",
            help: "Connections the kernel dropped at this listener: a full accept queue, and with TCP_DEFER_ACCEPT each handshake ACK without data.",
        },
        value: |l| int(l.stats.drops),
    },
    ListenerField {
        key: "overflows",
        column: Column::WhenKnown("OVERFLOWS"),
        exposition: Exposition::Counter {
            name: "raindrops_listener_overflows",
            help: "Handshakes dropped because the accept queue was full, since the exporter first saw the listener (the listener's drops split with the namespace's TcpExt counters; see raindrops_listener_overflows_estimated_total).",
        },
        value: |l| int(l.stats.overflows),
    },
    ListenerField {
        key: "overflows_estimated",
        column: Column::None,
        exposition: Exposition::Counter {
            name: "raindrops_listener_overflows_estimated",
            help: "The part of raindrops_listener_overflows_total that was estimated: several listeners of the namespace dropped while both overflows and TCP_DEFER_ACCEPT ACKs happened.",
        },
        value: |l| int(l.stats.overflows_estimated),
    },
    ListenerField {
        key: "syn_recv",
        column: Column::WhenKnown("SYN_RECV"),
        exposition: Exposition::Gauge {
            name: "raindrops_listener_syn_recv",
            help: "Half-open handshakes waiting for the client's final ACK.",
        },
        value: |l| int(l.stats.syn_recv),
    },
    ListenerField {
        key: "queue_wait_oldest_ms",
        column: Column::WhenKnown("WAIT_OLDEST"),
        exposition: Exposition::Gauge {
            name: "raindrops_listener_queue_wait_oldest_milliseconds",
            help: "How long the oldest connection in the accept queue has waited since its handshake completed (0 when none waits).",
        },
        value: |l| int(l.stats.queue_wait_oldest_ms),
    },
    ListenerField {
        key: "queue_wait_p50_ms",
        column: Column::WhenKnown("WAIT_P50"),
        exposition: Exposition::None,
        value: |l| int(l.stats.queue_wait_p50_ms),
    },
    ListenerField {
        key: "queue_wait_p90_ms",
        column: Column::WhenKnown("WAIT_P90"),
        exposition: Exposition::None,
        value: |l| int(l.stats.queue_wait_p90_ms),
    },
    ListenerField {
        key: "queue_wait_p99_ms",
        column: Column::WhenKnown("WAIT_P99"),
        exposition: Exposition::None,
        value: |l| int(l.stats.queue_wait_p99_ms),
    },
    // Where the listener lives and who holds it: known only when the
    // sampler was asked (namespaces, processes), so the columns and labels
    // appear only then. The inode tells unnamed namespaces apart, so that
    // the same address in two namespaces makes two series.
    ListenerField {
        key: "netns",
        column: Column::WhenKnown("NETNS"),
        exposition: Exposition::Label("netns"),
        value: |l| str(l.netns.and_then(|n| n.name)),
    },
    ListenerField {
        key: "netns_inode",
        column: Column::WhenKnown("NETNS_INODE"),
        exposition: Exposition::Label("netns_inode"),
        value: |l| int(l.netns.map(|n| n.inode)),
    },
    ListenerField {
        key: "pid",
        column: Column::WhenKnown("PID"),
        exposition: Exposition::None,
        value: |l| int(l.owner.map(|o| o.pid)),
    },
    ListenerField {
        key: "process",
        column: Column::WhenKnown("PROCESS"),
        exposition: Exposition::Label("process"),
        value: |l| str(l.owner.map(|o| o.command)),
    },
    ListenerField {
        key: "processes",
        column: Column::None,
        exposition: Exposition::None,
        value: |l| int(l.owner.map(|o| o.processes)),
    },
    ListenerField {
        key: "cgroup",
        column: Column::WhenKnown("CGROUP"),
        exposition: Exposition::Label("cgroup"),
        value: |l| str(l.cgroup),
    },
];

/// The position of the field `key` in [`LISTENER_FIELDS`].
pub const fn field_index(key: &str) -> Option<usize> {
    let mut i = 0;
    while i < LISTENER_FIELDS.len() {
        if str_eq(LISTENER_FIELDS[i].key, key) {
            return Some(i);
        }
        i += 1;
    }
    None
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A set of rows of [`LISTENER_FIELDS`]: the fields a
/// [`StatsSource`](crate::StatsSource) measured. Renderers treat the
/// others as unknown, so that a query that skipped a number (for example
/// `active`, for a LISTEN-only query) shows it as `null`/`-` and leaves its
/// metric family out rather than reporting 0.
///
/// ```
/// use raindrops_http::FieldSet;
/// let s = FieldSet::ALL.without("active");
/// assert!(s.contains("queued") && !s.contains("active"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldSet(u64);

const _: () = assert!(LISTENER_FIELDS.len() <= 64, "FieldSet holds 64 fields");
// Keys are unique: a key names one row.
const _: () = {
    let mut i = 0;
    while i < LISTENER_FIELDS.len() {
        match field_index(LISTENER_FIELDS[i].key) {
            Some(j) if j == i => {}
            _ => panic!("duplicate key in LISTENER_FIELDS"),
        }
        i += 1;
    }
};

impl FieldSet {
    /// Every field.
    pub const ALL: FieldSet = FieldSet(u64::MAX >> (64 - LISTENER_FIELDS.len()));

    /// The set without the field `key` (unchanged for an unknown key).
    #[must_use]
    pub const fn without(self, key: &str) -> FieldSet {
        match field_index(key) {
            Some(i) => FieldSet(self.0 & !(1 << i)),
            None => self,
        }
    }

    /// Whether the field `key` is in the set.
    pub const fn contains(self, key: &str) -> bool {
        match field_index(key) {
            Some(i) => self.contains_index(i),
            None => false,
        }
    }

    /// Whether row `i` of [`LISTENER_FIELDS`] is in the set.
    pub const fn contains_index(self, i: usize) -> bool {
        i < 64 && self.0 & (1 << i) != 0
    }
}

impl Default for FieldSet {
    fn default() -> Self {
        FieldSet::ALL
    }
}

impl ListenerField {
    /// The value of this field for `l`, unknown unless row `index` is in
    /// `measured`.
    pub(crate) fn get<'a>(
        &self,
        index: usize,
        measured: FieldSet,
        l: &Listener<&'a str>,
    ) -> Value<'a> {
        if measured.contains_index(index) {
            (self.value)(l)
        } else {
            Value::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Snapshot, render_json, render_prometheus, render_table};
    use raindrops_core::{Family, ListenStats, Netns, Owner};
    use std::string::{String, ToString};
    use std::vec::Vec;

    /// Every per-listener output of two listeners, exactly: the one place
    /// where the listener fields are spelled out in full (other tests look
    /// up the members they need, so a new row changes only this test).
    #[test]
    fn every_output_of_the_table() {
        let listeners = [
            Listener::new(
                "127.0.0.1:80",
                Family::Tcp4,
                ListenStats::new(1, 2)
                    .with_backlog(128)
                    .with_drops(3)
                    .with_overflows(2, 1),
            ),
            Listener::new(
                "/tmp/\"s\"",
                Family::Unix,
                ListenStats::new(0, 0).with_backlog(16),
            ),
        ];
        let snap = Snapshot {
            listeners: &listeners,
            ..Snapshot::new()
        };
        let mut json = String::new();
        render_json(&snap, &mut json).unwrap();
        assert_eq!(
            json,
            "{\"calling\":null,\"writing\":null,\"listeners\":[\
             {\"address\":\"127.0.0.1:80\",\"family\":\"tcp4\",\"type\":\"tcp\",\"active\":1,\"queued\":2,\"backlog\":128,\"drops\":3,\"overflows\":2,\"overflows_estimated\":1,\"syn_recv\":null,\
             \"queue_wait_oldest_ms\":null,\"queue_wait_p50_ms\":null,\"queue_wait_p90_ms\":null,\"queue_wait_p99_ms\":null,\
             \"netns\":null,\"netns_inode\":null,\"pid\":null,\"process\":null,\"processes\":null,\"cgroup\":null},\
             {\"address\":\"/tmp/\\\"s\\\"\",\"family\":\"unix\",\"type\":\"unix\",\"active\":0,\"queued\":0,\"backlog\":16,\"drops\":null,\"overflows\":null,\"overflows_estimated\":null,\"syn_recv\":null,\
             \"queue_wait_oldest_ms\":null,\"queue_wait_p50_ms\":null,\"queue_wait_p90_ms\":null,\"queue_wait_p99_ms\":null,\
             \"netns\":null,\"netns_inode\":null,\"pid\":null,\"process\":null,\"processes\":null,\"cgroup\":null}],\
             \"metrics\":[],\"histograms\":[]}\n"
        );
        let mut table = String::new();
        render_table(&snap, &mut table).unwrap();
        assert_eq!(
            table,
            "ADDRESS      FAMILY   ACTIVE   QUEUED  BACKLOG    DROPS OVERFLOWS\n\
             127.0.0.1:80 tcp4          1        2      128        3         2\n\
             /tmp/\"s\"     unix          0        0       16        -         -\n"
        );
        let mut prom = String::new();
        render_prometheus(&snap, &mut prom).unwrap();
        let samples: Vec<&str> = prom.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "raindrops_listener_active{listener=\"127.0.0.1:80\",family=\"tcp4\"} 1",
                "raindrops_listener_active{listener=\"/tmp/\\\"s\\\"\",family=\"unix\"} 0",
                "raindrops_listener_queued{listener=\"127.0.0.1:80\",family=\"tcp4\"} 2",
                "raindrops_listener_queued{listener=\"/tmp/\\\"s\\\"\",family=\"unix\"} 0",
                "raindrops_listener_backlog{listener=\"127.0.0.1:80\",family=\"tcp4\"} 128",
                "raindrops_listener_backlog{listener=\"/tmp/\\\"s\\\"\",family=\"unix\"} 16",
                "raindrops_listener_drops_total{listener=\"127.0.0.1:80\",family=\"tcp4\"} 3",
                "raindrops_listener_overflows_total{listener=\"127.0.0.1:80\",family=\"tcp4\"} 2",
                "raindrops_listener_overflows_estimated_total{listener=\"127.0.0.1:80\",family=\"tcp4\"} 1",
            ]
        );

        // With the accept-queue waits measured (TCP): four columns when
        // known, four JSON keys, one gauge.
        let waits = [
            Listener::new(
                "127.0.0.1:80",
                Family::Tcp4,
                ListenStats::new(1, 3)
                    .with_backlog(128)
                    .with_queue_wait_oldest(1500)
                    .with_queue_wait_percentiles(700, 1500, 1500),
            ),
            Listener::new("/tmp/s", Family::Unix, ListenStats::new(0, 0)),
        ];
        let snap = Snapshot {
            listeners: &waits,
            ..Snapshot::new()
        };
        let mut json = String::new();
        render_json(&snap, &mut json).unwrap();
        assert!(
            json.contains(
                "\"syn_recv\":null,\"queue_wait_oldest_ms\":1500,\"queue_wait_p50_ms\":700,\
                 \"queue_wait_p90_ms\":1500,\"queue_wait_p99_ms\":1500,\"netns\":null,"
            ),
            "{json}"
        );
        let mut table = String::new();
        render_table(&snap, &mut table).unwrap();
        assert_eq!(
            table,
            "ADDRESS      FAMILY   ACTIVE   QUEUED  BACKLOG    DROPS WAIT_OLDEST WAIT_P50 WAIT_P90 WAIT_P99\n\
             127.0.0.1:80 tcp4          1        3      128        -        1500      700     1500     1500\n\
             /tmp/s       unix          0        0        -        -           -        -        -        -\n"
        );
        let mut prom = String::new();
        render_prometheus(&snap, &mut prom).unwrap();
        assert!(prom.contains(
            "# TYPE raindrops_listener_queue_wait_oldest_milliseconds gauge\n\
             raindrops_listener_queue_wait_oldest_milliseconds{listener=\"127.0.0.1:80\",family=\"tcp4\"} 1500\n"
        ), "{prom}");
        assert!(!prom.contains("p50"), "{prom}");

        // The same address in two network namespaces, one named, with
        // owners and cgroups where the sampler found them.
        let listeners = [
            Listener::new("0.0.0.0:80", Family::Tcp4, ListenStats::new(1, 0))
                .with_netns(Netns::new(4026531840))
                .with_owner(Owner::new(1, "init"))
                .with_cgroup("/init.scope"),
            Listener::new("0.0.0.0:80", Family::Tcp4, ListenStats::new(2, 1))
                .with_netns(Netns::new(4026532000).with_name("blue"))
                .with_owner(Owner::new(812, "nginx").with_processes(5)),
        ];
        let snap = Snapshot {
            listeners: &listeners,
            measured: FieldSet::ALL.without("backlog").without("drops"),
            ..Snapshot::new()
        };
        let mut json = String::new();
        render_json(&snap, &mut json).unwrap();
        assert_eq!(
            json,
            "{\"calling\":null,\"writing\":null,\"listeners\":[\
             {\"address\":\"0.0.0.0:80\",\"family\":\"tcp4\",\"type\":\"tcp\",\"active\":1,\"queued\":0,\"backlog\":null,\"drops\":null,\"overflows\":null,\"overflows_estimated\":null,\"syn_recv\":null,\
             \"queue_wait_oldest_ms\":null,\"queue_wait_p50_ms\":null,\"queue_wait_p90_ms\":null,\"queue_wait_p99_ms\":null,\
             \"netns\":null,\"netns_inode\":4026531840,\"pid\":1,\"process\":\"init\",\"processes\":1,\"cgroup\":\"/init.scope\"},\
             {\"address\":\"0.0.0.0:80\",\"family\":\"tcp4\",\"type\":\"tcp\",\"active\":2,\"queued\":1,\"backlog\":null,\"drops\":null,\"overflows\":null,\"overflows_estimated\":null,\"syn_recv\":null,\
             \"queue_wait_oldest_ms\":null,\"queue_wait_p50_ms\":null,\"queue_wait_p90_ms\":null,\"queue_wait_p99_ms\":null,\
             \"netns\":\"blue\",\"netns_inode\":4026532000,\"pid\":812,\"process\":\"nginx\",\"processes\":5,\"cgroup\":null}],\
             \"metrics\":[],\"histograms\":[]}\n"
        );
        let mut table = String::new();
        render_table(&snap, &mut table).unwrap();
        assert_eq!(
            table,
            "ADDRESS    FAMILY   ACTIVE   QUEUED  BACKLOG    DROPS NETNS NETNS_INODE      PID PROCESS CGROUP\n\
             0.0.0.0:80 tcp4          1        0        -        - -     4026531840         1 init    /init.scope\n\
             0.0.0.0:80 tcp4          2        1        -        - blue  4026532000       812 nginx   -\n"
        );
        let mut prom = String::new();
        render_prometheus(&snap, &mut prom).unwrap();
        let samples: Vec<&str> = prom.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "raindrops_listener_active{listener=\"0.0.0.0:80\",family=\"tcp4\",netns=\"\",netns_inode=\"4026531840\",process=\"init\",cgroup=\"/init.scope\"} 1",
                "raindrops_listener_active{listener=\"0.0.0.0:80\",family=\"tcp4\",netns=\"blue\",netns_inode=\"4026532000\",process=\"nginx\",cgroup=\"\"} 2",
                "raindrops_listener_queued{listener=\"0.0.0.0:80\",family=\"tcp4\",netns=\"\",netns_inode=\"4026531840\",process=\"init\",cgroup=\"/init.scope\"} 0",
                "raindrops_listener_queued{listener=\"0.0.0.0:80\",family=\"tcp4\",netns=\"blue\",netns_inode=\"4026532000\",process=\"nginx\",cgroup=\"\"} 1",
            ]
        );
    }

    #[test]
    fn rows() {
        let l = Listener::new(
            "127.0.0.1:80",
            Family::Tcp4,
            ListenStats::new(1, 2).with_backlog(128),
        );
        let v: Vec<_> = LISTENER_FIELDS
            .iter()
            .enumerate()
            .map(|(i, f)| (f.key, f.get(i, FieldSet::ALL, &l).to_string()))
            .collect();
        assert_eq!(
            v,
            [
                ("address", "127.0.0.1:80".to_string()),
                ("family", "tcp4".into()),
                ("type", "tcp".into()),
                ("active", "1".into()),
                ("queued", "2".into()),
                ("backlog", "128".into()),
                ("drops", "-".into()),
                ("overflows", "-".into()),
                ("overflows_estimated", "-".into()),
                ("syn_recv", "-".into()),
                ("queue_wait_oldest_ms", "-".into()),
                ("queue_wait_p50_ms", "-".into()),
                ("queue_wait_p90_ms", "-".into()),
                ("queue_wait_p99_ms", "-".into()),
                ("netns", "-".into()),
                ("netns_inode", "-".into()),
                ("pid", "-".into()),
                ("process", "-".into()),
                ("processes", "-".into()),
                ("cgroup", "-".into()),
            ]
        );
        let no_active = FieldSet::ALL.without("active");
        let i = field_index("active").unwrap();
        assert_eq!(LISTENER_FIELDS[i].get(i, no_active, &l), Value::Unknown);
        assert_eq!(FieldSet::ALL.without("nope"), FieldSet::ALL);
        assert!(!FieldSet::ALL.contains("nope"));
    }
}
