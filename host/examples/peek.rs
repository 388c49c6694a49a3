//! Prints the rows of one query against a SQLite file, for the demo script:
//! `cargo run --example peek -- demo.db "SELECT * FROM people"`.
//! It opens the file read-only and needs no sqlite3 binary on the machine.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{AssertSqlSafe, Column, ConnectOptions, Row, TypeInfo, ValueRef};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(sql)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: peek DATABASE_FILE SQL");
    };
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
        .read_only(true)
        .connect()
        .await?;
    let rows: Vec<SqliteRow> = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut conn).await?;
    let Some(first) = rows.first() else {
        println!("(no rows)");
        return Ok(());
    };
    let header: Vec<String> = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let table: Vec<Vec<String>> = rows.iter().map(cells).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(&header));
    for row in &table {
        println!("{}", line(row));
    }
    Ok(())
}

fn cells(row: &SqliteRow) -> Vec<String> {
    (0..row.len())
        .map(|i| match row.try_get_raw(i) {
            Ok(raw) if raw.is_null() => "NULL".to_string(),
            Ok(raw) => match raw.type_info().name() {
                "INTEGER" => row.get::<i64, _>(i).to_string(),
                "REAL" => row.get::<f64, _>(i).to_string(),
                "BLOB" => format!("<{} bytes>", row.get::<Vec<u8>, _>(i).len()),
                _ => row.get::<String, _>(i),
            },
            Err(e) => format!("<{e}>"),
        })
        .collect()
}
