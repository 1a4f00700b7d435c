#![no_main]
//! One unix_diag reply payload: every accessor and attribute, names in
//! their printed form, and the fixed part read, written and read back.
use libfuzzer_sys::fuzz_target;
use raindrops_diag::UnixName;
use raindrops_diag::wire::{UnixDiagAttr, UnixDiagMsg, UnixDiagMsgRepr};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = UnixDiagMsg::new_checked(data) else {
        assert!(data.len() < 16);
        return;
    };
    let _ = (m.state(), m.ino(), m.cookie(), m.sock_type());
    for a in m.attrs().flatten() {
        match a {
            UnixDiagAttr::Name(n) => {
                if let Some(name) = UnixName::from_sun_path(n) {
                    assert!(name.as_bytes().len() <= n.len() + 1);
                    let _ = name.to_string();
                }
            }
            UnixDiagAttr::Icons(_) => {
                let _ = a.icons().count();
            }
            _ => {}
        }
    }
    let r = UnixDiagMsgRepr::parse(&m);
    let mut out = [0u8; 16];
    r.emit(&mut out).unwrap();
    assert_eq!(&out[..], &data[..16]);
});
