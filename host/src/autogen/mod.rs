//! Autogenerate, `check` and `drift`: where the schemas [`crate::schema`]
//! compares come from, and what is done with the difference.
//!
//! Three schemas meet here. The *desired* one is the models' DDL
//! (`[models]` in aludel.toml) applied to a scratch database and read
//! back. The *start* of `check` and `revision --autogenerate` is the
//! project's database, or with `--dev` what replaying the whole history
//! in a scratch database produces. `drift` compares the live database
//! with a replay of the revisions it has applied. Every comparison reads
//! both sides from the same kind of server through the same catalog
//! queries, so the server's own normal form decides what is equal.
//!
//! Nothing is written to the project's database, and every scratch
//! database is removed when the command ends, failed or not
//! ([`dev`]). A generated revision is proved before it is written
//! ([`prove`]).

pub mod dev;
mod models;

use std::path::PathBuf;

use serde::Serialize;
use thiserror::Error;

use crate::db::{Connection, Dialect};
use crate::error::Error;
use crate::ledger::{Ledger, own_tables};
use crate::migrate::graph_of;
use crate::ops::{self, Options};
use crate::project::{NewRevision, Operation, Operations, Project};
use crate::schema::{
    self, Change, Renames, Schema, SchemaError, Scope, Step, diff, rename_candidates,
};

pub use crate::schema::RenameCandidate;

#[derive(Debug, Error)]
pub enum AutogenError {
    #[error("{0}: add a `[models]` section to aludel.toml (docs/autogenerate.md)")]
    NoModels(String),
    #[error("the models ({source_name}): {message}")]
    Models {
        source_name: String,
        message: String,
    },
    #[error("the scratch database: {0}")]
    Dev(String),
    #[error(
        "the database is not at its heads (it is at {}; the revisions end at {}): \
         run `aludel upgrade head` first, or compare against a replay with `--dev`",
        list(current),
        list(heads)
    )]
    NotAtHeads {
        current: Vec<String>,
        heads: Vec<String>,
    },
    #[error("{}", ambiguous_message(.0))]
    Ambiguous(Vec<RenameCandidate>),
    #[error("{0}")]
    Rename(String),
    #[error(
        "the generated revision was not written: {stage}, {} difference(s) remain \
         ({}); the change that cannot be expressed this way is likely the first of them: \
         write this part of the revision by hand",
        remaining.len(),
        remaining.join("; ")
    )]
    Unproved {
        stage: &'static str,
        remaining: Vec<String>,
    },
    #[error(
        "the generated revision was not written: {stage}, statement {index} failed ({sql}): {source}"
    )]
    ProofFailed {
        stage: &'static str,
        index: usize,
        sql: String,
        #[source]
        source: crate::db::DbError,
    },
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "base".to_string()
    } else {
        items.join(", ")
    }
}

fn ambiguous_message(candidates: &[RenameCandidate]) -> String {
    let mut out = String::from(
        "a dropped and an added table or column look like one renamed; aludel does not guess. \
         Run again with one flag for each:",
    );
    for c in candidates {
        out.push_str(&format!(
            "\n  {}   (a rename: rows are kept)\n  {}   (a drop and an add: values are lost)",
            c.rename_flag(),
            c.no_rename_flag()
        ));
    }
    out
}

/// Where the start schema of `check` and `revision --autogenerate` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Against {
    /// The project's database, which must be at its heads.
    Live,
    /// A replay of the whole history in a scratch database (`--dev`).
    Dev,
}

/// Two schemas and what leads from the first to the second.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    #[serde(skip)]
    pub dialect: Dialect,
    #[serde(skip)]
    pub start: Schema,
    #[serde(skip)]
    pub target: Schema,
    pub changes: Vec<Change>,
}

impl Comparison {
    pub fn in_sync(&self) -> bool {
        self.changes.is_empty()
    }

    /// The changes worth listing: not the views only recreated around
    /// another change.
    pub fn differences(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| !c.is_consequence())
    }
}

/// What aludel leaves out of every comparison: its own tables, and
/// `[models] exclude`.
pub fn scope(project: &Project) -> Scope {
    let mut exclude: Vec<String> = own_tables(&project.config.version_table)
        .into_iter()
        // A schema-qualified version table is matched by its table name.
        .map(|t| t.rsplit('.').next().unwrap_or(&t).to_string())
        .collect();
    if let Some(models) = &project.config.models {
        exclude.extend(models.exclude.iter().cloned());
    }
    Scope::new(exclude)
}

fn models_of(project: &Project) -> Result<&crate::project::ModelsConfig, AutogenError> {
    project.config.models.as_ref().ok_or_else(|| {
        AutogenError::NoModels("aludel.toml does not say where the models are".into())
    })
}

/// The desired schema: the models' DDL applied to a fresh scratch
/// database of `dialect` and read back.
pub async fn desired_schema(
    project: &Project,
    live_url: &str,
    dialect: Dialect,
) -> Result<Schema, Error> {
    let models = models_of(project)?;
    let ddl = models::ddl(&project.root, &models.source, dialect)?;
    let scratch = dev::Scratch::create(project, live_url, dialect).await?;
    let result = async {
        let mut conn = scratch.connect().await?;
        conn.execute_script(&ddl.text)
            .await
            .map_err(|e| AutogenError::Models {
                source_name: ddl.source_name.clone(),
                message: format!("applying its DDL to the scratch database failed: {e}"),
            })?;
        Ok::<_, Error>(schema::inspect(conn.as_mut(), &scope(project)).await?)
    }
    .await;
    scratch.dispose().await;
    result
}

/// The schema the project's revisions produce up to `target` (`heads` or
/// the revisions a database has applied), replayed in a scratch database.
pub async fn replayed_schema(
    project: &Project,
    live_url: &str,
    dialect: Dialect,
    targets: &[String],
) -> Result<Schema, Error> {
    let scratch = dev::Scratch::create(project, live_url, dialect).await?;
    let result = async {
        let options = Options {
            url: Some(scratch.url().to_string()),
            ..Options::default()
        };
        // The migrator reports each revision it applies; here that would
        // read as if the project's database were being changed.
        use tracing::instrument::WithSubscriber as _;
        tracing::info!(
            "replaying the revisions in a scratch database ({})",
            crate::db::redact_url(scratch.url())
        );
        for target in targets {
            ops::upgrade(project, &options, target, false)
                .with_subscriber(tracing::subscriber::NoSubscriber::default())
                .await?;
        }
        let mut conn = scratch.connect().await?;
        Ok::<_, Error>(schema::inspect(conn.as_mut(), &scope(project)).await?)
    }
    .await;
    scratch.dispose().await;
    result
}

/// The start of `check` and autogenerate.
async fn start_schema(
    project: &Project,
    options: &Options,
    against: Against,
) -> Result<(String, Dialect, Schema), Error> {
    let graph = graph_of(project)?;
    let heads: Vec<String> = graph.heads().into_iter().map(str::to_string).collect();
    let url = ops::database_url(project, options)?;
    match against {
        Against::Live => {
            let mut conn = ops::connect(project, options).await?;
            let mut current = Ledger::new(project.config.version_table.clone())
                .current_heads(conn.as_mut())
                .await?;
            current.sort();
            let mut want = heads.clone();
            want.sort();
            if current != want {
                return Err(AutogenError::NotAtHeads {
                    current,
                    heads: want,
                }
                .into());
            }
            let dialect = conn.dialect();
            let schema = schema::inspect(conn.as_mut(), &scope(project)).await?;
            Ok((url, dialect, schema))
        }
        Against::Dev => {
            let dialect = crate::db::dialect_of_url(&url).ok_or_else(|| {
                AutogenError::Dev(format!(
                    "cannot tell the backend of {}",
                    crate::db::redact_url(&url)
                ))
            })?;
            let targets = if heads.is_empty() {
                Vec::new()
            } else {
                vec!["heads".to_string()]
            };
            let schema = replayed_schema(project, &url, dialect, &targets).await?;
            Ok((url, dialect, schema))
        }
    }
}

/// `check`: the start schema compared with the models.
pub async fn check(
    project: &Project,
    options: &Options,
    against: Against,
) -> Result<Comparison, Error> {
    models_of(project)?;
    let (url, dialect, start) = start_schema(project, options, against).await?;
    let target = desired_schema(project, &url, dialect).await?;
    let changes = diff(&start, &target, &Renames::default());
    Ok(Comparison {
        dialect,
        start,
        target,
        changes,
    })
}

/// `drift`: what the live database has that its applied revisions do not
/// produce. The start is the replay, the target the live schema, so each
/// change says what was done by hand.
pub async fn drift(project: &Project, options: &Options) -> Result<Comparison, Error> {
    let url = ops::database_url(project, options)?;
    let mut conn = ops::connect(project, options).await?;
    let dialect = conn.dialect();
    let applied = Ledger::new(project.config.version_table.clone())
        .current_heads(conn.as_mut())
        .await?;
    let live = schema::inspect(conn.as_mut(), &scope(project)).await?;
    drop(conn);
    let replayed = replayed_schema(project, &url, dialect, &applied).await?;
    let changes = diff(&replayed, &live, &Renames::default());
    Ok(Comparison {
        dialect,
        start: replayed,
        target: live,
        changes,
    })
}

/// What `revision --autogenerate` is asked.
#[derive(Debug, Clone, Default)]
pub struct AutogenRequest {
    pub message: String,
    /// `--dev`: compare against a replay instead of the project's database.
    pub dev: bool,
    /// `--rename` specs.
    pub renames: Vec<String>,
    /// `--no-rename` specs.
    pub no_renames: Vec<String>,
    pub id: Option<String>,
    pub branch_labels: Vec<String>,
}

/// What autogenerate did.
#[derive(Debug)]
pub enum Generated {
    /// The models and the database agree: nothing was written.
    NoChanges,
    Written {
        dir: PathBuf,
        upgrade: Vec<Step>,
        downgrade: Vec<Step>,
    },
}

/// How rename questions are answered when the CLI has a terminal: for
/// each candidate, Some(true) for a rename, Some(false) for not, None to
/// leave it undecided (autogenerate then refuses).
pub type Ask<'a> = &'a mut dyn FnMut(&RenameCandidate) -> Option<bool>;

/// `revision --autogenerate`: compares, proves, and writes an SQL revision
/// through the project's `sql` templates.
pub async fn autogenerate(
    project: &Project,
    options: &Options,
    request: &AutogenRequest,
    ask: Option<Ask<'_>>,
) -> Result<Generated, Error> {
    let against = if request.dev {
        Against::Dev
    } else {
        Against::Live
    };
    let (url, dialect, start) = start_schema(project, options, against).await?;
    let target = desired_schema(project, &url, dialect).await?;

    let mut rename_specs = request.renames.clone();
    let mut refused = request.no_renames.clone();
    let renames =
        Renames::resolve(&rename_specs, &refused, &start, &target).map_err(AutogenError::Rename)?;
    let candidates = rename_candidates(&start, &target, &renames);
    let renames = if candidates.is_empty() {
        renames
    } else {
        let mut undecided = Vec::new();
        let mut ask = ask;
        for c in &candidates {
            match ask.as_mut().and_then(|a| a(c)) {
                Some(true) => rename_specs.push(format!("{}={}", c.from, c.to)),
                Some(false) => refused.push(c.from.clone()),
                None => undecided.push(c.clone()),
            }
        }
        if !undecided.is_empty() {
            return Err(AutogenError::Ambiguous(undecided).into());
        }
        Renames::resolve(&rename_specs, &refused, &start, &target).map_err(AutogenError::Rename)?
    };

    let up_changes = diff(&start, &target, &renames);
    if up_changes.is_empty() {
        return Ok(Generated::NoChanges);
    }
    let upgrade = schema::render(dialect, &up_changes, &start, &target)?;
    let reverse = renames.reversed();
    let down_changes = diff(&target, &start, &reverse);
    let downgrade = schema::render(dialect, &down_changes, &target, &start)?;

    prove(
        project, &url, dialect, &start, &target, &upgrade, &downgrade,
    )
    .await?;

    let graph = graph_of(project)?;
    let parents: Vec<String> = graph.heads().into_iter().map(str::to_string).collect();
    let op = |s: &Step| Operation {
        sql: s.sql.clone(),
        comment: s.comment.clone(),
        destructive: s.destructive.clone(),
    };
    let mut manifest_extra = Vec::new();
    if dialect == Dialect::Sqlite && (rebuilds(&upgrade) || rebuilds(&downgrade)) {
        manifest_extra.push(
            "# A table is rebuilt or dropped: foreign keys are off during the revision and checked before it commits."
                .to_string(),
        );
        manifest_extra.push("foreign_keys = false".to_string());
    }
    let dir = project.new_revision(&NewRevision {
        message: request.message.clone(),
        kind: "sql".to_string(),
        parents,
        id: request.id.clone(),
        branch_labels: request.branch_labels.clone(),
        depends_on: Vec::new(),
        operations: Some(Operations {
            upgrade: upgrade.iter().map(op).collect(),
            downgrade: downgrade.iter().map(op).collect(),
            manifest_extra,
        }),
    })?;
    Ok(Generated::Written {
        dir,
        upgrade,
        downgrade,
    })
}

/// Whether a SQLite revision must run with foreign keys off: it rebuilds
/// or drops a table, and with them on SQLite would delete (`ON DELETE
/// CASCADE`) or refuse the rows that reference it.
fn rebuilds(steps: &[Step]) -> bool {
    steps
        .iter()
        .any(|s| s.comment.starts_with("rebuild ") || s.comment.starts_with("drop table "))
}

/// Applies `upgrade` to a copy of `start` in a scratch database and checks
/// that it reads back as `target`, then `downgrade` and checks it reads
/// back as `start`.
async fn prove(
    project: &Project,
    live_url: &str,
    dialect: Dialect,
    start: &Schema,
    target: &Schema,
    upgrade: &[Step],
    downgrade: &[Step],
) -> Result<(), Error> {
    let scratch = dev::Scratch::create(project, live_url, dialect).await?;
    let result = async {
        let mut conn = scratch.connect().await?;
        let scope = scope(project);
        dev::copy_schema(conn.as_mut(), dialect, start).await?;
        let copy = schema::inspect(conn.as_mut(), &scope).await?;
        let off = diff(start, &copy, &Renames::default());
        if !off.is_empty() {
            return Err(AutogenError::Dev(format!(
                "aludel could not copy the starting schema to prove the revision: the copy differs ({})",
                off.iter().map(Change::describe).collect::<Vec<_>>().join("; ")
            ))
            .into());
        }
        run_steps(conn.as_mut(), dialect, upgrade, "applying the upgrade to a copy of the start").await?;
        let after = schema::inspect(conn.as_mut(), &scope).await?;
        let left = diff(&after, target, &Renames::default());
        if !left.is_empty() {
            return Err(AutogenError::Unproved {
                stage: "after the upgrade",
                remaining: left.iter().map(Change::describe).collect(),
            }
            .into());
        }
        run_steps(conn.as_mut(), dialect, downgrade, "applying the downgrade after the upgrade").await?;
        let back = schema::inspect(conn.as_mut(), &scope).await?;
        let left = diff(&back, start, &Renames::default());
        if !left.is_empty() {
            return Err(AutogenError::Unproved {
                stage: "after the downgrade",
                remaining: left.iter().map(Change::describe).collect(),
            }
            .into());
        }
        Ok(())
    }
    .await;
    scratch.dispose().await;
    result
}

async fn run_steps(
    conn: &mut dyn Connection,
    dialect: Dialect,
    steps: &[Step],
    stage: &'static str,
) -> Result<(), Error> {
    let fk_off = dialect == Dialect::Sqlite && rebuilds(steps);
    if fk_off {
        conn.execute_script("PRAGMA foreign_keys = OFF")
            .await
            .map_err(|e| Error::database("turning foreign keys off in the scratch database", e))?;
    }
    let transactional = conn.transactional_ddl();
    if transactional {
        conn.begin()
            .await
            .map_err(|e| Error::database("beginning the proof's transaction", e))?;
    }
    for (index, step) in steps.iter().enumerate() {
        if let Err(source) = conn.execute_script(&step.sql).await {
            if transactional {
                let _ = conn.rollback().await;
            }
            return Err(AutogenError::ProofFailed {
                stage,
                index: index + 1,
                sql: step.sql.clone(),
                source,
            }
            .into());
        }
    }
    if transactional {
        conn.commit()
            .await
            .map_err(|e| Error::database("committing the proof's transaction", e))?;
    }
    if fk_off {
        conn.execute_script("PRAGMA foreign_keys = ON")
            .await
            .map_err(|e| Error::database("turning foreign keys on in the scratch database", e))?;
    }
    Ok(())
}
