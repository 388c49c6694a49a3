//! `aludel verify`: compares every applied revision present on disk with
//! the checksum recorded last, checks aludel's own tables (the audit log's
//! hash chain, every stored artifact against its hash), and lists every
//! problem (exit 1 if any). Reads only.

use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct VerifyArgs {}

pub async fn run(_args: VerifyArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let options = global.options();
    let integrity = aludel::ops::verify_ledger(&project, &options).await?;
    let mismatches = aludel::ops::verify(&project, &options).await?;
    for b in &integrity.chain.breaks {
        println!("{b}");
    }
    for a in &integrity.artifacts {
        println!("{a}");
    }
    for m in &mismatches {
        println!("{m}");
    }
    if integrity.chain.unchained > 0 {
        eprintln!(
            "note: the first {} rows of the audit log were written before aludel chained \
             them by hash: they are not covered",
            integrity.chain.unchained
        );
    }
    if !integrity.is_intact() {
        anyhow::bail!(
            "aludel's own tables were altered outside aludel ({} problem{} above): restore \
             them from a backup of the database, and find out who changed them",
            integrity.chain.breaks.len() + integrity.artifacts.len(),
            if integrity.chain.breaks.len() + integrity.artifacts.len() == 1 {
                ""
            } else {
                "s"
            }
        );
    }
    if !integrity.chain.head.is_empty() {
        eprintln!(
            "the audit log's {} rows are intact; its head is {} (keep it elsewhere to detect \
             a rewrite of the whole log)",
            integrity.rows, integrity.chain.head
        );
    }
    if mismatches.is_empty() {
        eprintln!("every applied revision on disk matches its recorded checksum");
        return Ok(());
    }
    anyhow::bail!(
        "{} applied revision{} changed",
        mismatches.len(),
        if mismatches.len() == 1 { "" } else { "s" }
    )
}
