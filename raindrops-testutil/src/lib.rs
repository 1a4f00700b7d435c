//! Test helpers shared by the raindrops-rs crates; not published.
//!
//! The Ruby gem `raindrops` is the reference oracle of the workspace:
//! differential tests run a Ruby snippet against the same socket state or the
//! same numbers and compare its answer with ours. [`ruby`] runs such a
//! snippet. Other oracles (`ss`, promtool, a C compiler with the uapi
//! headers) are checked the same way. Where an oracle is missing, the test
//! prints why and is skipped ([`ruby`] returns `None`, see [`skip_oracle`]),
//! unless the environment variable `RAINDROPS_REQUIRE_RUBY=1` is set (as
//! `.ci/run` does), which turns any missing oracle into a test failure.
//!
//! ```no_run
//! let Some(out) = raindrops_testutil::ruby(&["raindrops"], "p Raindrops::SIZE", &[]) else {
//!     return; // skipped, and the reason was printed
//! };
//! assert_eq!(out.trim(), "64");
//! ```

pub mod diag;
pub mod exposition;
pub mod holders;
pub mod netns;
pub mod watcher_suite;

use std::collections::HashMap;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

/// The variable that turns a missing oracle (Ruby or any other) into a
/// failure.
pub const REQUIRE_RUBY_ENV: &str = "RAINDROPS_REQUIRE_RUBY";

/// Whether a missing oracle must fail the test (`RAINDROPS_REQUIRE_RUBY=1`).
pub fn ruby_required() -> bool {
    std::env::var(REQUIRE_RUBY_ENV).is_ok_and(|v| v == "1")
}

/// Why `ruby` with `libs` cannot run, or `None` when it can (cached).
pub fn ruby_missing(libs: &[&str]) -> Option<String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<String>>>> = OnceLock::new();
    let key = libs.join(",");
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return v.clone();
    }
    let requires: String = libs.iter().map(|l| format!("require {l:?};")).collect();
    let verdict = match Command::new("ruby")
        .args(["-e", &requires])
        .stdin(Stdio::null())
        .output()
    {
        Err(e) => Some(format!("cannot run `ruby`: {e}")),
        Ok(o) if !o.status.success() => Some(format!(
            "`ruby -e '{requires}'` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => None,
    };
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, verdict.clone());
    verdict
}

/// Reports that the Ruby oracle is missing: [`skip_oracle`] with the
/// Debian packages that provide it.
pub fn skip<T>(reason: &str) -> Option<T> {
    skip_oracle(
        reason,
        "apt-get install -y ruby ruby-raindrops ruby-rack ruby-aggregate",
    )
}

/// Reports that an oracle is missing (`reason` says which and why;
/// `install` how to get it): panics under `RAINDROPS_REQUIRE_RUBY=1`,
/// otherwise prints both and returns `None` so that the test can return
/// early.
pub fn skip_oracle<T>(reason: &str, install: &str) -> Option<T> {
    if ruby_required() {
        panic!("{REQUIRE_RUBY_ENV}=1 but an oracle is missing: {reason}");
    }
    eprintln!("skipping differential test: {reason} (install: {install})");
    None
}

/// A `ruby` command that requires `libs` and runs `script` with `args` in
/// `ARGV`, or `None` (after [`skip`]) when Ruby or a library is missing. The
/// caller adds what it needs (inherited descriptors, environment) and runs it.
pub fn ruby_command(libs: &[&str], script: &str, args: &[&str]) -> Option<Command> {
    if let Some(why) = ruby_missing(libs) {
        return skip(&why);
    }
    let mut cmd = Command::new("ruby");
    for lib in libs {
        cmd.arg(format!("-r{lib}"));
    }
    cmd.arg("-e").arg(script).arg("--").args(args);
    cmd.stdin(Stdio::null());
    Some(cmd)
}

/// Runs `script` in Ruby with `libs` required and `args` in `ARGV`, and
/// returns its standard output; `None` when skipped (see [`skip`]).
///
/// # Panics
///
/// When the script fails (non-zero exit), with its standard error: a
/// differential test must not pass because the oracle broke.
pub fn ruby(libs: &[&str], script: &str, args: &[&str]) -> Option<String> {
    let mut cmd = ruby_command(libs, script, args)?;
    Some(expect_success(cmd.output(), script))
}

/// Checks a finished Ruby run and returns its standard output as text.
///
/// # Panics
///
/// When Ruby could not be started or exited unsuccessfully.
pub fn expect_success(out: std::io::Result<Output>, script: &str) -> String {
    let out = out.unwrap_or_else(|e| panic!("cannot run ruby: {e}"));
    assert!(
        out.status.success(),
        "ruby failed ({}):\n--- script ---\n{script}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_a_snippet_or_skips() {
        let Some(out) = ruby(
            &["raindrops"],
            "print ARGV.join(','), ' ', Raindrops::MAX",
            &["a", "b"],
        ) else {
            return;
        };
        assert_eq!(out, format!("a,b {}", u64::MAX));
    }

    #[test]
    fn missing_library_is_reported() {
        if ruby_missing(&[]).is_some() {
            return;
        }
        let why = ruby_missing(&["no_such_library_for_raindrops_tests"]).unwrap();
        assert!(why.contains("no_such_library"), "{why}");
    }
}
