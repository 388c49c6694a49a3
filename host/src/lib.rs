//! aludel: a database migration runner in the line of Alembic, in which
//! every revision runs as a sandboxed WebAssembly component.
//!
//! The flow of one command: [`ops`] (one function per verb: connect, lock,
//! run, release) → [`project`] (configuration and revision directories) →
//! [`graph`] (the pure revision DAG and its plans) → [`migrate`] (walking a
//! plan, one transaction helper) ↔ [`runtime`] (wasmtime, the sandbox) and
//! [`db`] (one backend per database, one home for each dialect's spelling).
//! aludel's own tables (version, history, artifacts, failed state) are the
//! [`ledger`]'s alone.

pub mod autogen;
pub mod db;
pub mod error;
pub mod escape;
pub mod graph;
pub mod import;
pub mod ledger;
pub mod migrate;
pub mod ops;
pub mod plugin_build;
pub mod plugins;
pub mod progress;
pub mod project;
pub mod runtime;
pub mod schema;

pub use error::Error;
