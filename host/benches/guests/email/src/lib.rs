//! `users.email_norm = lower(trim(email))` and `users.email_hash` = the
//! hex SHA-256 of it, for every row: read through a cursor in batches,
//! written back with one `execute_many` per batch.

use aludel_sdk::{Context, Migration, Result, Value, db, params};
use sha2::{Digest, Sha256};

const BATCH: u32 = 10_000;

struct NormaliseEmails;

impl Migration for NormaliseEmails {
    fn upgrade(_ctx: &Context) -> Result<()> {
        let d = db::dialect();
        let update = format!(
            "UPDATE users SET email_norm = {}, email_hash = {} WHERE id = {}",
            d.placeholder(1),
            d.placeholder(2),
            d.placeholder(3)
        );
        let mut cursor = db::cursor("SELECT id, email FROM users ORDER BY id", &[])?;
        while let Some(rows) = cursor.next_batch(BATCH)? {
            let mut batch = Vec::with_capacity(rows.len());
            for row in &rows {
                let email: String = row.get("email")?;
                let norm = email.trim().to_lowercase();
                let hash = hex(&Sha256::digest(norm.as_bytes()));
                batch.push(params![norm, hash, row.get::<Value>("id")?]);
            }
            db::execute_many(&update, &batch)?;
        }
        Ok(())
    }

    fn downgrade(_ctx: &Context) -> Result<()> {
        db::execute("UPDATE users SET email_norm = NULL, email_hash = NULL", &[])?;
        Ok(())
    }
}

aludel_sdk::export!(NormaliseEmails);

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}
