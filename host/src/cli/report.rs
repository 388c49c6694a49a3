//! How `upgrade` and `downgrade` report the steps they ran.

use aludel::migrate::Applied;

/// Progress, not data: to stderr, and nothing with `-q`; a dry run's steps
/// are its result, so they go to stdout whatever `-q` says.
pub(super) fn steps(steps: &[Applied], verb: &str, dry_run: bool, quiet: bool) {
    if dry_run {
        for s in steps {
            println!(
                "{verb} {} ({} statements, {} rows) — rolled back",
                s.revision, s.stats.statements, s.stats.rows
            );
        }
        if !quiet {
            eprintln!("dry run: everything was rolled back; the database is unchanged");
        }
        return;
    }
    if quiet {
        return;
    }
    if steps.is_empty() {
        eprintln!("nothing to do: the database is already at the target");
        return;
    }
    for s in steps {
        tracing::debug!(
            "{verb} {} in {} ms: {} statements, {} rows",
            s.revision,
            s.duration.as_millis(),
            s.stats.statements,
            s.stats.rows
        );
    }
    eprintln!(
        "{verb} {} revision{}",
        steps.len(),
        if steps.len() == 1 { "" } else { "s" }
    );
}
