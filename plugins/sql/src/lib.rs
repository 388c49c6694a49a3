//! The built-in `sql` plugin: a revision made of `upgrade.sql` and
//! `downgrade.sql` in its directory, each run as one script.
//!
//! The host preopens the revision's directory, read-only, as this
//! component's `/`, so the files are read by their bare names.

use aludel_sdk::{Context, Error, Migration, Result, db, log};

struct SqlFiles;

impl Migration for SqlFiles {
    fn upgrade(ctx: &Context) -> Result<()> {
        run_file(ctx, "upgrade.sql")
    }

    fn downgrade(ctx: &Context) -> Result<()> {
        run_file(ctx, "downgrade.sql")
    }
}

aludel_sdk::export!(SqlFiles);

fn run_file(ctx: &Context, name: &str) -> Result<()> {
    let text = match std::fs::read_to_string(name) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::msg(format!(
                "revision {}: {name} not found in the revision directory; \
                 create it (an empty file is a revision that does nothing in this direction)",
                ctx.revision()
            )));
        }
        Err(e) => {
            return Err(
                Error::from(e).context(format_args!("revision {}: reading {name}", ctx.revision()))
            );
        }
    };
    // Editors on Windows save a BOM, which no database parses as SQL.
    let sql = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if sql.trim().is_empty() {
        log::debug(format!("{name} is empty: nothing to run"));
        return Ok(());
    }
    db::execute_script(sql).map_err(|e| e.context(format_args!("running {name}")))
}
