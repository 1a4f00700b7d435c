//! Prints the listeners of every network namespace (or of those named)
//! with their owners and cgroups, once or every few seconds:
//!
//! ```sh
//! sudo cargo run -p raindrops-diag --example netns -- --all --owners
//! sudo cargo run -p raindrops-diag --example netns -- --namespace blue --namespace 1234 --interval 5 --count 3
//! ```
//!
//! Each sample waits at most `--timeout` seconds for the namespaces'
//! answers; skipped namespaces are reported on stderr with their reason
//! and counted. Bad arguments exit with status 2 and one line on stderr.
use raindrops_core::SafeText;
use raindrops_diag::cgroup_path::cgroup_origin;
use raindrops_diag::{NsSample, NsSampler, NsScope, NsSpec, SkipTarget};
use std::time::Duration;

struct Args {
    scope: NsScope,
    owners: bool,
    interval: Option<Duration>,
    count: Option<u64>,
    timeout: Duration,
}

/// At most this many `--namespace` arguments (each one is a thread).
const MAX_SPECS: usize = 1024;

fn usage(msg: &str) -> ! {
    eprintln!("netns: {}", SafeText(msg));
    std::process::exit(2)
}

fn seconds(flag: &str, v: Option<std::ffi::OsString>) -> Duration {
    let v = v.unwrap_or_else(|| usage(&format!("{flag} needs a value")));
    let s = v.to_str().unwrap_or("");
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 86_400.0 => Duration::from_secs_f64(x),
        _ => usage(&format!(
            "{flag}: not a number of seconds in (0, 86400]: {s:?}"
        )),
    }
}

fn parse() -> Args {
    let mut specs = Vec::new();
    let mut all = false;
    let mut a = Args {
        scope: NsScope::Current,
        owners: false,
        interval: None,
        count: None,
        timeout: Duration::from_secs(2),
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(arg) = it.next() {
        match arg.to_str().unwrap_or("") {
            "--all" => all = true,
            "--owners" => a.owners = true,
            "--namespace" => {
                let v = it
                    .next()
                    .unwrap_or_else(|| usage("--namespace needs a value"));
                if specs.len() == MAX_SPECS {
                    usage("too many --namespace arguments");
                }
                match NsSpec::parse(&v) {
                    Ok(s) => specs.push(s),
                    Err(e) => usage(&format!("--namespace {:?}: {e}", v.to_string_lossy())),
                }
            }
            "--interval" => a.interval = Some(seconds("--interval", it.next())),
            "--timeout" => a.timeout = seconds("--timeout", it.next()),
            "--count" => {
                let v = it.next().unwrap_or_else(|| usage("--count needs a value"));
                match v.to_str().and_then(|s| s.parse::<u64>().ok()) {
                    Some(n) if n > 0 => a.count = Some(n),
                    _ => usage(&format!(
                        "--count: not a positive number: {:?}",
                        v.to_string_lossy()
                    )),
                }
            }
            _ => usage(&format!("unknown argument {:?}", arg.to_string_lossy())),
        }
    }
    a.scope = match (all, specs.is_empty()) {
        (true, true) => NsScope::All,
        (false, true) => NsScope::Current,
        (false, false) => NsScope::Only(specs),
        (true, false) => usage("--all and --namespace exclude each other"),
    };
    a
}

fn print(sample: &NsSample) {
    for ns in &sample.namespaces {
        for l in &ns.listeners {
            let s = l.listener.stats;
            let owner = l.main_owner().map_or_else(
                || "-".to_string(),
                |o| format!("{}/{}+{}", o.pid, o.process.comm, l.owners.len() - 1),
            );
            let cg = l.listener.cgroup.as_deref().unwrap_or("-");
            let origin = cgroup_origin(cg.as_bytes());
            let unit = origin
                .container
                .map(|c| {
                    format!(
                        "{}:{}",
                        c.runtime,
                        String::from_utf8_lossy(&c.id[..12.min(c.id.len())])
                    )
                })
                .or_else(|| origin.unit.map(|u| String::from_utf8_lossy(u).into_owned()))
                .unwrap_or_else(|| "-".to_string());
            // Names are display forms already; SafeText is the sink's guard.
            println!(
                "{:<20} {:<5} {:<40} active {:>6} queued {:>6} backlog {:>6} {} {} {}",
                SafeText(&ns.ns.label()),
                l.listener.family,
                SafeText(&l.listener.name),
                s.active,
                s.queued,
                s.backlog.map_or_else(|| "-".to_string(), |b| b.to_string()),
                SafeText(&owner),
                SafeText(cg),
                SafeText(&unit),
            );
        }
    }
    for skip in &sample.skipped {
        let what = match &skip.target {
            SkipTarget::Ns(ns) => ns.label(),
            SkipTarget::Spec(spec) => spec.to_string(),
        };
        eprintln!("skipped {}: {}", SafeText(&what), skip.reason);
    }
    if let Some(e) = sample.discovery_error {
        eprintln!("discovery failed: {e}");
    }
}

fn main() {
    let a = parse();
    let mut sampler = NsSampler::new(a.scope)
        .with_owners(a.owners)
        .with_timeout(a.timeout);
    let mut n = 0u64;
    loop {
        print(&sampler.sample());
        n += 1;
        let Some(every) = a.interval else { break };
        if a.count.is_some_and(|c| n >= c) {
            break;
        }
        std::thread::sleep(every);
    }
    let counts = sampler.skip_counts();
    if counts.total() > 0 {
        let parts: Vec<String> = counts
            .iter()
            .filter(|(_, c)| *c > 0)
            .map(|(k, c)| format!("{k}={c}"))
            .collect();
        eprintln!("skipped namespaces: {}", parts.join(" "));
    }
}
