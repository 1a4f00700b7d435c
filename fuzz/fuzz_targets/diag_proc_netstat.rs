#![no_main]
//! /proc/net/netstat and /proc/net/snmp text: every pair of lines parsed
//! without panics, errors pointing inside the text; and text printed the
//! kernel's way from structured input parses back to it.
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use raindrops_diag::proc_netstat::{TcpExt, entries, lookup, sections};

/// A name the kernel could print: a letter, then letters, digits or `_`.
fn name(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    const FIRST: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const REST: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    let mut s = String::from(*u.choose(FIRST)? as char);
    for _ in 0..u.int_in_range(0..=12)? {
        s.push(*u.choose(REST)? as char);
    }
    Ok(s)
}

type Generated = Vec<(String, Vec<(String, i128)>)>;

fn generate(u: &mut Unstructured<'_>) -> arbitrary::Result<Generated> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let prefix = name(u)?;
        let mut counters = Vec::new();
        for _ in 0..u.int_in_range(0..=8)? {
            // %lu, or %ld for the few signed fields.
            let value = if bool::arbitrary(u)? {
                i128::from(u64::arbitrary(u)?)
            } else {
                i128::from(i64::arbitrary(u)?)
            };
            counters.push((name(u)?, value));
        }
        out.push((prefix, counters));
    }
    Ok(out)
}

fn print(g: &Generated) -> String {
    let mut s = String::new();
    for (prefix, counters) in g {
        s += &format!("{prefix}:");
        for (n, _) in counters {
            s += &format!(" {n}");
        }
        s += &format!("\n{prefix}:");
        for (_, v) in counters {
            s += &format!(" {v}");
        }
        s.push('\n');
    }
    s
}

fuzz_target!(|data: &[u8]| {
    for e in entries(data) {
        if let Err(e) = e {
            assert!(e.offset() <= data.len(), "{e:?}");
        }
    }
    for s in sections(data).flatten() {
        for e in s.entries() {
            assert!(s.get(e.name).is_some());
        }
    }
    let _ = lookup(data, "TcpExt", "ListenOverflows");
    let _ = TcpExt::from_text(data);

    let mut u = Unstructured::new(data);
    let Ok(g) = generate(&mut u) else {
        return;
    };
    let text = print(&g);
    let got: Vec<_> = entries(text.as_bytes())
        .map(|e| e.map(|e| (e.prefix.to_owned(), e.name.to_owned(), e.value)))
        .collect::<Result<_, _>>()
        .unwrap();
    let want: Vec<_> = g
        .iter()
        .flat_map(|(p, c)| {
            c.iter()
                .map(move |(n, v)| (p.clone(), n.clone(), *v as u64))
        })
        .collect();
    assert_eq!(got, want);
});
