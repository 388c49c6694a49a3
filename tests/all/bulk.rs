//! `execute-many` in bulk (docs/runtime.md, "execute-many"): every row
//! gets what binding it alone would give it, rows run in order and the
//! first failure names its row, and a call crosses the network a bounded
//! number of times whatever its row count. Through the library, on a
//! database of each backend's own.

use std::time::Duration;

use aludel::db::{self, Connection, Dialect, Value};

use crate::support::{Backend, TestProject, block_on, on_every_backend};

#[path = "../../host/benches/support/proxy.rs"]
#[allow(dead_code)]
mod proxy;

/// A table for every kind of value the contract has, in the dialect's types.
fn kinds_table(dialect: Dialect, name: &str) -> String {
    let columns = match dialect {
        Dialect::Sqlite => "id INTEGER, t TEXT, b BLOB, f REAL, flag INTEGER, d TEXT, j TEXT",
        Dialect::Postgresql => {
            "id bigint, t text, b bytea, f float8, flag boolean, d date, j jsonb, \
             ts timestamptz, n numeric, u uuid, tm time, lts timestamp"
        }
        Dialect::Mysql => {
            "id bigint, t text, b blob, f double, flag boolean, d date, j json, \
             ts datetime(6), n decimal(20,6), u char(36), tm time(6), lts datetime(6)"
        }
    };
    format!("CREATE TABLE {name} ({columns})")
}

/// Rows that try every way a value could be spelled wrong in SQL text.
fn kinds_rows(dialect: Dialect) -> Vec<Vec<Value>> {
    let texts = [
        "plain",
        "",
        "it's",
        "back\\slash",
        "\\'); COMMIT; --",
        "naïve 🦀 \u{7f}",
        "$1 ? $$ $aludel$",
    ];
    let mut rows = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let id = i as i64 + 1;
        let mut row = vec![
            Value::Integer(id),
            Value::Text(text.to_string()),
            Value::Blob(vec![0, 39, 92, 255, id as u8]),
            Value::Float([0.1, -1e300, 2.5e-308, 3.0, 0.30000000000000004, -0.0, 1e22][i]),
            Value::Boolean(i % 2 == 0),
            Value::Date(format!("2024-0{}-1{}", i % 9 + 1, i)),
            Value::Json(format!(r#"{{"k": "{}", "n": [{id}, null]}}"#, i)),
        ];
        if dialect != Dialect::Sqlite {
            row.extend([
                Value::Timestamptz(format!("2024-03-0{}T12:30:00.25+0{}:00", i + 1, i % 3)),
                Value::Decimal(format!("-{id}23.4500")),
                Value::Uuid(format!("67e55044-10b1-426f-9247-bb680e5fe0c{i}")),
                Value::Time(format!("0{i}:15:30.5")),
                Value::Timestamp(format!("2023-12-3{}T23:59:59", i % 2)),
            ]);
        }
        rows.push(row);
    }
    // A first row of NULLs: the types come from the statement, as bound.
    let width = rows[0].len();
    let mut nulls = vec![Value::Null; width];
    nulls[0] = Value::Integer(0);
    rows.insert(0, nulls);
    if dialect == Dialect::Postgresql {
        let mut row = rows[1].clone();
        row[0] = Value::Integer(100);
        row[3] = Value::Float(f64::NAN);
        rows.push(row.clone());
        row[0] = Value::Integer(101);
        row[3] = Value::Float(f64::NEG_INFINITY);
        rows.push(row);
    }
    rows
}

fn insert(dialect: Dialect, table: &str, width: usize) -> String {
    let marks: Vec<String> = (1..=width)
        .map(|n| match dialect {
            Dialect::Postgresql => format!("${n}"),
            _ => "?".to_string(),
        })
        .collect();
    format!("INSERT INTO {table} VALUES ({})", marks.join(", "))
}

/// The session settings a revision may change that would make a naive
/// literal mean something else.
fn hostile_settings(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "PRAGMA case_sensitive_like = ON",
        Dialect::Postgresql => "SET standard_conforming_strings = off",
        Dialect::Mysql => "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
    }
}

async fn open(p: &TestProject) -> Box<dyn Connection> {
    db::connect(&p.url())
        .await
        .expect("the test database opens")
}

fn execute_many_stores_what_binding_each_row_alone_stores(backend: Backend) {
    let p = TestProject::on(backend);
    block_on(async {
        let mut conn = open(&p).await;
        let dialect = conn.dialect();
        conn.begin().await.expect("begins");
        conn.execute_script(&kinds_table(dialect, "one_by_one"))
            .await
            .expect("a table");
        conn.execute_script(&kinds_table(dialect, "in_bulk"))
            .await
            .expect("a table");
        conn.execute_script(hostile_settings(dialect))
            .await
            .expect("the session is changed as a revision may");
        let rows = kinds_rows(dialect);
        let width = rows[0].len();
        for row in rows.clone() {
            conn.execute(&insert(dialect, "one_by_one", width), row)
                .await
                .expect("a row bound alone");
        }
        let changed = conn
            .execute_many(&insert(dialect, "in_bulk", width), rows.clone())
            .await
            .expect("the rows in bulk");
        assert_eq!(changed, rows.len() as u64);
        let read = |table: &str| format!("SELECT * FROM {table} ORDER BY id");
        let expected = conn.query(&read("one_by_one"), Vec::new()).await.unwrap();
        let got = conn.query(&read("in_bulk"), Vec::new()).await.unwrap();
        assert_eq!(got.rows.len(), rows.len());
        // As text: NaN is not equal to itself.
        assert_eq!(format!("{got:?}"), format!("{expected:?}"));
        // A value is what was sent, not what a session setting made of it.
        let texts = conn
            .query("SELECT t FROM in_bulk WHERE id = 5", Vec::new())
            .await
            .unwrap();
        assert_eq!(
            texts.rows,
            vec![vec![Value::Text("\\'); COMMIT; --".into())]]
        );
        conn.rollback().await.expect("rolls back");
    });
}

fn a_failing_row_fails_execute_many_naming_it_and_no_later_row_runs(backend: Backend) {
    let p = TestProject::on(backend);
    block_on(async {
        let mut conn = open(&p).await;
        let dialect = conn.dialect();
        conn.execute_script("CREATE TABLE keyed (id INTEGER PRIMARY KEY)")
            .await
            .expect("a table");
        conn.begin().await.expect("begins");
        let rows: Vec<Vec<Value>> = [1, 2, 3, 4, 5, 3, 7, 8]
            .into_iter()
            .map(|id| vec![Value::Integer(id)])
            .collect();
        let e = conn
            .execute_many(&insert(dialect, "keyed", 1), rows)
            .await
            .expect_err("a duplicate key fails the call");
        assert!(e.message.starts_with("row 6 of 8 of execute-many: "), "{e}");
        let duplicate = match dialect {
            Dialect::Sqlite => "1555",
            Dialect::Postgresql => "23505",
            Dialect::Mysql => "1062",
        };
        assert_eq!(e.code.as_deref(), Some(duplicate), "{e}");
        if dialect != Dialect::Postgresql {
            // PostgreSQL has aborted the transaction; the others show that
            // the rows before the failing one ran and none after it.
            let ids = conn
                .query("SELECT id FROM keyed ORDER BY id", Vec::new())
                .await
                .unwrap();
            let ids: Vec<Value> = ids.rows.into_iter().flatten().collect();
            assert_eq!(ids, (1..=5).map(Value::Integer).collect::<Vec<_>>());
        }
        conn.rollback().await.expect("rolls back");
        let left = conn
            .query("SELECT id FROM keyed", Vec::new())
            .await
            .unwrap();
        assert!(left.rows.is_empty(), "{left:?}");
    });
}

fn execute_many_refuses_sql_that_holds_two_statements(backend: Backend) {
    let p = TestProject::on(backend);
    block_on(async {
        let mut conn = open(&p).await;
        let dialect = conn.dialect();
        conn.execute_script("CREATE TABLE two (id INTEGER)")
            .await
            .expect("a table");
        conn.begin().await.expect("begins");
        let sql = format!("{}; DELETE FROM two", insert(dialect, "two", 1));
        conn.execute_many(&sql, vec![vec![Value::Integer(1)]])
            .await
            .expect_err("two statements are refused");
        conn.rollback().await.expect("rolls back");
        let left = conn.query("SELECT id FROM two", Vec::new()).await.unwrap();
        assert!(left.rows.is_empty(), "{left:?}");
    });
}

on_every_backend!(
    execute_many_stores_what_binding_each_row_alone_stores,
    a_failing_row_fails_execute_many_naming_it_and_no_later_row_runs,
    execute_many_refuses_sql_that_holds_two_statements,
);

/// Through a proxy that counts the client's turns: 25,000 rows cost a few
/// round trips, not one each.
fn execute_many_crosses_the_network_a_bounded_number_of_times(backend: Backend) {
    let p = TestProject::on(backend);
    block_on(async {
        let upstream = match backend {
            Backend::Postgres => "127.0.0.1:5432",
            _ => "127.0.0.1:3306",
        };
        let proxy = proxy::Proxy::start(upstream, Duration::ZERO)
            .await
            .expect("the proxy listens");
        let mut conn = db::connect(&proxy.url_for(&p.url()))
            .await
            .expect("connects through the proxy");
        let dialect = conn.dialect();
        conn.execute_script("CREATE TABLE many (id BIGINT PRIMARY KEY, t TEXT)")
            .await
            .expect("a table");
        conn.begin().await.expect("begins");
        let rows: Vec<Vec<Value>> = (0..25_000)
            .map(|i| vec![Value::Integer(i), Value::Text(format!("row {i}"))])
            .collect();
        let before = proxy.turns();
        let changed = conn
            .execute_many(&insert(dialect, "many", 2), rows)
            .await
            .expect("inserts");
        let turns = proxy.turns() - before;
        assert_eq!(changed, 25_000);
        // Three scripts of at most 10,000 rows, the prepare and the
        // statement cache's cleanup: a handful, where one a row is 25,000.
        assert!(
            (1..=10).contains(&turns),
            "{turns} round trips for 25,000 rows"
        );
        conn.commit().await.expect("commits");
        let count = conn
            .query("SELECT count(*) FROM many", Vec::new())
            .await
            .unwrap();
        assert_eq!(count.rows, vec![vec![Value::Integer(25_000)]]);
    });
}

#[test]
fn on_postgres_execute_many_crosses_the_network_a_bounded_number_of_times() {
    execute_many_crosses_the_network_a_bounded_number_of_times(Backend::Postgres);
}

#[test]
fn on_mysql_execute_many_crosses_the_network_a_bounded_number_of_times() {
    execute_many_crosses_the_network_a_bounded_number_of_times(Backend::Mysql);
}
