#![doc = include_str!("../README.md")]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

mod chart;
mod fields;
mod float;
mod histogram_text;
#[cfg(feature = "alloc")]
mod history;
mod json;
mod metrics;
mod middleware;
mod queue_wait;
mod response;
mod router;
mod source;
mod table;
mod text;
mod time;
#[cfg(feature = "tower")]
pub mod tower;
mod watcher;
#[cfg(feature = "alloc")]
mod watcher_state;

pub use chart::{ChartPoint, ChartVisitor, render_chart};
pub use fields::{
    Column, Exposition, FieldSet, LISTENER_FIELDS, ListenerField, Value, field_index,
};
pub use float::{RubyFloat, ruby_mean, ruby_std_dev};
pub use histogram_text::HistogramText;
#[cfg(feature = "alloc")]
pub use history::CHART_SAMPLES;
pub use json::{JSON_CONTENT_TYPE, render_json};
pub use metrics::{
    Format, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, render_openmetrics,
    render_prometheus,
};
pub use middleware::{
    Calling, MIDDLEWARE_CONTENT_TYPE, MiddlewareStats, RequestGauges, Writing,
    render_middleware_listeners, render_middleware_text,
};
pub use queue_wait::{
    QUEUE_WAIT_BOUNDS_MS, QUEUE_WAIT_HELP, QUEUE_WAIT_HISTOGRAM, queue_wait_counts,
    visit_queue_wait_histograms,
};
pub use response::{Body, Header, HeaderText, HeaderValue, Headers, MAX_HEADERS, Response};
pub use router::{Request, Router};
pub use source::{
    FixedBuckets, Histogram, ListenerVisitor, Metric, MetricKind, Snapshot, SourceError,
    StatsSource,
};
pub use table::render_table;
pub use text::JsonString;
pub use time::{HttpDate, Iso8601, Timestamp};
pub use watcher::{
    MAX_ADDR_LEN, SUMMARY_HEADERS, Summary, Tail, Watcher, Which, render_index,
    render_last_data_recv_headers, render_summary_html, render_summary_txt,
    render_unknown_listener_html, summary_header_values, write_tail_line,
};
#[cfg(feature = "alloc")]
pub use watcher_state::{BucketsError, MAX_BUCKETS, WatcherState};
