//! `upgrade --sql [FROM:]TO` and `downgrade --sql FROM:TO`: the SQL a run
//! would execute, printed to stdout instead of run. No connection is made:
//! the dialect comes from the URL's scheme and the starting point from
//! FROM (base when an upgrade gives none), as in Alembic's offline mode.

use aludel::db::offline::{Recorder, Script};
use aludel::graph::Direction;
use aludel::migrate::{Migrator, graph_of};

use super::Global;

pub async fn run(spec: &str, direction: Direction, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let url = super::database_url(&project, global)?;
    let Some(dialect) = aludel::db::dialect_of_url(&url) else {
        anyhow::bail!(
            "cannot tell the SQL dialect of {}: offline mode needs a sqlite:, postgres:// or mysql:// URL",
            aludel::db::redact_url(&url)
        );
    };
    let (from, to) = match spec.split_once(':') {
        Some((from, to)) => (Some(from), to),
        None if direction == Direction::Upgrade => (None, spec),
        None => anyhow::bail!(
            "offline downgrade needs FROM:TO (e.g. `downgrade --sql head:base`): \
             without a database there is no current revision to start from"
        ),
    };
    let graph = graph_of(&project)?;
    let heads = match from {
        None | Some("") | Some("base") => Vec::new(),
        Some(from) => graph.resolve(from, &[]).map_err(aludel::Error::from)?,
    };
    let runtime = super::runtime(&project)?;
    let script = Script::default();
    script.comment(&format!(
        "aludel {} --sql {spec}, for {dialect}",
        if direction == Direction::Upgrade {
            "upgrade"
        } else {
            "downgrade"
        }
    ));
    let recorder = Recorder::new(dialect, heads, script.clone());
    let mut migrator =
        Migrator::new(&project, &runtime, Box::new(recorder))?.offline(script.clone());
    let steps = match direction {
        Direction::Upgrade => migrator.upgrade(to).await?,
        Direction::Downgrade => migrator.downgrade(to).await?,
    };
    print!("{}", script.text());
    eprintln!("offline: {} revision(s), nothing was run", steps.len());
    Ok(())
}
