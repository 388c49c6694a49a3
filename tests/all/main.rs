//! Integration tests: the real `aludel` binary in a subprocess, real
//! components built from the guest sources in tests/fixtures/guests, and a
//! real SQLite file per test.

mod branches;
mod cache;
mod e2e;
mod failures;
mod sandbox;
mod support;
mod transform;
