#![no_main]
//! One inet_diag reply payload: every accessor and attribute, and the
//! fixed part read, written and read back unchanged.
use libfuzzer_sys::fuzz_target;
use raindrops_diag::wire::{InetDiagAttr, InetDiagMsg, InetDiagMsgRepr};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = InetDiagMsg::new_checked(data) else {
        assert!(data.len() < 72);
        return;
    };
    let _ = (
        m.state(),
        m.local(),
        m.remote(),
        m.inode(),
        m.sport(),
        m.uid(),
    );
    for a in m.attrs() {
        match a {
            Ok(InetDiagAttr::SkMemInfo(s)) => {
                let _ = (s.drops(), s.len());
            }
            Ok(a) => {
                let _ = a.kind();
            }
            Err(_) => {}
        }
    }
    let r = InetDiagMsgRepr::parse(&m);
    let mut out = [0u8; 72];
    r.emit(&mut out).unwrap();
    assert_eq!(&out[..], &data[..72]);
    assert_eq!(
        InetDiagMsgRepr::parse(&InetDiagMsg::new_checked(&out[..]).unwrap()),
        r
    );
});
