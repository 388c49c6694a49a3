//! Write [aludel] revisions in Rust.
//!
//! A revision is a WebAssembly component that aludel runs in a sandbox: it
//! sees its own directory read-only and reaches the database only through
//! the host. This crate owns the generated WIT bindings, so a revision is
//! just a type that implements [`Migration`], handed to [`export!`]:
//!
//! ```no_run
//! use aludel_sdk::{db, log, params, Context, Migration, Result};
//!
//! struct AddUsers;
//!
//! impl Migration for AddUsers {
//!     fn upgrade(ctx: &Context) -> Result<()> {
//!         log::info(format!("{}: creating users", ctx.revision()));
//!         db::execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)", &[])?;
//!         db::execute("INSERT INTO users (name) VALUES (?)", &params!["admin"])?;
//!         Ok(())
//!     }
//!
//!     fn downgrade(_ctx: &Context) -> Result<()> {
//!         db::execute("DROP TABLE users", &[])?;
//!         Ok(())
//!     }
//! }
//!
//! aludel_sdk::export!(AddUsers);
//! ```
//!
//! The crate is a `cdylib` built with `cargo build --target wasm32-wasip2`;
//! the target's linker already produces a component.
//!
//! # Reading data
//!
//! [`db::query`] returns every row at once; [`db::cursor`] streams a large
//! result a batch at a time, and the revision may write while it reads:
//!
//! ```no_run
//! use aludel_sdk::{db, Result, Value};
//!
//! fn lowercase_emails() -> Result<()> {
//!     let mut updates: Vec<Vec<Value>> = Vec::new();
//!     for row in db::cursor("SELECT id, email FROM users", &[])? {
//!         let row = row?;
//!         let email: Option<String> = row.get("email")?;
//!         if let Some(email) = email {
//!             updates.push(aludel_sdk::params![email.to_lowercase(), row.get::<i64>("id")?]);
//!         }
//!     }
//!     db::execute_many("UPDATE users SET email = ? WHERE id = ?", &updates)?;
//!     Ok(())
//! }
//! ```
//!
//! Placeholders are the database's own (`?` on SQLite and MySQL, `$1` on
//! PostgreSQL): the host never rewrites SQL. [`Dialect::placeholder`] helps a
//! revision that must run on several databases.
//!
//! # Progress
//!
//! A long revision says how far it has come with [`log::progress`]`(done,
//! total)`: `done` units of work (rows, usually) out of `total`, or `None`
//! when the total is unknown. On a terminal `aludel upgrade` and `downgrade`
//! turn the reports into a bar with rows done, rows per second and the time
//! left (a spinner with the count and the rate without a total); without a
//! terminal, into a log line at each tenth of the total and at least every
//! 10 s; with `-q`, nothing. Reporting is cheap (the host keeps the latest
//! report and draws at most 20 times a second), so once a batch is plenty
//! and once a row does no harm:
//!
//! ```no_run
//! use aludel_sdk::{db, log, Result};
//!
//! fn backfill() -> Result<()> {
//!     let total = db::query("SELECT COUNT(*) FROM users", &[])?
//!         .first()
//!         .map(|row| row.get::<u64>(0))
//!         .transpose()?;
//!     let mut cursor = db::cursor("SELECT id, email FROM users", &[])?;
//!     let mut done = 0;
//!     while let Some(rows) = cursor.next_batch(10_000)? {
//!         // … transform and write the batch …
//!         done += rows.len() as u64;
//!         log::progress(done, total);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Errors
//!
//! Every fallible call returns [`Result`]. Any [`std::error::Error`] converts
//! into [`Error`] with `?`; [`bail!`] and [`Error::msg`] make one from text.
//! An `Err` returned from `upgrade` or `downgrade` rolls the revision back and
//! its text is shown to the operator. A statement that fails rolls the
//! revision back even if the revision ignores the error.
//!
//! [aludel]: https://example.invalid/aludel

mod batches;
mod context;
pub mod db;
mod error;
pub mod log;
mod row;
mod value;

pub use context::{Context, Direction};
pub use db::{Cursor, Dialect};
pub use error::{Error, Result, ResultExt};
pub use row::{ColumnIndex, FromValue, Row, Rows};
pub use value::Value;

/// The generated bindings. Not a stable API: revisions use the wrappers.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "migration",
        pub_export_macro: true,
        default_bindings_module: "aludel_sdk::bindings",
        // Hidden behind our own `export!` so that authors never meet the
        // generated `Guest` trait.
        export_macro_name: "__export_migration",
    });
}

/// What a revision implements: the two directions of one change.
///
/// Both run inside the revision's transaction. Return `Err` to roll the
/// revision back and stop the run; the error's text is shown to the operator.
pub trait Migration {
    /// Moves the schema or the data forward.
    fn upgrade(ctx: &Context) -> Result<()>;

    /// Undoes [`Migration::upgrade`].
    fn downgrade(ctx: &Context) -> Result<()>;
}

/// Exports a type implementing [`Migration`] as this component's revision.
///
/// Use it once, at the crate's top level:
///
/// ```no_run
/// # use aludel_sdk::{Context, Migration, Result};
/// struct Noop;
///
/// impl Migration for Noop {
///     fn upgrade(_: &Context) -> Result<()> { Ok(()) }
///     fn downgrade(_: &Context) -> Result<()> { Ok(()) }
/// }
///
/// aludel_sdk::export!(Noop);
/// ```
#[macro_export]
macro_rules! export {
    ($ty:ty) => {
        // The generated export macro wants a plain identifier that
        // implements the generated `Guest` trait: an adapter defined here
        // keeps both out of the author's sight.
        const _: () = {
            struct __AludelRevision;

            impl $crate::bindings::exports::aludel::migration::revision::Guest for __AludelRevision {
                fn upgrade(
                    ctx: $crate::bindings::aludel::migration::types::Context,
                ) -> ::core::result::Result<(), $crate::__private::String> {
                    $crate::__private::run(ctx, <$ty as $crate::Migration>::upgrade)
                }

                fn downgrade(
                    ctx: $crate::bindings::aludel::migration::types::Context,
                ) -> ::core::result::Result<(), $crate::__private::String> {
                    $crate::__private::run(ctx, <$ty as $crate::Migration>::downgrade)
                }
            }

            $crate::bindings::__export_migration!(__AludelRevision with_types_in $crate::bindings);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    pub use std::string::String;

    /// Runs one direction and turns its error into the text the host shows.
    pub fn run(
        ctx: crate::bindings::aludel::migration::types::Context,
        direction: fn(&crate::Context) -> crate::Result<()>,
    ) -> Result<(), String> {
        direction(&crate::Context::from_raw(ctx)).map_err(|e| e.to_string())
    }
}
