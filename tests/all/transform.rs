//! A Rust data-transform revision: reads rows through a cursor, writes them
//! back with execute-many while the cursor is open, and reverses it.

use crate::support::{TestProject, fixtures};

pub(crate) const ROWS: usize = 2_500;

pub(crate) fn full_name(i: usize) -> Option<String> {
    match i % 5 {
        0 => Some(format!("First{i} Last{i}")),
        1 => Some(format!("Mononym{i}")),
        2 => Some(format!("  Spaced{i}   Out {i}  ")),
        3 => None,
        _ => Some(format!("Jean-Luc{i} Picard{i}")),
    }
}

pub(crate) fn expected_split(name: &Option<String>) -> (String, String) {
    let Some(name) = name else {
        return ("NULL".into(), "NULL".into());
    };
    let name = name.trim();
    match name.split_once(' ') {
        Some((first, last)) => (first.to_string(), last.trim().to_string()),
        None => (name.to_string(), "NULL".into()),
    }
}

#[test]
fn a_rust_revision_splits_names_through_a_cursor_and_its_downgrade_joins_them() {
    let p = TestProject::new();
    let mut insert = String::from(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, full_name TEXT);\nINSERT INTO people (id, full_name) VALUES\n",
    );
    let values: Vec<String> = (0..ROWS)
        .map(|i| match full_name(i) {
            Some(n) => format!("({i}, '{n}')"),
            None => format!("({i}, NULL)"),
        })
        .collect();
    insert.push_str(&values.join(",\n"));
    insert.push_str(";\n");
    p.sql_revision("people000001", None, &insert, "DROP TABLE people;");
    p.component_revision(
        "split0000002",
        Some("people000001"),
        &fixtures().transform,
        "",
    );

    p.ok(&["upgrade", "head"]);
    let rows = p.query("SELECT id, first_name, last_name FROM people ORDER BY id");
    assert_eq!(rows.len(), ROWS);
    for (i, row) in rows.iter().enumerate() {
        let (first, last) = expected_split(&full_name(i));
        assert_eq!(row, &vec![i.to_string(), first, last], "row {i}");
    }

    p.ok(&["downgrade", "-1"]);
    assert_eq!(
        p.query("SELECT name FROM pragma_table_info('people') ORDER BY cid"),
        vec![vec!["id"], vec!["full_name"]]
    );
    let rows = p.query("SELECT id, full_name FROM people ORDER BY id");
    for (i, row) in rows.iter().enumerate() {
        let expected = match expected_split(&full_name(i)) {
            (first, _) if first == "NULL" => "NULL".to_string(),
            (first, last) if last == "NULL" => first,
            (first, last) => format!("{first} {last}"),
        };
        assert_eq!(row[1], expected, "row {i}");
    }
}
