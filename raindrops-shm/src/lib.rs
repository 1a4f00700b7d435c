//! Shared memory backings (anonymous, named POSIX shm, file, memfd) for raindrops-core counters
//!
//! Work in progress; see the workspace README.
