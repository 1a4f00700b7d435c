//! Framework-agnostic renderers and routing for raindrops stats endpoints: Ruby middleware text, Watcher pages, Prometheus, OpenMetrics, JSON
//!
//! Work in progress; see the workspace README.
