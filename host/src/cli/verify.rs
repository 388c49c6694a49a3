//! `aludel verify`: compares every applied revision present on disk with
//! the checksum recorded last, and lists every mismatch (exit 1 if any).
//! Reads only.

use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct VerifyArgs {}

pub async fn run(_args: VerifyArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let mismatches = aludel::ops::verify(&project, &global.options()).await?;
    if mismatches.is_empty() {
        eprintln!("every applied revision on disk matches its recorded checksum");
        return Ok(());
    }
    for m in &mismatches {
        println!("{m}");
    }
    anyhow::bail!(
        "{} applied revision{} changed",
        mismatches.len(),
        if mismatches.len() == 1 { "" } else { "s" }
    )
}
