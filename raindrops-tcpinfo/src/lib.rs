//! TCP_INFO for any socket: getsockopt and a decoder of every struct tcp_info field the kernel returns
//!
//! Work in progress; see the workspace README.
