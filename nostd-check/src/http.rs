//! Uses raindrops-http without std (filled in by its crate).
