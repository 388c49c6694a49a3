//! The database side of the sandbox on SQLite: while a revision's own
//! statements run, SQLite's authorizer refuses what would let them end or
//! restart the host's transaction, or reach files.
//!
//! Refused, at prepare time:
//! - `SQLITE_TRANSACTION`: `BEGIN`, `COMMIT`, `END`, `ROLLBACK` (the
//!   `BEGIN ... END` of a `CREATE TRIGGER` is grammar, not a transaction
//!   statement, and is never shown to the authorizer);
//! - `SQLITE_SAVEPOINT`: `SAVEPOINT`, `RELEASE`, `ROLLBACK TO`;
//! - `SQLITE_ATTACH` and `SQLITE_DETACH`;
//! - the SQL function `load_extension()` (sqlx leaves extension loading
//!   off, so SQLite refuses it anyway: this keeps it refused if a build
//!   ever turns it on), and the pragmas that set where SQLite writes files
//!   (`temp_store_directory`, `data_store_directory`).
//!
//! Nothing else in this build reaches a file from SQL: `readfile()`,
//! `writefile()` and `edit()` belong to the `sqlite3` shell, not the
//! library, and `sqlite_dbpage` is not compiled in (tests hold a future
//! build to both).
//!
//! `VACUUM` has no action code of its own, but every form of it (`VACUUM`,
//! `VACUUM INTO 'file'`) attaches its target with an internal `ATTACH`
//! statement that SQLite prepares, and so authorizes, like any other: the
//! `SQLITE_ATTACH` denial stops it before any file is opened (a test holds
//! a future SQLite to it).
//!
//! The authorizer is installed once, when the connection opens, and judges
//! only while the guard is on: switching it on and off for each revision
//! (see `Connection::guest_statements`) is an atomic store, not a message to
//! sqlx's worker thread (which `lock_handle` would be, twice a revision:
//! measured, 10% of a one-statement revision's cost). The callback allows
//! everything while the guard is off, and allocates only when it refuses
//! something.
//!
//! The authorizer judges a statement when it is prepared (and again if
//! SQLite re-prepares it after a schema change). sqlx caches the statements
//! of `query`/`execute` by their text, so a guest sending the text of a
//! statement the host prepared earlier, without the guard, reuses that
//! one: harmless, since the host prepares no refused statement that way
//! (its BEGIN, COMMIT and ROLLBACK go through `raw_sql`, which is not
//! cached).
//!
//! SQLite's authorizer only says "not authorized"; the callback records what
//! it refused and why, and [`Guard::explain`] turns the statement's error
//! into one that says so.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use libsqlite3_sys as ffi;

use super::DbError;

/// Why a statement was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Transaction,
    Files,
    Paths,
}

impl Reason {
    fn explanation(self) -> &'static str {
        match self {
            Reason::Transaction => {
                "a revision cannot end or restart the transaction aludel runs it in \
                 (BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT and RELEASE are refused)"
            }
            Reason::Files => {
                "a revision cannot attach files (ATTACH, DETACH and VACUUM, which \
                 attaches its target, are refused)"
            }
            Reason::Paths => {
                "a revision cannot load extensions or choose where SQLite writes files \
                 (load_extension(), PRAGMA temp_store_directory and \
                 PRAGMA data_store_directory are refused)"
            }
        }
    }
}

/// What the authorizer is told and what it refused last, shared with
/// SQLite's callback.
#[derive(Default)]
struct Refusals {
    /// The guard is on: a revision's statements are being prepared.
    on: AtomicBool,
    last: Mutex<Option<(Reason, String)>>,
}

/// The guest-statement guard of one SQLite connection.
pub(super) struct Guard {
    /// Shared with the authorizer, which SQLite keeps for the connection's
    /// life: one strong count of it is SQLite's (`Arc::into_raw`), never
    /// taken back, since SQLite may call the authorizer until sqlx's worker
    /// closes the database, after the backend is dropped (a few bytes a
    /// connection).
    refusals: Arc<Refusals>,
}

impl Guard {
    /// Installs the authorizer on `db`, off.
    ///
    /// `db` must be the open handle of a connection whose worker thread is
    /// parked (a `LockedSqliteHandle`) for the duration of the call.
    pub(super) fn install(db: NonNull<ffi::sqlite3>) -> Self {
        let refusals = Arc::new(Refusals::default());
        let context = Arc::into_raw(refusals.clone());
        // SAFETY: `db` is an open handle that no other thread uses during
        // this call (the caller holds sqlx's lock on it). `context` stays
        // valid for ever (its count is never taken back); the callback only
        // reads through it.
        unsafe {
            ffi::sqlite3_set_authorizer(
                db.as_ptr(),
                Some(authorize),
                context.cast_mut().cast::<c_void>(),
            );
        }
        Guard { refusals }
    }

    pub(super) fn is_on(&self) -> bool {
        self.refusals.on.load(Ordering::Acquire)
    }

    /// Switches the guard on (a revision's statements follow) or off.
    pub(super) fn set(&self, on: bool) {
        if on {
            self.take();
        }
        self.refusals.on.store(on, Ordering::Release);
    }

    fn take(&self) -> Option<(Reason, String)> {
        self.refusals
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The error of a statement run while the guard was on: when the
    /// authorizer refused something, an error saying what and why in place
    /// of SQLite's "not authorized".
    pub(super) fn explain(&self, error: DbError) -> DbError {
        match self.take() {
            Some((reason, what)) => DbError {
                message: format!(
                    "{what} was refused ({}): {}",
                    error.message,
                    reason.explanation()
                ),
                code: error.code,
            },
            None => error,
        }
    }
}

/// Text of an authorizer argument, or "" for none.
///
/// # Safety
/// `arg` is null or a NUL-terminated string valid for the call.
unsafe fn text<'a>(arg: *const c_char) -> std::borrow::Cow<'a, str> {
    if arg.is_null() {
        return "".into();
    }
    // SAFETY: non-null, and NUL-terminated by the caller's contract.
    unsafe { CStr::from_ptr(arg) }.to_string_lossy()
}

/// SQLite's authorizer callback (`sqlite3_set_authorizer`). Called for
/// every action of every statement prepared while the guard is on, so the
/// path that allows does nothing but compare the action code.
unsafe extern "C" fn authorize(
    context: *mut c_void,
    action: c_int,
    arg1: *const c_char,
    arg2: *const c_char,
    _database: *const c_char,
    _trigger_or_view: *const c_char,
) -> c_int {
    if context.is_null() {
        return ffi::SQLITE_OK;
    }
    // SAFETY: the context is the `Refusals` that `Guard::install` gave
    // SQLite a strong count of, never taken back.
    let refusals = unsafe { &*context.cast_const().cast::<Refusals>() };
    if !refusals.on.load(Ordering::Acquire) {
        return ffi::SQLITE_OK;
    }
    let reason = match action {
        ffi::SQLITE_TRANSACTION | ffi::SQLITE_SAVEPOINT => Reason::Transaction,
        ffi::SQLITE_ATTACH | ffi::SQLITE_DETACH => Reason::Files,
        // SAFETY: as below, the arguments are null or NUL-terminated.
        ffi::SQLITE_FUNCTION | ffi::SQLITE_PRAGMA
            if unsafe { reaches_paths(action, arg1, arg2) } =>
        {
            Reason::Paths
        }
        _ => return ffi::SQLITE_OK,
    };
    // SAFETY: SQLite passes arguments that are null or NUL-terminated
    // strings valid for this call.
    let (a, b) = unsafe { (text(arg1), text(arg2)) };
    let what = match action {
        // arg1: BEGIN, COMMIT (also for END) or ROLLBACK.
        ffi::SQLITE_TRANSACTION => a.into_owned(),
        // arg1: BEGIN, RELEASE or ROLLBACK; arg2: the savepoint's name.
        ffi::SQLITE_SAVEPOINT => match &*a {
            "BEGIN" => format!("SAVEPOINT {b}"),
            "ROLLBACK" => format!("ROLLBACK TO {b}"),
            other => format!("{other} {b}"),
        },
        // arg1: the file; empty for VACUUM's temporary copy.
        ffi::SQLITE_ATTACH if a.is_empty() => "ATTACH of a temporary database (VACUUM)".into(),
        ffi::SQLITE_ATTACH => format!("ATTACH of '{a}'"),
        // arg2: the function's name.
        ffi::SQLITE_FUNCTION => format!("{b}()"),
        // arg1: the pragma's name.
        ffi::SQLITE_PRAGMA => format!("PRAGMA {a}"),
        // arg1: the schema name.
        _ => format!("DETACH {a}"),
    };
    *refusals.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((reason, what));
    ffi::SQLITE_DENY
}

/// Whether a function call or a pragma reaches files: `load_extension()`,
/// or a pragma that sets a directory SQLite writes to. Compared without
/// allocating: every function call of a guest statement passes here.
///
/// # Safety
/// `arg1` and `arg2` are null or NUL-terminated strings valid for the call.
unsafe fn reaches_paths(action: c_int, arg1: *const c_char, arg2: *const c_char) -> bool {
    // SQLITE_FUNCTION: arg2 is the function's name; SQLITE_PRAGMA: arg1 is
    // the pragma's name as written (any case, without its schema).
    let (name, refused): (_, &[&[u8]]) = if action == ffi::SQLITE_FUNCTION {
        (arg2, &[b"load_extension"])
    } else {
        (arg1, &[b"temp_store_directory", b"data_store_directory"])
    };
    if name.is_null() {
        return false;
    }
    // SAFETY: non-null, and NUL-terminated by the caller's contract.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    refused.iter().any(|r| name.eq_ignore_ascii_case(r))
}
