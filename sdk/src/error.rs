//! The error type every fallible call of the SDK returns.

use std::fmt;

/// `Result` with [`Error`] as its error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failure inside a revision: a database error (with its code), an I/O
/// error, or any text.
///
/// Like `anyhow::Error`, it deliberately does not implement
/// [`std::error::Error`], so that every type that does converts into it with
/// `?`.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
    code: Option<String>,
}

impl Error {
    /// An error with this text.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            code: None,
        }
    }

    /// The error's text, without its code.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The SQLSTATE or the database's own error code, when the error came
    /// from the database and it gave one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Prefixes the message with what was being done: `"{context}: {message}"`.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    pub(crate) fn from_db(error: crate::bindings::aludel::migration::types::DbError) -> Self {
        Self {
            message: error.message,
            code: error.code,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " (code {code})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    // `fn main() -> Result<()>` and `unwrap` print Debug: show the same text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self {
            message,
            code: None,
        }
    }
}

/// Adds context to the error of a `Result`.
///
/// ```no_run
/// use aludel_sdk::{Result, ResultExt};
///
/// fn read_seed() -> Result<String> {
///     std::fs::read_to_string("seed.csv").context("reading seed.csv")
/// }
/// ```
pub trait ResultExt<T> {
    /// Prefixes the error with `context`.
    fn context(self, context: impl fmt::Display) -> Result<T>;

    /// Prefixes the error with the text `f` returns, computed only on error.
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }

    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

/// Returns early with an [`Error`] made from a format string.
///
/// ```no_run
/// # use aludel_sdk::Result;
/// fn check(rows: u64) -> Result<()> {
///     if rows == 0 {
///         aludel_sdk::bail!("expected at least one user, found {rows}");
///     }
///     Ok(())
/// }
/// ```
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return ::core::result::Result::Err($crate::Error::msg(::std::format!($($arg)*)))
    };
}
