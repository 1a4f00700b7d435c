#![no_main]
//! The `struct tcp_info` decoder of raindrops-tcpinfo: any bytes decode
//! without panicking; exactly the fields that fit are present, with the
//! values at their offsets; Debug and the metric list walk every field.
use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use raindrops_tcpinfo::TcpInfo;

fuzz_target!(|data: &[u8]| {
    let info = TcpInfo::parse(data);
    let len = data.len().min(TcpInfo::SIZE);
    assert_eq!(info.len(), len);
    assert_eq!(info.as_bytes(), &data[..len]);

    assert_eq!(info.state().map(u8::from), data.first().copied());
    assert_eq!(info.options().map(|o| o.bits()), data.get(5).copied());
    assert_eq!(info.snd_wscale().is_some(), len > 6);
    assert_eq!(info.fastopen_client_fail().is_some(), len > 7);
    let rtt = data
        .get(68..72)
        .filter(|_| len >= 72)
        .map(|b| u32::from_ne_bytes(b.try_into().unwrap()));
    assert_eq!(info.rtt(), rtt);
    let total_rto_time = data
        .get(244..248)
        .map(|b| u32::from_ne_bytes(b.try_into().unwrap()));
    assert_eq!(info.total_rto_time(), total_rto_time);

    // Fields are in struct order and end with the last field that fits.
    let mut end = 0;
    for f in info.fields() {
        assert!(!f.name.is_empty());
        end += 1;
    }
    assert!(end <= 54);
    if len == TcpInfo::SIZE {
        assert_eq!(end, 54);
    }
    let mut s = String::new();
    write!(s, "{info:?}").unwrap();
    assert!(s.starts_with("TcpInfo { len: "));
    assert_eq!(info, TcpInfo::parse(info.as_bytes()));
});
