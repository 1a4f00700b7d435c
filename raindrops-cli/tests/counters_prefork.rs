//! `raindrops counters shm:NAME` on the running prefork example shows the
//! slot names the example stored in its region, without `--names`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const RAINDROPS: &str = env!("CARGO_BIN_EXE_raindrops");

/// `cargo test` builds the examples next to the test binaries.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join("prefork")
}

/// The example, stopped (SIGTERM) when dropped.
struct Prefork(Child);

impl Drop for Prefork {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

#[test]
fn counters_shows_the_slot_names_of_the_prefork_example() {
    let name = format!("raindrops-counters-prefork-{}", std::process::id());
    let mut child = Command::new(example())
        .args(["--listen", "127.0.0.1:0", "--workers", "2", "--name", &name])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the prefork example (built by cargo test)");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let _server = Prefork(child);
    // The first line comes once the region exists.
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains("listening on"), "{first:?}");
    let target = format!("shm:{name}");

    let run = |args: &[&str]| {
        let o = Command::new(RAINDROPS).args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let table = run(&["counters", &target]);
    let names: Vec<&str> = table
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "calling[0]",
            "calling[1]",
            "writing[0]",
            "writing[1]",
            "requests[0]",
            "requests[1]"
        ],
        "{table}"
    );
    let json = run(&["counters", "--format", "json", &target]);
    assert!(
        json.contains(r#"{"index":4,"name":"requests[0]","value":0}"#),
        "{json}"
    );
    let prom = run(&["counters", "--format", "prometheus", &target]);
    assert!(prom.contains(r#"name="writing[1]""#), "{prom}");
    // --names still overrides the stored names.
    let table = run(&["counters", "--names", "a,b", &target]);
    let second: Vec<&str> = table
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        second,
        [
            "a",
            "b",
            "writing[0]",
            "writing[1]",
            "requests[0]",
            "requests[1]"
        ],
        "{table}"
    );
}
