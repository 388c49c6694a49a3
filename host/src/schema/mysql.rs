//! MySQL and MariaDB: reading a schema from `information_schema` and
//! writing changes as `ALTER TABLE`.
//!
//! One inspection is a fixed number of catalog queries for the whole
//! database (the server's version, TABLES, COLUMNS, STATISTICS, the
//! foreign keys of KEY_COLUMN_USAGE and REFERENTIAL_CONSTRAINTS, the
//! checks, VIEWS and on MySQL VIEW_TABLE_USAGE), however many tables it
//! has: `SHOW CREATE TABLE` is not read. Every compared field is in the
//! catalog, and the definition text a renderer needs (a column's for
//! `MODIFY COLUMN`, a table's `CREATE TABLE`) is written from those fields
//! in the order `SHOW CREATE TABLE` uses, so that one code path serves a
//! plain `CREATE TABLE` and one that leaves out a key closing a cycle.
//! What the catalog does not carry (partitioning, index comments,
//! `KEY_BLOCK_SIZE` of an index) is neither compared nor copied; a
//! partitioned table is refused rather than copied without its partitions.
//!
//! Representation choices, which both sides of a comparison share:
//!
//! - A unique index is a [`ConstraintKind::Unique`] constraint named by the
//!   index (on MySQL a `UNIQUE` constraint *is* a unique index: the two
//!   cannot be told apart). [`Table::indexes`] holds the non-unique ones
//!   only (plain, `FULLTEXT`, `SPATIAL`).
//! - The primary key is named `PRIMARY`.
//! - `ON UPDATE CURRENT_TIMESTAMP` is part of the default's text:
//!   `current_timestamp() ON UPDATE current_timestamp()`, or `NULL ON
//!   UPDATE ...` for a nullable column without a default.
//! - MariaDB keeps a column-level `CHECK` (and the `json_valid` check of a
//!   `JSON` column, which MariaDB stores as `longtext`) with the column: a
//!   `MODIFY COLUMN` that does not restate it drops it, and `DROP
//!   CONSTRAINT` cannot reach it. It is therefore part of the column's type
//!   (`longtext CHECK (json_valid(`j`))`), so that changing it modifies the
//!   column. Table-level checks, and every check on MySQL 8 (where a
//!   column-level check is an ordinary named constraint), are constraints.
//! - `RESTRICT` and `NO ACTION` are the same in InnoDB (MariaDB reports a
//!   rule left out as `RESTRICT`, MySQL 8 as `NO ACTION`): both are left
//!   out of a foreign key's definition.
//! - Views: the query as `VIEW_DEFINITION` has it with the database's own
//!   name removed; `ALGORITHM`, `DEFINER` and `SQL SECURITY` are not
//!   compared and a created view takes the server's defaults.
//! - Not compared: `AUTO_INCREMENT=n` and everything else rows change,
//!   triggers, routines, events, MariaDB's sequences (`Schema::sequences`
//!   stays empty on MySQL: a sequence is left out, not refused, like a
//!   trigger), `INVISIBLE` columns' visibility.
//!
//! The residual normalisation ([`normal_default`], [`unqualify`],
//! [`check_clause`], [`fk_rule`]), applied to both sides alike:
//!
//! | what | MariaDB says | MySQL 8 says | the model |
//! |---|---|---|---|
//! | no default | `NULL` (a string) | SQL NULL | none |
//! | a text default | `'x'` | `x` | `'x'` |
//! | a number default | `3` | `3` | `3` |
//! | the current time | `current_timestamp()` | `CURRENT_TIMESTAMP` + `DEFAULT_GENERATED` | `current_timestamp()` |
//! | an expression default | `concat('a','b')` | `concat(...)` + `DEFAULT_GENERATED` | `(concat('a','b'))` |
//! | `ON UPDATE` | EXTRA `on update current_timestamp()` | EXTRA `on update CURRENT_TIMESTAMP` | appended to the default |
//! | a check | `` `a` > 0 `` | `` (`a` > 0) `` | `` CHECK (`a` > 0) `` |
//! | a view, expression | `` `db`.`t`.`a` `` | `` `db`.`t`.`a` `` | `` `t`.`a` `` |
//! | rule left out | `RESTRICT` | `NO ACTION` | left out |
//!
//! Servers: MariaDB 10.5 and later (`RENAME COLUMN`), MySQL 8.0.19 and
//! later (`DROP CONSTRAINT` for a check, which MariaDB also spells so).
//! MariaDB 10.11 is what this is tested on; the MySQL 8 branches
//! (unquoted defaults, `DEFAULT_GENERATED`, CHECK_CONSTRAINTS without a
//! table name, functional index parts in STATISTICS.EXPRESSION,
//! `IS_VISIBLE`, VIEW_TABLE_USAGE) are written from MySQL's reference
//! manual and its unit tests here are of the normalisation only.
//!
//! MySQL commits each DDL statement: a revision that fails half-way keeps
//! what ran. Each change is therefore one statement where it can be.
//!
//! Not handled, and refused by the proof rather than written wrong: a
//! column whose type changes while a foreign key uses it (MySQL wants the
//! key dropped around it, or both sides changed with checks off), and a
//! primary key dropped with no replacement while its column stays
//! `AUTO_INCREMENT`. A renamed MariaDB column with a column-level check
//! (a `JSON` one included) is not offered as a rename candidate, its type
//! text naming the column: say `--rename` for it.

use std::collections::{BTreeMap, BTreeSet};

use super::value::{int, opt, text};
use super::{
    Change, Column, Constraint, ConstraintKind, Generated, Index, Schema, SchemaError, Scope, Step,
    Table, View,
};
use crate::db::{Connection, Dialect, Value};

const D: Dialect = Dialect::Mysql;

fn q(name: &str) -> String {
    super::ident(D, name)
}

/// A string literal, as MySQL reads it with its default `sql_mode` (a
/// backslash escapes).
fn lit(s: &str) -> String {
    super::lit(D, s)
}

/// Which server answered, for the few catalog columns they spell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Server {
    mariadb: bool,
    version: (u32, u32, u32),
}

impl Server {
    fn parse(version: &str) -> Server {
        let mariadb = version.to_ascii_lowercase().contains("mariadb");
        let mut parts = version
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let mut next = || parts.next().unwrap_or(0);
        Server {
            mariadb,
            version: (next(), next(), next()),
        }
    }
}

async fn rows(
    conn: &mut dyn Connection,
    what: &str,
    sql: &str,
) -> Result<Vec<Vec<Value>>, SchemaError> {
    Ok(conn
        .query(sql, Vec::new())
        .await
        .map_err(SchemaError::inspect(what))?
        .rows)
}

/// Reads the schema of the connection's database (`DATABASE()`).
pub async fn inspect(conn: &mut dyn Connection, scope: &Scope) -> Result<Schema, SchemaError> {
    let head = rows(conn, "the server's version", "SELECT VERSION(), DATABASE()").await?;
    let (version, db) = match head.first() {
        Some(r) => (text(&r[0]), opt(&r[1])),
        None => (String::new(), None),
    };
    let db = db.ok_or_else(|| SchemaError::Unsupported {
        what: "a MySQL connection without a database".into(),
        why: "name the database in the URL (mysql://host/DATABASE)".into(),
    })?;
    let server = Server::parse(&version);
    let too_old = if server.mariadb {
        server.version < (10, 5, 0)
    } else {
        server.version < (8, 0, 19)
    };
    if too_old {
        return Err(SchemaError::Unsupported {
            what: format!("a schema on {version}"),
            why: "aludel compares MySQL 8.0.19 and later and MariaDB 10.5 and later \
                  (RENAME COLUMN, enforced CHECK constraints, DROP CONSTRAINT)"
                .into(),
        });
    }
    let keep = |name: &str| !scope.excludes(D, name);

    // Tables and their options.
    let mut schema = Schema::default();
    let mut defaults: BTreeMap<String, String> = BTreeMap::new(); // table → collation
    for r in rows(
        conn,
        "information_schema.TABLES",
        "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION, CREATE_OPTIONS, TABLE_COMMENT \
         FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
    )
    .await?
    {
        let name = text(&r[0]);
        if !keep(&name) {
            continue;
        }
        match text(&r[1]).as_str() {
            "BASE TABLE" => {}
            "SYSTEM VERSIONED" => {
                return Err(SchemaError::Unsupported {
                    what: format!("table {name}"),
                    why: "aludel does not compare system-versioned tables: add it to \
                          `[models] exclude`"
                        .into(),
                });
            }
            // Views are read from VIEWS; MariaDB's sequences are not compared.
            _ => continue,
        }
        let collation = text(&r[3]);
        let options = table_options(&name, &text(&r[2]), &collation, &text(&r[4]))?;
        let comment = Some(text(&r[5])).filter(|c| !c.is_empty());
        defaults.insert(name.clone(), collation);
        schema.tables.insert(
            name.clone(),
            Table {
                name,
                options,
                comment,
                ..Table::default()
            },
        );
    }

    // MariaDB's column-level checks belong to their column (see above).
    let mut checks: Vec<(String, String, String, bool)> = Vec::new(); // table, name, clause, column-level
    let check_sql = if server.mariadb {
        "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE, LEVEL \
         FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, CONSTRAINT_NAME"
    } else {
        // MySQL's CHECK_CONSTRAINTS has no table name; names are unique in
        // a database there.
        "SELECT tc.TABLE_NAME, tc.CONSTRAINT_NAME, cc.CHECK_CLAUSE, tc.ENFORCED \
         FROM information_schema.TABLE_CONSTRAINTS tc \
         JOIN information_schema.CHECK_CONSTRAINTS cc \
           ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
         WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.CONSTRAINT_TYPE = 'CHECK' \
         ORDER BY tc.TABLE_NAME, tc.CONSTRAINT_NAME"
    };
    let check_sql = if server.mariadb && server.version < (10, 5, 10) {
        // LEVEL came with 10.5.10: before it, a check named like a column
        // is taken for that column's.
        check_sql.replace("LEVEL", "'?'")
    } else {
        check_sql.to_string()
    };
    for r in rows(conn, "information_schema.CHECK_CONSTRAINTS", &check_sql).await? {
        let table = text(&r[0]);
        if !schema.tables.contains_key(&table) {
            continue;
        }
        let mut clause = check_clause(&unqualify(&text(&r[2]), &db).0);
        let column_level = if server.mariadb {
            // "?": decided below, once the columns are known.
            matches!(text(&r[3]).as_str(), "Column" | "?")
        } else {
            if text(&r[3]).eq_ignore_ascii_case("NO") {
                // MySQL 8's `CHECK (x) NOT ENFORCED`.
                clause = format!("{clause}) NOT ENFORCED");
            }
            false
        };
        checks.push((table, text(&r[1]), clause, column_level));
    }

    // Columns; their definitions are written once the checks are placed.
    let mut spelling: BTreeMap<(String, String), (Option<String>, bool)> = BTreeMap::new();
    for r in rows(
        conn,
        "information_schema.COLUMNS",
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, \
         GENERATION_EXPRESSION, CHARACTER_SET_NAME, COLLATION_NAME, COLUMN_COMMENT \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    .await?
    {
        let tname = text(&r[0]);
        let Some(table) = schema.tables.get_mut(&tname) else {
            continue;
        };
        let name = text(&r[1]);
        let data_type = text(&r[2]);
        let extra = text(&r[5]);
        let extra_l = extra.to_ascii_lowercase();
        let generated = if extra_l.contains("generated") && !extra_l.contains("default_generated") {
            let expression = unqualify(&text(&r[6]), &db).0;
            Some(Generated {
                expression: if server.mariadb {
                    expression
                } else {
                    mysql_unescape(&expression)
                },
                stored: extra_l.contains("stored"),
            })
        } else {
            None
        };
        let identity = extra_l
            .contains("auto_increment")
            .then(|| "auto_increment".to_string());
        let nullable = text(&r[3]) == "YES";
        let default = if generated.is_some() || identity.is_some() {
            None
        } else {
            let raw = opt(&r[4]).map(|d| unqualify(&d, &db).0);
            normal_default(
                raw.as_deref(),
                &data_type,
                server.mariadb,
                extra_l.contains("default_generated"),
                on_update(&extra).as_deref(),
                nullable,
            )
        };
        let collation = opt(&r[8]).filter(|c| Some(c) != defaults.get(&tname));
        let charset = opt(&r[7]);
        let comment = Some(text(&r[9])).filter(|c| !c.is_empty());
        let invisible = extra_l.contains("invisible");
        let column = Column {
            name,
            data_type,
            nullable,
            default,
            identity,
            generated,
            collation,
            comment,
            definition: None,
        };
        spelling.insert((tname, column.name.clone()), (charset, invisible));
        table.columns.push(column);
    }
    for (table, name, clause, column_level) in checks {
        let Some(t) = schema.tables.get_mut(&table) else {
            continue;
        };
        // A MariaDB column-level check is part of its column's type. It is
        // named after the column, but keeps that name when the column is
        // renamed; it reads only its own column, so the column it names in
        // its clause is the one.
        let column = if column_level {
            t.columns
                .iter()
                .position(|c| c.name == name)
                .or_else(|| t.columns.iter().position(|c| clause.contains(&q(&c.name))))
        } else {
            None
        };
        if let Some(at) = column {
            t.columns[at]
                .data_type
                .push_str(&format!(" CHECK ({clause})"));
            continue;
        }
        t.constraints.push(Constraint {
            name: Some(name),
            kind: ConstraintKind::Check,
            columns: Vec::new(),
            definition: check_definition(&clause),
            references: None,
        });
    }
    for t in schema.tables.values_mut() {
        for c in t.columns.iter_mut() {
            let (charset, invisible) = spelling
                .remove(&(t.name.clone(), c.name.clone()))
                .unwrap_or_default();
            c.definition = Some(column_definition(c, charset.as_deref(), invisible));
        }
    }

    // Indexes: the primary key, unique constraints, the rest.
    let stats_sql = if server.mariadb {
        let ignored = if server.version >= (10, 6, 0) {
            "IGNORED"
        } else {
            "'NO'"
        };
        format!(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, COLLATION, SUB_PART, \
             INDEX_TYPE, NULL, {ignored} \
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
             ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
        )
    } else {
        // IS_VISIBLE = 'NO' is an invisible index; EXPRESSION is a
        // functional key part's (8.0.13).
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, COLLATION, SUB_PART, \
         INDEX_TYPE, EXPRESSION, CASE IS_VISIBLE WHEN 'NO' THEN 'YES' ELSE 'NO' END \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
            .to_string()
    };
    let mut indexes: BTreeMap<(String, String), Vec<Vec<Value>>> = BTreeMap::new();
    for r in rows(conn, "information_schema.STATISTICS", &stats_sql).await? {
        if schema.tables.contains_key(&text(&r[0])) {
            indexes
                .entry((text(&r[0]), text(&r[1])))
                .or_default()
                .push(r);
        }
    }
    for ((tname, iname), parts) in indexes {
        let table = schema.tables.get_mut(&tname).expect("read above");
        let unique = int(&parts[0][2]) == 0;
        let kind = text(&parts[0][6]).to_ascii_uppercase();
        let hidden = text(&parts[0][8]).eq_ignore_ascii_case("YES");
        let columns: Vec<String> = parts.iter().filter_map(|p| opt(&p[3])).collect();
        let key = parts
            .iter()
            .map(|p| {
                key_part(
                    opt(&p[3]).as_deref(),
                    opt(&p[7]).map(|e| unqualify(&e, &db).0).as_deref(),
                    opt(&p[5]).map(|s| int(&Value::Text(s))),
                    opt(&p[4]).as_deref() == Some("D"),
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut tail = String::new();
        if kind == "HASH" || (kind == "RTREE" && unique) {
            tail.push_str(&format!(" USING {kind}"));
        }
        if hidden {
            tail.push_str(if server.mariadb {
                " IGNORED"
            } else {
                " INVISIBLE"
            });
        }
        if iname == "PRIMARY" {
            table.primary_key = Some(Constraint {
                name: Some(iname),
                kind: ConstraintKind::PrimaryKey,
                columns,
                definition: format!("PRIMARY KEY ({key}){tail}"),
                references: None,
            });
        } else if unique {
            table.constraints.push(Constraint {
                name: Some(iname),
                kind: ConstraintKind::Unique,
                columns,
                definition: format!("UNIQUE ({key}){tail}"),
                references: None,
            });
        } else {
            let prefix = match kind.as_str() {
                "FULLTEXT" | "SPATIAL" => format!("{kind} "),
                _ => String::new(),
            };
            table.indexes.push(Index {
                name: iname,
                unique: false,
                columns,
                definition: format!("{prefix}({key}){tail}"),
                create_sql: None,
            });
        }
    }

    // Foreign keys.
    let mut fks: BTreeMap<(String, String), Vec<Vec<Value>>> = BTreeMap::new();
    for r in rows(
        conn,
        "information_schema.KEY_COLUMN_USAGE",
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, \
         k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE \
         FROM information_schema.KEY_COLUMN_USAGE k \
         JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
           ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME \
          AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
         WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
    )
    .await?
    {
        if schema.tables.contains_key(&text(&r[0])) {
            fks.entry((text(&r[0]), text(&r[1]))).or_default().push(r);
        }
    }
    for ((tname, name), parts) in fks {
        let first = &parts[0];
        let (ref_db, ref_table) = (text(&first[3]), text(&first[4]));
        let columns: Vec<String> = parts.iter().map(|p| text(&p[2])).collect();
        let referenced: Vec<String> = parts.iter().map(|p| q(&text(&p[5]))).collect();
        let target = if ref_db == db {
            q(&ref_table)
        } else {
            format!("{}.{}", q(&ref_db), q(&ref_table))
        };
        let mut definition = format!(
            "FOREIGN KEY ({}) REFERENCES {target} ({})",
            columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", "),
            referenced.join(", ")
        );
        if let Some(rule) = fk_rule(&text(&first[7])) {
            definition.push_str(&format!(" ON DELETE {rule}"));
        }
        if let Some(rule) = fk_rule(&text(&first[6])) {
            definition.push_str(&format!(" ON UPDATE {rule}"));
        }
        let table = schema.tables.get_mut(&tname).expect("read above");
        table.constraints.push(Constraint {
            name: Some(name),
            kind: ConstraintKind::ForeignKey,
            columns,
            definition,
            references: (ref_db == db).then_some(ref_table),
        });
    }
    for table in schema.tables.values_mut() {
        table.constraints.sort_by_key(Constraint::key);
        table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        table.create_sql = Some(create_table(table, &[]));
    }

    // Views.
    let mut usage: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let has_usage = !server.mariadb;
    if has_usage {
        for r in rows(
            conn,
            "information_schema.VIEW_TABLE_USAGE",
            "SELECT VIEW_NAME, TABLE_NAME FROM information_schema.VIEW_TABLE_USAGE \
             WHERE VIEW_SCHEMA = DATABASE() AND TABLE_SCHEMA = DATABASE()",
        )
        .await?
        {
            usage.entry(text(&r[0])).or_default().insert(text(&r[1]));
        }
    }
    let view_rows = rows(
        conn,
        "information_schema.VIEWS",
        "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION FROM information_schema.VIEWS \
         WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
    )
    .await?;
    let view_names: BTreeSet<String> = view_rows.iter().map(|r| text(&r[0])).collect();
    for r in view_rows {
        let name = text(&r[0]);
        if !keep(&name) {
            continue;
        }
        let raw = text(&r[1]);
        if raw.trim().is_empty() {
            return Err(SchemaError::Unsupported {
                what: format!("view {name}"),
                why: "the server does not show its definition: grant the connection SHOW VIEW"
                    .into(),
            });
        }
        let (mut definition, qualified) = unqualify(&raw, &db);
        // WITH CHECK OPTION is kept apart from the query.
        let check = text(&r[2]).to_ascii_uppercase();
        if check == "CASCADED" || check == "LOCAL" {
            definition.push_str(&format!(" WITH {check} CHECK OPTION"));
        }
        let known =
            |n: &String| n != &name && (schema.tables.contains_key(n) || view_names.contains(n));
        let depends_on: Vec<String> = if has_usage {
            usage.remove(&name).unwrap_or_default()
        } else {
            qualified
        }
        .into_iter()
        .filter(known)
        .collect();
        schema.views.insert(
            name.clone(),
            View {
                create_sql: Some(format!("CREATE VIEW {} AS {definition}", q(&name))),
                name,
                definition,
                depends_on,
            },
        );
    }
    Ok(schema)
}

/// `ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
/// with the explicit options of CREATE_OPTIONS (`ROW_FORMAT=DYNAMIC`).
fn table_options(
    table: &str,
    engine: &str,
    collation: &str,
    create_options: &str,
) -> Result<String, SchemaError> {
    let mut out = Vec::new();
    if !engine.is_empty() {
        out.push(format!("ENGINE={engine}"));
    }
    if !collation.is_empty() {
        // A collation's name begins with its character set's.
        let charset = collation.split('_').next().unwrap_or(collation);
        out.push(format!("DEFAULT CHARSET={charset} COLLATE={collation}"));
    }
    for option in create_options.split_whitespace() {
        if option.eq_ignore_ascii_case("partitioned") {
            return Err(SchemaError::Unsupported {
                what: format!("table {table}"),
                why: "aludel does not compare or copy partitioning: add the table to \
                      `[models] exclude`"
                    .into(),
            });
        }
        match option.split_once('=') {
            Some((k, v)) => out.push(format!("{}={v}", k.trim_matches('`').to_uppercase())),
            None => out.push(option.to_uppercase()),
        }
    }
    Ok(out.join(" "))
}

/// `on update current_timestamp()` of EXTRA, normalised.
fn on_update(extra: &str) -> Option<String> {
    let lower = extra.to_ascii_lowercase();
    let at = lower.find("on update ")?;
    let expr = extra[at + "on update ".len()..]
        .split_whitespace()
        .next()
        .unwrap_or("");
    Some(normal_now(expr).unwrap_or_else(|| expr.to_string()))
}

/// `CURRENT_TIMESTAMP`, `current_timestamp()`, `now(3)`… as
/// `current_timestamp()` or `current_timestamp(3)`; None for anything else.
fn normal_now(expr: &str) -> Option<String> {
    let e = expr.trim().to_ascii_lowercase();
    let (name, args) = match e.find('(') {
        Some(open) if e.ends_with(')') => (&e[..open], e[open + 1..e.len() - 1].trim()),
        Some(_) => return None,
        None => (e.as_str(), ""),
    };
    let is_now = matches!(
        name.trim(),
        "current_timestamp" | "now" | "localtime" | "localtimestamp"
    );
    (is_now && args.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("current_timestamp({args})"))
}

/// COLUMN_DEFAULT in the model's one form (the table in the module
/// documentation): MariaDB reports SQL text, MySQL 8 a literal's bare value
/// or, with `DEFAULT_GENERATED` in EXTRA, an expression's text.
pub(crate) fn normal_default(
    raw: Option<&str>,
    data_type: &str,
    mariadb: bool,
    default_generated: bool,
    on_update: Option<&str>,
    nullable: bool,
) -> Option<String> {
    let value = match raw {
        None => None,
        Some(d) if mariadb && d == "NULL" => None,
        Some(d) => Some(if mariadb || default_generated {
            let unescaped;
            let d = if mariadb {
                d
            } else {
                unescaped = mysql_unescape(d);
                unescaped.as_str()
            };
            if let Some(now) = normal_now(d) {
                now
            } else if is_literal(d) || (d.starts_with('(') && balanced_outer(d)) {
                d.to_string()
            } else {
                format!("({d})")
            }
        } else if let Some(now) = normal_now(d) {
            // MySQL 8 before DEFAULT_GENERATED (TIMESTAMP columns).
            now
        } else if is_numeric_type(data_type) || d.starts_with("b'") || d.starts_with("0x") {
            d.to_string()
        } else {
            lit(d)
        }),
    };
    match (value, on_update) {
        (v, None) => v,
        (Some(v), Some(u)) => Some(format!("{v} ON UPDATE {u}")),
        (None, Some(u)) if nullable => Some(format!("NULL ON UPDATE {u}")),
        (None, Some(u)) => Some(format!("ON UPDATE {u}")),
    }
}

/// MySQL 8 shows the quotes of an expression default's strings (and of a
/// generated column's expression) backslash-escaped: `concat(_utf8mb4\'a\')`.
pub(crate) fn mysql_unescape(expr: &str) -> String {
    expr.replace("\\'", "'")
}

fn is_numeric_type(t: &str) -> bool {
    let base = t
        .trim()
        .split(|c: char| c == '(' || c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(
        base.as_str(),
        "tinyint"
            | "smallint"
            | "mediumint"
            | "int"
            | "integer"
            | "bigint"
            | "decimal"
            | "numeric"
            | "float"
            | "double"
            | "real"
            | "year"
            | "bit"
    )
}

/// A number, one quoted string, or a bit/hex literal: what needs no
/// parentheses after DEFAULT.
fn is_literal(d: &str) -> bool {
    let d = d.trim();
    if d.parse::<f64>().is_ok() {
        return true;
    }
    let body = if let Some(rest) = d.strip_prefix("b'").or_else(|| d.strip_prefix("x'")) {
        return rest.ends_with('\'') && !rest[..rest.len() - 1].contains('\'');
    } else {
        d
    };
    if !body.starts_with('\'') {
        return false;
    }
    // One string from the first quote to the last character.
    let b = body.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return i == b.len() - 1,
            _ => i += 1,
        }
    }
    false
}

/// Whether `(`…`)` encloses the whole text.
fn balanced_outer(s: &str) -> bool {
    let s = s.trim();
    if !s.starts_with('(') || !s.ends_with(')') {
        return false;
    }
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(qc) => {
                if c == b'\\' && qc != b'`' {
                    i += 1;
                } else if c == qc {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' | b'`' => quote = Some(c),
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 && i != b.len() - 1 {
                        return false;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    depth == 0
}

/// A CHECK_CLAUSE without the outer parentheses MySQL 8 adds.
pub(crate) fn check_clause(clause: &str) -> String {
    let c = clause.trim();
    if balanced_outer(c) {
        c[1..c.len() - 1].trim().to_string()
    } else {
        c.to_string()
    }
}

/// `CHECK (x)`, or `CHECK (x) NOT ENFORCED` for MySQL's clause marked
/// `x) NOT ENFORCED` above.
fn check_definition(clause: &str) -> String {
    match clause.strip_suffix(") NOT ENFORCED") {
        Some(inner) => format!("CHECK ({inner}) NOT ENFORCED"),
        None => format!("CHECK ({clause})"),
    }
}

/// A referential rule as the definition spells it; none for the default.
pub(crate) fn fk_rule(rule: &str) -> Option<String> {
    let r = rule.trim().to_ascii_uppercase();
    (!r.is_empty() && r != "RESTRICT" && r != "NO ACTION").then_some(r)
}

/// `text` with the qualification `` `db`. `` removed wherever it precedes a
/// name (outside strings), and the names it qualified: what a view reads.
pub(crate) fn unqualify(text: &str, db: &str) -> (String, BTreeSet<String>) {
    let quoted_db = q(db);
    let mut out = String::with_capacity(text.len());
    let mut names = BTreeSet::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let read_quoted = |i: usize| -> (String, usize) {
        // chars[i] == '`'; returns the name and the index after it.
        let mut name = String::new();
        let mut j = i + 1;
        while j < chars.len() {
            if chars[j] == '`' {
                if chars.get(j + 1) == Some(&'`') {
                    name.push('`');
                    j += 2;
                    continue;
                }
                return (name, j + 1);
            }
            name.push(chars[j]);
            j += 1;
        }
        (name, j)
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() {
                if chars[i] == '\\' {
                    i += 2;
                    continue;
                }
                if chars[i] == c {
                    if chars.get(i + 1) == Some(&c) {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
            out.extend(&chars[start..i]);
        } else if c == '`' {
            let (name, after) = read_quoted(i);
            if name == db && chars.get(after) == Some(&'.') {
                if chars.get(after + 1) == Some(&'`') {
                    let (next, _) = read_quoted(after + 1);
                    names.insert(next);
                }
                i = after + 1;
                continue;
            }
            out.extend(&chars[i..after]);
            i = after;
        } else {
            out.push(c);
            i += 1;
        }
    }
    let _ = quoted_db;
    (out, names)
}

/// One key part: `` `a` ``, `` `name`(10) ``, `` `n` DESC ``, or a
/// functional part `((expr))`.
fn key_part(
    column: Option<&str>,
    expression: Option<&str>,
    sub: Option<i64>,
    desc: bool,
) -> String {
    let mut out = match (column, expression) {
        (Some(c), _) => q(c),
        (None, Some(e)) => format!("({e})"),
        (None, None) => "()".to_string(),
    };
    if let Some(n) = sub.filter(|n| *n > 0) {
        out.push_str(&format!("({n})"));
    }
    if desc {
        out.push_str(" DESC");
    }
    out
}

/// The column as `CREATE TABLE` and `MODIFY COLUMN` spell it, in the
/// order of `SHOW CREATE TABLE`.
fn column_definition(c: &Column, charset: Option<&str>, invisible: bool) -> String {
    // A MariaDB column-level check, kept in the type, goes last.
    let (ty, check) = match c.data_type.find(" CHECK (") {
        Some(at) => (&c.data_type[..at], Some(&c.data_type[at..])),
        None => (c.data_type.as_str(), None),
    };
    let mut out = format!("{} {ty}", q(&c.name));
    if let Some(coll) = &c.collation {
        let cs = charset.unwrap_or_else(|| coll.split('_').next().unwrap_or(coll));
        out.push_str(&format!(" CHARACTER SET {cs} COLLATE {coll}"));
    }
    if let Some(g) = &c.generated {
        out.push_str(&format!(
            " GENERATED ALWAYS AS ({}) {}",
            g.expression,
            if g.stored { "STORED" } else { "VIRTUAL" }
        ));
        if !c.nullable {
            out.push_str(" NOT NULL");
        }
    } else {
        out.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
        match c.default.as_deref() {
            Some(d) if d.starts_with("ON UPDATE ") => out.push_str(&format!(" {d}")),
            Some(d) => out.push_str(&format!(" DEFAULT {d}")),
            None => {}
        }
        if c.identity.is_some() {
            out.push_str(" AUTO_INCREMENT");
        }
    }
    if invisible {
        out.push_str(" INVISIBLE");
    }
    if let Some(comment) = &c.comment {
        out.push_str(&format!(" COMMENT {}", lit(comment)));
    }
    if let Some(check) = check {
        out.push_str(check);
    }
    out
}

fn column_sql(c: &Column) -> String {
    c.definition
        .clone()
        .unwrap_or_else(|| column_definition(c, None, false))
}

/// `UNIQUE (…) USING HASH` → `UNIQUE KEY `name` (…) USING HASH`.
fn unique_key(c: &Constraint) -> String {
    let rest = c
        .definition
        .strip_prefix("UNIQUE ")
        .unwrap_or(&c.definition);
    format!(
        "UNIQUE KEY {} {rest}",
        q(c.name.as_deref().unwrap_or_default())
    )
}

/// `FULLTEXT (s)` → `FULLTEXT KEY `name` (s)`; `(a)` → `KEY `name` (a)`.
fn index_key(i: &Index) -> String {
    for kind in ["FULLTEXT ", "SPATIAL "] {
        if let Some(rest) = i.definition.strip_prefix(kind) {
            return format!("{kind}KEY {} {rest}", q(&i.name));
        }
    }
    format!("KEY {} {}", q(&i.name), i.definition)
}

/// A constraint as one clause of `CREATE TABLE` or `ADD`.
fn constraint_clause(c: &Constraint) -> String {
    match c.kind {
        ConstraintKind::PrimaryKey => c.definition.clone(),
        ConstraintKind::Unique => unique_key(c),
        ConstraintKind::Check | ConstraintKind::ForeignKey => match &c.name {
            Some(n) => format!("CONSTRAINT {} {}", q(n), c.definition),
            None => c.definition.clone(),
        },
    }
}

/// `CREATE TABLE` of `t` without the constraints whose keys are `skip`.
fn create_table(t: &Table, skip: &[String]) -> String {
    let mut lines: Vec<String> = t.columns.iter().map(column_sql).collect();
    if let Some(pk) = &t.primary_key {
        lines.push(pk.definition.clone());
    }
    let order = |k: ConstraintKind| match k {
        ConstraintKind::PrimaryKey => 0,
        ConstraintKind::Unique => 1,
        ConstraintKind::ForeignKey => 2,
        ConstraintKind::Check => 3,
    };
    let mut cons: Vec<&Constraint> = t
        .constraints
        .iter()
        .filter(|c| !skip.contains(&c.key()))
        .collect();
    cons.sort_by_key(|c| (order(c.kind), c.key()));
    let (uniques, others): (Vec<&Constraint>, Vec<&Constraint>) = cons
        .into_iter()
        .partition(|c| c.kind == ConstraintKind::Unique);
    lines.extend(uniques.into_iter().map(constraint_clause));
    lines.extend(t.indexes.iter().map(index_key));
    lines.extend(others.into_iter().map(constraint_clause));
    let mut sql = format!(
        "CREATE TABLE {} (\n  {}\n)",
        q(&t.name),
        lines.join(",\n  ")
    );
    if !t.options.is_empty() {
        sql.push(' ');
        sql.push_str(&t.options);
    }
    if let Some(c) = &t.comment {
        sql.push_str(&format!(" COMMENT={}", lit(c)));
    }
    sql
}

// --- Rendering -------------------------------------------------------------

/// The statements of `changes` in MySQL, one per change where the diff's
/// order allows it. Two orders the diff does not know are fixed here:
///
/// - A primary key that is replaced is dropped and added in one
///   statement, where the new one is added (`DROP PRIMARY KEY, ADD PRIMARY
///   KEY`): an `AUTO_INCREMENT` column must stay a key, and a foreign key
///   may need the old one as its index.
/// - An index (or unique constraint) that a kept foreign key needs as its
///   index cannot be dropped before another index serves it (error 1553):
///   its drop moves to the statement that adds its replacement of the same
///   name, or after the table's last added index.
pub fn render(changes: &[Change], from: &Schema, to: &Schema) -> Result<Vec<Step>, SchemaError> {
    let plan = Plan::new(changes, from, to);
    let mut steps = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        let mut sqls = render_one(i, change, from, to, &plan)?;
        if let Some(extra) = plan.after.get(&i) {
            sqls.extend(extra.iter().cloned());
        }
        for sql in sqls {
            steps.push(Step {
                sql,
                comment: change.describe(),
                destructive: change.destructive().or_else(|| values_removed(change)),
            });
        }
    }
    Ok(steps)
}

/// An `enum(...)` or `set(...)` column that loses a value fails on a row
/// holding it, which [`Change::destructive`] does not see: its type test
/// takes two types of one name with arguments that are not numbers for a
/// widening.
fn values_removed(change: &Change) -> Option<String> {
    let Change::AlterColumn { table, from, to } = change else {
        return None;
    };
    let (fb, fv) = type_values(&from.data_type)?;
    let (tb, tv) = type_values(&to.data_type)?;
    let gone: Vec<&String> = fv.iter().filter(|v| !tv.contains(v)).collect();
    (fb == tb && !gone.is_empty()).then(|| {
        format!(
            "removes {} from the values of {table}.{}, which fails if a row holds one",
            gone.iter().map(|v| lit(v)).collect::<Vec<_>>().join(", "),
            to.name
        )
    })
}

/// `enum('a','it''s')` → (`enum`, [a, it's]); None for other types.
fn type_values(t: &str) -> Option<(String, Vec<String>)> {
    let open = t.find('(')?;
    let base = t[..open].trim().to_ascii_lowercase();
    if base != "enum" && base != "set" {
        return None;
    }
    let mut values = Vec::new();
    let b: Vec<char> = t[open + 1..].chars().collect();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '\'' {
            let mut v = String::new();
            i += 1;
            while i < b.len() {
                if b[i] == '\'' && b.get(i + 1) == Some(&'\'') {
                    v.push('\'');
                    i += 2;
                } else if b[i] == '\'' {
                    break;
                } else if b[i] == '\\' && i + 1 < b.len() {
                    v.push(b[i + 1]);
                    i += 2;
                } else {
                    v.push(b[i]);
                    i += 1;
                }
            }
            values.push(v);
        } else if b[i] == ')' {
            break;
        }
        i += 1;
    }
    Some((base, values))
}

/// Where the renderer moves statements.
#[derive(Default)]
struct Plan {
    /// Changes that render nothing where they stand (their statement is
    /// part of another's).
    moved: BTreeSet<usize>,
    /// Change index → the `DROP …` clauses to prefix to its `ALTER TABLE`.
    prefix: BTreeMap<usize, Vec<String>>,
    /// Change index → clauses of moved changes to add to its `ALTER TABLE`.
    suffix: BTreeMap<usize, Vec<String>>,
    /// Change index → whole statements to run after it.
    after: BTreeMap<usize, Vec<String>>,
    /// Tables created by the change set (their comment is in the CREATE).
    created: BTreeSet<String>,
}

impl Plan {
    fn new(changes: &[Change], from: &Schema, to: &Schema) -> Plan {
        let mut plan = Plan::default();
        // Start name → target name, and back.
        let renamed: BTreeMap<&str, &str> = changes
            .iter()
            .filter_map(|c| match c {
                Change::RenameTable { from, to } => Some((from.as_str(), to.as_str())),
                _ => None,
            })
            .collect();
        let target_name = |s: &str| renamed.get(s).copied().unwrap_or(s).to_string();
        for c in changes {
            if let Change::CreateTable { table, .. } = c {
                plan.created.insert(table.name.clone());
            }
        }
        let dropped_columns: BTreeSet<(String, String)> = changes
            .iter()
            .filter_map(|c| match c {
                Change::DropColumn { table, column } => Some((table.clone(), column.name.clone())),
                _ => None,
            })
            .collect();
        let made_nullable: BTreeSet<(String, String)> = changes
            .iter()
            .filter_map(|c| match c {
                Change::AlterColumn { table, to, .. } if to.nullable => {
                    Some((table.clone(), to.name.clone()))
                }
                _ => None,
            })
            .collect();
        // Start column name → target column name, per target table.
        let col_renames: BTreeMap<(String, String), String> = changes
            .iter()
            .filter_map(|c| match c {
                Change::RenameColumn { table, from, to } => {
                    Some(((table.clone(), from.clone()), to.clone()))
                }
                _ => None,
            })
            .collect();
        let survives = |table: &str, col: &str, nullable_too: bool| {
            let t = target_name(table);
            let new = col_renames
                .get(&(t.clone(), col.to_string()))
                .cloned()
                .unwrap_or(col.to_string());
            let dropped = dropped_columns.contains(&(t.clone(), new.clone()));
            let nulled = nullable_too && made_nullable.contains(&(t, new));
            !dropped && !nulled
        };
        // Foreign keys dropped by the change set, by (start table, name).
        let fk_dropped: BTreeSet<(String, String)> = changes
            .iter()
            .filter_map(|c| match c {
                Change::DropConstraint { table, constraint }
                    if constraint.kind == ConstraintKind::ForeignKey =>
                {
                    Some((table.clone(), constraint.key()))
                }
                _ => None,
            })
            .collect();

        // The primary key replaced in one statement.
        for (i, c) in changes.iter().enumerate() {
            let Change::DropConstraint { table, constraint } = c else {
                continue;
            };
            if constraint.kind != ConstraintKind::PrimaryKey {
                continue;
            }
            let target = target_name(table);
            let add = changes.iter().position(|a| {
                matches!(a, Change::AddConstraint { table: t, constraint: k, .. }
                    if t == &target && k.kind == ConstraintKind::PrimaryKey)
            });
            let kept = constraint.columns.iter().all(|c| survives(table, c, true));
            if let Some(add) = add
                && kept
            {
                plan.moved.insert(i);
                plan.prefix
                    .entry(add)
                    .or_default()
                    .push("DROP PRIMARY KEY".into());
            }
        }

        // An AUTO_INCREMENT column must be a key from the statement that
        // makes it one to the one that makes it a plain column again: the
        // primary key it comes with is added (or dropped) with it.
        for (i, c) in changes.iter().enumerate() {
            let Change::AlterColumn {
                table,
                from: old,
                to: new,
            } = c
            else {
                continue;
            };
            if old.identity.is_none() && new.identity.is_some() {
                let add = changes.iter().position(|a| {
                    matches!(a, Change::AddConstraint { table: t, constraint: k, .. }
                        if t == table && k.kind == ConstraintKind::PrimaryKey
                            && k.columns.contains(&new.name))
                });
                if let Some(add) = add
                    && add > i
                {
                    plan.moved.insert(add);
                    let mut clauses = plan.prefix.remove(&add).unwrap_or_default();
                    if let Change::AddConstraint { constraint, .. } = &changes[add] {
                        clauses.push(format!("ADD {}", constraint.definition));
                    }
                    plan.suffix.entry(i).or_default().extend(clauses);
                }
            }
            if old.identity.is_some() && new.identity.is_none() {
                let drop = changes.iter().position(|d| {
                    matches!(d, Change::DropConstraint { table: t, constraint: k }
                        if target_name(t) == *table && k.kind == ConstraintKind::PrimaryKey)
                });
                if let Some(drop) = drop
                    && drop < i
                    && !plan.moved.contains(&drop)
                {
                    plan.moved.insert(drop);
                    plan.suffix
                        .entry(i)
                        .or_default()
                        .push("DROP PRIMARY KEY".into());
                }
            }
        }

        // Indexes a kept foreign key needs.
        for (i, c) in changes.iter().enumerate() {
            let (table, name, columns) = match c {
                Change::DropIndex { table, index } => (table, &index.name, &index.columns),
                Change::DropConstraint { table, constraint }
                    if constraint.kind == ConstraintKind::Unique =>
                {
                    (
                        table,
                        constraint.name.as_ref().expect("MySQL names its indexes"),
                        &constraint.columns,
                    )
                }
                _ => continue,
            };
            let Some(start) = from.tables.get(table) else {
                continue;
            };
            let needed = start.constraints.iter().any(|fk| {
                fk.kind == ConstraintKind::ForeignKey
                    && !fk_dropped.contains(&(table.clone(), fk.key()))
                    && fk.columns.len() <= columns.len()
                    && fk.columns.iter().zip(columns).all(|(a, b)| a == b)
            });
            let movable = columns.iter().all(|c| survives(table, c, false));
            if !needed || !movable {
                continue;
            }
            let target = target_name(table);
            let same_name = changes.iter().position(|a| match a {
                Change::AddIndex { table: t, index } => t == &target && &index.name == name,
                Change::AddConstraint {
                    table: t,
                    constraint: k,
                    ..
                } => t == &target && k.name.as_ref() == Some(name),
                _ => false,
            });
            let last_add = changes.iter().rposition(|a| match a {
                Change::AddIndex { table: t, .. } => t == &target,
                Change::AddConstraint {
                    table: t,
                    constraint: k,
                    ..
                } => t == &target && k.kind != ConstraintKind::ForeignKey,
                _ => false,
            });
            let drop = format!("DROP INDEX {}", q(name));
            if let Some(at) = same_name {
                plan.moved.insert(i);
                plan.prefix.entry(at).or_default().push(drop);
            } else if let Some(at) = last_add
                && at > i
            {
                plan.moved.insert(i);
                plan.after
                    .entry(at)
                    .or_default()
                    .push(format!("ALTER TABLE {} {drop}", q(&target)));
            }
        }
        let _ = to;
        plan
    }

    fn prefixed(&self, i: usize, clause: String) -> String {
        match self.prefix.get(&i) {
            Some(p) => format!("{}, {clause}", p.join(", ")),
            None => clause,
        }
    }
}

fn alter(table: &str, clause: &str) -> String {
    format!("ALTER TABLE {} {clause}", q(table))
}

fn render_one(
    i: usize,
    change: &Change,
    from: &Schema,
    to: &Schema,
    plan: &Plan,
) -> Result<Vec<String>, SchemaError> {
    if plan.moved.contains(&i) {
        return Ok(Vec::new());
    }
    let inexpressible = |why: &str| SchemaError::Inexpressible {
        change: change.describe(),
        dialect: D,
        why: why.to_string(),
    };
    Ok(match change {
        Change::DropView { view, .. } => vec![format!("DROP VIEW {}", q(&view.name))],
        Change::CreateView { view, .. } => vec![
            view.create_sql
                .clone()
                .unwrap_or_else(|| format!("CREATE VIEW {} AS {}", q(&view.name), view.definition)),
        ],
        Change::DropConstraint { table, constraint } => {
            let clause = match constraint.kind {
                ConstraintKind::PrimaryKey => "DROP PRIMARY KEY".to_string(),
                ConstraintKind::Unique => format!("DROP INDEX {}", q(&named(constraint)?)),
                ConstraintKind::ForeignKey => {
                    format!("DROP FOREIGN KEY {}", q(&named(constraint)?))
                }
                // MariaDB has no DROP CHECK; MySQL has DROP CONSTRAINT
                // since 8.0.19.
                ConstraintKind::Check => format!("DROP CONSTRAINT {}", q(&named(constraint)?)),
            };
            vec![alter(table, &clause)]
        }
        Change::AddConstraint {
            table, constraint, ..
        } => {
            let clause = format!("ADD {}", constraint_clause(constraint));
            vec![alter(table, &plan.prefixed(i, clause))]
        }
        Change::DropIndex { table, index } => {
            vec![alter(table, &format!("DROP INDEX {}", q(&index.name)))]
        }
        Change::AddIndex { table, index } => {
            let clause = format!("ADD {}", index_key(index));
            vec![alter(table, &plan.prefixed(i, clause))]
        }
        Change::RenameTable { from, to } => {
            vec![format!("RENAME TABLE {} TO {}", q(from), q(to))]
        }
        Change::RenameColumn { table, from, to } => vec![alter(
            table,
            &format!("RENAME COLUMN {} TO {}", q(from), q(to)),
        )],
        Change::CreateTable { table, deferred } => vec![if deferred.is_empty() {
            table
                .create_sql
                .clone()
                .unwrap_or_else(|| create_table(table, &[]))
        } else {
            create_table(table, deferred)
        }],
        Change::AddColumn { table, column } => {
            vec![alter(table, &format!("ADD COLUMN {}", column_sql(column)))]
        }
        Change::AlterColumn { table, to, .. } => {
            let mut clauses = vec![format!("MODIFY COLUMN {}", column_sql(to))];
            clauses.extend(plan.suffix.get(&i).into_iter().flatten().cloned());
            vec![alter(table, &clauses.join(", "))]
        }
        Change::DropColumn { table, column } => {
            vec![alter(table, &format!("DROP COLUMN {}", q(&column.name)))]
        }
        Change::DropTable { table } => vec![format!("DROP TABLE {}", q(&table.name))],
        Change::TableComment { table, to, .. } => {
            if plan.created.contains(table) {
                Vec::new()
            } else {
                let c = to.as_deref().unwrap_or("");
                vec![alter(table, &format!("COMMENT = {}", lit(c)))]
            }
        }
        Change::TableOptions {
            table,
            from: old,
            to: new,
        } => {
            let (clause, restated) = options_clause(old, new, to.tables.get(table));
            let mut out = vec![alter(table, &clause)];
            if !restated.is_empty() {
                out.push(alter(table, &restated.join(", ")));
            }
            out
        }
        Change::CreateEnum { .. }
        | Change::AlterEnum { .. }
        | Change::DropEnum { .. }
        | Change::CreateSequence { .. }
        | Change::AlterSequence { .. }
        | Change::DropSequence { .. } => {
            let _ = from;
            return Err(inexpressible(
                "MySQL has no enum types or sequences of their own: an enum is a column type, \
                 and aludel does not compare MariaDB's sequences",
            ));
        }
    })
}

fn named(c: &Constraint) -> Result<String, SchemaError> {
    c.name.clone().ok_or_else(|| SchemaError::Inexpressible {
        change: format!("drop {} {}", c.kind.as_str(), c.definition),
        dialect: D,
        why: "it has no name, and MySQL drops constraints by name".into(),
    })
}

/// Splits an options text into its `KEY=value` settings, `DEFAULT
/// CHARSET=x COLLATE=y` as one.
fn option_map(options: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut words = options.split_whitespace().peekable();
    while let Some(w) = words.next() {
        let w = if w == "DEFAULT" {
            match words.next() {
                Some(n) => n,
                None => break,
            }
        } else {
            w
        };
        if let Some((k, v)) = w.split_once('=') {
            out.insert(k.to_string(), v.to_string());
        }
    }
    out
}

/// What `ALTER TABLE` sets to turn options `from` into `to`. A new
/// default collation converts the table's text columns (`CONVERT TO`);
/// the columns that keep a collation of their own are restated after it
/// (the second list: in the same statement, `CONVERT TO` would win).
fn options_clause(from: &str, to: &str, target: Option<&Table>) -> (String, Vec<String>) {
    let (a, b) = (option_map(from), option_map(to));
    let mut clauses = Vec::new();
    let mut restated = Vec::new();
    if let Some(e) = b.get("ENGINE")
        && a.get("ENGINE") != Some(e)
    {
        clauses.push(format!("ENGINE={e}"));
    }
    let recollated = a.get("COLLATE") != b.get("COLLATE") || a.get("CHARSET") != b.get("CHARSET");
    if recollated && let (Some(cs), Some(co)) = (b.get("CHARSET"), b.get("COLLATE")) {
        clauses.push(format!("CONVERT TO CHARACTER SET {cs} COLLATE {co}"));
        for c in target.map(|t| t.columns.as_slice()).unwrap_or_default() {
            if c.collation.is_some() {
                restated.push(format!("MODIFY COLUMN {}", column_sql(c)));
            }
        }
    }
    for (k, v) in &b {
        if matches!(k.as_str(), "ENGINE" | "CHARSET" | "COLLATE") {
            continue;
        }
        if a.get(k) != Some(v) {
            clauses.push(format!("{k}={v}"));
        }
    }
    for k in a.keys() {
        if !b.contains_key(k) && !matches!(k.as_str(), "ENGINE" | "CHARSET" | "COLLATE") {
            clauses.push(format!("{k}=DEFAULT"));
        }
    }
    (clauses.join(", "), restated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;
    use crate::schema::{Renames, create_all, diff};

    const SERVER: &str = "mysql://root@127.0.0.1:3306";

    /// A database of its own on the test server, dropped when the test
    /// ends, passed or not.
    struct TestDb {
        name: String,
        conn: Box<dyn Connection>,
    }

    impl TestDb {
        async fn new() -> TestDb {
            let name = format!("aludel_schema_t_{}", hex::encode(rand::random::<[u8; 6]>()));
            let mut admin = db::connect(&format!("{SERVER}/test"))
                .await
                .expect("the server");
            admin
                .execute_script(&format!("CREATE DATABASE {}", q(&name)))
                .await
                .expect("create the test database");
            let conn = db::connect(&format!("{SERVER}/{name}"))
                .await
                .expect("connect to it");
            TestDb { name, conn }
        }

        async fn run(&mut self, sql: &str) {
            if let Err(e) = self.conn.execute_script(sql).await {
                panic!("{sql}\nfailed: {e}");
            }
        }

        async fn schema(&mut self) -> Schema {
            inspect(self.conn.as_mut(), &Scope::default())
                .await
                .expect("inspect")
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            let name = self.name.clone();
            // Drop is not async: the database is dropped from a runtime of
            // its own on another thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(async {
                    if let Ok(mut admin) = db::connect(&format!("{SERVER}/test")).await {
                        let _ = admin
                            .execute_script(&format!("DROP DATABASE IF EXISTS {}", q(&name)))
                            .await;
                    }
                });
            })
            .join();
        }
    }

    fn described(changes: &[Change]) -> Vec<String> {
        changes.iter().map(Change::describe).collect()
    }

    async fn apply(db: &mut TestDb, steps: &[Step]) {
        for s in steps {
            db.run(&s.sql).await;
        }
    }

    /// `start` and `target` applied to two databases; the upgrade rendered
    /// from their diff turns the first into the second, and the downgrade
    /// turns it back. Returns the upgrade.
    async fn round_trip(start: &str, target: &str, renames: &[&str]) -> Vec<Step> {
        let mut a = TestDb::new().await;
        let mut b = TestDb::new().await;
        if !start.is_empty() {
            a.run(start).await;
        }
        if !target.is_empty() {
            b.run(target).await;
        }
        let (s, t) = (a.schema().await, b.schema().await);
        let specs: Vec<String> = renames.iter().map(|r| r.to_string()).collect();
        let renames = Renames::resolve(&specs, &[], &s, &t).expect("renames");
        let up_changes = diff(&s, &t, &renames);
        assert!(!up_changes.is_empty(), "no difference found");
        let up = render(&up_changes, &s, &t).expect("render the upgrade");
        apply(&mut a, &up).await;
        let after = a.schema().await;
        let left = diff(&after, &t, &Renames::default());
        assert!(
            left.is_empty(),
            "after the upgrade {:?}\nupgrade: {:#?}",
            described(&left),
            up.iter().map(|s| &s.sql).collect::<Vec<_>>()
        );
        let down_changes = diff(&t, &s, &renames.reversed());
        let down = render(&down_changes, &t, &s).expect("render the downgrade");
        apply(&mut a, &down).await;
        let back = a.schema().await;
        let left = diff(&back, &s, &Renames::default());
        assert!(
            left.is_empty(),
            "after the downgrade {:?}\ndowngrade: {:#?}",
            described(&left),
            down.iter().map(|s| &s.sql).collect::<Vec<_>>()
        );
        up
    }

    const RICH: &str = "
        CREATE TABLE users (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            email VARCHAR(200) NOT NULL,
            name VARCHAR(100) COLLATE utf8mb4_bin DEFAULT 'it''s',
            score DECIMAL(6,2) NOT NULL DEFAULT 1.5,
            kind ENUM('a','b') NOT NULL DEFAULT 'a',
            tags SET('x','y') DEFAULT NULL,
            created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            updated TIMESTAMP NULL ON UPDATE CURRENT_TIMESTAMP,
            touched DATETIME DEFAULT NOW() ON UPDATE NOW(),
            label VARCHAR(20) DEFAULT (concat('a', 'b')),
            twice DECIMAL(8,2) AS (score * 2) VIRTUAL,
            lower_email VARCHAR(200) AS (lower(email)) STORED,
            bio TEXT COMMENT 'about them',
            positive INT CHECK (positive > 0),
            UNIQUE KEY users_email (email),
            KEY users_name_score (name(10), score DESC),
            FULLTEXT KEY users_bio (bio),
            CONSTRAINT users_score CHECK (score >= 0)
        ) ENGINE=InnoDB ROW_FORMAT=DYNAMIC COMMENT='people';
        CREATE TABLE posts (
            user_id BIGINT UNSIGNED NOT NULL,
            n INT NOT NULL,
            body JSON,
            PRIMARY KEY (user_id, n),
            CONSTRAINT posts_user FOREIGN KEY (user_id) REFERENCES users (id)
                ON DELETE CASCADE ON UPDATE RESTRICT
        );
        CREATE TABLE a (id INT PRIMARY KEY, b_id INT);
        CREATE TABLE b (id INT PRIMARY KEY, a_id INT,
            CONSTRAINT b_a FOREIGN KEY (a_id) REFERENCES a (id) ON DELETE SET NULL);
        ALTER TABLE a ADD CONSTRAINT a_b FOREIGN KEY (b_id) REFERENCES b (id);
        CREATE VIEW active AS SELECT u.id, u.email FROM users u WHERE u.score > 0
            WITH CHECK OPTION;
        CREATE VIEW active_posts AS SELECT p.n FROM posts p JOIN active a ON a.id = p.user_id;
    ";

    #[test]
    fn defaults_read_from_either_server_take_one_form() {
        let maria = |d: &str, t: &str| normal_default(Some(d), t, true, false, None, true);
        let mysql = |d: &str, t: &str, generated: bool| {
            normal_default(Some(d), t, false, generated, None, true)
        };
        assert_eq!(maria("NULL", "int(11)"), None);
        assert_eq!(maria("'NULL'", "varchar(4)").as_deref(), Some("'NULL'"));
        assert_eq!(
            mysql("NULL", "varchar(4)", false).as_deref(),
            Some("'NULL'")
        );
        assert_eq!(normal_default(None, "int", false, false, None, true), None);
        assert_eq!(maria("'x'", "varchar(2)"), mysql("x", "varchar(2)", false));
        assert_eq!(maria("'it''s'", "text"), mysql("it's", "text", false));
        assert_eq!(maria("3", "int(11)"), mysql("3", "int", false));
        assert_eq!(maria("1.50", "decimal(5,2)").as_deref(), Some("1.50"));
        assert_eq!(maria("b'101'", "bit(3)"), mysql("b'101'", "bit(3)", false));
        assert_eq!(
            maria("current_timestamp()", "timestamp"),
            mysql("CURRENT_TIMESTAMP", "timestamp", true)
        );
        assert_eq!(
            maria("current_timestamp(3)", "datetime(3)").as_deref(),
            Some("current_timestamp(3)")
        );
        assert_eq!(
            maria("concat('a','b')", "varchar(2)").as_deref(),
            Some("(concat('a','b'))")
        );
        assert_eq!(
            mysql("(rand() * 2)", "double", true).as_deref(),
            Some("(rand() * 2)")
        );
        assert_eq!(maria("'a' + 'b'", "int").as_deref(), Some("('a' + 'b')"));
        assert_eq!(
            mysql(
                "concat(_utf8mb4\\'a\\',_utf8mb4\\'b\\')",
                "varchar(2)",
                true
            )
            .as_deref(),
            Some("(concat(_utf8mb4'a',_utf8mb4'b'))")
        );
        let on = |d: Option<&str>, nullable| {
            normal_default(
                d,
                "timestamp",
                true,
                false,
                Some("current_timestamp()"),
                nullable,
            )
        };
        assert_eq!(
            on(Some("current_timestamp()"), false).as_deref(),
            Some("current_timestamp() ON UPDATE current_timestamp()")
        );
        assert_eq!(
            on(None, true).as_deref(),
            Some("NULL ON UPDATE current_timestamp()")
        );
        assert_eq!(
            on_update("DEFAULT_GENERATED on update CURRENT_TIMESTAMP").as_deref(),
            Some("current_timestamp()")
        );
        assert_eq!(
            on_update("on update current_timestamp(3)").as_deref(),
            Some("current_timestamp(3)")
        );
    }

    #[test]
    fn the_database_name_is_taken_out_of_views_and_expressions() {
        let (text, names) = unqualify(
            "select `app`.`t`.`id` AS `id`,'`app`.x' from (`app`.`t` join `other`.`u`) \
             where `app`.`v2`.`a` = `app`",
            "app",
        );
        assert_eq!(
            text,
            "select `t`.`id` AS `id`,'`app`.x' from (`t` join `other`.`u`) \
             where `v2`.`a` = `app`"
        );
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["t", "v2"]);
        assert_eq!(unqualify("`a``b`.`t`", "a`b").0, "`t`");
    }

    #[test]
    fn checks_and_referential_rules_take_one_form() {
        assert_eq!(check_clause("(`a` > 0)"), "`a` > 0");
        assert_eq!(check_clause("`a` > 0"), "`a` > 0");
        assert_eq!(
            check_clause("(`a` > 0) and (`b` > 0)"),
            "(`a` > 0) and (`b` > 0)"
        );
        assert_eq!(check_definition("`a` > 0"), "CHECK (`a` > 0)");
        assert_eq!(
            check_definition("`a` > 0) NOT ENFORCED"),
            "CHECK (`a` > 0) NOT ENFORCED"
        );
        assert_eq!(fk_rule("RESTRICT"), None);
        assert_eq!(fk_rule("NO ACTION"), None);
        assert_eq!(fk_rule("SET NULL").as_deref(), Some("SET NULL"));
        assert_eq!(normal_now("NOW()").as_deref(), Some("current_timestamp()"));
        assert_eq!(
            normal_now("now(6)").as_deref(),
            Some("current_timestamp(6)")
        );
        assert_eq!(normal_now("curdate()"), None);
    }

    #[test]
    fn an_enum_or_set_that_loses_a_value_is_destructive() {
        assert_eq!(
            type_values("enum('a','it''s','b\\\\c')"),
            Some((
                "enum".to_string(),
                vec!["a".into(), "it's".into(), "b\\c".into()]
            ))
        );
        assert_eq!(type_values("varchar(10)"), None);
        let col = |t: &str| Column {
            name: "state".into(),
            data_type: t.into(),
            ..Column::default()
        };
        let alter = |a: &str, b: &str| Change::AlterColumn {
            table: "t".into(),
            from: col(a),
            to: col(b),
        };
        assert_eq!(
            values_removed(&alter("enum('a','b')", "enum('a','b','c')")),
            None
        );
        assert_eq!(
            values_removed(&alter("set('a','b')", "set('b')")).as_deref(),
            Some("removes 'a' from the values of t.state, which fails if a row holds one")
        );
    }

    #[test]
    fn the_server_version_tells_mariadb_from_mysql() {
        assert_eq!(
            Server::parse("10.11.19-MariaDB-0+deb12u1"),
            Server {
                mariadb: true,
                version: (10, 11, 19)
            }
        );
        assert_eq!(
            Server::parse("8.0.36"),
            Server {
                mariadb: false,
                version: (8, 0, 36)
            }
        );
    }

    #[test]
    fn options_changes_set_only_what_differs() {
        assert_eq!(
            options_clause(
                "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci ROW_FORMAT=DYNAMIC",
                "ENGINE=MyISAM DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
                None
            ),
            ("ENGINE=MyISAM, ROW_FORMAT=DEFAULT".to_string(), Vec::new())
        );
    }

    #[tokio::test]
    async fn a_rich_schema_reads_as_documented_and_compares_equal_to_itself() {
        let mut db = TestDb::new().await;
        db.run(RICH).await;
        let s = db.schema().await;
        assert!(diff(&s, &s, &Renames::default()).is_empty());
        let users = &s.tables["users"];
        let col = |n: &str| users.columns.iter().find(|c| c.name == n).unwrap();
        assert_eq!(col("id").identity.as_deref(), Some("auto_increment"));
        assert_eq!(col("id").default, None);
        assert_eq!(col("name").default.as_deref(), Some("'it''s'"));
        assert_eq!(col("name").collation.as_deref(), Some("utf8mb4_bin"));
        assert_eq!(col("email").collation, None);
        assert_eq!(
            col("created").default.as_deref(),
            Some("current_timestamp()")
        );
        assert_eq!(
            col("updated").default.as_deref(),
            Some("NULL ON UPDATE current_timestamp()")
        );
        assert_eq!(col("label").default.as_deref(), Some("(concat('a','b'))"));
        assert_eq!(col("bio").comment.as_deref(), Some("about them"));
        assert!(col("lower_email").generated.as_ref().unwrap().stored);
        assert!(!col("twice").generated.as_ref().unwrap().stored);
        assert_eq!(users.comment.as_deref(), Some("people"));
        assert!(
            users.options.contains("ROW_FORMAT=DYNAMIC"),
            "{}",
            users.options
        );
        assert_eq!(users.primary_key.as_ref().unwrap().columns, ["id"]);
        let keys: Vec<(&str, &str)> = users
            .constraints
            .iter()
            .map(|c| (c.name.as_deref().unwrap_or(""), c.definition.as_str()))
            .collect();
        assert!(
            keys.contains(&("users_email", "UNIQUE (`email`)")),
            "{keys:?}"
        );
        assert!(
            keys.contains(&("users_score", "CHECK (`score` >= 0)")),
            "{keys:?}"
        );
        let idx: Vec<(&str, &str)> = users
            .indexes
            .iter()
            .map(|i| (i.name.as_str(), i.definition.as_str()))
            .collect();
        assert_eq!(
            idx,
            [
                ("users_bio", "FULLTEXT (`bio`)"),
                ("users_name_score", "(`name`(10), `score` DESC)")
            ]
        );
        let fk = &s.tables["posts"].constraints[0];
        assert_eq!(
            fk.definition,
            "FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE"
        );
        assert_eq!(fk.references.as_deref(), Some("users"));
        assert!(!s.views["active"].definition.contains(&db.name));
        assert!(
            s.views["active"]
                .definition
                .ends_with(" WITH CASCADED CHECK OPTION")
        );
        assert_eq!(s.views["active_posts"].depends_on, ["active", "posts"]);
        assert!(s.enums.is_empty() && s.sequences.is_empty());
    }

    #[tokio::test]
    async fn three_hundred_tables_inspect_in_a_fixed_number_of_queries_well_under_a_second() {
        let mut db = TestDb::new().await;
        let mut ddl = String::from("CREATE TABLE t0 (id INT PRIMARY KEY);");
        for i in 1..300 {
            ddl.push_str(&format!(
                "CREATE TABLE t{i} (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL DEFAULT 'x', \
                 parent INT, n INT CHECK (n > 0), UNIQUE KEY t{i}_name (name), KEY t{i}_n (n), \
                 CONSTRAINT t{i}_parent FOREIGN KEY (parent) REFERENCES t{} (id)) COMMENT 'c';",
                i - 1
            ));
        }
        db.run(&ddl).await;
        let started = std::time::Instant::now();
        let s = db.schema().await;
        let took = started.elapsed();
        assert_eq!(s.tables.len(), 300);
        assert!(took < std::time::Duration::from_millis(1000), "{took:?}");
        eprintln!("300 tables inspected in {took:?}");
    }

    #[tokio::test]
    async fn create_all_of_an_inspected_schema_recreates_it_exactly() {
        let mut a = TestDb::new().await;
        a.run(RICH).await;
        let s = a.schema().await;
        let mut b = TestDb::new().await;
        let steps = create_all(D, &s).expect("create_all");
        apply(&mut b, &steps).await;
        let copy = b.schema().await;
        assert!(
            diff(&s, &copy, &Renames::default()).is_empty(),
            "{:?}",
            described(&diff(&s, &copy, &Renames::default()))
        );
        assert_eq!(s, copy);
    }

    #[tokio::test]
    async fn tables_and_columns_added_dropped_and_changed_round_trip() {
        round_trip(
            "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10), b INT NOT NULL DEFAULT 1);
             CREATE TABLE gone (id INT PRIMARY KEY)",
            "CREATE TABLE t (id BIGINT PRIMARY KEY, a VARCHAR(40) NOT NULL DEFAULT 'x' COMMENT 'hi',
                 c DATETIME DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
                 d INT AS (id + 1) STORED);
             CREATE TABLE fresh (id INT AUTO_INCREMENT PRIMARY KEY, j JSON) COMMENT 'new'",
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn renamed_tables_and_columns_keep_their_rows_and_round_trip() {
        let up = round_trip(
            "CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(10), KEY users_name (name));
             CREATE TABLE old (id INT PRIMARY KEY)",
            "CREATE TABLE users (id INT PRIMARY KEY, full_name VARCHAR(10), KEY users_name (full_name));
             CREATE TABLE new (id INT PRIMARY KEY)",
            &["users.name=full_name", "old=new"],
        )
        .await;
        let sql: Vec<&str> = up.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(
            sql,
            [
                "RENAME TABLE `old` TO `new`",
                "ALTER TABLE `users` RENAME COLUMN `name` TO `full_name`"
            ]
        );
    }

    #[tokio::test]
    async fn a_renamed_column_keeps_its_column_level_check() {
        // MariaDB reports the check by the column's old name after a rename.
        round_trip(
            "CREATE TABLE t (id INT PRIMARY KEY, a INT CHECK (a > 0), j JSON)",
            "CREATE TABLE t (id INT PRIMARY KEY, b INT CHECK (b > 0), k JSON)",
            &["t.a=b", "t.j=k"],
        )
        .await;
    }

    #[tokio::test]
    async fn keys_constraints_and_indexes_round_trip() {
        round_trip(
            "CREATE TABLE p (id INT PRIMARY KEY, code VARCHAR(10));
             CREATE TABLE c (id INT, k INT, p_id INT, note VARCHAR(50),
                 PRIMARY KEY (id), KEY c_k (k), UNIQUE KEY c_note (note),
                 CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id),
                 CONSTRAINT c_pos CHECK (k > 0))",
            "CREATE TABLE p (id INT PRIMARY KEY, code VARCHAR(10), UNIQUE KEY p_code (code));
             CREATE TABLE c (id INT, k INT NOT NULL, p_id INT, note VARCHAR(50),
                 PRIMARY KEY (id, k), KEY c_k (k DESC), KEY c_note (note(5)),
                 CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE,
                 CONSTRAINT c_pos CHECK (k > 1), FULLTEXT KEY c_ft (note))",
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn an_index_a_foreign_key_needs_is_replaced_without_leaving_it_bare() {
        round_trip(
            "CREATE TABLE p (id INT PRIMARY KEY);
             CREATE TABLE c (id INT PRIMARY KEY, p_id INT, x INT, KEY c_p_idx (p_id),
                 CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id))",
            "CREATE TABLE p (id INT PRIMARY KEY);
             CREATE TABLE c (id INT PRIMARY KEY, p_id INT, x INT, KEY c_p_idx (p_id, x),
                 CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id))",
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn views_options_comments_and_column_checks_round_trip() {
        round_trip(
            "CREATE TABLE t (id INT PRIMARY KEY, a INT CHECK (a > 0), j JSON) COMMENT 'x';
             CREATE VIEW v AS SELECT id FROM t",
            "CREATE TABLE t (id INT PRIMARY KEY, a INT CHECK (a > 1), j LONGTEXT)
                 ENGINE=InnoDB DEFAULT CHARSET=latin1 ROW_FORMAT=COMPACT;
             CREATE VIEW v AS SELECT id, a FROM t;
             CREATE VIEW w AS SELECT a FROM v",
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn an_auto_increment_column_becomes_and_stops_being_the_primary_key_in_one_statement() {
        let up = round_trip(
            "CREATE TABLE logs (id INT NOT NULL, msg VARCHAR(50))",
            "CREATE TABLE logs (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(50))",
            &[],
        )
        .await;
        assert_eq!(up.len(), 1, "{up:#?}");
        round_trip(
            "CREATE TABLE logs (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, n INT NOT NULL)",
            "CREATE TABLE logs (id INT NOT NULL AUTO_INCREMENT, n INT NOT NULL, PRIMARY KEY (id, n))",
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn new_tables_in_a_foreign_key_cycle_are_created_and_dropped() {
        round_trip(
            "",
            "CREATE TABLE a (id INT PRIMARY KEY, b_id INT);
             CREATE TABLE b (id INT PRIMARY KEY, a_id INT, FOREIGN KEY (a_id) REFERENCES a (id));
             ALTER TABLE a ADD CONSTRAINT a_b FOREIGN KEY (b_id) REFERENCES b (id)",
            &[],
        )
        .await;
    }
}
