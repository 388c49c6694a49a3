//! The run's context as the host hands it to a revision.

use crate::bindings::aludel::migration::types;

/// Which way a revision is being run.
pub use types::Direction;

/// What the host tells a revision about the run.
#[derive(Debug, Clone)]
pub struct Context {
    inner: types::Context,
}

impl Context {
    pub(crate) fn from_raw(inner: types::Context) -> Self {
        Self { inner }
    }

    /// The revision's id, as in its `revision.toml`.
    pub fn revision(&self) -> &str {
        &self.inner.revision
    }

    /// Whether this is an upgrade or a downgrade.
    pub fn direction(&self) -> Direction {
        self.inner.direction
    }

    /// True when the run only records the SQL it would execute (`--sql`):
    /// queries then return no rows, so a revision that reads data to decide
    /// what to write should say so or do nothing.
    pub fn is_offline(&self) -> bool {
        self.inner.offline
    }

    /// The `[args]` table of `revision.toml` as JSON object text (`{}` when
    /// absent). Parse it with the JSON library of your choice.
    pub fn args(&self) -> &str {
        &self.inner.args
    }
}
