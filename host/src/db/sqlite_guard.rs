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
//! - aludel's own tables (`Connection::protect_tables`): any write
//!   (`INSERT`, `UPDATE`, `DELETE`, also from a trigger a revision statement
//!   fires), any DDL on them (`DROP`, `ALTER ... RENAME`, an index, a
//!   trigger, permanent or `TEMP`), and any table, view or virtual table
//!   created with one of their names (a `temp` table would shadow the
//!   real one for an unqualified name). Reading them stays allowed: a
//!   revision may ask which revisions are applied, and a read changes
//!   nothing the host relies on;
//! - `PRAGMA writable_schema` (it lets `sqlite_master` be rewritten, and so
//!   any table), and setting `schema_version` or `journal_mode` (a journal
//!   turned off cannot roll the revision back).
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
//! statement the host prepared earlier, without the guard, would reuse
//! that one unjudged. The host's own statements are therefore never cached
//! (the backend prepares them `persistent(false)` while the guard is off;
//! its BEGIN, COMMIT, ROLLBACK and batches go through `raw_sql`, which is
//! not cached either): every statement a guest sends is prepared, and
//! judged, under the guard.
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
    OwnTables,
    Pragma,
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
            Reason::OwnTables => {
                "a revision cannot write to, alter, drop, shadow or put triggers, views or \
                 indexes on aludel's own tables (the version table, its history, artifacts \
                 and failed state); it may read them"
            }
            Reason::Pragma => {
                "a revision cannot set PRAGMA writable_schema, schema_version or journal_mode \
                 (they would let it rewrite any table or stop the rollback)"
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
    /// aludel's own tables, in lower case (SQLite's names are not case
    /// sensitive).
    protected: Mutex<Vec<String>>,
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

    /// Names the tables no revision statement may write or change.
    pub(super) fn protect(&self, tables: &[String]) {
        let names = tables
            .iter()
            .map(|t| t.rsplit('.').next().unwrap_or(t).to_lowercase())
            .collect();
        *self
            .refusals
            .protected
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = names;
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
    // SAFETY: SQLite passes arguments that are null or NUL-terminated
    // strings valid for this call.
    let arg = |p: *const c_char| unsafe { text(p) };
    let (reason, what) = match action {
        ffi::SQLITE_TRANSACTION
        | ffi::SQLITE_SAVEPOINT
        | ffi::SQLITE_ATTACH
        | ffi::SQLITE_DETACH => {
            let (a, b) = (arg(arg1), arg(arg2));
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
                ffi::SQLITE_ATTACH if a.is_empty() => {
                    "ATTACH of a temporary database (VACUUM)".into()
                }
                ffi::SQLITE_ATTACH => format!("ATTACH of '{a}'"),
                // arg1: the schema name.
                _ => format!("DETACH {a}"),
            };
            let reason = if matches!(action, ffi::SQLITE_ATTACH | ffi::SQLITE_DETACH) {
                Reason::Files
            } else {
                Reason::Transaction
            };
            (reason, what)
        }
        // SAFETY: as above, the arguments are null or NUL-terminated.
        ffi::SQLITE_FUNCTION | ffi::SQLITE_PRAGMA
            if unsafe { reaches_paths(action, arg1, arg2) } =>
        {
            let what = if action == ffi::SQLITE_FUNCTION {
                // arg2: the function's name.
                format!("{}()", arg(arg2))
            } else {
                // arg1: the pragma's name.
                format!("PRAGMA {}", arg(arg1))
            };
            (Reason::Paths, what)
        }
        ffi::SQLITE_PRAGMA => {
            // arg1: the pragma; arg2: its argument, null when only read.
            let name = arg(arg1).to_lowercase();
            let set = !arg2.is_null();
            let refused = name == "writable_schema"
                || (set && (name == "schema_version" || name == "journal_mode"));
            if !refused {
                return ffi::SQLITE_OK;
            }
            (Reason::Pragma, format!("PRAGMA {name}"))
        }
        _ => {
            // Which argument names the table the action is on, if any.
            let (verb, table) = match action {
                ffi::SQLITE_INSERT => ("INSERT INTO", arg1),
                ffi::SQLITE_UPDATE => ("UPDATE of", arg1),
                ffi::SQLITE_DELETE => ("DELETE FROM", arg1),
                ffi::SQLITE_DROP_TABLE | ffi::SQLITE_DROP_TEMP_TABLE => ("DROP TABLE", arg1),
                ffi::SQLITE_ALTER_TABLE => ("ALTER TABLE", arg2),
                ffi::SQLITE_CREATE_TABLE | ffi::SQLITE_CREATE_TEMP_TABLE => ("CREATE TABLE", arg1),
                ffi::SQLITE_CREATE_VIEW | ffi::SQLITE_CREATE_TEMP_VIEW => ("CREATE VIEW", arg1),
                ffi::SQLITE_CREATE_VTABLE | ffi::SQLITE_DROP_VTABLE => ("a virtual table", arg1),
                ffi::SQLITE_CREATE_TRIGGER | ffi::SQLITE_CREATE_TEMP_TRIGGER => {
                    ("CREATE TRIGGER on", arg2)
                }
                ffi::SQLITE_DROP_TRIGGER | ffi::SQLITE_DROP_TEMP_TRIGGER => {
                    ("DROP TRIGGER on", arg2)
                }
                ffi::SQLITE_CREATE_INDEX | ffi::SQLITE_CREATE_TEMP_INDEX => {
                    ("CREATE INDEX on", arg2)
                }
                ffi::SQLITE_DROP_INDEX | ffi::SQLITE_DROP_TEMP_INDEX => ("DROP INDEX on", arg2),
                _ => return ffi::SQLITE_OK,
            };
            let table = arg(table);
            let lower = table.to_lowercase();
            let protected = refusals
                .protected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&lower);
            if !protected {
                return ffi::SQLITE_OK;
            }
            (Reason::OwnTables, format!("{verb} {table}"))
        }
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
