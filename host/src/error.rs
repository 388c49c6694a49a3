//! The library's error: one enum over the modules' own errors, plus what
//! only the verbs can tell (which step failed, what was applied before it).

use thiserror::Error;

use crate::db::{ConnectError, DbError};
use crate::graph::GraphError;
use crate::project::ProjectError;
use crate::runtime::{LoadError, RunError};

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{action}: {source}")]
    Database {
        action: &'static str,
        #[source]
        source: DbError,
    },
    /// A step of a plan failed; it was rolled back.
    #[error("{source}{}", applied_note(revision, applied))]
    Step {
        source: Box<Error>,
        revision: String,
        /// Revisions committed earlier in the same run.
        applied: Vec<String>,
    },
    #[error("revision {revision} names plugin `{name}`: {detail}")]
    Plugin {
        revision: String,
        name: String,
        detail: String,
    },
    #[error(
        "the version table changed during this run (expected heads {expected:?}, found {found:?}): \
         another runner is migrating this database; run again when it has finished"
    )]
    ConcurrentChange {
        expected: Vec<String>,
        found: Vec<String>,
    },
    #[error("cannot start the WebAssembly runtime: {0}")]
    Runtime(String),
    #[error("internal error (please report it): {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn database(action: &'static str, source: DbError) -> Self {
        Error::Database { action, source }
    }
}

fn applied_note(revision: &str, applied: &[String]) -> String {
    let mut note = format!("\n  the database is as it was before revision {revision}");
    if !applied.is_empty() {
        note.push_str(&format!(
            "; committed earlier in this run: {}",
            applied.join(", ")
        ));
    }
    note
}
