//! `aludel import alembic [ALEMBIC_DIR] [--python PATH] [--dev-url URL]`
//! `aludel import alembic-version [--table alembic_version]`

use std::path::PathBuf;

use aludel::import::{ALEMBIC_VERSION_TABLE, AlembicImport, ImportedKind};
use clap::{Args, Subcommand};

use super::Global;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub what: ImportWhat,
}

#[derive(Debug, Subcommand)]
pub enum ImportWhat {
    /// Turn an Alembic history into aludel revisions in versions/.
    ///
    /// Each revision keeps its id, parents, branch labels, depends_on,
    /// message and date. Its upgrade() and downgrade() are run by Alembic
    /// against a scratch database of the project's dialect, brought to the
    /// revision's parents, and the statements they send become upgrade.sql
    /// and downgrade.sql. A revision that reads data is not frozen: it
    /// becomes a Python skeleton marked needs-porting. Prints one line per
    /// revision: id, sql|needs-porting, reason (tab-separated).
    ///
    /// Example: aludel import alembic ../myapp --python ../myapp/.venv/bin/python
    #[command(verbatim_doc_comment)]
    Alembic(AlembicArgs),
    /// Adopt a database Alembic manages: stamp aludel's version table with
    /// the heads in alembic_version, so that `aludel upgrade head` runs
    /// only what is new.
    ///
    /// Example: aludel --url postgres://app@db/app import alembic-version
    #[command(verbatim_doc_comment)]
    AlembicVersion(AlembicVersionArgs),
}

#[derive(Debug, Args)]
pub struct AlembicArgs {
    /// A directory holding alembic.ini, an ini file, or the Alembic script
    /// directory itself. Default: ./alembic.ini, else ./alembic.
    pub alembic_dir: Option<PathBuf>,
    /// A Python that can `import alembic` (the project's own virtualenv,
    /// when its revisions import the application). Default: python3 on
    /// PATH if it has Alembic, else a virtualenv aludel makes in its cache.
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// PostgreSQL or MySQL: a server where aludel may create and drop
    /// scratch databases to render on (default: `[models] dev_url`).
    #[arg(long, value_name = "URL")]
    pub dev_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct AlembicVersionArgs {
    /// Alembic's version table, if env.py names another.
    #[arg(long, default_value = ALEMBIC_VERSION_TABLE)]
    pub table: String,
}

pub async fn run(args: ImportArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    match args.what {
        ImportWhat::Alembic(args) => {
            let request = AlembicImport {
                alembic_dir: args.alembic_dir,
                python: args.python,
                dev_url: args.dev_url,
            };
            let imported = aludel::import::import_alembic(&project, &global.options(), &request)?;
            let mut porting = 0;
            for revision in &imported {
                println!(
                    "{}\t{}\t{}",
                    revision.id,
                    revision.kind.name(),
                    aludel::escape::controls(revision.kind.reason())
                );
                if matches!(revision.kind, ImportedKind::NeedsPorting { .. }) {
                    porting += 1;
                }
            }
            eprintln!(
                "imported {} revision(s) into {}",
                imported.len(),
                project.versions_dir().display()
            );
            if porting > 0 {
                tracing::warn!(
                    "{porting} revision(s) need porting before `aludel upgrade` can run them: \
                     see migration.py in each"
                );
            }
            Ok(())
        }
        ImportWhat::AlembicVersion(args) => {
            let heads =
                aludel::import::adopt_alembic_version(&project, &global.options(), &args.table)
                    .await?;
            for head in &heads {
                println!("{head}");
            }
            if heads.is_empty() {
                eprintln!("{} is at base: nothing to adopt", args.table);
            } else {
                eprintln!(
                    "adopted: the database is at {} (stamped from {})",
                    heads.join(", "),
                    args.table
                );
            }
            Ok(())
        }
    }
}
