//! Uses raindrops-tcpinfo without std (filled in by its crate).
