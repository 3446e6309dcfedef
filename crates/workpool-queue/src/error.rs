//! The queue's one error type.

use std::fmt;

/// What went wrong talking to the queue's database.
///
/// Every variant's text is lower-case, names what failed and carries no trailing period, so
/// that a command can print it after `error: ` as it is.
#[derive(Debug)]
pub enum Error {
    /// The database URL is neither `sqlite:PATH` nor `postgres://...` (or it is malformed).
    BadUrl {
        /// The URL as given, without a password.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database could not be opened or reached.
    Connect {
        /// The URL, without a password.
        url: String,
        /// Why.
        reason: String,
    },
    /// The database holds a schema newer than this program knows.
    SchemaTooNew {
        /// The version found in the database.
        found: i64,
        /// The newest version this program knows.
        known: i64,
    },
    /// A statement failed.
    Database {
        /// What was being done, for example `claim jobs`.
        what: &'static str,
        /// The database's message.
        reason: String,
        /// `true` if the connection was lost (the next call reconnects).
        connection_lost: bool,
    },
    /// A job that cannot be stored, for example with a negative delay.
    InvalidJob(String),
}

impl Error {
    /// `true` if the error came from a lost or unreachable server: trying again later may
    /// succeed, where other errors will repeat.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. }
                | Error::Database {
                    connection_lost: true,
                    ..
                }
        )
    }

    pub(crate) fn sqlite(what: &'static str, err: rusqlite::Error) -> Self {
        Error::Database {
            what,
            reason: lower_first(&err.to_string()),
            connection_lost: false,
        }
    }

    pub(crate) fn pg(what: &'static str, err: &postgres::Error) -> Self {
        let reason = match err.as_db_error() {
            Some(db) => db.message().to_owned(),
            None => err.to_string(),
        };
        Error::Database {
            what,
            reason: lower_first(&reason),
            connection_lost: err.is_closed() || err.as_db_error().is_none(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadUrl { url, reason } => write!(f, "invalid database url \"{url}\": {reason}"),
            Error::Connect { url, reason } => write!(f, "cannot open database {url}: {reason}"),
            Error::SchemaTooNew { found, known } => write!(
                f,
                "database schema version {found} is newer than this program knows ({known}): upgrade workpool"
            ),
            Error::Database { what, reason, .. } => write!(f, "cannot {what}: {reason}"),
            Error::InvalidJob(reason) => write!(f, "invalid job: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

/// The drivers' messages may start with a capital; ours are lower-case throughout.
pub(crate) fn lower_first(text: &str) -> String {
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The queue's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lower_case_without_a_trailing_period() {
        let errors = [
            Error::BadUrl {
                url: "mysql://x".into(),
                reason: "expected sqlite:PATH or postgres://USER@HOST/DATABASE".into(),
            },
            Error::Connect {
                url: "postgres://h/db".into(),
                reason: lower_first("Connection refused."),
            },
            Error::SchemaTooNew { found: 9, known: 1 },
            Error::InvalidJob("empty kind".into()),
        ];
        for err in errors {
            let text = err.to_string();
            assert!(!text.ends_with('.'), "{text}");
            assert_eq!(text, lower_first(&text), "{text}");
        }
    }
}
