//! One function per verb, as the `aludel` binary runs it and as a program
//! that embeds aludel would: open the connection, take the run lock where
//! the verb writes, run, release. The policy lives here, not in the CLI:
//! where the URL comes from, what the lock is called and how long it is
//! waited for, how `[runtime]` becomes the sandbox's limits, which verbs
//! start a WebAssembly engine (only those that run revisions).
//!
//! ```no_run
//! # async fn demo() -> Result<(), aludel::Error> {
//! let project = aludel::project::Project::open("aludel.toml".as_ref())?;
//! let applied = aludel::ops::upgrade(&project, &aludel::ops::Options::default(), "head", false).await?;
//! for step in &applied {
//!     println!("applied {}", step.revision);
//! }
//! # Ok(())
//! # }
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::db::{self, Connection, RunLock};
use crate::error::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::graph::{Direction, GraphError, resolve_prefix};
use crate::ledger::{HistoryEntry, Integrity, Ledger, Mismatch};
use crate::migrate::{Applied, Migrator, graph_of};
use crate::progress::Progress;
use crate::project::{Files, NewRevision, Project};
use crate::runtime::{ComponentCache, Runtime, RuntimeOptions};

/// How long a run waits for another run's lock unless told otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// The environment variable that overrides where compiled components are
/// cached (else `[runtime] cache_dir`, else the user's cache directory).
pub const CACHE_DIR_ENV: &str = "ALUDEL_CACHE_DIR";

/// What every verb that touches the database is told.
#[derive(Debug, Clone)]
pub struct Options {
    /// The database URL; `None` means the project's `[database] url`. (The
    /// binary fills it from `--url`, else `DATABASE_URL`.)
    pub url: Option<String>,
    /// How long to wait for another run's migration lock.
    pub lock_timeout: Duration,
    /// Refuse to run revisions on a connection whose privileges let SQL
    /// reach the server's files or programs (`--untrusted`; also on when
    /// `[runtime] untrusted = true`). Without it such a run only warns.
    pub untrusted: bool,
    /// Told which revision of how many runs and how far each has come
    /// (`upgrade` and `downgrade` online; see [`crate::progress`]). The
    /// default logs a line as each revision starts.
    pub progress: Progress,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            url: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            untrusted: false,
            progress: Progress::default(),
        }
    }
}

/// The database URL: the one given, else the project's.
pub fn database_url(project: &Project, options: &Options) -> Result<String, Error> {
    match &options.url {
        Some(url) => Ok(url.clone()),
        None => project
            .database_url()
            .ok_or_else(|| db::ConnectError::Missing.into()),
    }
}

/// Opens a connection to the project's database.
pub async fn connect(project: &Project, options: &Options) -> Result<Box<dyn Connection>, Error> {
    let url = database_url(project, options)?;
    tracing::debug!("connecting to {}", db::redact_url(&url));
    // Every lock wait of the session is bounded by --lock-timeout, the
    // host's own on aludel's tables included (see docs/runtime.md).
    let session = db::Session {
        lock_timeout: Some(options.lock_timeout),
    };
    Ok(db::connect_with(&url, &session).await?)
}

/// The name of the run-wide migration lock: one per version table, so two
/// projects sharing a database (each with its own table) do not wait for
/// each other.
pub fn lock_name(project: &Project) -> String {
    format!("aludel-{}", project.config.version_table)
}

/// Takes the run-wide migration lock, so that concurrent runners apply each
/// revision exactly once.
pub async fn lock(project: &Project, options: &Options) -> Result<Box<dyn RunLock>, Error> {
    let url = database_url(project, options)?;
    let started = Instant::now();
    let lock = db::lock(&url, &lock_name(project), options.lock_timeout).await?;
    if started.elapsed() > Duration::from_millis(100) {
        tracing::info!(
            "waited {:.1} s for another run's migration lock",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(lock)
}

/// Releases the lock; a failure to release is only logged, since closing the
/// connection or the process releases it anyway.
async fn release(lock: Box<dyn RunLock>) {
    if let Err(e) = lock.release().await {
        tracing::warn!("releasing the migration lock failed: {e}");
    }
}

/// The sandbox limits and the component cache `[runtime]` asks for.
pub fn runtime_options(project: &Project) -> RuntimeOptions {
    let rt = &project.config.runtime;
    RuntimeOptions {
        memory_limit: usize::try_from(rt.memory_limit_mib.saturating_mul(1 << 20))
            .unwrap_or(usize::MAX),
        timeout: Duration::from_secs(rt.timeout_seconds),
        cache_dir: std::env::var_os(CACHE_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| rt.resolved_cache_dir(&project.root))
            .or_else(ComponentCache::default_dir),
    }
}

/// Starts the WebAssembly runtime with the project's limits.
pub fn runtime(project: &Project) -> Result<Runtime, Error> {
    Runtime::new(runtime_options(project)).map_err(|e| Error::Runtime(format!("{e:#}")))
}

/// Connects, takes the lock, runs `body` with a migrator, releases the
/// lock whatever the outcome.
async fn locked<'p, T>(
    project: &'p Project,
    options: &Options,
    body: impl AsyncFnOnce(Migrator<'p>) -> Result<T, Error>,
) -> Result<T, Error> {
    // Connect first: a URL that cannot connect is the clearer error.
    let conn = connect(project, options).await?;
    let lock = lock(project, options).await?;
    let result = match Migrator::new(project, conn) {
        Ok(migrator) => body(migrator).await,
        Err(e) => Err(e),
    };
    release(lock).await;
    result
}

/// `upgrade TARGET`: applies every revision up to `target`; with `dry_run`
/// inside one transaction rolled back at the end.
pub async fn upgrade(
    project: &Project,
    options: &Options,
    target: &str,
    dry_run: bool,
) -> Result<Vec<Applied>, Error> {
    migrate(project, options, Direction::Upgrade, target, dry_run).await
}

/// `downgrade TARGET`: reverts every revision above `target`.
pub async fn downgrade(
    project: &Project,
    options: &Options,
    target: &str,
    dry_run: bool,
) -> Result<Vec<Applied>, Error> {
    migrate(project, options, Direction::Downgrade, target, dry_run).await
}

/// `upgrade` or `downgrade` to `target`, as `direction` says.
pub async fn migrate(
    project: &Project,
    options: &Options,
    direction: Direction,
    target: &str,
    dry_run: bool,
) -> Result<Vec<Applied>, Error> {
    let runtime = runtime(project)?;
    // Connect first, as `locked` does, and judge the connection before the
    // lock is taken: a refused run writes nothing at all.
    let mut conn = connect(project, options).await?;
    check_privileges(
        conn.as_mut(),
        options.untrusted || project.config.runtime.untrusted,
    )
    .await?;
    let lock = lock(project, options).await?;
    let result = match Migrator::new(project, conn) {
        Ok(m) => {
            m.dry_run(dry_run)
                .untrusted(options.untrusted)
                .progress(options.progress.clone())
                .migrate(&runtime, direction, target)
                .await
        }
        Err(e) => Err(e),
    };
    release(lock).await;
    result
}

/// Once per run that runs revisions, before any of them: the powers of
/// the connection that let SQL reach the server's files or programs. A
/// revision's SQL has every one of them, so they are named on stderr; with
/// `untrusted` the run is refused instead. A backend that cannot tell is
/// taken at its word only when the run trusts its revisions.
pub async fn check_privileges(conn: &mut dyn Connection, untrusted: bool) -> Result<(), Error> {
    let privileges = match conn.dangerous_privileges().await {
        Ok(privileges) => privileges,
        Err(source) if untrusted => return Err(Error::PrivilegesUnknown { source }),
        Err(e) => {
            tracing::warn!(
                "cannot tell whether this connection's privileges let a revision's SQL reach \
                 the server's files or programs ({e}); see docs/security.md"
            );
            return Ok(());
        }
    };
    if privileges.is_empty() {
        return Ok(());
    }
    if untrusted {
        return Err(Error::Untrusted(privileges));
    }
    tracing::warn!(
        "this connection's privileges let a revision's SQL reach the database server's files \
         or programs:{}\n  \
         every revision runs with them: connect as a least-privilege role \
         (docs/security.md, \"A least-privilege setup\"), or pass --untrusted to refuse \
         such a connection",
        crate::error::privilege_list(&privileges)
    );
    Ok(())
}

/// What an offline run (`--sql`) would execute.
#[derive(Debug, Clone)]
pub struct OfflineScript {
    /// The SQL, with parameters written as literals, in the URL's dialect.
    pub sql: String,
    /// How many revisions it covers.
    pub steps: usize,
}

/// `upgrade --sql [FROM:]TO` and `downgrade --sql FROM:TO`: the SQL a run
/// would execute, without connecting: the dialect comes from the URL's
/// scheme and the starting point from FROM (base when an upgrade gives
/// none), as in Alembic's offline mode.
pub async fn offline(
    project: &Project,
    options: &Options,
    direction: Direction,
    spec: &str,
) -> Result<OfflineScript, Error> {
    let url = database_url(project, options)?;
    let Some(dialect) = db::dialect_of_url(&url) else {
        return Err(Error::OfflineDialect(db::redact_url(&url)));
    };
    let (from, to) = match spec.split_once(':') {
        Some((from, to)) => (Some(from), to),
        None if direction == Direction::Upgrade => (None, spec),
        None => return Err(Error::OfflineNeedsFrom),
    };
    let graph = graph_of(project)?;
    let heads = match from {
        None | Some("") | Some("base") => Vec::new(),
        Some(from) => graph.resolve(from, &[])?,
    };
    let runtime = runtime(project)?;
    let mut migrator = Migrator::offline(project, dialect, heads)?;
    if let Some(script) = migrator.script() {
        script.comment(&format!("aludel {direction} --sql {spec}, for {dialect}"));
    }
    let steps = migrator.migrate(&runtime, direction, to).await?;
    Ok(OfflineScript {
        sql: migrator.script().map(|s| s.text()).unwrap_or_default(),
        steps: steps.len(),
    })
}

/// `stamp TARGETS [--purge]`: sets the version table without running any
/// revision. Returns the heads after it.
pub async fn stamp(
    project: &Project,
    options: &Options,
    targets: &[String],
    purge: bool,
) -> Result<Vec<String>, Error> {
    locked(project, options, async |mut m| {
        m.stamp(targets, purge).await
    })
    .await
}

/// `resolve REV --applied|--rolled-back`: ends a revision's failed state.
/// Returns the heads after it.
pub async fn resolve(
    project: &Project,
    options: &Options,
    revision: &str,
    applied: bool,
) -> Result<Vec<String>, Error> {
    locked(project, options, async |mut m| {
        m.resolve(revision, applied).await
    })
    .await
}

/// `accept REV`: records an applied revision's changed directory as it is
/// now. Returns its new checksum, or none when it had not changed.
pub async fn accept(
    project: &Project,
    options: &Options,
    revision: &str,
) -> Result<Option<String>, Error> {
    locked(project, options, async |mut m| m.accept(revision).await).await
}

/// `accept --audit-log`: accepts the audit log as it reads, breaks and
/// all (see [`crate::ledger::chain`]). Returns the breaks it accepted;
/// none when the chain was whole and nothing was written.
pub async fn accept_audit_log(project: &Project, options: &Options) -> Result<Vec<String>, Error> {
    locked(project, options, async |mut m| m.accept_audit_log().await).await
}

/// `verify`: every applied revision on disk whose directory changed since.
/// Reads only, so it takes no lock.
pub async fn verify(project: &Project, options: &Options) -> Result<Vec<Mismatch>, Error> {
    let conn = connect(project, options).await?;
    Migrator::new(project, conn)?.verify().await
}

/// `verify`'s check of aludel's own tables: the audit log's hash chain
/// and the stored artifacts. Reads only, so it takes no lock.
pub async fn verify_ledger(project: &Project, options: &Options) -> Result<Integrity, Error> {
    let conn = connect(project, options).await?;
    Migrator::new(project, conn)?.verify_ledger().await
}

/// `show REV --stored`: the files of a revision as they were stored when
/// it last ran, with the audit row that stored them. Reads only.
pub async fn stored(
    project: &Project,
    options: &Options,
    revision: &str,
) -> Result<(HistoryEntry, Files), Error> {
    let conn = connect(project, options).await?;
    Migrator::new(project, conn)?.stored_files(revision).await
}

/// `current`: the heads the database is at, sorted. Reads only: it neither
/// creates the version table nor needs a valid graph.
pub async fn current(project: &Project, options: &Options) -> Result<Vec<String>, Error> {
    let mut conn = connect(project, options).await?;
    Ledger::new(project.config.version_table.clone())
        .current_heads(conn.as_mut())
        .await
}

/// The positions of batched revisions that have committed batches and not
/// finished (docs/backfills.md). Reads only.
pub async fn batch_positions(
    project: &Project,
    options: &Options,
) -> Result<Vec<crate::ledger::batches::Position>, Error> {
    let mut conn = connect(project, options).await?;
    crate::ledger::batches::list(conn.as_mut(), &project.config.version_table)
        .await
        .map_err(|e| Error::database("reading the batch positions", e))
}

/// Which rows of the audit log `log` shows.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only rows of this revision: an id or a unique prefix of one in the
    /// log (the graph's rule). One the log has no row of shows no rows.
    pub revision: Option<String>,
    /// Only rows started at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only rows started before this time.
    pub until: Option<OffsetDateTime>,
}

/// `log`: the rows of the audit log `filter` keeps, oldest first. Reads only.
pub async fn audit_log(
    project: &Project,
    options: &Options,
    filter: &LogFilter,
) -> Result<Vec<HistoryEntry>, Error> {
    let mut conn = connect(project, options).await?;
    let entries = Ledger::new(project.config.version_table.clone())
        .audit_log(conn.as_mut())
        .await?;
    let revision = match filter.revision.as_deref() {
        None => None,
        Some(r) => match resolve_prefix(r, entries.iter().map(|e| e.revision.as_str())) {
            Ok(id) => Some(id.to_string()),
            Err(GraphError::UnknownRevision(_)) => Some(r.to_string()),
            Err(e) => return Err(e.into()),
        },
    };
    Ok(entries
        .into_iter()
        .filter(|e| revision.as_deref().is_none_or(|r| e.revision == r))
        .filter(|e| {
            // A row whose time cannot be read is kept: hiding it would hide
            // something from an audit.
            let Ok(started) = OffsetDateTime::parse(&e.started_at, &Rfc3339) else {
                return true;
            };
            filter.since.is_none_or(|s| started >= s) && filter.until.is_none_or(|u| started < u)
        })
        .collect())
}

/// What `revision` is asked to create.
#[derive(Debug, Clone, Default)]
pub struct RevisionRequest {
    pub message: String,
    /// The template: `sql`, `rust`, `python`, `js`.
    pub kind: String,
    /// What to build on: `head`, a head's id or label, `base`, …
    pub head: String,
    /// Allow `head` to name a revision that is not a head, starting a new
    /// branch from it.
    pub splice: bool,
    pub branch_labels: Vec<String>,
    /// Revisions (any target form) the new one depends on.
    pub depends_on: Vec<String>,
    /// An id of the caller's choosing instead of a random one.
    pub id: Option<String>,
}

/// `revision`: a new revision directory from the project's templates.
/// Building on a revision that is not a head needs `splice`, as in Alembic.
pub fn new_revision(project: &Project, request: &RevisionRequest) -> Result<PathBuf, Error> {
    let graph = graph_of(project)?;
    let parents = graph.resolve(&request.head, &[])?;
    if !request.splice
        && let Some(parent) = parents.iter().find(|p| !graph.is_head(p))
    {
        return Err(Error::NotAHead {
            revision: parent.clone(),
            heads: graph.heads().into_iter().map(str::to_string).collect(),
        });
    }
    let mut depends_on = Vec::new();
    for spec in &request.depends_on {
        depends_on.extend(graph.resolve(spec, &[])?);
    }
    Ok(project.new_revision(&NewRevision {
        message: request.message.clone(),
        kind: request.kind.clone(),
        parents,
        id: request.id.clone(),
        branch_labels: request.branch_labels.clone(),
        depends_on,
        operations: None,
    })?)
}

/// `merge REVS`: a revision whose parents are the revisions `specs` name
/// (at least two), running no SQL of its own.
pub fn merge(
    project: &Project,
    specs: &[String],
    message: &str,
    id: Option<String>,
    branch_labels: Vec<String>,
) -> Result<PathBuf, Error> {
    let graph = graph_of(project)?;
    let mut parents: Vec<String> = Vec::new();
    for spec in specs {
        for id in graph.resolve(spec, &[])? {
            if !parents.contains(&id) {
                parents.push(id);
            }
        }
    }
    if parents.len() < 2 {
        return Err(Error::NothingToMerge {
            specs: specs.join(" "),
            found: parents,
        });
    }
    Ok(project.new_revision(&NewRevision {
        message: message.to_string(),
        kind: "sql".to_string(),
        parents,
        id,
        branch_labels,
        depends_on: Vec::new(),
        operations: None,
    })?)
}
