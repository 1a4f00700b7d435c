#![no_main]
//! A received netlink datagram: the message stream, error and done
//! payloads, and every inet_diag / unix_diag message in it counted into
//! fixed tables. Never panics; every checked view stays inside its bytes.
use libfuzzer_sys::fuzz_target;
use raindrops_diag::wire::{InetDiagMsg, NlMsgErr, NlMsgType, NlMsgs, UnixDiagMsg};
use raindrops_diag::{TcpCounter, TcpTable, UnixCounter, UnixTable};

fuzz_target!(|data: &[u8]| {
    let tcp = TcpCounter::new(&[], true, true);
    let unix = UnixCounter::new(&[]);
    let mut t = TcpTable::<4>::new();
    let mut u = UnixTable::<4>::new();
    let _ = tcp.start(&mut t);
    let _ = unix.start(&mut u);
    let mut end = 0;
    for m in NlMsgs::new(data) {
        let Ok(m) = m else { break };
        let len = m.len() as usize;
        assert!(len >= 16 && len <= data.len() - end);
        assert_eq!(m.payload().len(), len - 16);
        end += (len + 3) & !3;
        match m.msg_type() {
            NlMsgType::Error => {
                if let Ok(e) = NlMsgErr::new_checked(m.payload()) {
                    let _ = (e.errno(), e.request().seq());
                }
            }
            NlMsgType::Done | NlMsgType::Noop | NlMsgType::Overrun => {}
            _ => {
                if let Ok(d) = InetDiagMsg::new_checked(m.payload()) {
                    let _ = tcp.listener(&mut t, &d);
                    tcp.connection(&mut t, &d);
                }
                if let Ok(d) = UnixDiagMsg::new_checked(m.payload()) {
                    let _ = unix.message(&mut u, &d);
                }
            }
        }
    }
    tcp.finish(&mut t);
    unix.finish(&mut u);
    assert!(t.len() <= 4 && u.len() <= 4);
});
