//! Split full names into first and last name, and normalise emails.
//!
//! A data transform in Rust: rows are streamed through a cursor and written
//! back in batches with `execute_many`, inside the revision's transaction.
//! The downgrade joins the names again and drops the new columns.

use aludel_sdk::{Context, Migration, Result, db, log, params};

struct Revision;

const BATCH: u32 = 500;

impl Migration for Revision {
    fn upgrade(_ctx: &Context) -> Result<()> {
        db::execute_script(
            "ALTER TABLE people ADD COLUMN first_name TEXT;
             ALTER TABLE people ADD COLUMN last_name TEXT;",
        )?;
        let mut cursor = db::cursor("SELECT id, full_name, email FROM people ORDER BY id", &[])?;
        let mut done = 0;
        while let Some(rows) = cursor.next_batch(BATCH)? {
            let mut updates = Vec::with_capacity(rows.len());
            for row in &rows {
                let name: String = row.get("full_name")?;
                let email: String = row.get("email")?;
                let (first, last) = match name.trim().rsplit_once(' ') {
                    Some((first, last)) => (first.to_string(), Some(last.to_string())),
                    None => (name.trim().to_string(), None),
                };
                updates.push(params![first, last, email.trim().to_lowercase(), row.get::<i64>("id")?]);
            }
            db::execute_many(
                "UPDATE people SET first_name = ?, last_name = ?, email = ? WHERE id = ?",
                &updates,
            )?;
            done += rows.len() as u64;
            log::progress(done, None);
        }
        log::info(format!("split {done} names"));
        Ok(())
    }

    fn downgrade(_ctx: &Context) -> Result<()> {
        // The original email case is not kept: lower-cased emails stay.
        db::execute_script(
            "UPDATE people SET full_name = first_name || COALESCE(' ' || last_name, '');
             ALTER TABLE people DROP COLUMN last_name;
             ALTER TABLE people DROP COLUMN first_name;",
        )?;
        Ok(())
    }
}

aludel_sdk::export!(Revision);
