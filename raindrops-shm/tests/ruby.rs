//! Differential tests against Ruby's raindrops: the same file, both ways.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use common::TempPath;
use raindrops_core::{CounterArray, MAX};
use raindrops_shm::{Backing, Options, Region, page_size, ruby_capacity, ruby_stride};

fn empty_file(tag: &str) -> TempPath {
    let path = TempPath::new(tag);
    std::fs::write(path.path(), b"").unwrap();
    path
}

/// Ruby writes a file-backed Raindrops, Rust reads the same values and
/// increments, Ruby (a new process) sees the increments.
#[test]
fn ruby_writes_rust_reads_and_back() {
    let path = empty_file("ruby-first");
    let Some(out) = raindrops_testutil::ruby(
        &["raindrops"],
        r#"
        rd = Raindrops.new(ARGV[1].to_i, io: File.open(ARGV[0], "r+"))
        rd[0] = 5
        rd.incr(1, 7)
        rd.decr(2)
        rd[4] = Raindrops::MAX
        print rd.capa, " ", rd.size, " ", File.size(ARGV[0])
        "#,
        &[path.str(), "5"],
    ) else {
        return;
    };
    let mut r = Options::new().ruby_file(path.path(), 5).unwrap();
    assert_eq!(r.backing(), Backing::RubyFile);
    assert_eq!(r.stride(), ruby_stride());
    let file_len = std::fs::metadata(path.path()).unwrap().len();
    assert_eq!(out, format!("{} 5 {file_len}", r.capacity()));
    assert_eq!(r.values().collect::<Vec<_>>(), [5, 7, MAX, 0, MAX]);

    r.incr(0, 10).unwrap();
    r.incr(3, 1).unwrap();
    r.incr(4, 1).unwrap(); // wraps to 0, like C
    r.decr(1, 2).unwrap();
    // Past Ruby's size but within its capa: Ruby can see it after size=.
    r.set_len(r.capacity()).unwrap();
    r.set(r.capacity() - 1, 99).unwrap();

    let out = raindrops_testutil::ruby(
        &["raindrops"],
        r#"
        rd = Raindrops.new(ARGV[1].to_i, io: File.open(ARGV[0], "r+"))
        a = rd.to_ary
        rd.size = rd.capa
        print a.join(","), " ", rd[rd.capa - 1]
        "#,
        &[path.str(), "5"],
    )
    .unwrap();
    assert_eq!(out, "15,5,18446744073709551615,1,0 99");
    // The Ruby-layout reader the CLI uses sees the same.
    let seen = Region::open_read_only(path.str()).unwrap();
    assert_eq!(seen.len(), r.capacity());
    assert_eq!(seen.get(0), Ok(15));
}

/// Rust creates the file; Ruby reads it, increments, and Rust sees that.
#[test]
fn rust_writes_ruby_reads_and_back() {
    let path = TempPath::new("rust-first");
    let r = Options::new().ruby_file(path.path(), 3).unwrap();
    r.set(0, 1).unwrap();
    r.set(1, 1 << 40).unwrap();
    r.decr(2, 1).unwrap();
    let Some(out) = raindrops_testutil::ruby(
        &["raindrops"],
        r#"
        rd = Raindrops.new(3, io: File.open(ARGV[0], "r+"))
        print rd.to_ary.join(",")
        rd.incr(0, 41)
        rd.incr(2)
        "#,
        &[path.str()],
    ) else {
        return;
    };
    assert_eq!(out, format!("1,{},{}", 1u64 << 40, u64::MAX));
    assert_eq!(r.values().collect::<Vec<_>>(), [42, 1 << 40, 0]);
}

/// Both at once: Ruby and Rust increment the same counter in the same live
/// file mapping; the total is exact on both sides.
#[test]
fn ruby_and_rust_increment_together() {
    const EACH: usize = 20_000;
    let path = empty_file("together");
    let Some(mut cmd) = raindrops_testutil::ruby_command(
        &["raindrops"],
        r#"
        rd = Raindrops.new(2, io: File.open(ARGV[0], "r+"))
        STDOUT.puts "ready"
        STDOUT.flush
        ARGV[1].to_i.times { rd.incr(0) }
        STDIN.gets # Rust is done
        print rd[0], " ", rd[1]
        "#,
        &[path.str(), &EACH.to_string()],
    ) else {
        return;
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let r = Options::new().ruby_file(path.path(), 2).unwrap();
    for _ in 0..EACH {
        r.incr(0, 1).unwrap();
    }
    r.set(1, 99).unwrap();
    child.stdin.take().unwrap().write_all(b"done\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(rest, format!("{} 99", 2 * EACH));
    assert_eq!(r.get(0), Ok(2 * EACH));
}

/// `zero` clears like Ruby's `zero: true`, and Ruby's clears what Rust wrote.
#[test]
fn zero_both_ways() {
    let path = TempPath::new("zero");
    let r = Options::new().ruby_file(path.path(), 2).unwrap();
    r.set(0, 3).unwrap();
    r.set(1, 4).unwrap();
    let z = Options::new().zero(true).ruby_file(path.path(), 2).unwrap();
    assert_eq!(r.values().collect::<Vec<_>>(), [0, 0]);
    z.set(1, 8).unwrap();
    let Some(out) = raindrops_testutil::ruby(
        &["raindrops"],
        r#"
        a = Raindrops.new(2, io: File.open(ARGV[0], "r+")).to_ary
        b = Raindrops.new(2, io: File.open(ARGV[0], "r+"), zero: true).to_ary
        print a.join(","), " ", b.join(",")
        "#,
        &[path.str()],
    ) else {
        return;
    };
    assert_eq!(out, "0,8 0,0");
    assert_eq!(r.get(1), Ok(0));
}

/// Sizes and capacities match Ruby's for the same requested sizes.
#[test]
fn capacity_like_ruby() {
    let sizes = [1usize, 2, 63, 64, 65, 100, 1000];
    let Some(out) = raindrops_testutil::ruby(
        &["raindrops"],
        "print ARGV.map { |n| Raindrops.new(n.to_i).capa }.join(',')",
        &sizes
            .map(|n| n.to_string())
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ) else {
        return;
    };
    let ours: Vec<String> = sizes
        .iter()
        .map(|&n| {
            let r = Options::new().ruby_stride().anonymous(n).unwrap();
            assert_eq!(Some(r.capacity()), ruby_capacity(n, ruby_stride()));
            r.capacity().to_string()
        })
        .collect();
    assert_eq!(out, ours.join(","));
    assert_eq!(
        ruby_capacity(1, ruby_stride()),
        Some(page_size() / ruby_stride())
    );
}
