//! `upgrade --sql [FROM:]TO` and `downgrade --sql FROM:TO`: the SQL a run
//! would execute, printed to stdout instead of run (see
//! [`aludel::ops::offline`]).

use aludel::graph::Direction;

use super::Global;

pub async fn run(spec: &str, direction: Direction, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let script = aludel::ops::offline(&project, &global.options(), direction, spec).await?;
    print!("{}", script.sql);
    eprintln!("offline: {} revision(s), nothing was run", script.steps);
    Ok(())
}
