//! Compile-time layout checks of every kernel structure the codec reads or
//! writes.
//!
//! The netlink structures are compared with linux-raw-sys' bindgen output
//! of the uapi headers. linux-raw-sys has no sock_diag headers, so those
//! are transcribed below as `#[repr(C)]` mirrors of `linux/inet_diag.h`,
//! `linux/unix_diag.h` and `linux/sock_diag.h`, with the uapi sizes
//! asserted; the codec's byte ranges (`mod field` of each view) are then
//! asserted against the mirrors. A unit test additionally compiles a C
//! program against the installed headers and compares every offset.

#![allow(dead_code, non_camel_case_types)]

use super::{inet_diag, nlmsg, rtattr, unix_diag};
use core::mem::{offset_of, size_of};
use linux_raw_sys::netlink as uapi;

macro_rules! check {
    ($t:ty, size $n:expr $(, $f:ident == $v:expr)* $(,)?) => {
        const _: () = {
            assert!(size_of::<$t>() == $n);
            $( assert!(offset_of!($t, $f) == $v); )*
        };
    };
}

// Netlink, against linux-raw-sys.
check!(uapi::nlmsghdr, size nlmsg::HEADER_LEN,
    nlmsg_len == nlmsg::field::LENGTH.start,
    nlmsg_type == nlmsg::field::TYPE.start,
    nlmsg_flags == nlmsg::field::FLAGS.start,
    nlmsg_seq == nlmsg::field::SEQ.start,
    nlmsg_pid == nlmsg::field::PID.start);
check!(uapi::nlmsgerr, size nlmsg::ERR_LEN, error == 0, msg == 4);
check!(uapi::rtattr, size rtattr::HEADER_LEN, rta_len == 0, rta_type == 2);
const _: () = {
    assert!(uapi::NLMSG_ERROR as u16 == nlmsg::NLMSG_ERROR);
    assert!(uapi::NLMSG_DONE as u16 == nlmsg::NLMSG_DONE);
    assert!(uapi::NLMSG_NOOP as u16 == nlmsg::NLMSG_NOOP);
    assert!(uapi::NLMSG_OVERRUN as u16 == nlmsg::NLMSG_OVERRUN);
    assert!(uapi::NLM_F_DUMP_INTR as u16 == nlmsg::NlFlags::DUMP_INTR.bits());
    assert!(uapi::NLM_F_DUMP as u16 == nlmsg::NlFlags::DUMP.bits());
    assert!(uapi::NLM_F_MULTI as u16 == nlmsg::NlFlags::MULTI.bits());
    assert!(uapi::NLM_F_REQUEST as u16 == nlmsg::NlFlags::REQUEST.bits());
    assert!(uapi::NLMSG_ALIGNTO == 4 && uapi::NLA_ALIGNTO == 4);
    assert!(uapi::NLA_F_NESTED as u16 == rtattr::F_NESTED);
    assert!(uapi::NETLINK_SOCK_DIAG == 4);
};

// linux/tcp.h, the one tcp_info field the queries read (raindrops-tcpinfo
// checks the rest).
const _: () = assert!(
    offset_of!(linux_raw_sys::net::tcp_info, tcpi_last_data_sent) == inet_diag::TCPI_LAST_DATA_SENT
);

// linux/inet_diag.h
#[repr(C)]
pub(crate) struct inet_diag_sockid {
    idiag_sport: u16,
    idiag_dport: u16,
    idiag_src: [u32; 4],
    idiag_dst: [u32; 4],
    idiag_if: u32,
    idiag_cookie: [u32; 2],
}
check!(inet_diag_sockid, size 48,
    idiag_sport == inet_diag::field::SPORT.start,
    idiag_dport == inet_diag::field::DPORT.start,
    idiag_src == inet_diag::field::SRC.start,
    idiag_dst == inet_diag::field::DST.start,
    idiag_if == inet_diag::field::IF.start,
    idiag_cookie == inet_diag::field::COOKIE0.start);

#[repr(C)]
pub(crate) struct inet_diag_req {
    idiag_family: u8,
    idiag_src_len: u8,
    idiag_dst_len: u8,
    idiag_ext: u8,
    id: inet_diag_sockid,
    idiag_states: u32,
    idiag_dbs: u32,
}
check!(inet_diag_req, size inet_diag::field::V1_LEN,
    idiag_family == inet_diag::field::V1_FAMILY,
    idiag_src_len == inet_diag::field::V1_SRC_LEN,
    idiag_dst_len == inet_diag::field::V1_DST_LEN,
    idiag_ext == inet_diag::field::V1_EXT,
    id == inet_diag::field::V1_ID.start,
    idiag_states == inet_diag::field::V1_STATES.start,
    idiag_dbs == inet_diag::field::V1_DBS.start);

#[repr(C)]
pub(crate) struct inet_diag_req_v2 {
    sdiag_family: u8,
    sdiag_protocol: u8,
    idiag_ext: u8,
    pad: u8,
    idiag_states: u32,
    id: inet_diag_sockid,
}
check!(inet_diag_req_v2, size inet_diag::field::V2_LEN,
    sdiag_family == inet_diag::field::V2_FAMILY,
    sdiag_protocol == inet_diag::field::V2_PROTOCOL,
    idiag_ext == inet_diag::field::V2_EXT,
    pad == inet_diag::field::V2_PAD,
    idiag_states == inet_diag::field::V2_STATES.start,
    id == inet_diag::field::V2_ID.start);

#[repr(C)]
pub(crate) struct inet_diag_msg {
    idiag_family: u8,
    idiag_state: u8,
    idiag_timer: u8,
    idiag_retrans: u8,
    id: inet_diag_sockid,
    idiag_expires: u32,
    idiag_rqueue: u32,
    idiag_wqueue: u32,
    idiag_uid: u32,
    idiag_inode: u32,
}
check!(inet_diag_msg, size inet_diag::field::MSG_LEN,
    idiag_family == inet_diag::field::FAMILY,
    idiag_state == inet_diag::field::STATE,
    idiag_timer == inet_diag::field::TIMER,
    idiag_retrans == inet_diag::field::RETRANS,
    id == inet_diag::field::ID.start,
    idiag_expires == inet_diag::field::EXPIRES.start,
    idiag_rqueue == inet_diag::field::RQUEUE.start,
    idiag_wqueue == inet_diag::field::WQUEUE.start,
    idiag_uid == inet_diag::field::UID.start,
    idiag_inode == inet_diag::field::INODE.start);

#[repr(C)]
pub(crate) struct inet_diag_bc_op {
    code: u8,
    yes: u8,
    no: u16,
}
check!(inet_diag_bc_op, size super::bytecode::OP_LEN, code == 0, yes == 1, no == 2);

#[repr(C)]
pub(crate) struct inet_diag_hostcond {
    family: u8,
    prefix_len: u8,
    port: i32,
    // __be32 addr[0] follows
}
check!(inet_diag_hostcond, size super::bytecode::HOSTCOND_LEN,
    family == 0, prefix_len == 1, port == 4);

#[repr(C)]
pub(crate) struct inet_diag_markcond {
    mark: u32,
    mask: u32,
}
check!(inet_diag_markcond, size 8, mark == 0, mask == 4);

#[repr(C)]
pub(crate) struct inet_diag_meminfo {
    idiag_rmem: u32,
    idiag_wmem: u32,
    idiag_fmem: u32,
    idiag_tmem: u32,
}
check!(inet_diag_meminfo, size super::meminfo::MemInfo::LEN,
    idiag_rmem == 0, idiag_wmem == 4, idiag_fmem == 8, idiag_tmem == 12);

// linux/unix_diag.h
#[repr(C)]
pub(crate) struct unix_diag_req {
    sdiag_family: u8,
    sdiag_protocol: u8,
    pad: u16,
    udiag_states: u32,
    udiag_ino: u32,
    udiag_show: u32,
    udiag_cookie: [u32; 2],
}
check!(unix_diag_req, size unix_diag::field::REQ_LEN,
    sdiag_family == unix_diag::field::REQ_FAMILY,
    sdiag_protocol == unix_diag::field::REQ_PROTOCOL,
    pad == unix_diag::field::REQ_PAD.start,
    udiag_states == unix_diag::field::REQ_STATES.start,
    udiag_ino == unix_diag::field::REQ_INO.start,
    udiag_show == unix_diag::field::REQ_SHOW.start,
    udiag_cookie == unix_diag::field::REQ_COOKIE0.start);

#[repr(C)]
pub(crate) struct unix_diag_msg {
    udiag_family: u8,
    udiag_type: u8,
    udiag_state: u8,
    pad: u8,
    udiag_ino: u32,
    udiag_cookie: [u32; 2],
}
check!(unix_diag_msg, size unix_diag::field::MSG_LEN,
    udiag_family == unix_diag::field::FAMILY,
    udiag_type == unix_diag::field::TYPE,
    udiag_state == unix_diag::field::STATE,
    pad == unix_diag::field::PAD,
    udiag_ino == unix_diag::field::INO.start,
    udiag_cookie == unix_diag::field::COOKIE0.start);

#[repr(C)]
pub(crate) struct unix_diag_rqlen {
    udiag_rqueue: u32,
    udiag_wqueue: u32,
}
check!(unix_diag_rqlen, size 8, udiag_rqueue == 0, udiag_wqueue == 4);

#[repr(C)]
pub(crate) struct unix_diag_vfs {
    udiag_vfs_ino: u32,
    udiag_vfs_dev: u32,
}
check!(unix_diag_vfs, size 8, udiag_vfs_ino == 0, udiag_vfs_dev == 4);

#[cfg(test)]
mod tests {
    //! Compares the transcribed layouts with the C headers installed on
    //! this machine (skipped, saying why, without a C compiler or headers;
    //! a failure under `RAINDROPS_REQUIRE_RUBY=1`, like any missing
    //! oracle).
    extern crate std;
    use std::process::Command;
    use std::string::String;

    const PROGRAM: &str = r#"
#include <stddef.h>
#include <stdio.h>
#include <linux/inet_diag.h>
#include <linux/unix_diag.h>
#include <linux/sock_diag.h>
#define S(t) printf(#t " %zu\n", sizeof(struct t));
#define O(t, f) printf(#t "." #f " %zu\n", offsetof(struct t, f));
#define C(c) printf(#c " %ld\n", (long)(c));
int main(void) {
  S(inet_diag_sockid) O(inet_diag_sockid, idiag_if) O(inet_diag_sockid, idiag_cookie)
  S(inet_diag_req) O(inet_diag_req, id) O(inet_diag_req, idiag_states) O(inet_diag_req, idiag_dbs)
  S(inet_diag_req_v2) O(inet_diag_req_v2, idiag_states) O(inet_diag_req_v2, id)
  S(inet_diag_msg) O(inet_diag_msg, id) O(inet_diag_msg, idiag_expires) O(inet_diag_msg, idiag_rqueue)
  O(inet_diag_msg, idiag_wqueue) O(inet_diag_msg, idiag_uid) O(inet_diag_msg, idiag_inode)
  S(inet_diag_bc_op) S(inet_diag_hostcond) O(inet_diag_hostcond, port) S(inet_diag_markcond)
  S(inet_diag_meminfo) S(unix_diag_req) O(unix_diag_req, udiag_states) O(unix_diag_req, udiag_ino)
  O(unix_diag_req, udiag_show) O(unix_diag_req, udiag_cookie) S(unix_diag_msg) O(unix_diag_msg, udiag_ino)
  O(unix_diag_msg, udiag_cookie) S(unix_diag_rqlen) S(unix_diag_vfs)
  C(INET_DIAG_BC_S_COND) C(INET_DIAG_BC_JMP) C(INET_DIAG_BC_MARK_COND) C(INET_DIAG_SKMEMINFO)
  C(INET_DIAG_INFO) C(INET_DIAG_CONG) C(INET_DIAG_SHUTDOWN) C(INET_DIAG_REQ_BYTECODE)
  C(UNIX_DIAG_NAME) C(UNIX_DIAG_RQLEN) C(UNIX_DIAG_UID) C(UDIAG_SHOW_RQLEN) C(UDIAG_SHOW_UID)
  C(SK_MEMINFO_DROPS) C(SOCK_DIAG_BY_FAMILY) C(TCPDIAG_GETSOCK)
  return 0;
}
"#;

    #[test]
    fn layouts_match_installed_uapi_headers() {
        let dir =
            std::env::temp_dir().join(std::format!("raindrops-diag-layout-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let src = dir.join("layout.c");
        let bin = dir.join("layout");
        std::fs::write(&src, PROGRAM).unwrap();
        let cc = std::env::var("CC").unwrap_or_else(|_| String::from("cc"));
        let built = Command::new(&cc).arg(&src).arg("-o").arg(&bin).output();
        let ok = matches!(&built, Ok(o) if o.status.success());
        if !ok {
            let _ = std::fs::remove_dir_all(&dir);
            let why = std::format!("cannot compile against linux/inet_diag.h with {cc}: {built:?}");
            let _: Option<()> =
                raindrops_testutil::skip_oracle(&why, "apt-get install -y gcc linux-libc-dev");
            return;
        }
        let out = Command::new(&bin).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let text = String::from_utf8(out.stdout).unwrap();
        let want = "inet_diag_sockid 48\ninet_diag_sockid.idiag_if 36\ninet_diag_sockid.idiag_cookie 40\n\
inet_diag_req 60\ninet_diag_req.id 4\ninet_diag_req.idiag_states 52\ninet_diag_req.idiag_dbs 56\n\
inet_diag_req_v2 56\ninet_diag_req_v2.idiag_states 4\ninet_diag_req_v2.id 8\n\
inet_diag_msg 72\ninet_diag_msg.id 4\ninet_diag_msg.idiag_expires 52\ninet_diag_msg.idiag_rqueue 56\n\
inet_diag_msg.idiag_wqueue 60\ninet_diag_msg.idiag_uid 64\ninet_diag_msg.idiag_inode 68\n\
inet_diag_bc_op 4\ninet_diag_hostcond 8\ninet_diag_hostcond.port 4\ninet_diag_markcond 8\n\
inet_diag_meminfo 16\nunix_diag_req 24\nunix_diag_req.udiag_states 4\nunix_diag_req.udiag_ino 8\n\
unix_diag_req.udiag_show 12\nunix_diag_req.udiag_cookie 16\nunix_diag_msg 16\nunix_diag_msg.udiag_ino 4\n\
unix_diag_msg.udiag_cookie 8\nunix_diag_rqlen 8\nunix_diag_vfs 8\n\
INET_DIAG_BC_S_COND 7\nINET_DIAG_BC_JMP 1\nINET_DIAG_BC_MARK_COND 10\nINET_DIAG_SKMEMINFO 7\n\
INET_DIAG_INFO 2\nINET_DIAG_CONG 4\nINET_DIAG_SHUTDOWN 8\nINET_DIAG_REQ_BYTECODE 1\n\
UNIX_DIAG_NAME 0\nUNIX_DIAG_RQLEN 4\nUNIX_DIAG_UID 7\nUDIAG_SHOW_RQLEN 16\nUDIAG_SHOW_UID 64\n\
SK_MEMINFO_DROPS 8\nSOCK_DIAG_BY_FAMILY 20\nTCPDIAG_GETSOCK 18\n";
        assert_eq!(text, want);
        // The same numbers as the codec's constants.
        use crate::wire::{bytecode, inet_diag, meminfo, nlmsg, unix_diag};
        assert_eq!(bytecode::code::S_COND, 7);
        assert_eq!(bytecode::code::MARK_COND, 10);
        assert_eq!(inet_diag::attr::SKMEMINFO, 7);
        assert_eq!(inet_diag::INET_DIAG_REQ_BYTECODE, 1);
        assert_eq!(unix_diag::attr::RQLEN, 4);
        assert_eq!(unix_diag::UnixShow::UID.bits(), 64);
        assert_eq!(meminfo::SK_MEMINFO_DROPS, 8);
        assert_eq!(nlmsg::SOCK_DIAG_BY_FAMILY, 20);
        assert_eq!(nlmsg::TCPDIAG_GETSOCK, 18);
    }
}
