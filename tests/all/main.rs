//! Integration tests: the real `aludel` binary in a subprocess, real
//! components built from the guest sources in tests/fixtures/guests, and a
//! real SQLite file per test.

mod audit;
mod autogen;
mod backfills;
mod branches;
mod bulk;
mod c;
mod cache;
mod cli;
mod contract;
mod e2e;
mod failures;
mod guarantees;
mod hostile;
mod hostile_ledger;
mod hostile_time;
mod hostile_tx;
mod import;
mod js;
mod library;
mod mysql;
mod offline;
mod plugin_build;
mod postgres;
mod privileges;
mod progress;
mod python;
mod sandbox;
mod sqlite;
mod support;
mod tls;
mod transform;
mod urls;
