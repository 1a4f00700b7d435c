#![no_main]
//! Systemd units and containers read from cgroup paths: never panic; what
//! is found is a part of the path; a container id in a runtime's scheme is
//! found whatever the path around it.
use libfuzzer_sys::fuzz_target;
use raindrops_diag::cgroup_path::{Runtime, cgroup_origin};

fn within(part: &[u8], whole: &[u8]) -> bool {
    let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    p >= w && p + part.len() <= w + whole.len()
}

fuzz_target!(|data: &[u8]| {
    let o = cgroup_origin(data);
    if let Some(u) = o.unit {
        assert!(within(u, data));
        assert!(u.ends_with(b".service") || u.ends_with(b".scope"));
    }
    if let Some(c) = o.container {
        assert!(within(c.id, data) && !c.id.is_empty());
    }
    // The input as a prefix of a Docker scope.
    let prefix: Vec<u8> = data.iter().copied().take(200).collect();
    let id: String = data
        .iter()
        .chain(std::iter::repeat(&0u8))
        .take(64)
        .map(|b| char::from(b"0123456789abcdef"[usize::from(b % 16)]))
        .collect();
    let mut p = prefix;
    p.extend_from_slice(format!("/docker-{id}.scope").as_bytes());
    let c = cgroup_origin(&p).container.unwrap();
    assert_eq!((c.runtime, c.id), (Runtime::Docker, id.as_bytes()));
});
