//! The command line: one file per subcommand, each turning its flags into a
//! call of the library. Data goes to stdout; progress and errors to stderr.

mod accept;
mod branches;
mod build;
mod check;
mod completions;
mod current;
mod dotenv;
mod downgrade;
mod drift;
mod format;
mod heads;
mod history;
mod import;
mod init;
mod log;
mod merge;
mod offline;
mod progress;
mod report;
mod resolve;
mod revision;
mod show;
mod stamp;
mod upgrade;
mod verify;

use std::path::{Path, PathBuf};
use std::time::Duration;

use aludel::ops;
use aludel::project::Project;
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "aludel",
    version,
    about = "Database migrations as sandboxed WebAssembly components",
    after_help = "Examples:\n  aludel init && aludel revision -m \"create users\"\n  aludel upgrade head\n  aludel --url postgres://app@db.example/app current\n\nExit codes: 0 success, 1 failure (or differences, for check and drift), 2 a wrong command line (or could not compare); see docs/cli.md."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The project's configuration file.
    #[arg(
        short,
        long,
        global = true,
        default_value = "aludel.toml",
        env = "ALUDEL_CONFIG"
    )]
    pub config: PathBuf,
    /// The database URL; overrides DATABASE_URL, .env and aludel.toml.
    /// aludel's own forms and SQLAlchemy's (postgresql+psycopg2://…).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub url: Option<String>,
    /// Read DATABASE_URL and ALUDEL_* settings from this file instead of
    /// the .env beside the config file; the environment still wins.
    #[arg(long, global = true, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
    /// More log detail on stderr (-v: debug, -vv: trace). `--verbose` on
    /// history, heads, current and branches is Alembic's detailed listing.
    #[arg(short = 'v', global = true, action = clap::ArgAction::Count)]
    pub log_detail: u8,
    /// How long to wait for another run's migration lock, in seconds.
    #[arg(long, global = true, default_value_t = ops::DEFAULT_LOCK_TIMEOUT.as_secs(), value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "log_detail")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new project: aludel.toml, versions/, templates/.
    #[command(after_help = "Examples:\n  aludel init\n  aludel init myproject")]
    Init(init::InitArgs),
    /// Create a new revision from a template.
    #[command(
        after_help = "Examples:\n  aludel revision -m \"add users\"\n  aludel revision -m \"backfill emails\" --kind rust\n  aludel revision --autogenerate -m \"sync models\""
    )]
    Revision(revision::RevisionArgs),
    /// Build the Rust revisions into components, and the python/js plugins plugins/ lacks.
    #[command(after_help = "Examples:\n  aludel build\n  aludel build 3f1c0a9e2b71")]
    Build(build::BuildArgs),
    /// Apply revisions up to a target (default: head).
    #[command(
        after_help = "Examples:\n  aludel upgrade head\n  aludel upgrade +2\n  aludel upgrade head --dry-run\n  aludel upgrade head --sql > upgrade.sql"
    )]
    Upgrade(upgrade::UpgradeArgs),
    /// Revert revisions down to a target.
    #[command(
        after_help = "Examples:\n  aludel downgrade -1\n  aludel downgrade base\n  aludel downgrade 3f1c0a9e2b71"
    )]
    Downgrade(downgrade::DowngradeArgs),
    /// Show the revisions the database is at.
    #[command(after_help = "Examples:\n  aludel current\n  aludel current --format json")]
    Current(current::CurrentArgs),
    /// List the revisions, newest first.
    #[command(
        after_help = "Examples:\n  aludel history\n  aludel history -r current: --indicate-current\n  aludel history --format json"
    )]
    History(history::HistoryArgs),
    /// Show the heads: revisions nothing builds on.
    #[command(after_help = "Examples:\n  aludel heads\n  aludel heads --format json")]
    Heads(heads::HeadsArgs),
    /// Show the branch points and the branches they start.
    #[command(after_help = "Examples:\n  aludel branches --verbose")]
    Branches(branches::BranchesArgs),
    /// Show one revision in full.
    #[command(
        after_help = "Examples:\n  aludel show head\n  aludel show 3f1c --stored\n  aludel show heads --format json"
    )]
    Show(show::ShowArgs),
    /// Create a revision that merges several into one.
    #[command(after_help = "Examples:\n  aludel merge heads -m \"merge branches\"")]
    Merge(merge::MergeArgs),
    /// Set the version table to revisions without running them.
    #[command(after_help = "Examples:\n  aludel stamp head\n  aludel stamp head --purge")]
    Stamp(stamp::StampArgs),
    /// Clear the failed state of a revision that failed part-way.
    #[command(
        after_help = "Examples:\n  aludel resolve 3f1c0a9e2b71 --rolled-back\n  aludel resolve 3f1c0a9e2b71 --applied"
    )]
    Resolve(resolve::ResolveArgs),
    /// Show the audit log: every revision applied, reverted, stamped, failed or accepted.
    #[command(
        after_help = "Examples:\n  aludel log\n  aludel log --revision 3f1c --since 2026-01-31T00:00:00Z --format json"
    )]
    Log(log::LogArgs),
    /// Check applied revisions against their recorded checksums.
    #[command(after_help = "Examples:\n  aludel verify")]
    Verify(verify::VerifyArgs),
    /// Accept the changed directory of an applied revision (recorded in the audit log).
    #[command(after_help = "Examples:\n  aludel accept 3f1c0a9e2b71\n  aludel accept --audit-log")]
    Accept(accept::AcceptArgs),
    /// Compare the models with the database (exit 1 if they differ).
    #[command(after_help = "Examples:\n  aludel check\n  aludel check --dev --format json")]
    Check(check::CheckArgs),
    /// Compare the database with what its applied revisions produce (exit 1 on drift).
    #[command(after_help = "Examples:\n  aludel drift\n  aludel drift --format json")]
    Drift(drift::DriftArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(
        after_help = "Examples:\n  aludel completions bash > ~/.local/share/bash-completion/completions/aludel\n  aludel completions zsh > \"${fpath[1]}/_aludel\"\n  aludel completions fish > ~/.config/fish/completions/aludel.fish"
    )]
    Completions(completions::CompletionsArgs),
    /// Bring a history over from another tool: `import alembic`, `import alembic-version`.
    #[command(
        after_help = "Examples:\n  aludel import alembic ../myapp --python ../myapp/.venv/bin/python\n  aludel --url postgres://app@db.example/app import alembic-version"
    )]
    Import(import::ImportArgs),
}

/// The command line, read after the `.env` file it names (see
/// [`dotenv`]): parsed once to find that file, and again once its values
/// are in the environment, so that clap's `env =` settings see them. A
/// `.env` that cannot be read ends the process as any other error does.
pub fn parse() -> (Cli, Option<dotenv::Loaded>) {
    let first = Cli::parse();
    match dotenv::load(&first.global) {
        Ok(Some(loaded)) if !loaded.set.is_empty() => (Cli::parse(), Some(loaded)),
        Ok(loaded) => (first, loaded),
        Err(err) => {
            eprintln!("error: {}", aludel::escape::controls(&format!("{err:#}")));
            std::process::exit(1);
        }
    }
}

/// Says, once the logger is up, what a `.env` file set: names only.
pub fn log_env_file(loaded: &Option<dotenv::Loaded>) {
    let Some(loaded) = loaded else { return };
    tracing::debug!(
        "read {}: set {}{}",
        loaded.path.display(),
        if loaded.set.is_empty() {
            "nothing".to_string()
        } else {
            loaded.set.join(", ")
        },
        if loaded.overridden.is_empty() {
            String::new()
        } else {
            format!(
                "; the environment's own {} won",
                loaded.overridden.join(", ")
            )
        }
    );
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Init(args) => init::run(args),
        Command::Revision(args) => block_on(revision::run(args, &global)),
        Command::Build(args) => build::run(args, &global),
        Command::Upgrade(args) => block_on(upgrade::run(args, &global)),
        Command::Downgrade(args) => block_on(downgrade::run(args, &global)),
        Command::Current(args) => block_on(current::run(args, &global)),
        Command::History(args) => block_on(history::run(args, &global)),
        Command::Heads(args) => heads::run(args, &global),
        Command::Branches(args) => branches::run(args, &global),
        Command::Show(args) => block_on(show::run(args, &global)),
        Command::Merge(args) => merge::run(args, &global),
        Command::Stamp(args) => block_on(stamp::run(args, &global)),
        Command::Resolve(args) => block_on(resolve::run(args, &global)),
        Command::Log(args) => block_on(log::run(args, &global)),
        Command::Verify(args) => block_on(verify::run(args, &global)),
        Command::Accept(args) => block_on(accept::run(args, &global)),
        Command::Check(args) => block_on(check::run(args, &global)),
        Command::Drift(args) => block_on(drift::run(args, &global)),
        Command::Completions(args) => completions::run(args),
        Command::Import(args) => block_on(import::run(args, &global)),
    }
}

/// An error that ends the process with a code of its own (`check` and
/// `drift`: 1 for differences, 2 when they could not compare).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    fn could_not_compare(e: anyhow::Error) -> anyhow::Error {
        let mut message = e.to_string();
        for cause in e.chain().skip(1) {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(&format!(": {text}"));
            }
        }
        Exit {
            code: 2,
            message: format!("could not compare: {message}"),
        }
        .into()
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}

pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "warn,aludel=info",
        (false, 1) => "warn,aludel=debug",
        (false, _) => "info,aludel=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ALUDEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress::log_writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(verbose > 0)
        .init();
}

fn open_project(global: &Global) -> anyhow::Result<Project> {
    Ok(Project::open(&global.config)?)
}

impl Global {
    /// What the library's verbs are told: --url (or DATABASE_URL, from the
    /// environment or .env, through clap) and --lock-timeout.
    fn options(&self) -> ops::Options {
        ops::Options {
            url: self.url.clone(),
            lock_timeout: Duration::from_secs(self.lock_timeout),
            untrusted: false,
            progress: aludel::progress::Progress::default(),
        }
    }
}

fn display_path(path: &Path) -> String {
    path.display().to_string()
}
