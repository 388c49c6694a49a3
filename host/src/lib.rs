//! aludel: a database migration runner in the line of Alembic, in which
//! every revision runs as a sandboxed WebAssembly component.
//!
//! The flow of one command: [`project`] (configuration and revision
//! directories) → [`graph`] (the pure revision DAG and its plans) →
//! [`migrate`] (walking a plan) ↔ [`runtime`] (wasmtime, the sandbox) and
//! [`db`] (one backend per database).

pub mod audit;
pub mod db;
pub mod error;
pub mod graph;
pub mod migrate;
pub mod plugins;
pub mod project;
pub mod runtime;

pub use error::Error;
