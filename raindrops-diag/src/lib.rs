//! Per-listener active and queued connection counts from the Linux kernel over netlink sock_diag (inet_diag, unix_diag)
//!
//! Work in progress; see the workspace README.
