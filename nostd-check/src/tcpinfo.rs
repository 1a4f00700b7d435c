//! Uses raindrops-tcpinfo without std: the `struct tcp_info` decoder.

use raindrops_tcpinfo::{TcpInfo, TcpState, TcpiOptions};

/// Decodes the first `len` bytes of a `struct tcp_info` and returns its
/// rtt (µs), 0 when absent, plus 1 if the connection is established with
/// SACK; callable from C.
#[unsafe(no_mangle)]
pub extern "C" fn raindrops_nostd_check_tcpinfo(bytes: &[u8; TcpInfo::SIZE], len: usize) -> u32 {
    let info = TcpInfo::parse(bytes.get(..len).unwrap_or(bytes));
    let established = info.state() == Some(TcpState::Established);
    let sack = info
        .options()
        .is_some_and(|o| o.contains(TcpiOptions::SACK));
    let total: u64 = info.fields().map(|f| f.value).fold(0, u64::wrapping_add);
    info.rtt()
        .unwrap_or(0)
        .wrapping_add(u32::from(established && sack))
        .wrapping_add(total as u32 & 1)
}
