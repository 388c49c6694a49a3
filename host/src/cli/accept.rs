//! `aludel accept REV`: records that an applied revision's changed
//! directory is accepted as it is now (an `accepted` row in the audit log
//! with the new checksum, and the new files stored), as Flyway's `repair`
//! does for checksums. `aludel accept --audit-log` accepts the audit log
//! itself as it reads, after something other than aludel changed it (a
//! `resealed` row). Never automatic: either is refused until someone
//! decides.

use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// The applied revision whose change to accept (an id or a unique prefix).
    #[arg(required_unless_present = "audit_log", conflicts_with = "audit_log")]
    pub revision: Option<String>,
    /// Accept the audit log as it reads now, after `aludel verify` found it
    /// changed outside aludel; its breaks are recorded in the new row.
    #[arg(long)]
    pub audit_log: bool,
}

pub async fn run(args: AcceptArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let Some(revision) = args.revision else {
        let accepted = aludel::ops::accept_audit_log(&project, &global.options()).await?;
        if accepted.is_empty() {
            eprintln!("nothing to accept: the audit log's chain is whole");
        } else {
            for b in &accepted {
                eprintln!("accepted: {b}");
            }
            eprintln!(
                "the audit log is accepted as it reads now ({} break{} recorded in a \
                 `resealed` row); runs go on",
                accepted.len(),
                if accepted.len() == 1 { "" } else { "s" }
            );
        }
        return Ok(());
    };
    match aludel::ops::accept(&project, &global.options(), &revision).await? {
        Some(checksum) => eprintln!("accepted {revision}: its checksum is now {checksum}"),
        None => eprintln!(
            "nothing to accept: revision {} is as it was recorded",
            revision
        ),
    }
    Ok(())
}
