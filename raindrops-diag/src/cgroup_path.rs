//! What a cgroup v2 path says about who runs in it: the systemd unit, and
//! the container with its runtime (and Kubernetes pod) where the path
//! follows one of the runtimes' naming schemes.
//!
//! The cgroup path is the one name of a service that every process and
//! socket of the service shares; the schemes recognised are:
//!
//! | path component | runtime |
//! |---|---|
//! | `docker-ID.scope`, `…/docker/ID` | Docker (systemd, cgroupfs driver) |
//! | `cri-containerd-ID.scope` | containerd (CRI) |
//! | `crio-ID.scope` | CRI-O |
//! | `libpod-ID.scope`, `libpod-ID` | Podman |
//! | `ID` under a `kubepods` component | Kubernetes (cgroupfs driver) |
//! | `lxc.payload.NAME`, `…/lxc/NAME` | LXC |
//! | `machine-NAME.scope` | a systemd-machined machine (nspawn, VMs) |
//!
//! where ID is 64 lowercase hexadecimal digits; a Kubernetes pod is named
//! by its `pod<UID>` (cgroupfs) or `kubepods-…-pod<UID>.slice` (systemd,
//! with `_` for the UID's `-`) component. The systemd unit is the deepest
//! component ending in `.service` or `.scope`. Anything else is left
//! unclassified rather than guessed.

/// A container runtime recognised from a cgroup path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Runtime {
    /// Docker (`docker-ID.scope`, `/docker/ID`).
    Docker,
    /// containerd's CRI plugin (`cri-containerd-ID.scope`).
    Containerd,
    /// CRI-O (`crio-ID.scope`).
    CriO,
    /// Podman (`libpod-ID.scope`).
    Podman,
    /// A Kubernetes container of a runtime the path does not name
    /// (the cgroupfs driver: `/kubepods/…/pod<UID>/ID`).
    Kubernetes,
    /// LXC (`lxc.payload.NAME`).
    Lxc,
    /// A machine registered with systemd-machined (`machine-NAME.scope`):
    /// a systemd-nspawn container or a virtual machine.
    Machine,
}

impl Runtime {
    /// The runtime's name for outputs: `"docker"`, `"containerd"`,
    /// `"cri-o"`, `"podman"`, `"kubernetes"`, `"lxc"`, `"machine"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Podman => "podman",
            Runtime::Kubernetes => "kubernetes",
            Runtime::Lxc => "lxc",
            Runtime::Machine => "machine",
        }
    }
}

impl core::fmt::Display for Runtime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container named by a cgroup path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Container<'a> {
    /// Its runtime.
    pub runtime: Runtime,
    /// Its id: 64 hexadecimal digits, or the machine or LXC name.
    pub id: &'a [u8],
    /// The Kubernetes pod UID, where the path names one (in the systemd
    /// driver's spelling, `_` stands for `-`).
    pub pod: Option<&'a [u8]>,
}

/// What a cgroup path says: the systemd unit and the container, each where
/// the path shows one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CgroupOrigin<'a> {
    /// The deepest component ending in `.service` or `.scope`
    /// (`nginx.service`, `docker-0123….scope`, `session-4.scope`).
    pub unit: Option<&'a [u8]>,
    /// The container, if the path follows a runtime's scheme.
    pub container: Option<Container<'a>>,
}

/// Classifies a cgroup v2 path (`/system.slice/nginx.service`, as
/// `/proc/PID/cgroup` prints it; a trailing `" (deleted)"` is ignored).
///
/// ```
/// use raindrops_diag::cgroup_path::{Runtime, cgroup_origin};
/// let id = "0".repeat(64);
/// let p = format!("/system.slice/docker-{id}.scope");
/// let o = cgroup_origin(p.as_bytes());
/// assert_eq!(o.unit, Some(format!("docker-{id}.scope").as_bytes()));
/// let c = o.container.unwrap();
/// assert_eq!((c.runtime, c.id), (Runtime::Docker, id.as_bytes()));
///
/// let o = cgroup_origin(b"/system.slice/nginx.service");
/// assert_eq!((o.unit, o.container), (Some(&b"nginx.service"[..]), None));
/// ```
pub fn cgroup_origin(path: &[u8]) -> CgroupOrigin<'_> {
    let path = path.strip_suffix(b" (deleted)").unwrap_or(path);
    let unit = path.rsplit(|&b| b == b'/').find(|c| {
        [&b".service"[..], b".scope"]
            .iter()
            .any(|s| c.len() > s.len() && c.ends_with(s))
    });
    let kube = path
        .split(|&b| b == b'/')
        .any(|c| c == b"kubepods" || c.starts_with(b"kubepods-") || c.starts_with(b"kubepods."));
    let pod = if kube {
        path.split(|&b| b == b'/').find_map(pod_uid)
    } else {
        None
    };
    let mut parent_of = path.rsplit(|&b| b == b'/').skip(1);
    let container = path.rsplit(|&b| b == b'/').find_map(|c| {
        let parent = parent_of.next();
        let (runtime, id) = container_component(c, parent, kube)?;
        Some(Container { runtime, id, pod })
    });
    CgroupOrigin { unit, container }
}

/// The runtime and id named by one component `c` whose parent is `parent`.
fn container_component<'a>(
    c: &'a [u8],
    parent: Option<&[u8]>,
    kube: bool,
) -> Option<(Runtime, &'a [u8])> {
    const PREFIXED: [(&[u8], Runtime); 4] = [
        (b"docker-", Runtime::Docker),
        (b"cri-containerd-", Runtime::Containerd),
        (b"crio-", Runtime::CriO),
        (b"libpod-", Runtime::Podman),
    ];
    for (prefix, runtime) in PREFIXED {
        if let Some(rest) = c.strip_prefix(prefix) {
            let id = rest.strip_suffix(b".scope").unwrap_or(rest);
            if is_id(id) {
                return Some((runtime, id));
            }
        }
    }
    if is_id(c) {
        if parent == Some(b"docker") {
            return Some((Runtime::Docker, c));
        }
        if kube {
            return Some((Runtime::Kubernetes, c));
        }
    }
    if let Some(name) = c.strip_prefix(b"lxc.payload.") {
        return (!name.is_empty()).then_some((Runtime::Lxc, name));
    }
    if parent == Some(b"lxc") && !c.is_empty() {
        return Some((Runtime::Lxc, c));
    }
    if let Some(name) = c
        .strip_prefix(b"machine-")
        .and_then(|r| r.strip_suffix(b".scope"))
    {
        return (!name.is_empty()).then_some((Runtime::Machine, name));
    }
    None
}

/// A container id: 64 lowercase hexadecimal digits.
fn is_id(b: &[u8]) -> bool {
    b.len() == 64 && b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// The pod UID of a `pod<UID>` or `kubepods[-QOS]-pod<UID>.slice` component.
fn pod_uid(c: &[u8]) -> Option<&[u8]> {
    let uid = if let Some(u) = c.strip_prefix(b"pod") {
        u
    } else {
        let s = c.strip_suffix(b".slice")?;
        let at = s.windows(4).rposition(|w| w == b"-pod")?;
        &s[at + 4..]
    };
    let ok = !uid.is_empty()
        && uid.len() <= 64
        && uid
            .iter()
            .all(|b| b.is_ascii_hexdigit() || *b == b'-' || *b == b'_');
    ok.then_some(uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::format;
    use std::string::String;

    const ID: &str = "4c53b0a2c18d2c7ab25a1e3c1a1f4b0bd4cbd1f2f6d5a8e9c0b1a2d3e4f50617";

    type Seen<'a> = (
        Option<&'a [u8]>,
        Option<(Runtime, &'a [u8], Option<&'a [u8]>)>,
    );

    fn origin(p: &str) -> Seen<'_> {
        let o = cgroup_origin(p.as_bytes());
        (o.unit, o.container.map(|c| (c.runtime, c.id, c.pod)))
    }

    #[test]
    fn runtimes() {
        let id = ID.as_bytes();
        let cases: [(String, Runtime); 6] = [
            (format!("/system.slice/docker-{ID}.scope"), Runtime::Docker),
            (format!("/docker/{ID}"), Runtime::Docker),
            (
                format!("/system.slice/containerd.service/cri-containerd-{ID}.scope"),
                Runtime::Containerd,
            ),
            (format!("/machine.slice/crio-{ID}.scope"), Runtime::CriO),
            (
                format!("/machine.slice/libpod-{ID}.scope/container"),
                Runtime::Podman,
            ),
            (format!("/libpod_parent/libpod-{ID}"), Runtime::Podman),
        ];
        for (p, rt) in &cases {
            let (_, c) = origin(p);
            assert_eq!(c, Some((*rt, id, None)), "{p}");
        }
        // conmon's scope is not the container.
        assert_eq!(
            origin(&format!("/machine.slice/libpod-conmon-{ID}.scope")).1,
            None
        );
        // A bare id outside docker/ or kubepods is not guessed.
        assert_eq!(origin(&format!("/some/{ID}")).1, None);
        assert_eq!(
            origin("/lxc.payload.web1/init.scope").1,
            Some((Runtime::Lxc, &b"web1"[..], None))
        );
        assert_eq!(
            origin("/lxc/old1").1,
            Some((Runtime::Lxc, &b"old1"[..], None))
        );
        assert_eq!(
            origin("/machine.slice/machine-box.scope/payload"),
            (
                Some(&b"machine-box.scope"[..]),
                Some((Runtime::Machine, &b"box"[..], None))
            )
        );
    }

    #[test]
    fn kubernetes() {
        let id = ID.as_bytes();
        let uid = "5d5d8c1e-3b5f-4a2e-9b57-0a1b2c3d4e5f";
        let p = format!("/kubepods/burstable/pod{uid}/{ID}");
        assert_eq!(
            origin(&p),
            (None, Some((Runtime::Kubernetes, id, Some(uid.as_bytes()))))
        );
        let su = uid.replace('-', "_");
        let p = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{su}.slice/cri-containerd-{ID}.scope"
        );
        let unit = format!("cri-containerd-{ID}.scope");
        assert_eq!(
            origin(&p),
            (
                Some(unit.as_bytes()),
                Some((Runtime::Containerd, id, Some(su.as_bytes())))
            )
        );
        let p = format!("/kubepods.slice/kubepods-pod{su}.slice/crio-{ID}.scope");
        assert_eq!(origin(&p).1, Some((Runtime::CriO, id, Some(su.as_bytes()))));
    }

    #[test]
    fn units() {
        assert_eq!(origin("/"), (None, None));
        assert_eq!(origin(""), (None, None));
        assert_eq!(
            origin("/user.slice/user-1000.slice/user@1000.service/app.slice/app-foo.scope").0,
            Some(&b"app-foo.scope"[..])
        );
        // A delegated sub-cgroup below a service keeps the service.
        assert_eq!(
            origin("/system.slice/nginx.service/workers").0,
            Some(&b"nginx.service"[..])
        );
        assert_eq!(
            origin("/system.slice/gone.service (deleted)").0,
            Some(&b"gone.service"[..])
        );
        assert_eq!(origin("/.service").0, None);
        assert_eq!(origin("/a.scope").0, Some(&b"a.scope"[..]));
    }

    proptest! {
        #[test]
        fn never_panics(p in proptest::collection::vec(any::<u8>(), 0..200)) {
            let o = cgroup_origin(&p);
            if let Some(c) = o.container {
                prop_assert!(!c.id.is_empty());
            }
        }

        #[test]
        fn docker_ids_roundtrip(id in "[0-9a-f]{64}", prefix in "(/[a-z.]{1,10}){0,3}") {
            let p = format!("{prefix}/docker-{id}.scope");
            let c = cgroup_origin(p.as_bytes()).container.unwrap();
            prop_assert_eq!((c.runtime, c.id), (Runtime::Docker, id.as_bytes()));
        }
    }
}
