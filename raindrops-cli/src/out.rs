//! Writing to stdout and stderr like a Unix tool: a closed pipe ends the
//! program quietly with status 0 (Ruby's `trap(:PIPE) { exit 0 }`).

use std::io::{self, Write};

use crate::fail::Failure;

/// Writes `text` to stdout and flushes it.
pub(crate) fn stdout(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    finish(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// Writes `text` to stderr (errors there are ignored: nowhere to report).
pub(crate) fn stderr(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

fn finish(r: io::Result<()>) -> Result<(), Failure> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Failure::Exit(0)),
        Err(e) => Err(Failure::System(format!("cannot write to stdout: {e}"))),
    }
}
