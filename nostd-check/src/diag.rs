//! Uses raindrops-diag without std (filled in by its crate).
