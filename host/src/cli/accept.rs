//! `aludel accept REV`: records that an applied revision's changed
//! directory is accepted as it is now (an `accepted` row in the audit log
//! with the new checksum, and the new files stored), as Flyway's `repair`
//! does for checksums. Never automatic: a changed revision is refused until
//! someone decides.

use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// The applied revision whose change to accept (an id or a unique prefix).
    pub revision: String,
}

pub async fn run(args: AcceptArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    match aludel::ops::accept(&project, &global.options(), &args.revision).await? {
        Some(checksum) => eprintln!("accepted {}: its checksum is now {checksum}", args.revision),
        None => eprintln!(
            "nothing to accept: revision {} is as it was recorded",
            args.revision
        ),
    }
    Ok(())
}
