//! The command's error type: what went wrong before or around the jobs, never a job's own
//! failure (that is an outcome, counted in the summary).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// An error that stops the command; every one exits with [`Exit::Error`](crate::exit::Exit).
#[derive(Debug)]
pub enum CliError {
    /// A flag or combination of flags that cannot work.
    Usage(String),
    /// A line of the job list that cannot be run, with its 1-based line number.
    Input {
        /// The 1-based line number in the input.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A file that could not be read or written.
    Io {
        /// What was being done, for example `cannot open job log`.
        what: String,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The pool could not be built (for example, a worker thread could not start).
    Pool(workpool::BuildError),
    /// The queue database: a bad URL, an unreachable server, a newer schema, a failed
    /// statement.
    Queue(workpool_queue::Error),
}

impl CliError {
    /// A usage error with `message`.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    /// An error in input line `line`.
    pub fn input(line: usize, message: impl Into<String>) -> Self {
        CliError::Input {
            line,
            message: message.into(),
        }
    }

    /// An I/O error while doing `what` with `path`.
    pub fn io(what: impl Into<String>, path: &Path, source: io::Error) -> Self {
        CliError::Io {
            what: what.into(),
            path: path.to_owned(),
            source,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) => f.write_str(message),
            CliError::Input { line, message } => write!(f, "input line {line}: {message}"),
            CliError::Io { what, path, source } => {
                write!(
                    f,
                    "{what} {}: {}",
                    path.display(),
                    lower_first(&source.to_string())
                )
            }
            CliError::Pool(err) => write!(f, "cannot start the pool: {err}"),
            CliError::Queue(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::Io { source, .. } => Some(source),
            CliError::Pool(err) => Some(err),
            CliError::Queue(err) => Some(err),
            _ => None,
        }
    }
}

impl From<workpool::BuildError> for CliError {
    fn from(err: workpool::BuildError) -> Self {
        CliError::Pool(err)
    }
}

impl From<workpool_queue::Error> for CliError {
    fn from(err: workpool_queue::Error) -> Self {
        CliError::Queue(err)
    }
}

/// The operating system's messages start with a capital ("No such file or directory"); ours
/// are lower-case throughout.
pub fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lower_case_without_a_trailing_period() {
        let errors = [
            CliError::usage("--min (4) is greater than --max (2)"),
            CliError::input(3, "missing \"cmd\""),
            CliError::io(
                "cannot open job log",
                Path::new("/nope/log"),
                io::Error::from(io::ErrorKind::NotFound),
            ),
        ];
        for err in errors {
            let text = err.to_string();
            assert!(!text.ends_with('.'), "{text}");
            assert_eq!(text, lower_first(&text), "{text}");
        }
        assert_eq!(
            CliError::input(3, "missing \"cmd\"").to_string(),
            "input line 3: missing \"cmd\""
        );
    }
}
