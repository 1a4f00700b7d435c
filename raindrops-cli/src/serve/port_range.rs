//! The kernel's ephemeral port range, `/proc/sys/net/ipv4/ip_local_port_range`.
//!
//! Uses only std, so that the fuzz target `cli_web_config` can compile it
//! on its own.

/// Where the range is read from (of the network namespace we run in).
pub(crate) const PATH: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The range `low..=high` from the file's text (`"32768\t60999\n"`), or
/// `None` when it is not two ports with `low <= high`.
pub(crate) fn parse(text: &str) -> Option<(u16, u16)> {
    if text.len() > 64 {
        return None;
    }
    let mut it = text.split_ascii_whitespace();
    let low: u16 = it.next()?.parse().ok()?;
    let high: u16 = it.next()?.parse().ok()?;
    (it.next().is_none() && low <= high).then_some((low, high))
}

/// The current range, or `None` where the file cannot be read or parsed.
pub(crate) fn read() -> Option<(u16, u16)> {
    parse(&std::fs::read_to_string(PATH).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_text() {
        assert_eq!(parse("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse("1024 1024"), Some((1024, 1024)));
        for bad in [
            "",
            "1",
            "2 1",
            "1 2 3",
            "-1 5",
            "1 65536",
            "a b",
            &"1 ".repeat(40),
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        // This machine's file, if it has one, is well-formed.
        if std::path::Path::new(PATH).exists() {
            assert!(read().is_some());
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trip(a in 0u16.., b in 0u16.., sep in "[ \t]{1,3}") {
            let (low, high) = (a.min(b), a.max(b));
            proptest::prop_assert_eq!(parse(&format!("{low}{sep}{high}\n")), Some((low, high)));
        }

        #[test]
        fn any_text(t in "\\PC{0,80}") {
            let _ = parse(&t);
        }
    }
}
