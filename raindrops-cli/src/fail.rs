//! How the command fails: bad usage or input (exit 2) or a failure of the
//! system (exit 1), each reported on one line of stderr.

use std::fmt;

/// A failure of a subcommand.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad usage or input: exit 2, nothing on stdout.
    Usage(String),
    /// The system failed (netlink, a file, the network): exit 1.
    System(String),
    /// Exit quietly with this status (SIGPIPE: 0, SIGINT: 130, check: 3).
    Exit(i32),
}

impl Failure {
    /// The process exit status.
    pub(crate) fn code(&self) -> i32 {
        match self {
            Failure::Usage(_) => 2,
            Failure::System(_) => 1,
            Failure::Exit(code) => *code,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) | Failure::System(m) => f.write_str(m),
            Failure::Exit(code) => write!(f, "exit {code}"),
        }
    }
}

impl From<raindrops_diag::QueryError> for Failure {
    fn from(e: raindrops_diag::QueryError) -> Self {
        match e {
            raindrops_diag::QueryError::Address { .. } => Failure::Usage(e.to_string()),
            other => Failure::System(format!("listener query failed: {other}")),
        }
    }
}

impl From<raindrops_diag::Error> for Failure {
    fn from(e: raindrops_diag::Error) -> Self {
        Failure::System(format!("listener query failed: {e}"))
    }
}

/// `Result` of a subcommand.
pub(crate) type Outcome = Result<(), Failure>;
