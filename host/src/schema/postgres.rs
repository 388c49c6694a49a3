//! PostgreSQL: reading a schema from its catalog and writing changes as its
//! DDL.
//!
//! Inspection reads the connection's `current_schema()` from `pg_catalog`
//! in one query per kind of object (relations, columns, constraints,
//! indexes, enums, sequences), whatever the number of tables, and keeps
//! the server's own normal forms: `format_type`, `pg_get_expr`,
//! `pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_viewdef`. Both sides
//! of a comparison are read from the same server, so those texts agree
//! wherever the objects do; what still differs between an object made by
//! the user's DDL and the same object made by the DDL rendered here is
//! the residual normalisation table, kept to the functions under
//! "Normalisation" and tested on its own:
//!
//! | what | the server's text | compared as |
//! |---|---|---|
//! | index | `CREATE UNIQUE INDEX i ON public.t USING btree (a)`: names the index and always qualifies the table | `USING btree (a)`: name- and schema-free |
//! | view | `pg_get_viewdef(oid, true)`: leading space, trailing `;` | trimmed, without the `;` |
//! | `serial` column | `nextval('t_id_seq'::regclass)`, a sequence named after the table when it was made | identity `serial`, no default |
//! | sequences | those of `serial` and identity columns, named after their table | left out (they belong to their column) |
//!
//! Names in `pg_get_constraintdef`, `pg_get_expr` and `pg_get_viewdef` are
//! qualified only when not visible on the search path, so objects of the
//! current schema read back unqualified on both sides and need no rule.
//!
//! Not represented, so refused by name ([`SchemaError::Unsupported`], with
//! `[models] exclude` as the way out): exclusion constraints, materialized
//! views, foreign tables, partitions and inherited tables, and columns of
//! a domain, composite or range type. Table `options` holds `UNLOGGED` and
//! a partitioned table's `PARTITION BY ...`. Not compared, as documented
//! in [`super`]: triggers, functions, grants, column order, the options of
//! a view (`security_barrier`, `check_option`: copied with the view, not
//! compared), the parameters of identity sequences, `OWNED BY` of a
//! free-standing sequence. A check constraint's `columns` are those of its
//! `conkey`, so that a column made again takes its checks back.
//!
//! Rendering spells each change as the DDL PostgreSQL 15 accepts inside
//! the revision's one transaction, and reorders only where the server
//! needs it and the diff cannot know: a foreign key is dropped before the
//! key it reads and added back after the new key; a new table's foreign
//! key to a key added by the same revision waits for it; a generated
//! column whose expression changes is dropped and added again (no `SET
//! EXPRESSION` before 17); an enum that loses or reorders values, or whose
//! new value a later statement uses (`ADD VALUE` cannot be used in the
//! transaction that adds it), is made again with its columns moved to it
//! through text.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::value::{int, opt, text};
use super::{
    Change, Column, Constraint, ConstraintKind, EnumType, Generated, Index, Schema, SchemaError,
    Scope, Sequence, Step, Table, View, ident,
};
use crate::db::{Connection, Dialect, Value};

const D: Dialect = Dialect::Postgresql;

// --- Inspection ------------------------------------------------------------

/// The relations of the current schema: tables, views and what is refused.
/// An extension's own objects (pg_buffercache's view, PostGIS's tables)
/// are the extension's, not the schema's: left out here, as in the enum
/// and sequence queries.
const RELATIONS: &str = "\
SELECT c.oid::int8, c.relname::text, c.relkind::text, c.relpersistence::text,
       c.relispartition,
       EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid),
       obj_description(c.oid, 'pg_class'),
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid, true) END,
       array_to_string(c.reloptions, ', '),
       CASE WHEN c.relkind = 'v' THEN (
         SELECT COALESCE(json_agg(DISTINCT ref.relname::text), '[]')
         FROM pg_rewrite r
         JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                         AND d.refclassid = 'pg_class'::regclass
         JOIN pg_class ref ON ref.oid = d.refobjid
         WHERE r.ev_class = c.oid AND ref.oid <> c.oid
           AND ref.relnamespace = c.relnamespace)::text END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = 'pg_class'::regclass
                  AND x.objid = c.oid AND x.deptype = 'e')
ORDER BY c.relname";

/// Every column of every table of the current schema, in table order.
/// `serial`: the default is `nextval` of a sequence the column owns.
/// The type's kind is that of the element type for an array.
const COLUMNS: &str = "\
SELECT a.attrelid::int8, a.attname::text, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text,
       a.attgenerated::text,
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
            THEN co.collname::text END,
       col_description(a.attrelid, a.attnum),
       EXISTS (
         SELECT 1 FROM pg_depend dep JOIN pg_class s ON s.oid = dep.objid
         WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
           AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum
           AND dep.deptype = 'a' AND s.relkind = 'S'
           AND pg_get_expr(ad.adbin, ad.adrelid)
               = 'nextval(' || quote_literal(s.oid::regclass::text) || '::regclass)'),
       bt.typtype::text, btn.nspname::text,
       (SELECT format('START WITH %s INCREMENT BY %s MINVALUE %s MAXVALUE %s CACHE %s %s',
                      sq.seqstart, sq.seqincrement, sq.seqmin, sq.seqmax, sq.seqcache,
                      CASE WHEN sq.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END)
        FROM pg_depend di JOIN pg_sequence sq ON sq.seqrelid = di.objid
        WHERE di.classid = 'pg_class'::regclass AND di.refobjid = a.attrelid
          AND di.refobjsubid = a.attnum AND di.deptype = 'i')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END
JOIN pg_namespace btn ON btn.oid = bt.typnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum";

const CONSTRAINTS: &str = "\
SELECT con.conrelid::int8, con.conname::text, con.contype::text,
       pg_get_constraintdef(con.oid),
       (SELECT COALESCE(json_agg(a.attname::text ORDER BY k.ord), '[]')
        FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num)::text,
       ref.relname::text
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class ref ON ref.oid = con.confrelid AND con.contype = 'f'
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
ORDER BY con.conrelid, con.conname";

/// Indexes that back no primary key, unique or exclusion constraint. The
/// columns: the key columns in order, then those only its expressions or
/// predicate read (recorded in `pg_depend`).
const INDEXES: &str = "\
SELECT i.indrelid::int8, ic.relname::text, i.indisunique, pg_get_indexdef(i.indexrelid),
       (SELECT COALESCE(json_agg(a.attname::text ORDER BY k.ord), '[]')
        FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, ord)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num)::text,
       (SELECT COALESCE(json_agg(DISTINCT a.attname::text), '[]')
        FROM pg_depend d
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
          AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0)::text
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con
                  WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                    AND con.contype IN ('p', 'u', 'x'))
ORDER BY ic.relname";

const ENUMS: &str = "\
SELECT t.typname::text,
       COALESCE(json_agg(e.enumlabel::text ORDER BY e.enumsortorder)
                FILTER (WHERE e.enumlabel IS NOT NULL), '[]')::text
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = current_schema() AND t.typtype = 'e'
  AND NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = 'pg_type'::regclass
                  AND x.objid = t.oid AND x.deptype = 'e')
GROUP BY t.typname
ORDER BY t.typname";

/// Sequences with the column that owns them, if any (`a`: `OWNED BY`, as
/// `serial` makes; `i`: an identity column's).
const SEQUENCES: &str = "\
SELECT c.relname::text, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
       s.seqmin, s.seqmax, s.seqcache, s.seqcycle, own.deptype::text, own.relname::text,
       own.attname::text
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
  SELECT d.deptype, r.relname, a.attname
  FROM pg_depend d
  JOIN pg_class r ON r.oid = d.refobjid
  LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
    AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
  LIMIT 1) own ON true
WHERE n.nspname = current_schema()
  AND NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = 'pg_class'::regclass
                  AND x.objid = c.oid AND x.deptype = 'e')
ORDER BY c.relname";

/// Reads the schema `current_schema()` of the connection's database.
pub async fn inspect(conn: &mut dyn Connection, scope: &Scope) -> Result<Schema, SchemaError> {
    let mut schema = Schema::default();
    // Table oid → name, for the tables kept.
    let mut tables: BTreeMap<i64, String> = BTreeMap::new();
    for row in rows(conn, RELATIONS, "relations (pg_class)").await? {
        let name = text(&row[1]);
        if scope.excludes(D, &name) {
            continue;
        }
        let kind = text(&row[2]);
        let refuse = |what: &str, why: &str| SchemaError::Unsupported {
            what: format!("{what} {name}"),
            why: format!("{why}: add it to `[models] exclude`"),
        };
        match kind.as_str() {
            "r" | "p" => {
                if boolean(&row[4]) {
                    return Err(refuse(
                        "partition",
                        "aludel does not compare partitions (it compares their partitioned table)",
                    ));
                }
                if boolean(&row[5]) {
                    return Err(refuse(
                        "table",
                        "it inherits from another table, which aludel does not compare",
                    ));
                }
                let mut options = Vec::new();
                if text(&row[3]) == "u" {
                    options.push("UNLOGGED".to_string());
                }
                if let Some(key) = opt(&row[7]) {
                    options.push(format!("PARTITION BY {key}"));
                }
                tables.insert(int(&row[0]), name.clone());
                schema.tables.insert(
                    name.clone(),
                    Table {
                        name,
                        comment: opt(&row[6]),
                        options: options.join(" "),
                        ..Table::default()
                    },
                );
            }
            "v" => {
                let definition = normal_view(&text(&row[8]));
                let depends_on: Vec<String> = json_list(&row[10]);
                let create_sql = match opt(&row[9]).filter(|o| !o.is_empty()) {
                    Some(o) => format!("CREATE VIEW {} WITH ({o}) AS {definition}", q(&name)),
                    None => format!("CREATE VIEW {} AS {definition}", q(&name)),
                };
                schema.views.insert(
                    name.clone(),
                    View {
                        name,
                        definition,
                        depends_on,
                        create_sql: Some(create_sql),
                    },
                );
            }
            "m" => {
                return Err(refuse(
                    "materialized view",
                    "aludel does not compare materialized views",
                ));
            }
            _ => {
                return Err(refuse(
                    "foreign table",
                    "aludel does not compare foreign tables",
                ));
            }
        }
    }
    let table_of = |oid: i64| -> Option<String> { tables.get(&oid).cloned() };

    let mut serial_of: BTreeSet<(String, String)> = BTreeSet::new();
    for row in rows(conn, COLUMNS, "columns (pg_attribute)").await? {
        let Some(table) = table_of(int(&row[0])) else {
            continue;
        };
        let name = text(&row[1]);
        let (type_kind, type_schema) = (text(&row[10]), text(&row[11]));
        if matches!(type_kind.as_str(), "d" | "c" | "r" | "m") && type_schema != "pg_catalog" {
            let kind = match type_kind.as_str() {
                "d" => "a domain",
                "c" => "a composite type",
                _ => "a range type",
            };
            return Err(SchemaError::Unsupported {
                what: format!("column {table}.{name}"),
                why: format!(
                    "its type {} is {kind}, which aludel does not compare or create: \
                     add the table to `[models] exclude`",
                    text(&row[2])
                ),
            });
        }
        let serial = boolean(&row[9]);
        let generated = (text(&row[6]) == "s").then(|| Generated {
            expression: text(&row[4]),
            stored: true,
        });
        let identity = if serial {
            serial_of.insert((table.clone(), name.clone()));
            Some("serial".to_string())
        } else {
            // The identity's sequence options are compared too (a
            // `START WITH 100` is a difference): spelt in full, as the
            // server holds them, so that equal ones read alike.
            let options = opt(&row[12]).unwrap_or_default();
            let with = |kind: &str| match options.is_empty() {
                true => kind.to_string(),
                false => format!("{kind} ({options})"),
            };
            match text(&row[5]).as_str() {
                "a" => Some(with("always")),
                "d" => Some(with("by default")),
                _ => None,
            }
        };
        let default = if serial || generated.is_some() {
            None
        } else {
            opt(&row[4])
        };
        let column = Column {
            name,
            data_type: text(&row[2]),
            nullable: !boolean(&row[3]),
            default,
            identity,
            generated,
            collation: opt(&row[7]),
            comment: opt(&row[8]),
            definition: None,
        };
        if let Some(t) = schema.tables.get_mut(&table) {
            t.columns.push(column);
        }
    }

    for row in rows(conn, CONSTRAINTS, "constraints (pg_constraint)").await? {
        let Some(table) = table_of(int(&row[0])) else {
            continue;
        };
        let name = text(&row[1]);
        let kind = match text(&row[2]).as_str() {
            "p" => ConstraintKind::PrimaryKey,
            "u" => ConstraintKind::Unique,
            "c" => ConstraintKind::Check,
            "f" => ConstraintKind::ForeignKey,
            "x" => {
                return Err(SchemaError::Unsupported {
                    what: format!("exclusion constraint {name} on {table}"),
                    why: format!(
                        "aludel does not compare exclusion constraints ({}): add the table to \
                         `[models] exclude` and change the constraint by hand",
                        text(&row[3])
                    ),
                });
            }
            // Constraint triggers are triggers: not compared.
            _ => continue,
        };
        let constraint = Constraint {
            name: Some(name),
            kind,
            columns: json_list(&row[4]),
            definition: text(&row[3]),
            references: opt(&row[5]),
        };
        let t = schema.tables.get_mut(&table).expect("kept");
        if kind == ConstraintKind::PrimaryKey {
            t.primary_key = Some(constraint);
        } else {
            t.constraints.push(constraint);
        }
    }

    for row in rows(conn, INDEXES, "indexes (pg_index)").await? {
        let Some(table) = table_of(int(&row[0])) else {
            continue;
        };
        let create_sql = text(&row[3]);
        let mut columns: Vec<String> = json_list(&row[4]);
        for c in json_list(&row[5]) {
            if !columns.contains(&c) {
                columns.push(c);
            }
        }
        let t = schema.tables.get_mut(&table).expect("kept");
        t.indexes.push(Index {
            name: text(&row[1]),
            unique: boolean(&row[2]),
            columns,
            definition: index_definition(&create_sql),
            create_sql: Some(create_sql),
        });
    }
    for t in schema.tables.values_mut() {
        t.constraints.sort_by_key(Constraint::key);
        t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    }

    for row in rows(conn, ENUMS, "enum types (pg_enum)").await? {
        let name = text(&row[0]);
        schema.enums.insert(
            name.clone(),
            EnumType {
                name,
                values: json_list(&row[1]),
            },
        );
    }

    for row in rows(conn, SEQUENCES, "sequences (pg_sequence)").await? {
        let name = text(&row[0]);
        let (deptype, owner, column) = (opt(&row[8]), opt(&row[9]), opt(&row[10]));
        // An identity column's sequence, and a serial column's, belong to
        // the column; so do the sequences of a table left out.
        if deptype.as_deref() == Some("i")
            || owner.as_deref().is_some_and(|o| scope.excludes(D, o))
            || matches!((&owner, &column), (Some(o), Some(c)) if serial_of.contains(&(o.clone(), c.clone())))
        {
            continue;
        }
        let definition = format!(
            "AS {} START WITH {} INCREMENT BY {} MINVALUE {} MAXVALUE {} CACHE {} {}",
            text(&row[1]),
            int(&row[2]),
            int(&row[3]),
            int(&row[4]),
            int(&row[5]),
            int(&row[6]),
            if boolean(&row[7]) {
                "CYCLE"
            } else {
                "NO CYCLE"
            }
        );
        schema
            .sequences
            .insert(name.clone(), Sequence { name, definition });
    }
    Ok(schema)
}

async fn rows(
    conn: &mut dyn Connection,
    sql: &str,
    what: &str,
) -> Result<Vec<Vec<Value>>, SchemaError> {
    Ok(conn
        .query(sql, Vec::new())
        .await
        .map_err(SchemaError::inspect(what))?
        .rows)
}

fn boolean(v: &Value) -> bool {
    matches!(v, Value::Boolean(true))
}

/// A JSON array of strings, as the queries build them.
fn json_list(v: &Value) -> Vec<String> {
    serde_json::from_str(&text(v)).unwrap_or_default()
}

// --- Normalisation ---------------------------------------------------------

/// `CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING ...` →
/// `USING ...`: what the index is, without the names `pg_get_indexdef`
/// always spells (the table qualified, whatever the search path), so that
/// an index reads the same in the scratch database as in the live one and
/// after its table is renamed.
pub(crate) fn index_definition(indexdef: &str) -> String {
    // Quoted names may hold " USING "; skip them while looking for it.
    let b = indexdef.as_bytes();
    let mut i = 0;
    let mut quoted = false;
    while i < b.len() {
        match b[i] {
            b'"' => quoted = !quoted,
            b' ' if !quoted && indexdef[i..].starts_with(" USING ") => {
                return indexdef[i + 1..].trim().to_string();
            }
            _ => {}
        }
        i += 1;
    }
    indexdef.trim().to_string()
}

/// `pg_get_viewdef`'s text without its leading space and final `;`.
pub(crate) fn normal_view(def: &str) -> String {
    def.trim().trim_end_matches(';').trim_end().to_string()
}

// --- Rendering -------------------------------------------------------------

fn q(name: &str) -> String {
    ident(D, name)
}

fn lit(s: &str) -> String {
    super::lit(D, s)
}

/// One statement and, where rendering it loses more than the change says,
/// why.
struct Sql {
    sql: String,
    destructive: Option<String>,
}

impl From<String> for Sql {
    fn from(sql: String) -> Sql {
        Sql {
            sql,
            destructive: None,
        }
    }
}

/// The statements of `changes` in PostgreSQL.
pub fn render(changes: &[Change], from: &Schema, to: &Schema) -> Result<Vec<Step>, SchemaError> {
    let changes = readers_of_dropped_keys(changes, from, to);
    let changes = foreign_key_drops_first(&new_tables_wait_for_new_keys(&changes));
    let mut steps = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        for s in render_one(change, &changes[..i], &changes[i + 1..], from, to)? {
            let destructive = match (change.destructive(), s.destructive) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b),
            };
            steps.push(Step {
                sql: s.sql,
                comment: change.describe(),
                destructive,
            });
        }
    }
    Ok(steps)
}

/// A foreign key depends on the primary key, unique constraint or unique
/// index that covers the columns it references, and PostgreSQL will not
/// drop that key under it. The diff leaves an unchanged foreign key alone
/// when the key it reads is replaced (a primary key made wider, say), so
/// here each such foreign key is dropped just before the key and added
/// again, as the target has it, after the new keys (before the diff's own
/// foreign keys); one of a table that goes is only dropped.
fn readers_of_dropped_keys(changes: &[Change], from: &Schema, to: &Schema) -> Vec<Change> {
    let mut gone: BTreeSet<(String, String)> = BTreeSet::new();
    let mut renamed: BTreeMap<&str, &str> = BTreeMap::new();
    for c in changes {
        match c {
            Change::DropConstraint { table, constraint }
                if constraint.kind == ConstraintKind::ForeignKey =>
            {
                gone.insert((table.clone(), constraint.key()));
            }
            Change::RenameTable { from, to } => {
                renamed.insert(from, to);
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(changes.len());
    let mut again = Vec::new();
    for c in changes {
        let dropped_key = match c {
            Change::DropConstraint { table, constraint }
                if matches!(
                    constraint.kind,
                    ConstraintKind::PrimaryKey | ConstraintKind::Unique
                ) =>
            {
                Some((table, &constraint.columns))
            }
            Change::DropIndex { table, index } if index.unique => Some((table, &index.columns)),
            _ => None,
        };
        if let Some((table, columns)) = dropped_key {
            let columns: BTreeSet<&String> = columns.iter().collect();
            for t in from.tables.values() {
                for fk in &t.constraints {
                    let reads = fk.kind == ConstraintKind::ForeignKey
                        && fk.references.as_ref() == Some(table)
                        && referenced_columns(&fk.definition)
                            .iter()
                            .collect::<BTreeSet<_>>()
                            == columns;
                    if !reads || !gone.insert((t.name.clone(), fk.key())) {
                        continue;
                    }
                    out.push(Change::DropConstraint {
                        table: t.name.clone(),
                        constraint: fk.clone(),
                    });
                    let target = renamed.get(t.name.as_str()).copied().unwrap_or(&t.name);
                    if let Some(k) = to
                        .tables
                        .get(target)
                        .and_then(|tt| tt.constraints.iter().find(|k| k.key() == fk.key()))
                    {
                        again.push(Change::AddConstraint {
                            table: target.to_string(),
                            constraint: k.clone(),
                            deferred: false,
                        });
                    }
                }
            }
        }
        out.push(c.clone());
    }
    if again.is_empty() {
        return out;
    }
    let at = after_key_adds(&out);
    out.splice(at..at, again);
    out
}

/// Where the diff's adds of keys and indexes end: before the first change
/// of what follows them in its order (foreign keys, late drops, views,
/// comments).
fn after_key_adds(changes: &[Change]) -> usize {
    changes
        .iter()
        .position(|c| {
            matches!(
                c,
                Change::AddConstraint { constraint, .. } if constraint.kind == ConstraintKind::ForeignKey
            ) || matches!(
                c,
                Change::DropEnum { .. }
                    | Change::DropSequence { .. }
                    | Change::CreateView { .. }
                    | Change::TableComment { .. }
            )
        })
        .unwrap_or(changes.len())
}

/// A new table's foreign key to a kept table whose primary key or unique
/// key is added by the same changes cannot be declared in its `CREATE
/// TABLE`, which the diff orders before those adds: it is left out and
/// added with the foreign keys, as a cycle's is.
fn new_tables_wait_for_new_keys(changes: &[Change]) -> Vec<Change> {
    let keyed: BTreeSet<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::AddConstraint {
                table, constraint, ..
            } if matches!(
                constraint.kind,
                ConstraintKind::PrimaryKey | ConstraintKind::Unique
            ) =>
            {
                Some(table.as_str())
            }
            Change::AddIndex { table, index } if index.unique => Some(table.as_str()),
            _ => None,
        })
        .collect();
    let mut out = Vec::with_capacity(changes.len());
    let mut later = Vec::new();
    for c in changes {
        match c {
            Change::CreateTable { table, deferred } => {
                let mut deferred = deferred.clone();
                for k in &table.constraints {
                    let waits = k.kind == ConstraintKind::ForeignKey
                        && k.references
                            .as_deref()
                            .is_some_and(|r| r != table.name && keyed.contains(r))
                        && !deferred.contains(&k.key());
                    if waits {
                        deferred.push(k.key());
                        later.push(Change::AddConstraint {
                            table: table.name.clone(),
                            constraint: k.clone(),
                            deferred: true,
                        });
                    }
                }
                out.push(Change::CreateTable {
                    table: table.clone(),
                    deferred,
                });
            }
            other => out.push(other.clone()),
        }
    }
    if !later.is_empty() {
        let at = after_key_adds(&out);
        out.splice(at..at, later);
    }
    out
}

/// The columns a foreign key's definition references: `(a, "B")` of
/// `FOREIGN KEY (x, y) REFERENCES t(a, "B") ON DELETE CASCADE`.
fn referenced_columns(definition: &str) -> Vec<String> {
    let Some(at) = definition.find(" REFERENCES ") else {
        return Vec::new();
    };
    let rest = &definition[at + " REFERENCES ".len()..];
    // The table's name may be quoted and hold a parenthesis.
    let mut quoted = false;
    let mut open = None;
    for (i, ch) in rest.char_indices() {
        match ch {
            '"' => quoted = !quoted,
            '(' if !quoted => {
                open = Some(i);
                break;
            }
            _ => {}
        }
    }
    let Some(open) = open else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = rest[open + 1..].chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' | ')' if !quoted => {
                names.push(current.trim().to_string());
                current.clear();
                if ch == ')' {
                    break;
                }
            }
            _ => current.push(ch),
        }
    }
    names
}

/// The diff drops constraints table by table; a primary key or unique
/// constraint cannot go while a foreign key dropped in the same run still
/// reads it, so within each run of drops the foreign keys go first.
fn foreign_key_drops_first(changes: &[Change]) -> Vec<Change> {
    let is_drop =
        |c: &Change| matches!(c, Change::DropConstraint { .. } | Change::DropIndex { .. });
    let is_fk = |c: &Change| matches!(c, Change::DropConstraint { constraint, .. } if constraint.kind == ConstraintKind::ForeignKey);
    let mut out = Vec::with_capacity(changes.len());
    let mut i = 0;
    while i < changes.len() {
        if !is_drop(&changes[i]) {
            out.push(changes[i].clone());
            i += 1;
            continue;
        }
        let start = i;
        while i < changes.len() && is_drop(&changes[i]) {
            i += 1;
        }
        let run = &changes[start..i];
        out.extend(run.iter().filter(|c| is_fk(c)).cloned());
        out.extend(run.iter().filter(|c| !is_fk(c)).cloned());
    }
    out
}

fn inexpressible(change: &Change, why: impl Into<String>) -> SchemaError {
    SchemaError::Inexpressible {
        change: change.describe(),
        dialect: D,
        why: why.into(),
    }
}

fn render_one(
    change: &Change,
    before: &[Change],
    rest: &[Change],
    from: &Schema,
    to: &Schema,
) -> Result<Vec<Sql>, SchemaError> {
    let one = |s: String| Ok(vec![Sql::from(s)]);
    match change {
        Change::DropView { view, .. } => one(format!("DROP VIEW {}", q(&view.name))),
        Change::CreateView { view, .. } => one(view
            .create_sql
            .clone()
            .unwrap_or_else(|| format!("CREATE VIEW {} AS {}", q(&view.name), view.definition))),
        Change::DropConstraint { table, constraint } => {
            let name = constraint
                .name
                .as_deref()
                .ok_or_else(|| inexpressible(change, "the constraint has no name to drop it by"))?;
            one(format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                q(table),
                q(name)
            ))
        }
        Change::AddConstraint {
            table, constraint, ..
        } => one(add_constraint(change, table, constraint)?),
        Change::DropIndex { index, .. } => one(format!("DROP INDEX {}", q(&index.name))),
        Change::AddIndex { table, index } => one(create_index(table, index)),
        Change::CreateEnum { r#enum } => one(create_enum(r#enum)),
        Change::AlterEnum {
            from: old,
            to: new,
            renamed,
        } => alter_enum(change, old, new, renamed, before, rest, from),
        Change::DropEnum { r#enum } => one(format!("DROP TYPE {}", q(&r#enum.name))),
        Change::CreateSequence { sequence } => one(format!(
            "CREATE SEQUENCE {} {}",
            q(&sequence.name),
            sequence.definition
        )),
        Change::AlterSequence { to: s, .. } => {
            one(format!("ALTER SEQUENCE {} {}", q(&s.name), s.definition))
        }
        // A sequence `OWNED BY` a column of a table dropped before it went
        // with the table.
        Change::DropSequence { sequence } => {
            one(format!("DROP SEQUENCE IF EXISTS {}", q(&sequence.name)))
        }
        Change::RenameTable { from, to } => {
            one(format!("ALTER TABLE {} RENAME TO {}", q(from), q(to)))
        }
        Change::RenameColumn { table, from, to } => one(format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            q(table),
            q(from),
            q(to)
        )),
        Change::CreateTable { table, deferred } => create_table(change, table, deferred),
        Change::AddColumn { table, column } => Ok(add_column(table, column)
            .into_iter()
            .map(Sql::from)
            .collect()),
        Change::AlterColumn {
            table,
            from: old,
            to: new,
        } => alter_column(change, table, old, new, rest, to),
        Change::DropColumn { table, column } => one(format!(
            "ALTER TABLE {} DROP COLUMN {}",
            q(table),
            q(&column.name)
        )),
        Change::DropTable { table } => one(format!("DROP TABLE {}", q(&table.name))),
        Change::TableComment { table, to, .. } => one(format!(
            "COMMENT ON TABLE {} IS {}",
            q(table),
            to.as_deref().map_or("NULL".to_string(), lit)
        )),
        Change::TableOptions {
            table,
            from: old,
            to: new,
        } => {
            let partition = |o: &str| {
                o.split_once("PARTITION BY ")
                    .map(|(_, p)| p.to_string())
                    .unwrap_or_default()
            };
            if partition(old) != partition(new) {
                return Err(inexpressible(
                    change,
                    "PostgreSQL cannot change how a table is partitioned: create a new table \
                     and move the rows by hand",
                ));
            }
            let unlogged = |o: &str| o.split_whitespace().any(|w| w == "UNLOGGED");
            if unlogged(old) == unlogged(new) {
                return Ok(Vec::new());
            }
            one(format!(
                "ALTER TABLE {} SET {}",
                q(table),
                if unlogged(new) { "UNLOGGED" } else { "LOGGED" }
            ))
        }
    }
}

fn add_constraint(change: &Change, table: &str, c: &Constraint) -> Result<String, SchemaError> {
    let name = c
        .name
        .as_deref()
        .ok_or_else(|| inexpressible(change, "the constraint has no name"))?;
    Ok(format!(
        "ALTER TABLE {} ADD CONSTRAINT {} {}",
        q(table),
        q(name),
        c.definition
    ))
}

/// The index on `table` by its name there: the inspected definition is
/// name- and schema-free, so a renamed table and another schema need
/// nothing more.
fn create_index(table: &str, index: &Index) -> String {
    format!(
        "CREATE {}INDEX {} ON {} {}",
        if index.unique { "UNIQUE " } else { "" },
        q(&index.name),
        q(table),
        index.definition
    )
}

fn create_enum(e: &EnumType) -> String {
    format!(
        "CREATE TYPE {} AS ENUM ({})",
        q(&e.name),
        e.values
            .iter()
            .map(|v| lit(v))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The identity of a column as what renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identity {
    None,
    Serial,
    /// `ALWAYS` or `BY DEFAULT`.
    Generated(&'static str),
}

fn identity(c: &Column) -> Identity {
    match c.identity.as_deref() {
        Some("serial") => Identity::Serial,
        Some(i) if i.starts_with("always") => Identity::Generated("ALWAYS"),
        Some(i) if i.starts_with("by default") => Identity::Generated("BY DEFAULT"),
        _ => Identity::None,
    }
}

/// `START WITH 5 INCREMENT BY 2 ... NO CYCLE` as `ALTER COLUMN` sets them:
/// `SET START WITH 5 SET INCREMENT BY 2 ... SET NO CYCLE`.
fn set_options(options: &str) -> String {
    const STARTS: [&str; 7] = [
        "START",
        "INCREMENT",
        "MINVALUE",
        "MAXVALUE",
        "CACHE",
        "CYCLE",
        "NO",
    ];
    let mut out: Vec<String> = Vec::new();
    for word in options.split_whitespace() {
        let starts = STARTS.contains(&word)
            && !(word == "CYCLE" && out.last().is_some_and(|l| l.ends_with(" NO")));
        if starts {
            out.push(format!("SET {word}"));
        } else if let Some(last) = out.last_mut() {
            last.push(' ');
            last.push_str(word);
        }
    }
    out.join(" ")
}

/// An identity's sequence options (`START WITH 100 INCREMENT BY 1 ...`),
/// as inspected; empty when unknown.
fn identity_options(c: &Column) -> &str {
    c.identity
        .as_deref()
        .and_then(|i| i.split_once(" ("))
        .map_or("", |(_, o)| o.trim_end_matches(')'))
}

/// `integer` → `serial`, and the other two; none for another type.
fn serial_type(data_type: &str) -> Option<&'static str> {
    match data_type {
        "integer" => Some("serial"),
        "bigint" => Some("bigserial"),
        "smallint" => Some("smallserial"),
        _ => None,
    }
}

/// A column as `CREATE TABLE` and `ADD COLUMN` declare it.
fn column_def(c: &Column) -> String {
    let serial = (identity(c) == Identity::Serial)
        .then(|| serial_type(&c.data_type))
        .flatten();
    let mut s = format!("{} {}", q(&c.name), serial.unwrap_or(&c.data_type));
    if let Some(coll) = &c.collation {
        s.push_str(&format!(" COLLATE {}", q(coll)));
    }
    if let Some(g) = &c.generated {
        s.push_str(&format!(" GENERATED ALWAYS AS ({}) STORED", g.expression));
    }
    if let Identity::Generated(kind) = identity(c) {
        s.push_str(&format!(" GENERATED {kind} AS IDENTITY"));
        let options = identity_options(c);
        if !options.is_empty() {
            s.push_str(&format!(" ({options})"));
        }
    }
    if !c.nullable {
        s.push_str(" NOT NULL");
    }
    if let Some(d) = &c.default {
        s.push_str(&format!(" DEFAULT {d}"));
    }
    s
}

/// What follows a column's declaration: a `serial` column that allows
/// NULL (`serial` says NOT NULL) and its comment.
fn column_after(table: &str, c: &Column) -> Vec<String> {
    let mut out = Vec::new();
    if identity(c) == Identity::Serial && c.nullable {
        out.push(format!(
            "ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL",
            q(table),
            q(&c.name)
        ));
    }
    if let Some(comment) = &c.comment {
        out.push(column_comment(table, &c.name, Some(comment)));
    }
    out
}

fn column_comment(table: &str, column: &str, comment: Option<&str>) -> String {
    format!(
        "COMMENT ON COLUMN {}.{} IS {}",
        q(table),
        q(column),
        comment.map_or("NULL".to_string(), lit)
    )
}

fn add_column(table: &str, c: &Column) -> Vec<String> {
    let mut out = vec![format!(
        "ALTER TABLE {} ADD COLUMN {}",
        q(table),
        column_def(c)
    )];
    out.extend(column_after(table, c));
    out
}

fn create_table(change: &Change, t: &Table, deferred: &[String]) -> Result<Vec<Sql>, SchemaError> {
    let mut lines: Vec<String> = t.columns.iter().map(column_def).collect();
    let mut after = Vec::new();
    for c in t.primary_key.iter().chain(&t.constraints) {
        if deferred.contains(&c.key()) {
            continue;
        }
        let name = c.name.as_deref().ok_or_else(|| {
            inexpressible(change, format!("a constraint of {} has no name", t.name))
        })?;
        // CREATE TABLE validates every constraint it declares: one that is
        // NOT VALID is added after, as it was made.
        if c.definition.ends_with(" NOT VALID") {
            after.push(add_constraint(change, &t.name, c)?);
        } else {
            lines.push(format!("CONSTRAINT {} {}", q(name), c.definition));
        }
    }
    let unlogged = t.options.split_whitespace().any(|w| w == "UNLOGGED");
    let partition = t
        .options
        .split_once("PARTITION BY ")
        .map(|(_, p)| format!(" PARTITION BY {p}"))
        .unwrap_or_default();
    let mut out = vec![format!(
        "CREATE {}TABLE {} (\n    {}\n){partition}",
        if unlogged { "UNLOGGED " } else { "" },
        q(&t.name),
        lines.join(",\n    ")
    )];
    out.extend(after);
    for c in &t.columns {
        out.extend(column_after(&t.name, c));
    }
    for i in &t.indexes {
        out.push(create_index(&t.name, i));
    }
    // The table's comment is the diff's TableComment, after it.
    Ok(out.into_iter().map(Sql::from).collect())
}

fn alter_column(
    change: &Change,
    table: &str,
    from: &Column,
    to: &Column,
    rest: &[Change],
    target: &Schema,
) -> Result<Vec<Sql>, SchemaError> {
    let t = q(table);
    let c = q(&to.name);
    let alter = format!("ALTER TABLE {t} ALTER COLUMN {c}");
    let mut out: Vec<Sql> = Vec::new();

    if to.generated.is_some() && from.generated != to.generated {
        // PostgreSQL 15 cannot add or change a generation expression in
        // place (SET EXPRESSION is 17's): the column is made again, and
        // what the drop takes with it (indexes, constraints) is put back.
        let why = format!(
            "drops column {table}.{} and adds it again as generated by {}: its stored values \
             are computed again, and its indexes and constraints are re-created",
            to.name,
            to.generated.as_ref().map_or("", |g| g.expression.as_str())
        );
        out.push(Sql {
            sql: format!("ALTER TABLE {t} DROP COLUMN {c}"),
            destructive: Some(why),
        });
        out.extend(add_column(table, to).into_iter().map(Sql::from));
        let later_added: BTreeSet<String> = rest
            .iter()
            .filter_map(|ch| match ch {
                Change::AddIndex { table: tt, index } if tt == table => Some(index.name.clone()),
                Change::AddConstraint {
                    table: tt,
                    constraint,
                    ..
                } if tt == table => Some(constraint.key()),
                _ => None,
            })
            .collect();
        if let Some(tt) = target.tables.get(table) {
            for k in tt.primary_key.iter().chain(&tt.constraints) {
                if k.columns.contains(&to.name) && !later_added.contains(&k.key()) {
                    out.push(add_constraint(change, table, k)?.into());
                }
            }
            for i in &tt.indexes {
                if i.columns.contains(&to.name) && !later_added.contains(&i.name) {
                    out.push(create_index(table, i).into());
                }
            }
        }
        return Ok(out);
    }
    let mut push = |s: String| out.push(Sql::from(s));
    if from.generated.is_some() && to.generated.is_none() {
        push(format!("{alter} DROP EXPRESSION"));
    }
    let type_change = from.data_type != to.data_type || from.collation != to.collation;
    let default_change = from.default != to.default;
    let (old_id, new_id) = (identity(from), identity(to));
    if from.default.is_some() && (default_change || type_change) {
        push(format!("{alter} DROP DEFAULT"));
    }
    if old_id != new_id {
        match (&old_id, &new_id) {
            (Identity::Generated(_), Identity::Generated(_)) => {}
            (Identity::Generated(_), _) => push(format!("{alter} DROP IDENTITY")),
            (Identity::Serial, _) => {
                push(format!("{alter} DROP DEFAULT"));
                // The sequence's name is the server's (it was chosen when
                // the column was made): asked of it, not guessed.
                push(format!(
                    "DO $aludel$ BEGIN EXECUTE 'DROP SEQUENCE ' || pg_get_serial_sequence({}, {}); END $aludel$",
                    lit(&t),
                    lit(&to.name)
                ));
            }
            (Identity::None, _) => {}
        }
    }
    if type_change {
        let collate = match (&to.collation, &from.collation) {
            (Some(coll), _) => format!(" COLLATE {}", q(coll)),
            (None, Some(_)) => " COLLATE \"default\"".to_string(),
            (None, None) => String::new(),
        };
        let using = if from.data_type != to.data_type {
            format!(" USING {c}::{}", to.data_type)
        } else {
            String::new()
        };
        push(format!("{alter} TYPE {}{collate}{using}", to.data_type));
    }
    if from.nullable != to.nullable {
        push(format!(
            "{alter} {} NOT NULL",
            if to.nullable { "DROP" } else { "SET" }
        ));
    }
    if let Some(d) = &to.default
        && (default_change || type_change)
    {
        push(format!("{alter} SET DEFAULT {d}"));
    }
    // Values already in the column: the sequence goes on after the
    // largest, so that the next row does not collide.
    let restart = format!(
        "SELECT setval(pg_get_serial_sequence({}, {}), (SELECT COALESCE(max({c}), 0) + 1 FROM {t}), false)",
        lit(&t),
        lit(&to.name)
    );
    if old_id != new_id {
        match (&old_id, &new_id) {
            (Identity::Generated(_), Identity::Generated(kind)) => {
                push(format!("{alter} SET GENERATED {kind}"));
            }
            (_, Identity::Generated(kind)) => {
                let options = identity_options(to);
                if options.is_empty() {
                    push(format!("{alter} ADD GENERATED {kind} AS IDENTITY"));
                } else {
                    push(format!(
                        "{alter} ADD GENERATED {kind} AS IDENTITY ({options})"
                    ));
                }
                push(restart);
            }
            (_, Identity::Serial) => {
                serial_type(&to.data_type).ok_or_else(|| {
                    inexpressible(
                        change,
                        format!(
                            "a serial column is smallint, integer or bigint, not {}",
                            to.data_type
                        ),
                    )
                })?;
                let seq = format!("{table}_{}_seq", to.name);
                push(format!(
                    "CREATE SEQUENCE {} AS {} OWNED BY {t}.{c}",
                    q(&seq),
                    to.data_type
                ));
                push(format!(
                    "{alter} SET DEFAULT nextval({}::regclass)",
                    lit(&q(&seq))
                ));
                push(restart);
            }
            _ => {}
        }
    }
    if let (Identity::Generated(_), Identity::Generated(_)) = (&old_id, &new_id)
        && identity_options(from) != identity_options(to)
        && !identity_options(to).is_empty()
    {
        push(format!("{alter} {}", set_options(identity_options(to))));
    }
    if from.comment != to.comment {
        push(column_comment(table, &to.name, to.comment.as_deref()));
    }
    Ok(out)
}

/// The ways `format_type` may spell a type of the current schema: plain,
/// or quoted where the name needs it (a keyword, upper case, a space).
fn type_names(name: &str) -> Vec<String> {
    vec![name.to_string(), q(name)]
}

/// Whether the later changes say `'value'::type`: a value added by `ALTER
/// TYPE ... ADD VALUE` cannot be used in the transaction that adds it.
fn mentions_value(rest: &[Change], enum_name: &str, value: &str) -> bool {
    #[derive(Serialize)]
    struct All<'a>(&'a [Change]);
    let text = serde_json::to_string(&All(rest)).unwrap_or_default();
    type_names(enum_name).iter().any(|ty| {
        // The needle as JSON spells it (a quoted type name's quotes escaped).
        let needle = serde_json::to_string(&format!("{}::{ty}", lit(value))).unwrap_or_default();
        text.contains(&needle[1..needle.len() - 1])
    })
}

fn alter_enum(
    change: &Change,
    old: &EnumType,
    new: &EnumType,
    renamed: &[(String, String)],
    before: &[Change],
    rest: &[Change],
    from: &Schema,
) -> Result<Vec<Sql>, SchemaError> {
    let ty = q(&new.name);
    let mut out: Vec<Sql> = Vec::new();
    for (o, n) in renamed {
        out.push(format!("ALTER TYPE {ty} RENAME VALUE {} TO {}", lit(o), lit(n)).into());
    }
    let current: Vec<String> = old
        .values
        .iter()
        .map(|v| {
            renamed
                .iter()
                .find(|(o, _)| o == v)
                .map_or(v.clone(), |(_, n)| n.clone())
        })
        .collect();
    let added: Vec<&String> = new.values.iter().filter(|v| !current.contains(v)).collect();
    let kept_in_order = {
        let mut it = new.values.iter();
        current.iter().all(|v| it.any(|n| n == v))
    };
    let used_later = added.iter().any(|v| mentions_value(rest, &new.name, v));
    if kept_in_order && !used_later {
        // Each new value after the one before it in the target, or before
        // the first for a new first value.
        for (i, v) in new.values.iter().enumerate() {
            if current.contains(v) {
                continue;
            }
            let place = if i > 0 {
                format!(" AFTER {}", lit(&new.values[i - 1]))
            } else if let Some(first) = current.first() {
                format!(" BEFORE {}", lit(first))
            } else {
                String::new()
            };
            out.push(format!("ALTER TYPE {ty} ADD VALUE {}{place}", lit(v)).into());
        }
        return Ok(out);
    }
    // A value removed, the order changed, or a new value used by a later
    // statement of the same transaction: the type is made again (values
    // of a type created in the transaction can be used in it) and every
    // column moved to it through text. What reads those columns and names
    // the type (views, and indexes and constraints with a value of it in
    // their text, which PostgreSQL would re-parse against the old type)
    // is dropped around the move and made again from its start text.
    let dropped_views: BTreeSet<&str> = before
        .iter()
        .filter_map(|c| match c {
            Change::DropView { view, .. } => Some(view.name.as_str()),
            _ => None,
        })
        .collect();
    let dropped_keys: BTreeSet<(&str, String)> = before
        .iter()
        .filter_map(|c| match c {
            Change::DropConstraint { table, constraint } => {
                Some((table.as_str(), constraint.key()))
            }
            Change::DropIndex { table, index } => Some((table.as_str(), index.name.clone())),
            _ => None,
        })
        .collect();
    let spellings = type_names(&old.name);
    let mut users: Vec<(&Table, &Column, bool)> = Vec::new();
    for t in from.tables.values() {
        for c in &t.columns {
            if spellings.contains(&c.data_type) {
                users.push((t, c, false));
            } else if spellings.iter().any(|b| c.data_type == format!("{b}[]")) {
                users.push((t, c, true));
            }
        }
    }
    let user_tables: BTreeSet<&str> = users.iter().map(|(t, _, _)| t.name.as_str()).collect();
    // Views reading those tables, and the views reading them, kept by the
    // diff: dropped readers first, made again in the opposite order.
    let mut views: Vec<&View> = Vec::new();
    loop {
        let more: Vec<&View> = from
            .views
            .values()
            .filter(|v| !dropped_views.contains(v.name.as_str()))
            .filter(|v| !views.iter().any(|w| w.name == v.name))
            .filter(|v| {
                v.depends_on
                    .iter()
                    .any(|d| user_tables.contains(d.as_str()) || views.iter().any(|w| &w.name == d))
            })
            .collect();
        if more.is_empty() {
            break;
        }
        views.extend(more);
    }
    let views = readers_last(views);
    let mapping: BTreeMap<&str, &str> = renamed
        .iter()
        .map(|(o, n)| (o.as_str(), n.as_str()))
        .collect();
    let gone: Vec<&String> = old
        .values
        .iter()
        .chain(&current)
        .filter(|v| !new.values.contains(v))
        .collect();
    // A text naming the type, its renamed values by their new names; None
    // when it names a value that goes (its own change handles it).
    let retext = |text: &str| -> Option<String> {
        let mut d = text.to_string();
        for (o, n) in &mapping {
            d = d.replace(&format!("{}::", lit(o)), &format!("{}::", lit(n)));
        }
        (!gone.iter().any(|v| d.contains(&format!("{}::", lit(v))))).then_some(d)
    };
    let names_type = |text: &str| spellings.iter().any(|b| text.contains(&format!("::{b}")));
    let mut remade: Vec<String> = Vec::new();
    let mut undo: Vec<String> = Vec::new();
    for t in from
        .tables
        .values()
        .filter(|t| user_tables.contains(t.name.as_str()))
    {
        for k in t.primary_key.iter().chain(&t.constraints) {
            if names_type(&k.definition)
                && !dropped_keys.contains(&(t.name.as_str(), k.key()))
                && let Some(name) = &k.name
            {
                undo.push(format!(
                    "ALTER TABLE {} DROP CONSTRAINT {}",
                    q(&t.name),
                    q(name)
                ));
                if let Some(def) = retext(&k.definition) {
                    remade.push(format!(
                        "ALTER TABLE {} ADD CONSTRAINT {} {def}",
                        q(&t.name),
                        q(name)
                    ));
                }
            }
        }
        for i in &t.indexes {
            if names_type(&i.definition)
                && !dropped_keys.contains(&(t.name.as_str(), i.name.clone()))
            {
                undo.push(format!("DROP INDEX {}", q(&i.name)));
                if let Some(definition) = retext(&i.definition) {
                    remade.push(create_index(
                        &t.name,
                        &Index {
                            definition,
                            ..i.clone()
                        },
                    ));
                }
            }
        }
    }
    for v in views.iter().rev() {
        out.push(format!("DROP VIEW {}", q(&v.name)).into());
    }
    out.extend(undo.into_iter().map(Sql::from));
    let old_name = format!("{}_old", new.name);
    out.push(format!("ALTER TYPE {ty} RENAME TO {}", q(&old_name)).into());
    out.push(create_enum(new).into());
    for (t, c, array) in users {
        let alter = format!("ALTER TABLE {} ALTER COLUMN {}", q(&t.name), q(&c.name));
        if c.default.is_some() {
            out.push(format!("{alter} DROP DEFAULT").into());
        }
        let (cast_text, cast_new) = if array {
            ("text[]", format!("{ty}[]"))
        } else {
            ("text", ty.clone())
        };
        out.push(
            format!(
                "{alter} TYPE {cast_new} USING {}::{cast_text}::{cast_new}",
                q(&c.name)
            )
            .into(),
        );
        if let Some(d) = c.default.as_deref().and_then(retext) {
            out.push(format!("{alter} SET DEFAULT {d}").into());
        }
    }
    out.push(format!("DROP TYPE {}", q(&old_name)).into());
    out.extend(remade.into_iter().map(Sql::from));
    for v in views {
        let sql = v
            .create_sql
            .clone()
            .unwrap_or_else(|| format!("CREATE VIEW {} AS {}", q(&v.name), v.definition));
        match retext(&sql) {
            Some(sql) => out.push(sql.into()),
            None => {
                return Err(inexpressible(
                    change,
                    format!(
                        "view {} names a value the type loses: change the view in a revision \
                         before this one",
                        v.name
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Views ordered so that each comes after the views (of `views`) it reads.
fn readers_last(mut views: Vec<&View>) -> Vec<&View> {
    let mut out: Vec<&View> = Vec::new();
    while !views.is_empty() {
        let at = views
            .iter()
            .position(|v| {
                !v.depends_on
                    .iter()
                    .any(|d| d != &v.name && views.iter().any(|w| &w.name == d))
            })
            .unwrap_or(0);
        out.push(views.remove(at));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Renames, create_all, diff};
    use super::*;
    use crate::db;

    const ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// A database of its own, dropped when the test ends, passed or not.
    struct TestDb {
        name: String,
    }

    impl TestDb {
        async fn new() -> TestDb {
            let name = format!("aludel_schema_t_{}", hex::encode(rand::random::<[u8; 6]>()));
            let mut admin = db::connect(ADMIN)
                .await
                .expect("the test server (README, Databases)");
            admin
                .execute_script(&format!("CREATE DATABASE {}", q(&name)))
                .await
                .expect("create the test database");
            TestDb { name }
        }

        fn url(&self) -> String {
            format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
        }

        async fn conn(&self) -> Box<dyn Connection> {
            db::connect(&self.url()).await.expect("connect")
        }

        async fn with(ddl: &str) -> (TestDb, Schema) {
            let d = TestDb::new().await;
            let mut c = d.conn().await;
            c.execute_script(ddl)
                .await
                .unwrap_or_else(|e| panic!("{ddl}: {e}"));
            let s = inspect(c.as_mut(), &Scope::default())
                .await
                .expect("inspect");
            (d, s)
        }

        async fn inspect(&self) -> Schema {
            inspect(self.conn().await.as_mut(), &Scope::default())
                .await
                .expect("inspect")
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            // The test's runtime may be the one dropping: a thread of its own.
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", q(&self.name));
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(mut admin) = db::connect(ADMIN).await {
                        let _ = admin.execute_script(&sql).await;
                    }
                })
            })
            .join();
        }
    }

    fn describe(changes: &[Change]) -> Vec<String> {
        changes.iter().map(Change::describe).collect()
    }

    async fn apply(conn: &mut dyn Connection, steps: &[Step]) {
        conn.begin().await.expect("begin");
        for s in steps {
            if let Err(e) = conn.execute_script(&s.sql).await {
                let _ = conn.rollback().await;
                panic!("{}: {e}", s.sql);
            }
        }
        conn.commit().await.expect("commit");
    }

    /// The start in one database and the target in another; the rendered
    /// upgrade brings the first to the second, and the downgrade back.
    async fn round_trip(start: &str, target: &str, renames: &[&str]) -> Vec<Step> {
        let (a, from) = TestDb::with(start).await;
        let (_b, to) = TestDb::with(target).await;
        let specs: Vec<String> = renames.iter().map(|s| s.to_string()).collect();
        let renames = Renames::resolve(&specs, &[], &from, &to).expect("renames");
        let up = diff(&from, &to, &renames);
        assert!(!up.is_empty(), "no difference found");
        let steps = render(&up, &from, &to).expect("render the upgrade");
        let mut conn = a.conn().await;
        apply(conn.as_mut(), &steps).await;
        let after = a.inspect().await;
        let left = diff(&after, &to, &Renames::default());
        assert!(
            left.is_empty(),
            "after the upgrade: {:?}\n{}",
            describe(&left),
            steps
                .iter()
                .map(|s| s.sql.as_str())
                .collect::<Vec<_>>()
                .join(";\n")
        );
        let down = diff(&to, &from, &renames.reversed());
        let back_steps = render(&down, &to, &from).expect("render the downgrade");
        apply(conn.as_mut(), &back_steps).await;
        let back = a.inspect().await;
        let left = diff(&back, &from, &Renames::default());
        assert!(
            left.is_empty(),
            "after the downgrade: {:?}\n{}",
            describe(&left),
            back_steps
                .iter()
                .map(|s| s.sql.as_str())
                .collect::<Vec<_>>()
                .join(";\n")
        );
        steps
    }

    const RICH: &str = r#"
        CREATE TYPE mood AS ENUM ('happy', 'ok', 'sad');
        CREATE SEQUENCE invoice_numbers AS integer START WITH 1000 INCREMENT BY 10;
        CREATE TABLE users (
            id serial PRIMARY KEY,
            email varchar(200) NOT NULL CONSTRAINT users_email_key UNIQUE,
            name text COLLATE "C",
            feeling mood DEFAULT 'ok',
            created_at timestamptz NOT NULL DEFAULT now(),
            active boolean DEFAULT true,
            CONSTRAINT name_not_empty CHECK (length(name) > 0)
        );
        COMMENT ON TABLE users IS 'People';
        COMMENT ON COLUMN users.email IS 'Where we write';
        CREATE UNLOGGED TABLE "Odd Table" ("Mixed Col" int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);
        CREATE TABLE posts (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id int REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
            title text NOT NULL,
            price numeric(10, 2) CHECK (price > 0),
            doubled numeric GENERATED ALWAYS AS (price * 2) STORED,
            tags text[],
            invoice int DEFAULT nextval('invoice_numbers')
        );
        ALTER TABLE posts ADD CONSTRAINT title_short CHECK (length(title) < 200) NOT VALID;
        CREATE INDEX posts_title_lower ON posts (lower(title)) WHERE (price > 10);
        CREATE INDEX posts_tags ON posts USING gin (tags);
        CREATE UNIQUE INDEX posts_user_title ON posts (user_id, title DESC);
        CREATE TABLE a (id int PRIMARY KEY, b_id int);
        CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a (id));
        ALTER TABLE a ADD CONSTRAINT a_b FOREIGN KEY (b_id) REFERENCES b (id);
        CREATE VIEW user_posts AS SELECT u.email, p.title FROM users u JOIN posts p ON p.user_id = u.id;
        CREATE VIEW happy_posts AS SELECT title FROM user_posts WHERE title <> '';
        CREATE TABLE measures (at date NOT NULL, v int) PARTITION BY RANGE (at);
    "#;

    #[test]
    fn an_index_definition_is_read_without_its_name_or_its_tables_schema() {
        assert_eq!(
            index_definition(
                "CREATE UNIQUE INDEX users_email ON public.users USING btree (lower(email)) WHERE active"
            ),
            "USING btree (lower(email)) WHERE active"
        );
        assert_eq!(
            index_definition(
                r#"CREATE INDEX "a USING b" ON ONLY app."t USING x" USING gin (tags)"#
            ),
            "USING gin (tags)"
        );
    }

    #[test]
    fn a_view_definition_is_read_without_its_spaces_and_final_semicolon() {
        assert_eq!(
            normal_view(" SELECT users.id\n   FROM users;"),
            "SELECT users.id\n   FROM users"
        );
        assert_eq!(normal_view("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn a_type_is_looked_for_plain_and_quoted_and_serial_types_follow_integers() {
        assert_eq!(type_names("user"), ["user", "\"user\""]);
        assert_eq!(serial_type("bigint"), Some("bigserial"));
        assert_eq!(serial_type("numeric"), None);
    }

    #[test]
    fn a_new_enum_value_used_later_in_the_revision_is_found() {
        let col = Column {
            name: "m".into(),
            data_type: "mood".into(),
            nullable: true,
            default: Some("'meh'::mood".into()),
            ..Column::default()
        };
        let later = [Change::AddColumn {
            table: "t".into(),
            column: col,
        }];
        assert!(mentions_value(&later, "mood", "meh"));
        assert!(!mentions_value(&later, "mood", "sad"));
    }

    #[test]
    fn the_columns_a_foreign_key_references_are_read_from_its_definition() {
        assert_eq!(
            referenced_columns("FOREIGN KEY (a, b) REFERENCES t(id, code) ON DELETE CASCADE"),
            ["id", "code"]
        );
        assert_eq!(
            referenced_columns(r#"FOREIGN KEY ("X") REFERENCES "odd (t)"("Id ""1""")"#),
            ["Id \"1\""]
        );
        assert!(referenced_columns("CHECK ((a > 0))").is_empty());
    }

    #[test]
    fn changing_how_a_table_is_partitioned_is_refused_with_what_to_do() {
        let change = Change::TableOptions {
            table: "m".into(),
            from: "PARTITION BY RANGE (at)".into(),
            to: "PARTITION BY LIST (at)".into(),
        };
        let err = render(&[change], &Schema::default(), &Schema::default()).unwrap_err();
        assert!(err.to_string().contains("move the rows by hand"), "{err}");
    }

    #[test]
    fn a_foreign_key_is_dropped_before_the_key_it_reads_in_the_same_run() {
        let pk = Constraint {
            name: Some("p_pkey".into()),
            kind: ConstraintKind::PrimaryKey,
            columns: vec!["id".into()],
            definition: "PRIMARY KEY (id)".into(),
            references: None,
        };
        let fk = Constraint {
            name: Some("c_p".into()),
            kind: ConstraintKind::ForeignKey,
            columns: vec!["p_id".into()],
            definition: "FOREIGN KEY (p_id) REFERENCES p(id)".into(),
            references: Some("p".into()),
        };
        let changes = [
            Change::DropConstraint {
                table: "p".into(),
                constraint: pk,
            },
            Change::DropConstraint {
                table: "c".into(),
                constraint: fk,
            },
        ];
        let steps = render(&changes, &Schema::default(), &Schema::default()).unwrap();
        let sql: Vec<&str> = steps.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(
            sql,
            [
                "ALTER TABLE \"c\" DROP CONSTRAINT \"c_p\"",
                "ALTER TABLE \"p\" DROP CONSTRAINT \"p_pkey\""
            ]
        );
    }

    #[tokio::test]
    async fn a_rich_schema_compared_with_itself_has_no_changes() {
        let (_d, s) = TestDb::with(RICH).await;
        assert_eq!(s.tables.len(), 6, "{:?}", s.tables.keys());
        let users = &s.tables["users"];
        assert_eq!(users.columns[0].identity.as_deref(), Some("serial"));
        assert_eq!(users.columns[0].default, None);
        assert_eq!(users.columns[2].collation.as_deref(), Some("C"));
        assert_eq!(users.comment.as_deref(), Some("People"));
        assert_eq!(users.columns[1].comment.as_deref(), Some("Where we write"));
        let posts = &s.tables["posts"];
        assert_eq!(
            posts.columns[0].identity.as_deref(),
            Some(
                "always (START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 CACHE 1 NO CYCLE)"
            )
        );
        assert!(posts.columns[4].generated.is_some());
        let fk = posts
            .constraints
            .iter()
            .find(|c| c.kind == ConstraintKind::ForeignKey)
            .unwrap();
        assert_eq!(
            fk.definition,
            "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"
        );
        assert_eq!(fk.references.as_deref(), Some("users"));
        let idx = posts
            .indexes
            .iter()
            .find(|i| i.name == "posts_title_lower")
            .unwrap();
        assert_eq!(
            idx.definition,
            "USING btree (lower(title)) WHERE (price > (10)::numeric)"
        );
        assert_eq!(idx.columns, ["price", "title"]);
        assert_eq!(s.tables["Odd Table"].options, "UNLOGGED");
        assert_eq!(s.tables["measures"].options, "PARTITION BY RANGE (at)");
        assert_eq!(s.enums["mood"].values, ["happy", "ok", "sad"]);
        assert_eq!(
            s.sequences.keys().collect::<Vec<_>>(),
            ["invoice_numbers"],
            "the serial's and identities' sequences belong to their columns"
        );
        assert_eq!(s.views["happy_posts"].depends_on, ["user_posts"]);
        assert_eq!(s.views["user_posts"].depends_on, ["posts", "users"]);
        assert!(diff(&s, &s, &Renames::default()).is_empty());
    }

    #[tokio::test]
    async fn a_schema_created_from_its_inspection_inspects_the_same() {
        let (_d, s) = TestDb::with(RICH).await;
        let copy = TestDb::new().await;
        let mut conn = copy.conn().await;
        let steps = create_all(D, &s).expect("create_all");
        apply(conn.as_mut(), &steps).await;
        let again = copy.inspect().await;
        let left = diff(&s, &again, &Renames::default());
        assert!(left.is_empty(), "{:?}", describe(&left));
        assert_eq!(s, again);
    }

    #[tokio::test]
    async fn an_excluded_table_takes_its_columns_constraints_indexes_and_sequence_along() {
        let d = TestDb::new().await;
        let mut c = d.conn().await;
        c.execute_script(
            "CREATE TABLE kept (id int PRIMARY KEY); \
             CREATE TABLE legacy_x (id serial PRIMARY KEY, k int REFERENCES kept(id)); \
             CREATE INDEX lx ON legacy_x (k); \
             CREATE SEQUENCE legacy_x_other OWNED BY legacy_x.k",
        )
        .await
        .unwrap();
        let s = inspect(c.as_mut(), &Scope::new(["legacy_*".to_string()]))
            .await
            .unwrap();
        assert_eq!(s.tables.keys().collect::<Vec<_>>(), ["kept"]);
        assert!(s.sequences.is_empty(), "{:?}", s.sequences);
    }

    #[tokio::test]
    async fn an_extensions_own_objects_are_left_out() {
        let (_d, s) = TestDb::with(
            "CREATE EXTENSION pg_buffercache; CREATE TABLE t (id int); CREATE VIEW v AS SELECT id FROM t",
        )
        .await;
        assert_eq!(s.views.keys().collect::<Vec<_>>(), ["v"]);
        assert_eq!(s.tables.keys().collect::<Vec<_>>(), ["t"]);
    }

    #[tokio::test]
    async fn an_exclusion_constraint_is_refused_by_name() {
        let d = TestDb::new().await;
        let mut c = d.conn().await;
        c.execute_script("CREATE TABLE booking (r int4range, EXCLUDE USING gist (r WITH &&))")
            .await
            .unwrap();
        let err = inspect(c.as_mut(), &Scope::default()).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("booking") && msg.contains("[models] exclude"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn a_new_table_with_every_column_feature_round_trips() {
        round_trip(
            "CREATE TABLE keep (id int PRIMARY KEY)",
            r#"CREATE TABLE keep (id int PRIMARY KEY);
               CREATE TABLE t (id bigserial PRIMARY KEY, a int GENERATED BY DEFAULT AS IDENTITY,
                 n text COLLATE "POSIX" NOT NULL DEFAULT 'x', g int GENERATED ALWAYS AS (a + 1) STORED,
                 k int REFERENCES keep (id) ON DELETE SET NULL);
               COMMENT ON COLUMN t.n IS 'the n'; COMMENT ON TABLE t IS 'a t';
               CREATE INDEX t_n ON t USING hash (n);"#,
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn column_types_nullability_and_defaults_change_in_place() {
        round_trip(
            "CREATE TABLE t (a varchar(10), b int NOT NULL, c text DEFAULT '1', d text)",
            "CREATE TABLE t (a varchar(40), b bigint, c integer DEFAULT 2, d text COLLATE \"C\" DEFAULT now()::text NOT NULL)",
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn identity_and_serial_columns_come_and_go() {
        round_trip(
            "CREATE TABLE t (a int NOT NULL, b int, c int GENERATED ALWAYS AS IDENTITY, d serial)",
            "CREATE TABLE t (a int GENERATED ALWAYS AS IDENTITY, b serial, c int GENERATED BY DEFAULT AS IDENTITY, d int NOT NULL)",
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn a_generated_column_is_made_again_when_its_expression_changes() {
        let steps = round_trip(
            "CREATE TABLE t (a int, g int GENERATED ALWAYS AS (a * 2) STORED, h int); CREATE INDEX t_g ON t (g)",
            "CREATE TABLE t (a int, g int GENERATED ALWAYS AS (a * 3) STORED, h int GENERATED ALWAYS AS (a + 1) STORED); CREATE INDEX t_g ON t (g)",
            &[],
        )
        .await;
        assert!(steps.iter().any(|s| s.destructive.is_some()));
    }

    #[tokio::test]
    async fn constraints_and_indexes_are_dropped_and_added_by_name() {
        round_trip(
            "CREATE TABLE p (id int PRIMARY KEY, code text); CREATE TABLE c (id int, p_id int REFERENCES p (id), CONSTRAINT pos CHECK (id > 0)); CREATE INDEX c_p ON c (p_id)",
            "CREATE TABLE p (id int, code text, CONSTRAINT p_pkey PRIMARY KEY (id, code), CONSTRAINT code_u UNIQUE (code)); CREATE TABLE c (id int, p_id int, p_code text REFERENCES p (code) ON UPDATE CASCADE, CONSTRAINT pos CHECK (id > 1)); CREATE UNIQUE INDEX c_p ON c (p_id DESC) WHERE id > 0",
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn a_key_that_foreign_keys_read_is_replaced_under_them() {
        round_trip(
            "CREATE TABLE p (id int PRIMARY KEY, code text NOT NULL); \
             CREATE TABLE c (id int, p_id int REFERENCES p (id)); \
             CREATE TABLE gone (p_id int CONSTRAINT gone_p REFERENCES p (id)); \
             INSERT INTO p VALUES (1, 'a'); INSERT INTO c VALUES (1, 1)",
            "CREATE TABLE p (id int CONSTRAINT p_id_key UNIQUE, code text NOT NULL, \
             CONSTRAINT p_pkey PRIMARY KEY (id, code)); \
             CREATE TABLE c (id int, p_id int REFERENCES p (id))",
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn two_new_tables_referencing_each_other_are_created_and_dropped() {
        round_trip(
            "",
            "CREATE TABLE a (id int PRIMARY KEY, b_id int); CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a (id)); ALTER TABLE a ADD CONSTRAINT a_b FOREIGN KEY (b_id) REFERENCES b (id) DEFERRABLE",
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn a_renamed_enum_value_keeps_its_rows() {
        let (a, from) = TestDb::with(
            "CREATE TYPE mood AS ENUM ('happy', 'sad'); CREATE TABLE t (m mood DEFAULT 'sad'); INSERT INTO t VALUES ('sad')",
        )
        .await;
        let (_b, to) = TestDb::with(
            "CREATE TYPE mood AS ENUM ('happy', 'unhappy', 'meh'); CREATE TABLE t (m mood DEFAULT 'unhappy')",
        )
        .await;
        let renames = Renames::resolve(&["mood.sad=unhappy".to_string()], &[], &from, &to).unwrap();
        let steps = render(&diff(&from, &to, &renames), &from, &to).unwrap();
        let mut conn = a.conn().await;
        apply(conn.as_mut(), &steps).await;
        assert!(diff(&a.inspect().await, &to, &Renames::default()).is_empty());
        let rows = conn
            .query("SELECT m::text FROM t", Vec::new())
            .await
            .unwrap();
        assert_eq!(rows.rows, [[Value::Text("unhappy".into())]]);
    }

    #[tokio::test]
    async fn enum_values_are_added_in_place_and_removed_by_making_the_type_again() {
        round_trip(
            "CREATE TYPE mood AS ENUM ('happy', 'sad'); CREATE TABLE t (m mood DEFAULT 'happy', ms mood[])",
            "CREATE TYPE mood AS ENUM ('ecstatic', 'happy', 'ok', 'sad', 'furious'); CREATE TABLE t (m mood DEFAULT 'happy', ms mood[])",
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn an_enum_losing_a_value_takes_the_views_indexes_and_checks_that_read_it_along() {
        let shared = "CREATE TABLE t (id int PRIMARY KEY, m mood NOT NULL DEFAULT 'happy', \
                      CONSTRAINT not_sad CHECK (m <> 'sad'::mood)); \
                      CREATE INDEX t_happy ON t (id) WHERE m = 'happy'; \
                      CREATE VIEW happy AS SELECT id FROM t WHERE m = 'happy'; \
                      CREATE VIEW happiest AS SELECT id FROM happy WHERE id > 1;";
        round_trip(
            &format!("CREATE TYPE mood AS ENUM ('happy', 'meh', 'sad'); {shared} INSERT INTO t VALUES (1, 'meh'), (2, 'happy')"),
            &format!("CREATE TYPE mood AS ENUM ('meh', 'sad', 'happy'); {shared}"),
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn an_enum_whose_name_must_be_quoted_is_made_again_with_its_columns() {
        round_trip(
            r#"CREATE TYPE "user" AS ENUM ('a', 'b', 'c'); CREATE TYPE "Kind" AS ENUM ('x', 'y');
               CREATE TABLE t (u "user" DEFAULT 'b', k "Kind"[]); INSERT INTO t VALUES ('a', '{x}')"#,
            r#"CREATE TYPE "user" AS ENUM ('a', 'b'); CREATE TYPE "Kind" AS ENUM ('y', 'x');
               CREATE TABLE t (u "user" DEFAULT 'b', k "Kind"[])"#,
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn a_new_enum_value_used_in_the_same_revision_makes_the_type_again() {
        let steps = round_trip(
            "CREATE TYPE mood AS ENUM ('happy', 'sad'); CREATE TABLE t (m mood)",
            "CREATE TYPE mood AS ENUM ('happy', 'meh', 'sad'); CREATE TABLE t (m mood DEFAULT 'meh')",
            &[],
        )
        .await;
        assert!(
            steps
                .iter()
                .any(|s| s.sql.contains("RENAME TO \"mood_old\""))
        );
    }

    #[tokio::test]
    async fn sequences_views_and_comments_round_trip() {
        round_trip(
            "CREATE SEQUENCE s INCREMENT BY 1; CREATE SEQUENCE gone; CREATE TABLE t (id int, x int); CREATE VIEW v AS SELECT id FROM t; COMMENT ON TABLE t IS 'old'",
            "CREATE SEQUENCE s INCREMENT BY 5 MAXVALUE 1000 CYCLE; CREATE SEQUENCE fresh AS smallint; CREATE TABLE t (id int, x int); CREATE VIEW v AS SELECT id, x FROM t; CREATE VIEW w AS SELECT id FROM v WHERE id > 2",
            &[],
        )
        .await;
    }

    #[tokio::test]
    async fn renamed_tables_and_columns_keep_their_rows_indexes_and_serials() {
        round_trip(
            "CREATE TABLE users (id serial PRIMARY KEY, name text); CREATE INDEX users_name ON users (name); INSERT INTO users (name) VALUES ('a')",
            "CREATE TABLE people (id serial PRIMARY KEY, full_name text); CREATE INDEX users_name ON people (full_name)",
            &["users=people", "users.name=full_name"],
        )
        .await;
    }

    #[tokio::test]
    async fn a_table_made_unlogged_and_back_round_trips() {
        round_trip(
            "CREATE TABLE t (id int)",
            "CREATE UNLOGGED TABLE t (id int)",
            &[],
        )
        .await;
    }
}
