//! The library's error: one enum over the modules' own errors, plus what
//! only the verbs can tell (which step failed, what was applied before it).

use thiserror::Error;

use crate::db::{ConnectError, DbError, LockError, Privilege};
use crate::graph::GraphError;
use crate::ledger::{FailedRevision, Mismatch};
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
    Lock(#[from] LockError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Autogen(#[from] crate::autogen::AutogenError),
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaError),
    #[error("{action}: {source}")]
    Database {
        action: &'static str,
        #[source]
        source: DbError,
    },
    /// A step of a plan failed.
    #[error("{source}{}", step_note(source, revision, applied, rolled_back, *partial))]
    Step {
        source: Box<Error>,
        revision: String,
        /// Revisions committed earlier in the same run.
        applied: Vec<String>,
        /// Revisions of the same transaction, rolled back with it.
        rolled_back: Vec<String>,
        /// The revision failed part-way and what it did could not be rolled
        /// back: it is recorded as failed.
        partial: bool,
    },
    #[error("{}", unresolved_message(.0))]
    Unresolved(Vec<FailedRevision>),
    /// A batched revision stopped after committing some of its batches
    /// (docs/backfills.md).
    #[error(
        "{source}\n  revision {revision} had committed {batches} batch(es) ({rows} rows) before it \
         stopped, up to position {position}; they stay committed. The next `aludel {verb}` \
         resumes after that position; `aludel resolve {revision} --rolled-back` discards it \
         (once you have undone those batches), and the revision starts over"
    )]
    BatchesKept {
        source: Box<Error>,
        revision: String,
        verb: &'static str,
        batches: u64,
        rows: u64,
        position: String,
    },
    #[error(
        "the database is managed by Alembic (it has alembic_version) and not yet by aludel: \
         upgrading it from base would run again what Alembic ran. Adopt it first with \
         `aludel import alembic-version`, which records Alembic's heads in aludel's version \
         table; nothing was changed"
    )]
    ManagedByAlembic,
    #[error(
        "revision {0} has no unresolved failure: `aludel resolve` is for revisions that failed part-way"
    )]
    NotFailed(String),
    #[error(
        "revision {revision} is not the next step from the current version table (the plan is {}): \
         resolve --applied records only the revision that failed",
        steps.join(", ")
    )]
    ResolveNotNext {
        revision: String,
        steps: Vec<String>,
    },
    /// A revision changed, removed, replaced or hid one of aludel's own
    /// tables: found by the check its history row makes (`ledger::guard`).
    #[error(
        "revision {revision} changed aludel's own table {table}, which no revision may touch \
         (aludel's tables hold which revisions ran: a revision that rewrites them could make \
         later runs skip or repeat revisions)\n  \
         remove the statements that touch {table} from revision {revision}"
    )]
    OwnTableChanged { revision: String, table: String },
    /// A stored artifact whose content no longer has the hash it is
    /// stored under.
    #[error(
        "the stored artifact {hash} of revision {revision} was altered: its content hashes to \
         {found}, so aludel will not use it\n  \
         restore the revision's directory in versions/ (and `aludel accept {revision}` if it \
         changed), or restore the artifact from a backup of the database"
    )]
    ForgedArtifact {
        revision: String,
        hash: String,
        found: String,
    },
    #[error("revision {revision} sets `foreign_keys = false`, which cannot be honoured: {why}")]
    ForeignKeysOff { revision: String, why: String },
    #[error("dry run refused: {0}")]
    DryRunRefused(String),
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
    /// Applied revisions whose directories changed since they ran.
    #[error("{}", changed_message(.0))]
    Changed(Vec<Mismatch>),
    /// The audit log's hash chain is broken: something other than aludel
    /// changed it. Every run refuses until an operator accepts it.
    #[error(
        "{}\nthe audit log was changed by something other than aludel, so no revision runs: \
         find out who changed it (`aludel verify` lists every break; a backup of the database \
         shows what was there), then restore it, or accept it as it reads now with \
         `aludel accept --audit-log`",
        .0.join("\n")
    )]
    AuditLogAltered(Vec<String>),
    #[error(
        "revision {0} is not applied according to the audit log: only an applied revision's \
         change can be accepted"
    )]
    NotApplied(String),
    #[error(
        "no stored artifact of a revision `{0}` in the audit log: a revision's files are stored \
         when it is applied (or stamped) by this version of aludel"
    )]
    NotStored(String),
    #[error(
        "the stored artifact {hash} of revision {revision} is unreadable: {detail}; \
         restore the revision's directory in versions/"
    )]
    BadArtifact {
        revision: String,
        hash: String,
        detail: String,
    },
    #[error(
        "cannot unpack the stored artifact of revision {revision} into a temporary directory: {source}"
    )]
    Unpack {
        revision: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot tell the SQL dialect of {0}: offline mode needs a sqlite:, postgres:// or mysql:// URL"
    )]
    OfflineDialect(String),
    #[error(
        "offline downgrade needs FROM:TO (e.g. `downgrade --sql head:base`): \
         without a database there is no current revision to start from"
    )]
    OfflineNeedsFrom,
    #[error(
        "revision {revision} is not a head (heads: {}): pass --splice to start a \
         new branch from it, or name a head with --head",
        heads.join(", ")
    )]
    NotAHead {
        revision: String,
        heads: Vec<String>,
    },
    #[error(
        "merge needs at least two revisions, and `{specs}` names {}: \
         there is nothing to merge (see `aludel heads`)",
        match found.as_slice() {
            [] => "none".to_string(),
            [one] => format!("only {one}"),
            many => many.join(", "),
        }
    )]
    NothingToMerge { specs: String, found: Vec<String> },
    #[error("cannot start the WebAssembly runtime: {0}")]
    Runtime(String),
    #[error("internal error (please report it): {0}")]
    Internal(String),
    /// `--untrusted` (or `[runtime] untrusted = true`) and a connection that
    /// reaches the server's files or programs: refused before any revision.
    #[error(
        "refusing to run revisions (--untrusted): this connection's privileges let SQL reach \
         the database server's files or programs:{}\n  \
         nothing was run or written; connect as a role without them (docs/security.md, \
         \"A least-privilege setup\"), or, if you trust every revision, run without \
         --untrusted and without `untrusted = true` under [runtime] in aludel.toml",
        privilege_list(.0)
    )]
    Untrusted(Vec<Privilege>),
    #[error(
        "refusing to run revisions (--untrusted): cannot tell whether this connection's \
         privileges reach the database server's files or programs: {source}\n  \
         nothing was run or written; see docs/security.md for the privileges aludel checks"
    )]
    PrivilegesUnknown {
        #[source]
        source: DbError,
    },
}

/// The privileges, one per indented line.
pub(crate) fn privilege_list(privileges: &[Privilege]) -> String {
    privileges.iter().map(|p| format!("\n  - {p}")).collect()
}

impl Error {
    pub(crate) fn database(action: &'static str, source: DbError) -> Self {
        Error::Database { action, source }
    }
}

fn step_note(
    source: &Error,
    revision: &str,
    applied: &[String],
    rolled_back: &[String],
    partial: bool,
) -> String {
    let abandoned = matches!(source, Error::Run(RunError::Abandoned { .. }));
    let batched = matches!(source, Error::BatchesKept { .. });
    let mut note = if partial && batched {
        format!(
            "\n  revision {revision} is recorded as failed: a run whose plan does not take it up \
             again refuses until it is resolved (see `aludel resolve`)"
        )
    } else if partial {
        format!(
            "\n  revision {revision} failed part-way and what it applied could not be rolled back: \
             it is recorded as failed, and every run refuses until it is resolved (see `aludel resolve`)"
        )
    } else if abandoned {
        // Not seen rolled back: the server does it once it notices.
        format!(
            "\n  the database rolls revision {revision}'s transaction back by itself when it \
             notices the closed connection (PostgreSQL 14 and later within 2 s; MySQL once the \
             statement ends); until then that statement may hold its locks"
        )
    } else {
        format!("\n  the database is as it was before revision {revision}")
    };
    if !rolled_back.is_empty() {
        note.push_str(&format!(
            "\n  rolled back with it (same transaction): {}",
            rolled_back.join(", ")
        ));
    }
    if !applied.is_empty() {
        note.push_str(&format!(
            "\n  committed earlier in this run: {}",
            applied.join(", ")
        ));
    }
    note
}

fn changed_message(mismatches: &[Mismatch]) -> String {
    mismatches
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn unresolved_message(failures: &[FailedRevision]) -> String {
    let mut out = String::new();
    for f in failures {
        out.push_str(&format!(
            "revision {} failed part-way during {} at {} and is unresolved:\n  {}\n",
            f.revision,
            f.direction,
            f.failed_at,
            f.error.replace('\n', "\n  ")
        ));
        if f.statements.is_empty() {
            out.push_str("  no statement of it had succeeded\n");
        } else {
            out.push_str(
                "  statements that ran before the failure (on MySQL, its DDL stays applied):\n",
            );
            for (i, sql) in f.statements.iter().enumerate() {
                out.push_str(&format!(
                    "    {}. {}\n",
                    i + 1,
                    sql.replace('\n', "\n       ")
                ));
            }
        }
        out.push_str(&format!(
            "  inspect the database, then run `aludel resolve {id} --rolled-back` if you undid those \
             statements, or `aludel resolve {id} --applied` if you completed the revision by hand\n",
            id = f.revision
        ));
    }
    out.trim_end().to_string()
}
