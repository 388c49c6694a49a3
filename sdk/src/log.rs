//! Messages for aludel's log and progress for its progress bars, both
//! attributed to the revision. (Standard output and standard error are
//! captured into the log too, at a level the host chooses.)

use crate::bindings::aludel::migration::{log as raw, progress};

fn log(level: raw::Level, message: &str) {
    raw::log(level, message);
}

/// Logs at trace level.
pub fn trace(message: impl AsRef<str>) {
    log(raw::Level::Trace, message.as_ref());
}

/// Logs at debug level.
pub fn debug(message: impl AsRef<str>) {
    log(raw::Level::Debug, message.as_ref());
}

/// Logs at info level.
pub fn info(message: impl AsRef<str>) {
    log(raw::Level::Info, message.as_ref());
}

/// Logs at warn level.
pub fn warn(message: impl AsRef<str>) {
    log(raw::Level::Warn, message.as_ref());
}

/// Logs at error level.
pub fn error(message: impl AsRef<str>) {
    log(raw::Level::Error, message.as_ref());
}

/// Reports that `done` units of work are finished, out of `total` when it
/// is known.
///
/// ```no_run
/// aludel_sdk::log::progress(500, Some(12_000));
/// ```
pub fn progress(done: u64, total: Option<u64>) {
    progress::report(done, total);
}
