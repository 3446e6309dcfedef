//! Every exit code the `workpool` command can end with, in one place.

use std::process::ExitCode;

/// How the `workpool` command ended, as its process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: every job succeeded (or there was nothing to do).
    Success,
    /// 1: some job failed, timed out or was cancelled.
    JobsFailed,
    /// 2: the command could not do what was asked: a usage or input error, a file, log or
    /// database that could not be read or written, or a pool that could not start.
    Error,
    /// 130: interrupted by Ctrl-C (128 + SIGINT, as shells report it).
    Interrupted,
    /// 128 + N: ended by signal N (SIGTERM 143, SIGHUP 129; 141 when standard output was
    /// closed, as if by SIGPIPE).
    Signalled(i32),
}

impl Exit {
    /// The numeric exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::JobsFailed => 1,
            Exit::Error => 2,
            Exit::Interrupted => 130,
            Exit::Signalled(signal) => u8::try_from(128 + signal.clamp(0, 127)).unwrap_or(255),
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        let codes = [
            Exit::Success,
            Exit::JobsFailed,
            Exit::Error,
            Exit::Interrupted,
            Exit::Signalled(15),
            Exit::Signalled(1),
        ]
        .map(Exit::code);
        assert_eq!(codes, [0, 1, 2, 130, 143, 129]);
    }
}
