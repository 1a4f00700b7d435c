//! What the running machine says about pages, CPUs and cache lines: the
//! numbers Ruby's raindrops picks its slot size and capacity from.

use core::fmt;
use std::sync::OnceLock;

use raindrops_core::WORD;

/// The slot size Ruby's raindrops uses when it cannot ask the machine
/// (`raindrop_size`'s initial value in `raindrops.c`).
pub const RUBY_DEFAULT_STRIDE: usize = 128;

/// The memory page size in bytes (Ruby's `Raindrops::PAGE_SIZE`).
pub fn page_size() -> usize {
    rustix::param::page_size()
}

/// The slot stride Ruby's raindrops uses on this machine, in bytes (Ruby's
/// `Raindrops::SIZE`): one word on a machine with one configured CPU, else
/// the level-1 data cache line size, else 128.
///
/// Ruby asks `sysconf(_SC_NPROCESSORS_CONF)` and
/// `sysconf(_SC_LEVEL1_DCACHE_LINESIZE)`; this reads the same facts from
/// sysfs (`/sys/devices/system/cpu/possible` and the `coherency_line_size` of
/// cpu0's level-1 data cache), which is where the kernel publishes them. A
/// value that is not a multiple of the word size up to
/// [`MAX_STRIDE`](crate::MAX_STRIDE) is ignored (128 is used). The result
/// is computed once and cached.
pub fn ruby_stride() -> usize {
    static STRIDE: OnceLock<usize> = OnceLock::new();
    *STRIDE.get_or_init(|| {
        let cpus = read_sysfs("/sys/devices/system/cpu/possible")
            .and_then(|t| parse_cpu_list(&t).ok())
            .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
            .unwrap_or(2);
        ruby_stride_from(cpus, l1d_line_size())
    })
}

/// Ruby's choice of slot size from the CPU count and the L1 data cache line
/// size (`None` when unknown).
pub(crate) fn ruby_stride_from(cpus: usize, line: Option<usize>) -> usize {
    if cpus == 1 {
        return WORD;
    }
    match line {
        Some(n) if crate::header::check_stride(n as u64).is_ok() => n,
        _ => RUBY_DEFAULT_STRIDE,
    }
}

fn read_sysfs(path: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    // sysfs attributes are at most a page; read no more than that.
    std::fs::File::open(path)
        .ok()?
        .take(4096)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// The coherency line size of cpu0's first level-1 data (or unified) cache.
fn l1d_line_size() -> Option<usize> {
    for i in 0..16 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let Some(level) = read_sysfs(&format!("{dir}/level")) else {
            break;
        };
        let kind = read_sysfs(&format!("{dir}/type")).unwrap_or_default();
        if parse_decimal(&level).ok() != Some(1) || !matches!(trim(&kind), b"Data" | b"Unified") {
            continue;
        }
        return read_sysfs(&format!("{dir}/coherency_line_size"))
            .and_then(|t| parse_decimal(&t).ok())
            .filter(|&n| n > 0);
    }
    None
}

/// Where a sysfs text failed to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SysfsParseError {
    /// Byte offset of the first byte that does not fit the format.
    pub offset: usize,
}

impl fmt::Display for SysfsParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected sysfs text at byte {}", self.offset)
    }
}

impl std::error::Error for SysfsParseError {}

fn trim(text: &[u8]) -> &[u8] {
    let end = text
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &text[..end]
}

/// Parses a decimal number from sysfs, such as `coherency_line_size`'s
/// `"64\n"`: ASCII digits, then optional trailing whitespace.
///
/// Never panics; an empty text, another byte or an overflow of `usize` is
/// an error at its offset.
pub fn parse_decimal(text: &[u8]) -> Result<usize, SysfsParseError> {
    let digits = trim(text);
    if digits.is_empty() {
        return Err(SysfsParseError { offset: 0 });
    }
    let mut n = 0usize;
    for (i, &b) in digits.iter().enumerate() {
        if !b.is_ascii_digit() {
            return Err(SysfsParseError { offset: i });
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(b - b'0')))
            .ok_or(SysfsParseError { offset: i })?;
    }
    Ok(n)
}

/// Counts the CPUs in a kernel CPU list such as
/// `/sys/devices/system/cpu/possible`'s `"0-3,8,10-11\n"` (7 CPUs).
///
/// Never panics; a malformed item, a range that runs backwards or a count
/// that overflows is an error at its offset.
pub fn parse_cpu_list(text: &[u8]) -> Result<usize, SysfsParseError> {
    let body = trim(text);
    if body.is_empty() {
        return Err(SysfsParseError { offset: 0 });
    }
    let mut count = 0usize;
    let mut start = 0;
    for item in body.split(|&b| b == b',') {
        let err = SysfsParseError { offset: start };
        let n = match item.iter().position(|&b| b == b'-') {
            None => {
                number(item).ok_or(err)?;
                1
            }
            Some(dash) => {
                let lo = number(&item[..dash]).ok_or(err)?;
                let hi = number(&item[dash + 1..]).ok_or(SysfsParseError {
                    offset: start + dash + 1,
                })?;
                hi.checked_sub(lo)
                    .and_then(|d| d.checked_add(1))
                    .ok_or(err)?
            }
        };
        count = count.checked_add(n).ok_or(err)?;
        start += item.len() + 1;
    }
    Ok(count)
}

/// A non-empty run of ASCII digits, nothing else.
fn number(text: &[u8]) -> Option<usize> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    parse_decimal(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn real_sysfs_texts() {
        assert_eq!(parse_decimal(b"64\n"), Ok(64));
        assert_eq!(parse_decimal(b"128"), Ok(128));
        assert_eq!(parse_decimal(b""), Err(SysfsParseError { offset: 0 }));
        assert_eq!(parse_decimal(b"\n"), Err(SysfsParseError { offset: 0 }));
        assert_eq!(parse_decimal(b"6x4"), Err(SysfsParseError { offset: 1 }));
        assert_eq!(parse_decimal(b" 64"), Err(SysfsParseError { offset: 0 }));
        assert!(parse_decimal(b"99999999999999999999999").is_err());

        assert_eq!(parse_cpu_list(b"0-1\n"), Ok(2));
        assert_eq!(parse_cpu_list(b"0\n"), Ok(1));
        assert_eq!(parse_cpu_list(b"0-3,8,10-11\n"), Ok(7));
        assert_eq!(parse_cpu_list(b"0-127"), Ok(128));
        assert_eq!(parse_cpu_list(b""), Err(SysfsParseError { offset: 0 }));
        assert_eq!(parse_cpu_list(b"3-1"), Err(SysfsParseError { offset: 0 }));
        assert_eq!(parse_cpu_list(b"0-1,x"), Err(SysfsParseError { offset: 4 }));
        assert_eq!(parse_cpu_list(b"0-"), Err(SysfsParseError { offset: 2 }));
        assert_eq!(parse_cpu_list(b"0,,1"), Err(SysfsParseError { offset: 2 }));
        assert_eq!(parse_cpu_list(b"-1"), Err(SysfsParseError { offset: 0 }));
        assert!(parse_cpu_list(format!("0-{}", usize::MAX).as_bytes()).is_err());
    }

    #[test]
    fn ruby_rules() {
        assert_eq!(ruby_stride_from(1, Some(64)), WORD);
        assert_eq!(ruby_stride_from(2, Some(64)), 64);
        assert_eq!(ruby_stride_from(8, Some(128)), 128);
        assert_eq!(ruby_stride_from(2, None), 128);
        assert_eq!(ruby_stride_from(2, Some(0)), 128);
        assert_eq!(ruby_stride_from(2, Some(12)), 128);
    }

    #[test]
    fn this_machine() {
        let s = ruby_stride();
        assert!(s >= WORD && s % WORD == 0, "{s}");
        assert!(page_size().is_power_of_two());
    }

    #[test]
    fn same_as_ruby() {
        let Some(out) = raindrops_testutil::ruby(
            &["raindrops"],
            "print Raindrops::SIZE, ' ', Raindrops::PAGE_SIZE",
            &[],
        ) else {
            return;
        };
        assert_eq!(out, format!("{} {}", ruby_stride(), page_size()));
    }

    proptest! {
        #[test]
        fn cpu_lists_count(ranges in proptest::collection::vec((0usize..5000, 0usize..64), 1..8)) {
            let text: Vec<String> = ranges
                .iter()
                .map(|&(lo, d)| if d == 0 { lo.to_string() } else { format!("{lo}-{}", lo + d) })
                .collect();
            let text = text.join(",") + "\n";
            let want: usize = ranges.iter().map(|&(_, d)| d + 1).sum();
            prop_assert_eq!(parse_cpu_list(text.as_bytes()), Ok(want));
        }

        #[test]
        fn decimals_roundtrip(n in any::<usize>()) {
            prop_assert_eq!(parse_decimal(format!("{n}\n").as_bytes()), Ok(n));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_cpu_list(&bytes);
            let _ = parse_decimal(&bytes);
        }
    }
}
