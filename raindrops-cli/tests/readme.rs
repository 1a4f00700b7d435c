//! Every command of the READMEs, run as written, in a network namespace of
//! its own with the listeners they name, and the shape of their output
//! checked against the README's.
//!
//! The READMEs are read at each run, so they can be rewritten freely as
//! long as they follow these conventions:
//!
//! - A fenced block whose language is `console` holds commands after `$ `
//!   and, below each, the output it prints: every output line must match,
//!   in order, a line the command printed (stderr, then stdout), where a
//!   number matches any number or `-`, a timestamp (`2024-01-01T00:00:00Z`)
//!   any timestamp, and a line `...` any run of lines. Other words match
//!   themselves; spacing is free.
//! - A fenced block whose language is `sh`, `shell` or `bash` holds
//!   commands, one a line (`#` starts a comment, a trailing `\` continues
//!   the line); each must exit 0.
//! - An inline code span that starts with `raindrops ` (or is `raindrops`)
//!   is a command too, unless it is a synopsis: it has `[`, `|`, `...` or a
//!   placeholder in capitals (`ADDR`, `NAME`, `SECS`).
//! - `no-test` after the block's language (```` ```sh no-test ````) leaves
//!   a block out.
//! - `raindrops` is the binary under test; `cargo run -p raindrops-cli --`
//!   runs it too, `cargo run -p raindrops-cli --example prefork --` runs the
//!   example. Other `cargo` commands (install, test, doc, ...) are the
//!   developer's and are not run (`cargo install` is what this test
//!   replaces by putting the binary first on `PATH`).
//! - A command ending with `&` runs in the background until the end of
//!   its block (the next command waits until its `--listen` address
//!   answers). A command still running after a few seconds (`watch -d 1`,
//!   `serve`) gets SIGINT and may exit 130.
//!
//! The listeners the commands and outputs name are started by the test,
//! each with one accepted and two queued connections: TCP addresses
//! (`0.0.0.0:80`, `127.0.0.1:8080`, `[::1]:8080`), `:PORT` and
//! `localhost:PORT` (on 127.0.0.1), and Unix sockets (`/path.sock`,
//! `@name`), except an address given to `--listen`, which the command
//! binds itself. Each block runs in network and mount namespaces of its
//! own, so the listeners of the machine do not show, ports such as 80 are
//! free, and `/tmp`, `/run` and `/dev/shm` are empty (private) file
//! systems: a README's `/tmp/app.sock` or `shm:myapp` never meets the
//! machine's or another run's. Other Unix socket paths must not exist
//! beforehand (they are removed afterwards).
//!
//! It needs root (namespaces, mounts); without it, it says why and skips.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use raindrops_core::{Selector, parse_tcp_addr};

const BIN: &str = env!("CARGO_BIN_EXE_raindrops");

/// The READMEs whose commands are run, relative to the workspace root.
const READMES: &[&str] = &["README.md", "raindrops-cli/README.md"];

/// How long a foreground command may run before it gets SIGINT.
const RUN_FOR: Duration = Duration::from_secs(4);

/// A command of a README and what it should print.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cmd {
    /// Where it is, for messages: file, line.
    at: String,
    line: String,
    /// Expected output lines (`console` blocks only).
    expect: Option<Vec<String>>,
}

/// The commands of a README, block by block (inline commands form blocks
/// of one).
fn extract(file: &str, text: &str) -> Vec<Vec<Cmd>> {
    let mut blocks = Vec::new();
    let mut prose: Vec<(usize, &str)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, l)) = lines.next() {
        let Some(info) = l.trim_start().strip_prefix("```") else {
            if l.trim().is_empty() {
                inline_commands(file, &prose, &mut blocks);
                prose.clear();
            } else {
                prose.push((n, l));
            }
            continue;
        };
        inline_commands(file, &prose, &mut blocks);
        prose.clear();
        let mut words = info.split_whitespace();
        let lang = words.next().unwrap_or("");
        let skip = words.any(|w| w == "no-test");
        let mut body = Vec::new();
        for (m, l) in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                break;
            }
            body.push((m, l));
        }
        if skip {
            continue;
        }
        match lang {
            "console" => blocks.push(console_block(file, &body)),
            "sh" | "shell" | "bash" => blocks.push(sh_block(file, &body)),
            _ => {}
        }
    }
    inline_commands(file, &prose, &mut blocks);
    blocks
}

/// The inline `raindrops ...` commands of a paragraph (a span may run
/// over a line break).
fn inline_commands(file: &str, para: &[(usize, &str)], blocks: &mut Vec<Vec<Cmd>>) {
    let Some(&(first, _)) = para.first() else {
        return;
    };
    let text: Vec<&str> = para.iter().map(|p| p.1).collect();
    let text = text.join("\n");
    let mut offset = 0;
    for (i, piece) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let span = piece.split_whitespace().collect::<Vec<_>>().join(" ");
            if (span == "raindrops" || span.starts_with("raindrops ")) && !is_synopsis(&span) {
                let line = first + text[..offset].matches('\n').count() + 1;
                blocks.push(vec![Cmd {
                    at: format!("{file}:{line}"),
                    line: span,
                    expect: None,
                }]);
            }
        }
        offset += piece.len() + 1;
    }
}

/// Whether an inline span is a usage synopsis rather than a command.
fn is_synopsis(s: &str) -> bool {
    s.contains(['[', '|', '<'])
        || s.contains("...")
        || s.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .any(|w| w.len() > 1 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
}

fn joined(body: &[(usize, &str)]) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut cont = false;
    for &(n, l) in body {
        let (text, more) = match l.trim_end().strip_suffix('\\') {
            Some(t) => (t.to_string(), true),
            None => (l.trim_end().to_string(), false),
        };
        match (cont, out.last_mut()) {
            (true, Some(last)) => last.1 = format!("{} {}", last.1.trim_end(), text.trim()),
            _ => out.push((n, text)),
        }
        cont = more;
    }
    out
}

fn sh_block(file: &str, body: &[(usize, &str)]) -> Vec<Cmd> {
    joined(body)
        .into_iter()
        .filter_map(|(n, l)| {
            let l = strip_comment(&l).trim().to_string();
            (!l.is_empty()).then(|| Cmd {
                at: format!("{file}:{}", n + 1),
                line: l,
                expect: None,
            })
        })
        .collect()
}

fn console_block(file: &str, body: &[(usize, &str)]) -> Vec<Cmd> {
    let mut cmds: Vec<Cmd> = Vec::new();
    for (n, l) in joined(body) {
        if let Some(c) = l.strip_prefix("$ ") {
            cmds.push(Cmd {
                at: format!("{file}:{}", n + 1),
                line: strip_comment(c).trim().to_string(),
                expect: Some(Vec::new()),
            });
        } else if let Some(Some(e)) = cmds.last_mut().map(|c| c.expect.as_mut()) {
            if !l.trim().is_empty() {
                e.push(l);
            }
        }
    }
    cmds
}

/// The command without a trailing `# comment` (a `#` after white space,
/// outside quotes).
fn strip_comment(l: &str) -> &str {
    let mut quote = None;
    let mut prev_space = true;
    for (i, c) in l.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev_space => return &l[..i],
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    l
}

/// What to run for a README command: `None` for developer commands
/// (`cargo test`, `cargo install`, ...).
fn translate(line: &str) -> Option<String> {
    let l = line.trim();
    if let Some(rest) = l.strip_prefix("cargo run -p raindrops-cli --example prefork") {
        let args = rest.trim_start().strip_prefix("--").unwrap_or(rest);
        return Some(format!("prefork{args}"));
    }
    if let Some(rest) = l.strip_prefix("cargo run -p raindrops-cli") {
        let args = rest.trim_start();
        let args = args.strip_prefix("--").unwrap_or(args);
        return Some(format!("raindrops{args}"));
    }
    if l.starts_with("cargo ") || l == "cargo" {
        return None;
    }
    Some(l.to_string())
}

/// The words of a command line, quotes removed (enough for fixtures).
fn words(line: &str) -> Vec<String> {
    line.split_whitespace()
        .map(|w| w.trim_matches(['\'', '"']).to_string())
        .collect()
}

/// A listener a README names, started by the test.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fixture {
    Tcp(SocketAddr),
    Unix(String),
}

/// The listeners `texts` (commands and expected outputs) name, except
/// those given to `--listen`.
fn fixtures<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<Fixture> {
    let mut out = Vec::new();
    let mut listen = Vec::new();
    let add = |f: Fixture, out: &mut Vec<Fixture>| {
        if !out.contains(&f) {
            out.push(f);
        }
    };
    for text in texts {
        let w = words(text);
        for (i, word) in w.iter().enumerate() {
            if i > 0 && (w[i - 1] == "--listen" || w[i - 1] == "-l") {
                listen.push(word.clone());
                continue;
            }
            if word.contains("://") {
                continue;
            }
            if let Ok(a) = parse_tcp_addr(word) {
                add(Fixture::Tcp(a), &mut out);
            } else if (word.starts_with('/') && word.ends_with(".sock"))
                || (word.starts_with('@') && word.len() > 1)
            {
                if !word.contains(['*', '?']) {
                    add(Fixture::Unix(word.clone()), &mut out);
                }
            } else if let Ok(Selector::Tcp { host, ports }) = Selector::parse(word) {
                use raindrops_core::HostSelector::{Any, Localhost};
                if matches!(host, Any | Localhost) && ports.first() > 0 && ports.last() < 65535 {
                    let a = SocketAddr::from(([127, 0, 0, 1], ports.first()));
                    add(Fixture::Tcp(a), &mut out);
                }
            }
        }
    }
    out.retain(|f| match f {
        Fixture::Tcp(a) => !listen.iter().any(|l| parse_tcp_addr(l).ok() == Some(*a)),
        Fixture::Unix(_) => true,
    });
    out
}

/// One token of an expected line: a number or timestamp matches any.
fn token_matches(expected: &str, actual: &str) -> bool {
    let is_number = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_digit() || c == '.')
            && s.chars().next().is_some_and(|c| c.is_ascii_digit())
    };
    let is_time = |s: &str| {
        s.len() == 20
            && s.as_bytes()[10] == b'T'
            && s.ends_with('Z')
            && s[..4].bytes().all(|b| b.is_ascii_digit())
    };
    expected == actual
        || (is_number(expected) && (is_number(actual) || actual == "-"))
        || (is_time(expected) && is_time(actual))
}

fn line_matches(expected: &str, actual: &str) -> bool {
    let (e, a): (Vec<&str>, Vec<&str>) = (
        expected.split_whitespace().collect(),
        actual.split_whitespace().collect(),
    );
    e.len() == a.len() && e.iter().zip(&a).all(|(e, a)| token_matches(e, a))
}

/// Whether `actual` has the shape of `expected`, line by line (`...`
/// matches any run of lines).
fn shape_matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e.trim() == "..." => {
            (0..=actual.len()).any(|k| shape_matches(rest, &actual[k..]))
        }
        Some((e, rest)) => {
            !actual.is_empty() && line_matches(e, actual[0]) && shape_matches(rest, &actual[1..])
        }
    }
}

/// The listeners of a README, alive until dropped.
struct Started {
    _tcp: Vec<(TcpListener, Vec<TcpStream>)>,
    _unix: Vec<(UnixListener, Vec<UnixStream>)>,
    paths: Vec<PathBuf>,
}

impl Drop for Started {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Starts the fixtures in the calling thread's network namespace.
fn start(fixtures: &[Fixture]) -> Result<Started, String> {
    let mut s = Started {
        _tcp: Vec::new(),
        _unix: Vec::new(),
        paths: Vec::new(),
    };
    for f in fixtures {
        match f {
            Fixture::Tcp(a) => {
                let l = TcpListener::bind(a).map_err(|e| format!("bind {a}: {e}"))?;
                let local = l.local_addr().map_err(|e| e.to_string())?;
                let to = match local {
                    SocketAddr::V4(v4) if v4.ip().is_unspecified() => {
                        SocketAddr::from(([127, 0, 0, 1], v4.port()))
                    }
                    SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
                        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, v6.port()))
                    }
                    a => a,
                };
                let mut held = Vec::new();
                for _ in 0..3 {
                    held.push(TcpStream::connect(to).map_err(|e| format!("connect {to}: {e}"))?);
                }
                held.push(l.accept().map_err(|e| e.to_string())?.0);
                s._tcp.push((l, held));
            }
            Fixture::Unix(name) => {
                let l = if let Some(abs) = name.strip_prefix('@') {
                    use std::os::linux::net::SocketAddrExt;
                    let a = std::os::unix::net::SocketAddr::from_abstract_name(abs)
                        .map_err(|e| e.to_string())?;
                    UnixListener::bind_addr(&a).map_err(|e| format!("bind {name}: {e}"))?
                } else {
                    let p = Path::new(name);
                    if p.symlink_metadata().is_ok() {
                        return Err(format!(
                            "{name} exists: the README test binds its own socket there; \
                             remove it, or use a name under {PRIVATE_DIRS:?} in the README"
                        ));
                    }
                    if let Some(dir) = p.parent() {
                        std::fs::create_dir_all(dir).map_err(|e| format!("{dir:?}: {e}"))?;
                    }
                    let l = UnixListener::bind(p).map_err(|e| format!("bind {name}: {e}"))?;
                    s.paths.push(p.to_path_buf());
                    l
                };
                let addr = l.local_addr().map_err(|e| e.to_string())?;
                let mut held = Vec::new();
                for _ in 0..3 {
                    held.push(UnixStream::connect_addr(&addr).map_err(|e| e.to_string())?);
                }
                held.push(l.accept().map_err(|e| e.to_string())?.0);
                s._unix.push((l, held));
            }
        }
    }
    Ok(s)
}

/// A command running in its own process group.
struct Running {
    child: Child,
}

impl Running {
    fn interrupt(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: kill() with the negative pid of the process group this
        // test created for its own child; no memory is involved.
        unsafe {
            libc::kill(-pgid, libc::SIGINT);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.interrupt();
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let pgid = self.child.id() as i32;
            // SAFETY: as in `interrupt`, our own process group.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            let _ = self.child.wait();
        }
    }
}

/// Where the binaries the READMEs call are found: `raindrops` and the
/// `prefork` example, linked into a directory put first on `PATH`.
fn bin_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/debug/deps/readme-HASH: the directory is target/debug, which
    // the private mounts of /tmp do not hide.
    let target = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("no target directory")?;
    let dir = target.join(format!("readme-bin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink(BIN, dir.join("raindrops")).map_err(|e| e.to_string())?;
    let prefork = target.join("examples").join("prefork");
    if prefork.exists() {
        std::os::unix::fs::symlink(&prefork, dir.join("prefork")).map_err(|e| e.to_string())?;
    } else {
        // `cargo test` builds the examples; `cargo test --test readme`
        // alone does not: say so where the README runs it.
        std::fs::write(
            dir.join("prefork"),
            "#!/bin/sh\necho 'the prefork example is not built: \
             cargo build -p raindrops-cli --examples' >&2\nexit 127\n",
        )
        .map_err(|e| e.to_string())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("prefork"), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
    }
    Ok(dir)
}

fn spawn(line: &str, path_env: &str, background: bool) -> Result<Running, String> {
    let script = if background {
        format!("exec {line}")
    } else {
        line.to_string()
    };
    let child = Command::new("bash")
        .args(["-c", &script])
        .env("PATH", path_env)
        .stdin(Stdio::null())
        .stdout(if background {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stderr(if background {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    Ok(Running { child })
}

/// Runs `line` in the foreground: its status, stdout and stderr, and
/// whether it had to be interrupted.
fn run_fg(line: &str, path_env: &str) -> Result<(Option<i32>, String, String, bool), String> {
    let mut r = spawn(line, path_env, false)?;
    let mut out = r.child.stdout.take().unwrap();
    let mut err = r.child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let mut interrupted = false;
    let status = loop {
        if let Some(st) = r.child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if !interrupted && start.elapsed() > RUN_FOR {
            r.interrupt();
            interrupted = true;
        }
        if start.elapsed() > RUN_FOR * 3 {
            return Err(format!("{line:?} did not stop after SIGINT"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let err = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    Ok((status.code(), out, err, interrupted))
}

/// Waits until the `--listen` address of a background command answers.
fn wait_listening(line: &str) {
    let w = words(line);
    let addr = w
        .iter()
        .position(|x| x == "--listen" || x == "-l")
        .and_then(|i| w.get(i + 1))
        .and_then(|a| parse_tcp_addr(a).ok());
    let Some(addr) = addr else {
        std::thread::sleep(Duration::from_millis(500));
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs one block in the calling thread, which must be in a network
/// namespace of its own with the block's listeners; returns the failures
/// and adds to the log.
fn run_block(block: &[Cmd], path_env: &str, log: &mut String) -> Vec<String> {
    let mut failures = Vec::new();
    let mut background: Vec<Running> = Vec::new();
    for cmd in block {
        let Some(line) = translate(&cmd.line) else {
            log.push_str(&format!(
                "{}: not run (developer tooling): {}\n",
                cmd.at, cmd.line
            ));
            continue;
        };
        if let Some(bg) = line.strip_suffix('&') {
            let bg = bg.trim();
            log.push_str(&format!("{}: background: {bg}\n", cmd.at));
            match spawn(bg, path_env, true) {
                Ok(r) => background.push(r),
                Err(e) => failures.push(format!("{}: {e}", cmd.at)),
            }
            wait_listening(bg);
            continue;
        }
        let (code, out, err, interrupted) = match run_fg(&line, path_env) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("{}: {e}", cmd.at));
                continue;
            }
        };
        log.push_str(&format!(
            "{}: {line} -> {code:?}{}\n",
            cmd.at,
            if interrupted { " (interrupted)" } else { "" }
        ));
        let ok_status = code == Some(0) || (interrupted && code == Some(130));
        if !ok_status {
            failures.push(format!(
                "{}: `{line}` exited {code:?}\n--- stdout\n{out}--- stderr\n{err}",
                cmd.at
            ));
            continue;
        }
        if let Some(expect) = &cmd.expect {
            let actual: Vec<&str> = err.lines().chain(out.lines()).collect();
            if !shape_matches(expect, &actual) {
                failures.push(format!(
                    "{}: `{line}` printed another shape\n--- README\n{}\n--- printed\n{}",
                    cmd.at,
                    expect.join("\n"),
                    actual.join("\n")
                ));
            }
        }
    }
    drop(background);
    failures
}

/// Where the test mounts empty file systems in its mount namespace: the
/// usual homes of Unix sockets and POSIX shared memory, so that a README's
/// `/tmp/app.sock` or `shm:myapp` never meets the machine's (or another
/// run's).
const PRIVATE_DIRS: &[&str] = &["/tmp", "/run", "/dev/shm"];

/// Moves the calling thread into new network and mount namespaces, with
/// loopback up and empty [`PRIVATE_DIRS`].
fn enter_new_namespaces() -> Result<(), String> {
    // SAFETY: unshare() takes flags only; it changes the namespaces of this
    // thread (CLONE_FS gives it its own root and working directory first),
    // which the test owns, and of the processes it starts.
    if unsafe { libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWNS | libc::CLONE_FS) } != 0 {
        return Err(format!(
            "cannot create network and mount namespaces: {}",
            std::io::Error::last_os_error()
        ));
    }
    // Children share this thread's namespaces, so their mounts are ours;
    // private first, so that nothing propagates back to the machine.
    let mut script = String::from("set -e; mount --make-rprivate /; ip link set lo up");
    for d in PRIVATE_DIRS {
        script.push_str(&format!(
            "; mount -t tmpfs -o mode=1777 raindrops-readme {d}"
        ));
    }
    let out = Command::new("sh")
        .args(["-c", &script])
        .output()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "setting up the namespaces failed (`{script}`): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

#[test]
fn every_command_of_the_readmes() {
    // SAFETY: geteuid() has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: the README commands run in namespaces of their own, which needs root");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let bins = bin_dir().unwrap();
    let path_env = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    let mut total = 0;
    for file in READMES {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for block in extract(file, &text) {
            total += block.len();
            // The listeners the block's commands and outputs name.
            let mut texts: Vec<String> = Vec::new();
            for c in &block {
                texts.extend(translate(&c.line));
                texts.extend(c.expect.iter().flatten().cloned());
            }
            let fx = fixtures(texts.iter().map(String::as_str));
            let path_env = path_env.clone();
            // Each block runs in a thread of its own, in a network
            // namespace of its own.
            let (log, fails) = std::thread::spawn(move || {
                let at = block.first().map_or(String::new(), |c| c.at.clone());
                if let Err(e) = enter_new_namespaces() {
                    return (String::new(), vec![format!("{at}: {e}")]);
                }
                let _started = match start(&fx) {
                    Ok(s) => s,
                    Err(e) => return (String::new(), vec![format!("{at}: listeners: {e}")]),
                };
                let mut log = if fx.is_empty() {
                    String::new()
                } else {
                    format!("{at}: listeners {fx:?}\n")
                };
                let fails = run_block(&block, &path_env, &mut log);
                (log, fails)
            })
            .join()
            .unwrap();
            eprint!("{log}");
            failures.extend(fails);
        }
    }
    let _ = std::fs::remove_dir_all(&bins);
    assert!(total > 0, "no command found in {READMES:?}");
    assert!(
        failures.is_empty(),
        "{} of {total} README commands failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn extraction_and_shapes() {
    let md = "intro `raindrops listeners\n0.0.0.0:80` and `raindrops [listeners] [ADDR]`\n\
              and `raindrops counters shm:NAME`.\n\
              ```sh\n# a comment\ncargo install --path raindrops-cli\nraindrops watch \\\n  -n 1 :8080  # trailing\n```\n\
              ```console\n$ raindrops /tmp/x.sock\nADDRESS FAMILY\n/tmp/x.sock unix 1 2\n$ curl -s http://127.0.0.1:9/\n```\n\
              ```sh no-test\nraindrops nope\n```\n```text\nraindrops not a command\n```\n";
    let blocks = extract("R", md);
    let lines: Vec<Vec<&str>> = blocks
        .iter()
        .map(|b| b.iter().map(|c| c.line.as_str()).collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["raindrops listeners 0.0.0.0:80"],
            vec![
                "cargo install --path raindrops-cli",
                "raindrops watch -n 1 :8080"
            ],
            vec!["raindrops /tmp/x.sock", "curl -s http://127.0.0.1:9/"],
        ]
    );
    assert_eq!(
        (blocks[0][0].at.as_str(), blocks[1][1].at.as_str()),
        ("R:1", "R:7")
    );
    assert_eq!(
        blocks[2][0].expect.as_deref(),
        Some(&["ADDRESS FAMILY".to_string(), "/tmp/x.sock unix 1 2".into()][..])
    );
    assert_eq!(translate("cargo install --path raindrops-cli"), None);
    assert_eq!(
        translate("cargo run -p raindrops-cli").as_deref(),
        Some("raindrops")
    );
    assert_eq!(
        translate("cargo run -p raindrops-cli -- watch -a").as_deref(),
        Some("raindrops watch -a")
    );
    assert_eq!(
        translate("cargo run -p raindrops-cli --example prefork -- --workers 2").as_deref(),
        Some("prefork --workers 2")
    );
    let fx = fixtures([
        "raindrops 0.0.0.0:80 /run/a.sock @abs :8080 localhost:9000 '/run/user/*'",
        "serve --listen 127.0.0.1:9187 127.0.0.1:9187",
        "curl http://127.0.0.1:1/",
    ]);
    assert_eq!(
        fx,
        [
            Fixture::Tcp("0.0.0.0:80".parse().unwrap()),
            Fixture::Unix("/run/a.sock".into()),
            Fixture::Unix("@abs".into()),
            Fixture::Tcp("127.0.0.1:8080".parse().unwrap()),
            Fixture::Tcp("127.0.0.1:9000".parse().unwrap()),
        ]
    );
    // Shapes: numbers and times are free, words and the number of
    // columns are not.
    let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let table = ["ADDRESS  ACTIVE", "1.2.3.4:80  0", "/a  12"];
    assert!(shape_matches(
        &e(&["ADDRESS ACTIVE", "1.2.3.4:80 3", "/a 1"]),
        &table
    ));
    assert!(shape_matches(&e(&["ADDRESS ACTIVE", "..."]), &table));
    assert!(!shape_matches(&e(&["...", "/a -"]), &["x", "/a 5"]));
    assert!(shape_matches(&e(&["...", "/a 5"]), &["x", "/a -"]));
    assert!(!shape_matches(
        &e(&["ADDRESS ACTIVE", "1.2.3.4:80 3"]),
        &table
    ));
    assert!(!shape_matches(&e(&["ADDRESS QUEUED", "..."]), &table));
    assert!(!shape_matches(&e(&["ADDRESS", "..."]), &table));
    assert!(shape_matches(
        &e(&["2024-01-01T00:00:00Z 0.0.0.0:80 1 2"]),
        &["2026-11-30T11:48:45Z 0.0.0.0:80 0 0"]
    ));
    assert!(is_synopsis("raindrops counters shm:NAME"));
    assert!(!is_synopsis("raindrops check --max-saturation 0.8"));
}
