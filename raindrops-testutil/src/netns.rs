//! Tests that run in a network namespace of their own: the scenario sees
//! only its own sockets and its own `/proc/net/netstat` counters.

use std::process::Command;

/// Set in the environment of the test binary run inside the namespace.
const INNER: &str = "RAINDROPS_TEST_IN_NETNS";

/// Runs the test `name` of the current test binary again inside a new
/// network namespace (`unshare -n`, loopback brought up) and returns
/// false, after asserting that it passed there; returns true when already
/// inside, where the caller runs the scenario:
///
/// ```no_run
/// #[test]
/// fn overflow_in_a_namespace() {
///     if !raindrops_testutil::netns::in_own_netns("overflow_in_a_namespace") {
///         return;
///     }
///     // ... the scenario, alone in its namespace
/// }
/// ```
///
/// Without root the test is skipped with the reason, or fails when
/// `RAINDROPS_REQUIRE_RUBY=1` (CI runs as root).
pub fn in_own_netns(name: &str) -> bool {
    if std::env::var_os(INNER).is_some() {
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        assert!(up.is_ok_and(|s| s.success()), "ip link set lo up");
        return true;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        let why = "needs root to make a network namespace (unshare -n)";
        assert!(
            !crate::ruby_required(),
            "{name}: {why}, and RAINDROPS_REQUIRE_RUBY=1"
        );
        eprintln!("skipped {name}: {why}");
        return false;
    }
    let out = Command::new("unshare")
        .arg("-n")
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(INNER, "1")
        .output()
        .expect("run unshare (util-linux)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} in its namespace:\n{text}");
    assert!(text.contains("1 passed"), "{name} did not run:\n{text}");
    false
}
