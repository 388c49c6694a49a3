//! Comparing two schemas: the pure half of autogenerate. [`diff`] turns a
//! start and a target [`Schema`] into the [`Change`]s that lead from one to
//! the other, in an order every dialect can apply them in; the renderers
//! only spell them.
//!
//! The order: views that go or depend on a changing table are dropped;
//! constraints and indexes that go are dropped; enum types and sequences
//! are created or grown; tables and columns are renamed; new tables are
//! created (a table before the tables whose foreign keys reference it;
//! a key of a cycle is left out and added at the end); columns are added,
//! changed and dropped; tables that go are dropped (a referencing table
//! before the table it references); constraints and indexes are added
//! (foreign keys last); enum types and sequences that go are dropped;
//! views are created (a view after those it reads); comments last.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Column, Constraint, ConstraintKind, EnumType, Index, Schema, Sequence, Table, View};

/// One change from a start schema to a target. Tables are named as they
/// are when the change runs: changes before the renames use the start
/// name, changes after them the target name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// `recreated`: the view itself does not change, but a table it reads
    /// does, and the view is dropped and created again around that.
    DropView {
        view: View,
        recreated: bool,
    },
    DropConstraint {
        table: String,
        constraint: Constraint,
    },
    DropIndex {
        table: String,
        index: Index,
    },
    CreateEnum {
        r#enum: EnumType,
    },
    /// Values added, renamed or removed; `to` is the type as it ends.
    AlterEnum {
        from: EnumType,
        to: EnumType,
        renamed: Vec<(String, String)>,
    },
    CreateSequence {
        sequence: Sequence,
    },
    AlterSequence {
        from: Sequence,
        to: Sequence,
    },
    RenameTable {
        from: String,
        to: String,
    },
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    /// The table as the target has it, less `deferred`: the keys of its
    /// foreign keys that close a cycle, added later by an
    /// [`Change::AddConstraint`] with `deferred` set.
    CreateTable {
        table: Table,
        deferred: Vec<String>,
    },
    AddColumn {
        table: String,
        column: Column,
    },
    AlterColumn {
        table: String,
        from: Column,
        to: Column,
    },
    DropColumn {
        table: String,
        column: Column,
    },
    DropTable {
        table: Table,
    },
    AddConstraint {
        table: String,
        constraint: Constraint,
        /// A foreign key of a table created by this change set, left out
        /// of its `CREATE TABLE` to break a cycle. A dialect that declares
        /// foreign keys inline without checking them (SQLite) has it in
        /// the `CREATE TABLE` already and skips this.
        deferred: bool,
    },
    AddIndex {
        table: String,
        index: Index,
    },
    DropEnum {
        r#enum: EnumType,
    },
    DropSequence {
        sequence: Sequence,
    },
    CreateView {
        view: View,
        recreated: bool,
    },
    TableComment {
        table: String,
        from: Option<String>,
        to: Option<String>,
    },
    /// What the table's options say (SQLite's `STRICT`, MySQL's engine).
    TableOptions {
        table: String,
        from: String,
        to: String,
    },
}

impl Change {
    /// Whether the change only serves another one (a view dropped and
    /// created again around a change of a table it reads): `check` and
    /// `drift` do not list it.
    pub fn is_consequence(&self) -> bool {
        matches!(
            self,
            Change::DropView {
                recreated: true,
                ..
            } | Change::CreateView {
                recreated: true,
                ..
            }
        )
    }

    /// The change in a few words, one line: what `check` lists.
    pub fn describe(&self) -> String {
        match self {
            Change::DropView { view, .. } => format!("drop view {}", view.name),
            Change::DropConstraint { table, constraint } => format!(
                "drop {} {}on {table}: {}",
                constraint.kind.as_str(),
                named(&constraint.name),
                constraint.definition
            ),
            Change::DropIndex { table, index } => {
                format!("drop index {} on {table}", index.name)
            }
            Change::CreateEnum { r#enum } => {
                format!("create enum {} ({})", r#enum.name, r#enum.values.join(", "))
            }
            Change::AlterEnum { from, to, renamed } => {
                let mut parts = Vec::new();
                for (old, new) in renamed {
                    parts.push(format!("rename value {old} to {new}"));
                }
                let renamed_old: BTreeSet<&str> = renamed.iter().map(|(o, _)| o.as_str()).collect();
                let renamed_new: BTreeSet<&str> = renamed.iter().map(|(_, n)| n.as_str()).collect();
                for v in &to.values {
                    if !from.values.contains(v) && !renamed_new.contains(v.as_str()) {
                        parts.push(format!("add value {v}"));
                    }
                }
                for v in &from.values {
                    if !to.values.contains(v) && !renamed_old.contains(v.as_str()) {
                        parts.push(format!("remove value {v}"));
                    }
                }
                if parts.is_empty() {
                    parts.push("reorder values".to_string());
                }
                format!("alter enum {}: {}", to.name, parts.join(", "))
            }
            Change::CreateSequence { sequence } => format!("create sequence {}", sequence.name),
            Change::AlterSequence { to, .. } => {
                format!("alter sequence {}: {}", to.name, to.definition)
            }
            Change::RenameTable { from, to } => format!("rename table {from} to {to}"),
            Change::RenameColumn { table, from, to } => {
                format!("rename column {table}.{from} to {to}")
            }
            Change::CreateTable { table, .. } => format!("create table {}", table.name),
            Change::AddColumn { table, column } => {
                format!("add column {table}.{} {}", column.name, column.data_type)
            }
            Change::AlterColumn { table, from, to } => {
                format!(
                    "alter column {table}.{}: {}",
                    to.name,
                    column_differences(from, to).join(", ")
                )
            }
            Change::DropColumn { table, column } => {
                format!("drop column {table}.{}", column.name)
            }
            Change::DropTable { table } => format!("drop table {}", table.name),
            Change::AddConstraint {
                table, constraint, ..
            } => format!(
                "add {} {}on {table}: {}",
                constraint.kind.as_str(),
                named(&constraint.name),
                constraint.definition
            ),
            Change::AddIndex { table, index } => {
                format!("add index {} on {table}: {}", index.name, index.definition)
            }
            Change::DropEnum { r#enum } => format!("drop enum {}", r#enum.name),
            Change::DropSequence { sequence } => format!("drop sequence {}", sequence.name),
            Change::CreateView { view, .. } => format!("create view {}", view.name),
            Change::TableComment { table, to, .. } => match to {
                Some(c) => format!("comment on table {table}: {c:?}"),
                None => format!("remove the comment on table {table}"),
            },
            Change::TableOptions { table, from, to } => {
                format!("table options of {table}: {from:?} to {to:?}")
            }
        }
    }

    /// Why the change may lose data, when it may.
    pub fn destructive(&self) -> Option<String> {
        match self {
            Change::DropTable { table } => Some(format!("drops table {} and its rows", table.name)),
            Change::DropColumn { table, column } => Some(format!(
                "drops column {table}.{} and its values",
                column.name
            )),
            Change::AlterColumn { table, from, to } => {
                let mut why = Vec::new();
                if from.data_type != to.data_type && !widens(&from.data_type, &to.data_type) {
                    why.push(format!(
                        "changes the type of {table}.{} from {} to {}, which may not hold every value",
                        to.name, from.data_type, to.data_type
                    ));
                }
                if from.nullable && !to.nullable {
                    why.push(format!(
                        "makes {table}.{} NOT NULL, which fails if a row holds NULL",
                        to.name
                    ));
                }
                if from.generated.is_none() && to.generated.is_some() {
                    why.push(format!(
                        "replaces the values of {table}.{} by a generated expression",
                        to.name
                    ));
                }
                (!why.is_empty()).then(|| why.join("; "))
            }
            Change::AlterEnum { from, to, renamed } => {
                let gone: Vec<&String> = from
                    .values
                    .iter()
                    .filter(|v| !to.values.contains(v) && !renamed.iter().any(|(o, _)| o == *v))
                    .collect();
                (!gone.is_empty()).then(|| {
                    format!(
                        "removes value(s) {} from enum {}, which fails if a row holds one",
                        gone.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        to.name
                    )
                })
            }
            _ => None,
        }
    }
}

fn named(name: &Option<String>) -> String {
    match name {
        Some(n) => format!("{n} "),
        None => String::new(),
    }
}

/// What differs between two versions of a column, in words.
pub fn column_differences(from: &Column, to: &Column) -> Vec<String> {
    let mut out = Vec::new();
    if from.data_type != to.data_type {
        out.push(format!("type {} to {}", from.data_type, to.data_type));
    }
    if from.nullable != to.nullable {
        out.push(if to.nullable { "nullable" } else { "not null" }.to_string());
    }
    if from.default != to.default {
        out.push(match &to.default {
            Some(d) => format!("default {d}"),
            None => "no default".to_string(),
        });
    }
    if from.identity != to.identity {
        out.push(match &to.identity {
            Some(i) => format!("identity {i}"),
            None => "no identity".to_string(),
        });
    }
    if from.generated != to.generated {
        out.push(match &to.generated {
            Some(g) => format!(
                "generated as {} {}",
                g.expression,
                if g.stored { "stored" } else { "virtual" }
            ),
            None => "not generated".to_string(),
        });
    }
    if from.collation != to.collation {
        out.push(match &to.collation {
            Some(c) => format!("collation {c}"),
            None => "default collation".to_string(),
        });
    }
    if from.comment != to.comment {
        out.push(match &to.comment {
            Some(c) => format!("comment {c:?}"),
            None => "no comment".to_string(),
        });
    }
    out
}

/// Whether every value of type `from` fits type `to`: the common widenings
/// (a longer `varchar`, a bigger integer, a wider `numeric`, any type to
/// text). Anything else counts as narrowing, to be safe.
pub fn widens(from: &str, to: &str) -> bool {
    // MySQL's enum('a','b') and set(...): wider when every value stays.
    let values = |t: &str| -> Option<(String, Vec<String>)> {
        let t = t.trim();
        let open = t.find('(')?;
        let base = t[..open].trim().to_lowercase();
        if base != "enum" && base != "set" {
            return None;
        }
        let inner = t[open + 1..].trim_end().strip_suffix(')')?;
        Some((
            base,
            inner.split(',').map(|v| v.trim().to_string()).collect(),
        ))
    };
    if let (Some((fb, fv)), Some((tb, tv))) = (values(from), values(to)) {
        return fb == tb && fv.iter().all(|v| tv.contains(v));
    }
    let (fb, fa) = split_type(from);
    let (tb, ta) = split_type(to);
    let ints = [
        "smallint",
        "integer",
        "int",
        "bigint",
        "tinyint",
        "mediumint",
        "int2",
        "int4",
        "int8",
    ];
    let rank = |t: &str| match t {
        "tinyint" => 1,
        "smallint" | "int2" => 2,
        "mediumint" => 3,
        "integer" | "int" | "int4" => 4,
        "bigint" | "int8" => 5,
        _ => 0,
    };
    if ints.contains(&fb.as_str()) && ints.contains(&tb.as_str()) {
        return rank(&fb) <= rank(&tb) && fa == ta;
    }
    if matches!(tb.as_str(), "text" | "longtext" | "clob") && is_text(&fb) {
        return true;
    }
    if fb == tb || (is_text(&fb) && is_text(&tb) && fb != "char" && tb != "char") {
        return match (fa.first(), ta.first()) {
            (Some(f), Some(t)) => {
                fa.len() == ta.len()
                    && f <= t
                    && fa.get(1) <= ta.get(1)
                    && (fa.len() < 2 || t - ta[1] >= f - fa[1])
            }
            (Some(_), None) => true,
            (None, None) => fb == tb,
            (None, Some(_)) => false,
        };
    }
    false
}

fn is_text(base: &str) -> bool {
    matches!(
        base,
        "varchar" | "character varying" | "text" | "nvarchar" | "longtext" | "mediumtext" | "clob"
    )
}

/// `character varying(20)` → (`character varying`, [20]).
fn split_type(t: &str) -> (String, Vec<u64>) {
    let t = t.trim().to_lowercase();
    match t.find('(') {
        Some(open) => {
            let base = t[..open].trim().to_string();
            let args = t[open + 1..]
                .trim_end_matches(|c: char| c != ')')
                .trim_end_matches(')')
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect();
            (base, args)
        }
        None => (t, Vec::new()),
    }
}

/// Renames the user asked for (`--rename`), and pairs they said are not
/// renames (`--no-rename`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renames {
    /// Start name → target name.
    pub tables: BTreeMap<String, String>,
    /// (target table name, start column name) → target column name.
    pub columns: BTreeMap<(String, String), String>,
    /// (enum name, start value) → target value.
    pub enum_values: BTreeMap<(String, String), String>,
    /// `table` or `table.column` specs (start names) that are not renames.
    pub refused: BTreeSet<String>,
}

/// A dropped and an added table or column that look like one renamed:
/// autogenerate asks, or refuses and prints the flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenameCandidate {
    /// `users.name` or `users`, as in the start schema.
    pub from: String,
    /// The name it may have become (`full_name`, or the new table's name).
    pub to: String,
}

impl RenameCandidate {
    pub fn rename_flag(&self) -> String {
        format!("--rename {}={}", self.from, self.to)
    }
    pub fn no_rename_flag(&self) -> String {
        format!("--no-rename {}", self.from)
    }
}

impl Renames {
    /// Reads one `--rename` spec: `table.old=new`, `enum.old=new` or
    /// `old_table=new_table`. Whether `table` names a table or an enum is
    /// decided against the schemas, in [`Renames::resolve`].
    pub fn parse_spec(spec: &str) -> Result<(Option<String>, String, String), String> {
        let (left, new) = spec.split_once('=').ok_or_else(|| {
            format!("--rename {spec:?}: write OLD=NEW, as in `--rename users.name=full_name` or `--rename old_table=new_table`")
        })?;
        let new = new.trim();
        if new.is_empty() || new.contains('.') {
            return Err(format!(
                "--rename {spec:?}: the new name is one name, without its table (`users.name=full_name`)"
            ));
        }
        match left.trim().split_once('.') {
            Some((table, old)) if !table.is_empty() && !old.is_empty() => {
                Ok((Some(table.to_string()), old.to_string(), new.to_string()))
            }
            Some(_) => Err(format!("--rename {spec:?}: write TABLE.OLD=NEW")),
            None => Ok((None, left.trim().to_string(), new.to_string())),
        }
    }

    /// The same renames, seen from the target: what the downgrade undoes.
    pub fn reversed(&self) -> Renames {
        let tables: BTreeMap<String, String> = self
            .tables
            .iter()
            .map(|(a, b)| (b.clone(), a.clone()))
            .collect();
        let back = |t: &String| tables.get(t).cloned().unwrap_or_else(|| t.clone());
        Renames {
            columns: self
                .columns
                .iter()
                .map(|((t, old), new)| ((back(t), new.clone()), old.clone()))
                .collect(),
            enum_values: self
                .enum_values
                .iter()
                .map(|((e, old), new)| ((e.clone(), new.clone()), old.clone()))
                .collect(),
            tables,
            refused: BTreeSet::new(),
        }
    }

    /// Builds the renames from `--rename` and `--no-rename` specs, checking
    /// each against the two schemas so that a misspelt one is an error, not
    /// ignored.
    pub fn resolve(
        specs: &[String],
        refused: &[String],
        from: &Schema,
        to: &Schema,
    ) -> Result<Renames, String> {
        let mut renames = Renames::default();
        for spec in specs {
            let (table, old, new) = Renames::parse_spec(spec)?;
            match table {
                None => {
                    if !from.tables.contains_key(&old) {
                        return Err(format!("--rename {spec}: the database has no table {old}"));
                    }
                    if !to.tables.contains_key(&new) {
                        return Err(format!("--rename {spec}: the models have no table {new}"));
                    }
                    renames.tables.insert(old, new);
                }
                Some(t) if from.enums.contains_key(&t) && !from.tables.contains_key(&t) => {
                    let e = &from.enums[&t];
                    if !e.values.contains(&old) {
                        return Err(format!("--rename {spec}: enum {t} has no value {old}"));
                    }
                    renames.enum_values.insert((t, old), new);
                }
                Some(t) => {
                    let Some(start) = from.tables.get(&t) else {
                        return Err(format!("--rename {spec}: the database has no table {t}"));
                    };
                    if !start.columns.iter().any(|c| c.name == old) {
                        return Err(format!("--rename {spec}: table {t} has no column {old}"));
                    }
                    renames.columns.insert((t, old), new);
                }
            }
        }
        // Column renames are keyed by the target table name.
        let tables = renames.tables.clone();
        renames.columns = renames
            .columns
            .into_iter()
            .map(|((t, old), new)| ((tables.get(&t).cloned().unwrap_or(t), old), new))
            .collect();
        for (t, old) in renames.columns.keys() {
            let new = &renames.columns[&(t.clone(), old.clone())];
            let ok = to
                .tables
                .get(t)
                .is_some_and(|tt| tt.columns.iter().any(|c| &c.name == new));
            if !ok {
                return Err(format!(
                    "--rename {t}.{old}={new}: the models have no column {t}.{new}"
                ));
            }
        }
        renames.refused = refused.iter().cloned().collect();
        Ok(renames)
    }
}

/// Dropped and added tables and columns of the same shape that no
/// `--rename` or `--no-rename` decides.
pub fn rename_candidates(from: &Schema, to: &Schema, renames: &Renames) -> Vec<RenameCandidate> {
    let mut out = Vec::new();
    let renamed_to: BTreeSet<&String> = renames.tables.values().collect();
    let gone: Vec<&Table> = from
        .tables
        .values()
        .filter(|t| !to.tables.contains_key(&t.name) && !renames.tables.contains_key(&t.name))
        .collect();
    let new: Vec<&Table> = to
        .tables
        .values()
        .filter(|t| !from.tables.contains_key(&t.name) && !renamed_to.contains(&t.name))
        .collect();
    for g in &gone {
        if renames.refused.contains(&g.name) {
            continue;
        }
        for n in &new {
            if same_shape(g, n) {
                out.push(RenameCandidate {
                    from: g.name.clone(),
                    to: n.name.clone(),
                });
            }
        }
    }
    for (start_name, start) in &from.tables {
        let target_name = renames.tables.get(start_name).unwrap_or(start_name);
        let Some(target) = to.tables.get(target_name) else {
            continue;
        };
        let mapped = column_map(start, target, target_name, renames);
        let added: Vec<&Column> = target
            .columns
            .iter()
            .filter(|c| !mapped.values().any(|n| *n == c.name))
            .collect();
        for c in &start.columns {
            if mapped.contains_key(&c.name) {
                continue;
            }
            let spec = format!("{start_name}.{}", c.name);
            if renames.refused.contains(&spec) {
                continue;
            }
            for a in &added {
                if a.data_type == c.data_type {
                    out.push(RenameCandidate {
                        from: spec.clone(),
                        to: a.name.clone(),
                    });
                }
            }
        }
    }
    out
}

fn same_shape(a: &Table, b: &Table) -> bool {
    let shape = |t: &Table| {
        let mut v: Vec<(String, String)> = t
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone()))
            .collect();
        v.sort();
        v
    };
    shape(a) == shape(b)
}

/// Start column name → target column name, for the columns kept.
fn column_map(
    start: &Table,
    target: &Table,
    target_name: &str,
    renames: &Renames,
) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for c in &start.columns {
        let key = (target_name.to_string(), c.name.clone());
        let new = renames.columns.get(&key).unwrap_or(&c.name);
        if target.columns.iter().any(|t| &t.name == new) {
            map.insert(c.name.clone(), new.clone());
        }
    }
    map
}

/// The changes that turn `from` into `to`, in the order described in the
/// module documentation.
pub fn diff(from: &Schema, to: &Schema, renames: &Renames) -> Vec<Change> {
    let mut early = Vec::new(); // drops of views, constraints, indexes
    let mut types = Vec::new(); // enum and sequence creations and changes
    let mut renaming = Vec::new();
    let mut creates = Vec::new();
    let mut columns = Vec::new();
    let mut table_drops = Vec::new();
    let mut adds = Vec::new();
    let mut fk_adds = Vec::new();
    let mut late_drops = Vec::new();
    let mut view_creates = Vec::new();
    let mut comments = Vec::new();

    // Which tables change at all: a view reading one is recreated.
    let mut changed_tables: BTreeSet<String> = BTreeSet::new();

    // Enums and sequences (PostgreSQL).
    for (name, e) in &to.enums {
        match from.enums.get(name) {
            None => types.push(Change::CreateEnum { r#enum: e.clone() }),
            Some(old) if old != e => {
                let renamed: Vec<(String, String)> = renames
                    .enum_values
                    .iter()
                    .filter(|((en, _), _)| en == name)
                    .map(|((_, o), n)| (o.clone(), n.clone()))
                    .collect();
                types.push(Change::AlterEnum {
                    from: old.clone(),
                    to: e.clone(),
                    renamed,
                });
            }
            Some(_) => {}
        }
    }
    for (name, e) in &from.enums {
        if !to.enums.contains_key(name) {
            late_drops.push(Change::DropEnum { r#enum: e.clone() });
        }
    }
    for (name, s) in &to.sequences {
        match from.sequences.get(name) {
            None => types.push(Change::CreateSequence {
                sequence: s.clone(),
            }),
            Some(old) if old != s => types.push(Change::AlterSequence {
                from: old.clone(),
                to: s.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, s) in &from.sequences {
        if !to.sequences.contains_key(name) {
            late_drops.push(Change::DropSequence {
                sequence: s.clone(),
            });
        }
    }

    // Tables kept (possibly renamed).
    let target_of = |start: &str| {
        renames
            .tables
            .get(start)
            .cloned()
            .unwrap_or(start.to_string())
    };
    let kept: Vec<(&Table, &Table)> = from
        .tables
        .values()
        .filter_map(|s| to.tables.get(&target_of(&s.name)).map(|t| (s, t)))
        .collect();
    let kept_targets: BTreeSet<String> = kept.iter().map(|(_, t)| t.name.clone()).collect();

    for (start, target) in &kept {
        let sname = &start.name;
        let tname = &target.name;
        if sname != tname {
            renaming.push(Change::RenameTable {
                from: sname.clone(),
                to: tname.clone(),
            });
            changed_tables.insert(sname.clone());
            changed_tables.insert(tname.clone());
        }
        let map = column_map(start, target, tname, renames);
        let before = changed_tables.len();
        let mut touched = false;

        // Columns.
        for c in &start.columns {
            match map.get(&c.name) {
                Some(new) => {
                    if new != &c.name {
                        renaming.push(Change::RenameColumn {
                            table: tname.clone(),
                            from: c.name.clone(),
                            to: new.clone(),
                        });
                        touched = true;
                    }
                    let t = target
                        .columns
                        .iter()
                        .find(|t| &t.name == new)
                        .expect("mapped");
                    let mut s = c.clone();
                    s.name = new.clone();
                    s.definition = t.definition.clone().or(s.definition);
                    if !same_column(&s, t) {
                        columns.push(Change::AlterColumn {
                            table: tname.clone(),
                            from: s,
                            to: t.clone(),
                        });
                        touched = true;
                    }
                }
                None => {
                    table_drops.push(Change::DropColumn {
                        table: tname.clone(),
                        column: c.clone(),
                    });
                    touched = true;
                }
            }
        }
        for t in &target.columns {
            if !map.values().any(|n| n == &t.name) {
                columns.push(Change::AddColumn {
                    table: tname.clone(),
                    column: t.clone(),
                });
                touched = true;
            }
        }

        // Constraints, the primary key compared by what it enforces.
        let rename_col = |def: &str| -> String { rename_in(def, &map) };
        let start_pk = start.primary_key.as_ref();
        let target_pk = target.primary_key.as_ref();
        let pk_same = match (start_pk, target_pk) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                rename_col(&a.definition) == b.definition
                    && a.columns
                        .iter()
                        .map(|c| map.get(c).unwrap_or(c))
                        .eq(b.columns.iter())
            }
            _ => false,
        };
        if !pk_same {
            if let Some(pk) = start_pk {
                early.push(Change::DropConstraint {
                    table: sname.clone(),
                    constraint: pk.clone(),
                });
            }
            if let Some(pk) = target_pk {
                adds.push(Change::AddConstraint {
                    table: tname.clone(),
                    constraint: pk.clone(),
                    deferred: false,
                });
            }
            touched = true;
        }
        let skey = |c: &Constraint| match &c.name {
            Some(n) => n.clone(),
            None => format!("{:?} {}", c.kind, rename_col(&c.definition)),
        };
        let start_cons: BTreeMap<String, &Constraint> =
            start.constraints.iter().map(|c| (skey(c), c)).collect();
        let target_cons: BTreeMap<String, &Constraint> =
            target.constraints.iter().map(|c| (c.key(), c)).collect();
        for (k, c) in &start_cons {
            let same = target_cons
                .get(k)
                .is_some_and(|t| rename_col(&c.definition) == t.definition && c.kind == t.kind);
            if !same {
                early.push(Change::DropConstraint {
                    table: sname.clone(),
                    constraint: (*c).clone(),
                });
                touched = true;
            }
        }
        for (k, c) in &target_cons {
            let same = start_cons
                .get(k)
                .is_some_and(|s| rename_col(&s.definition) == c.definition && c.kind == s.kind);
            if !same {
                let change = Change::AddConstraint {
                    table: tname.clone(),
                    constraint: (*c).clone(),
                    deferred: false,
                };
                if c.kind == ConstraintKind::ForeignKey {
                    fk_adds.push(change);
                } else {
                    adds.push(change);
                }
                touched = true;
            }
        }

        // Indexes, by name.
        for i in &start.indexes {
            let same = target.indexes.iter().any(|t| {
                t.name == i.name
                    && t.unique == i.unique
                    && t.definition == rename_in(&i.definition, &map)
            });
            if !same {
                early.push(Change::DropIndex {
                    table: sname.clone(),
                    index: i.clone(),
                });
                touched = true;
            }
        }
        for t in &target.indexes {
            let same = start.indexes.iter().any(|i| {
                t.name == i.name
                    && t.unique == i.unique
                    && t.definition == rename_in(&i.definition, &map)
            });
            if !same {
                adds.push(Change::AddIndex {
                    table: tname.clone(),
                    index: t.clone(),
                });
                touched = true;
            }
        }

        if start.options != target.options {
            columns.push(Change::TableOptions {
                table: tname.clone(),
                from: start.options.clone(),
                to: target.options.clone(),
            });
            touched = true;
        }
        if start.comment != target.comment {
            comments.push(Change::TableComment {
                table: tname.clone(),
                from: start.comment.clone(),
                to: target.comment.clone(),
            });
        }
        if touched || changed_tables.len() != before {
            changed_tables.insert(sname.clone());
            changed_tables.insert(tname.clone());
        }
    }

    // Tables created, referenced before referencing.
    let new_tables: Vec<&Table> = to
        .tables
        .values()
        .filter(|t| !kept_targets.contains(&t.name))
        .collect();
    let order = references_first(&new_tables);
    let mut created: BTreeSet<&str> = BTreeSet::new();
    for t in order {
        let mut deferred = Vec::new();
        for c in &t.constraints {
            if c.kind != ConstraintKind::ForeignKey {
                continue;
            }
            let Some(target) = &c.references else {
                continue;
            };
            let is_new = new_tables.iter().any(|n| &n.name == target);
            if is_new && target != &t.name && !created.contains(target.as_str()) {
                deferred.push(c.key());
                fk_adds.push(Change::AddConstraint {
                    table: t.name.clone(),
                    constraint: c.clone(),
                    deferred: true,
                });
            }
        }
        created.insert(&t.name);
        creates.push(Change::CreateTable {
            table: t.clone(),
            deferred,
        });
        if t.comment.is_some() {
            comments.push(Change::TableComment {
                table: t.name.clone(),
                from: None,
                to: t.comment.clone(),
            });
        }
        changed_tables.insert(t.name.clone());
    }

    // Tables dropped, referencing before referenced; a key closing a cycle
    // among them is dropped first.
    let gone: Vec<&Table> = from
        .tables
        .values()
        .filter(|s| !to.tables.contains_key(&target_of(&s.name)))
        .collect();
    let mut order = references_first(&gone);
    order.reverse();
    let position: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    for t in order {
        // A key to a table dropped before its own table would block that
        // drop (a cycle): it is dropped first.
        for c in t
            .constraints
            .iter()
            .filter(|c| c.kind == ConstraintKind::ForeignKey)
        {
            let theirs = c.references.as_deref().and_then(|r| position.get(r));
            if theirs.is_some_and(|&theirs| theirs < position[t.name.as_str()]) {
                early.push(Change::DropConstraint {
                    table: t.name.clone(),
                    constraint: c.clone(),
                });
            }
        }
        changed_tables.insert(t.name.clone());
        table_drops.push(Change::DropTable { table: t.clone() });
    }

    // Views: dropped when they go, change, or read a changing table.
    // Each inspector lists every table and view a view reads; a view that
    // reads none (`SELECT 1`) depends on no change.
    let reads_changed = |v: &View| v.depends_on.iter().any(|d| changed_tables.contains(d));
    let mut view_drops: Vec<&View> = Vec::new();
    let mut changed_views: BTreeSet<&str> = BTreeSet::new();
    for v in from.views.values() {
        let keep = to
            .views
            .get(&v.name)
            .is_some_and(|t| t.definition == v.definition);
        if !keep {
            changed_views.insert(&v.name);
        }
        if !keep || reads_changed(v) {
            view_drops.push(v);
        }
    }
    // A view reading a dropped view goes too.
    loop {
        let names: BTreeSet<&str> = view_drops.iter().map(|v| v.name.as_str()).collect();
        let more: Vec<&View> = from
            .views
            .values()
            .filter(|v| {
                !names.contains(v.name.as_str())
                    && v.depends_on.iter().any(|d| names.contains(d.as_str()))
            })
            .collect();
        if more.is_empty() {
            break;
        }
        view_drops.extend(more);
    }
    let dropped_views: BTreeSet<&str> = view_drops.iter().map(|v| v.name.as_str()).collect();
    let drop_order = views_first(&view_drops);
    let mut view_early: Vec<Change> = drop_order
        .into_iter()
        .rev()
        .map(|v| Change::DropView {
            view: v.clone(),
            recreated: !changed_views.contains(v.name.as_str()),
        })
        .collect();
    let creates_v: Vec<&View> = to
        .views
        .values()
        .filter(|v| !from.views.contains_key(&v.name) || dropped_views.contains(v.name.as_str()))
        .collect();
    for v in views_first(&creates_v) {
        view_creates.push(Change::CreateView {
            view: v.clone(),
            recreated: from.views.contains_key(&v.name) && !changed_views.contains(v.name.as_str()),
        });
    }

    view_early.extend(early);
    let mut out = view_early;
    out.extend(types);
    out.extend(renaming);
    out.extend(creates);
    out.extend(columns);
    out.extend(table_drops);
    out.extend(adds);
    out.extend(fk_adds);
    out.extend(late_drops);
    out.extend(view_creates);
    out.extend(comments);
    out
}

/// Two columns are the same when every compared field is.
fn same_column(a: &Column, b: &Column) -> bool {
    a.name == b.name
        && a.data_type == b.data_type
        && a.nullable == b.nullable
        && a.default == b.default
        && a.identity == b.identity
        && a.generated == b.generated
        && a.collation == b.collation
        && a.comment == b.comment
}

/// A definition with renamed columns spelt by their new names, so that a
/// constraint over a renamed column is not dropped and re-added. Only whole
/// identifiers (plain or double- or back-quoted) are replaced.
fn rename_in(def: &str, map: &BTreeMap<String, String>) -> String {
    if map.iter().all(|(a, b)| a == b) {
        return def.to_string();
    }
    let mut out = String::with_capacity(def.len());
    let chars: Vec<char> = def.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Strings are copied as they are.
            let start = i;
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
            out.extend(&chars[start..i]);
        } else if c == '"' || c == '`' {
            let start = i + 1;
            let mut j = start;
            while j < chars.len() && chars[j] != c {
                j += 1;
            }
            let word: String = chars[start..j.min(chars.len())].iter().collect();
            let new = map.get(&word).unwrap_or(&word);
            out.push(c);
            out.push_str(new);
            out.push(c);
            i = (j + 1).min(chars.len());
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push_str(map.get(&word).unwrap_or(&word));
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Tables ordered so that a table comes after the tables (of `tables`) its
/// foreign keys reference, cycles broken by name order.
fn references_first<'a>(tables: &[&'a Table]) -> Vec<&'a Table> {
    let names: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let deps = |t: &Table| -> BTreeSet<String> {
        t.constraints
            .iter()
            .filter(|c| c.kind == ConstraintKind::ForeignKey)
            .filter_map(|c| c.references.clone())
            .filter(|r| r != &t.name && names.contains(r.as_str()))
            .collect()
    };
    topo(tables, |t| t.name.as_str(), deps)
}

fn views_first<'a>(views: &[&'a View]) -> Vec<&'a View> {
    let names: BTreeSet<&str> = views.iter().map(|v| v.name.as_str()).collect();
    topo(
        views,
        |v| v.name.as_str(),
        |v: &View| {
            v.depends_on
                .iter()
                .filter(|d| *d != &v.name && names.contains(d.as_str()))
                .cloned()
                .collect()
        },
    )
}

/// Kahn's order over `items`; when only a cycle is left, the first by name
/// goes next.
fn topo<'a, T>(
    items: &[&'a T],
    name: impl Fn(&T) -> &str,
    deps: impl Fn(&T) -> BTreeSet<String>,
) -> Vec<&'a T> {
    let mut left: BTreeMap<String, (&'a T, BTreeSet<String>)> = items
        .iter()
        .map(|t| (name(t).to_string(), (*t, deps(t))))
        .collect();
    let mut out = Vec::new();
    while !left.is_empty() {
        let ready = left
            .iter()
            .find(|(_, (_, d))| d.is_empty())
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| left.keys().next().expect("not empty").clone());
        let (t, _) = left.remove(&ready).expect("present");
        for (_, d) in left.values_mut() {
            d.remove(&ready);
        }
        out.push(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str) -> Column {
        Column {
            name: name.into(),
            data_type: ty.into(),
            nullable: true,
            ..Column::default()
        }
    }

    fn table(name: &str, cols: &[(&str, &str)]) -> Table {
        Table {
            name: name.into(),
            columns: cols.iter().map(|(n, t)| col(n, t)).collect(),
            ..Table::default()
        }
    }

    fn fk(name: &str, col: &str, to: &str) -> Constraint {
        Constraint {
            name: Some(name.into()),
            kind: ConstraintKind::ForeignKey,
            columns: vec![col.into()],
            definition: format!("FOREIGN KEY ({col}) REFERENCES {to}(id)"),
            references: Some(to.into()),
        }
    }

    fn schema(tables: Vec<Table>) -> Schema {
        Schema {
            tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
            ..Schema::default()
        }
    }

    fn ops(changes: &[Change]) -> Vec<String> {
        changes.iter().map(Change::describe).collect()
    }

    #[test]
    fn a_schema_compared_with_itself_has_no_changes() {
        let mut a = table("a", &[("id", "integer"), ("b_id", "integer")]);
        a.constraints.push(fk("a_b", "b_id", "b"));
        let s = schema(vec![a, table("b", &[("id", "integer")])]);
        assert!(diff(&s, &s, &Renames::default()).is_empty());
    }

    #[test]
    fn new_tables_come_after_the_tables_they_reference_and_a_cycle_is_closed_by_a_later_key() {
        let mut a = table("a", &[("id", "integer"), ("b_id", "integer")]);
        a.constraints.push(fk("a_b", "b_id", "b"));
        let mut b = table("b", &[("id", "integer"), ("c_id", "integer")]);
        b.constraints.push(fk("b_c", "c_id", "c"));
        let c = table("c", &[("id", "integer")]);
        let to = schema(vec![a.clone(), b.clone(), c]);
        assert_eq!(
            ops(&diff(&Schema::default(), &to, &Renames::default())),
            ["create table c", "create table b", "create table a"]
        );
        // a ↔ b: one key is left for the end.
        let mut b2 = table("b", &[("id", "integer"), ("a_id", "integer")]);
        b2.constraints.push(fk("b_a", "a_id", "a"));
        let to = schema(vec![a, b2]);
        let changes = diff(&Schema::default(), &to, &Renames::default());
        assert_eq!(
            ops(&changes),
            [
                "create table a",
                "create table b",
                "add foreign key a_b on a: FOREIGN KEY (b_id) REFERENCES b(id)"
            ]
        );
        assert!(
            matches!(&changes[0], Change::CreateTable { deferred, .. } if deferred == &["a_b"])
        );
        // Dropping both: the key closing the cycle goes first.
        let back = diff(&to, &Schema::default(), &Renames::default());
        assert_eq!(back.len(), 3, "{:?}", ops(&back));
        assert!(
            matches!(&back[0], Change::DropConstraint { .. }),
            "{:?}",
            ops(&back)
        );
    }

    #[test]
    fn a_renamed_column_keeps_its_constraints_and_a_dropped_one_is_a_candidate() {
        let mut from = table("users", &[("id", "integer"), ("name", "text")]);
        from.constraints.push(Constraint {
            name: None,
            kind: ConstraintKind::Check,
            columns: vec![],
            definition: "CHECK (length(name) > 0)".into(),
            references: None,
        });
        let mut to = table("users", &[("id", "integer"), ("full_name", "text")]);
        to.constraints.push(Constraint {
            name: None,
            kind: ConstraintKind::Check,
            columns: vec![],
            definition: "CHECK (length(full_name) > 0)".into(),
            references: None,
        });
        let (from, to) = (schema(vec![from]), schema(vec![to]));
        let none = Renames::default();
        assert_eq!(
            rename_candidates(&from, &to, &none),
            [RenameCandidate {
                from: "users.name".into(),
                to: "full_name".into()
            }]
        );
        let renames = Renames::resolve(&["users.name=full_name".into()], &[], &from, &to).unwrap();
        assert!(rename_candidates(&from, &to, &renames).is_empty());
        assert_eq!(
            ops(&diff(&from, &to, &renames)),
            ["rename column users.name to full_name"]
        );
        let refused = Renames::resolve(&[], &["users.name".into()], &from, &to).unwrap();
        assert!(rename_candidates(&from, &to, &refused).is_empty());
        let changes = diff(&from, &to, &refused);
        assert!(changes.iter().any(|c| c.destructive().is_some()));
    }

    #[test]
    fn a_misspelt_rename_is_an_error() {
        let s = schema(vec![table("users", &[("id", "integer")])]);
        assert!(Renames::resolve(&["users.nme=x".into()], &[], &s, &s).is_err());
        assert!(Renames::resolve(&["nope=users".into()], &[], &s, &s).is_err());
        assert!(Renames::resolve(&["users".into()], &[], &s, &s).is_err());
    }

    #[test]
    fn widening_is_told_from_narrowing() {
        assert!(widens("varchar(20)", "varchar(40)"));
        assert!(!widens("varchar(40)", "varchar(20)"));
        assert!(widens("integer", "bigint"));
        assert!(!widens("bigint", "integer"));
        assert!(widens("character varying(10)", "text"));
        assert!(widens("numeric(10,2)", "numeric(12,2)"));
        assert!(!widens("numeric(10,2)", "numeric(10,3)"));
        assert!(!widens("text", "integer"));
        assert!(widens("enum('a','b')", "enum('a','b','c')"));
        assert!(!widens("enum('a','b','c')", "enum('a','b')"));
        assert!(!widens("set('a','b')", "enum('a','b')"));
    }

    #[test]
    fn a_view_over_a_changed_table_is_dropped_first_and_recreated_last() {
        let mut from = schema(vec![table("t", &[("id", "integer")])]);
        let v = View {
            name: "v".into(),
            definition: "SELECT id FROM t".into(),
            depends_on: vec!["t".into()],
            create_sql: None,
        };
        from.views.insert("v".into(), v);
        let mut to = from.clone();
        to.tables
            .get_mut("t")
            .unwrap()
            .columns
            .push(col("x", "integer"));
        assert_eq!(
            ops(&diff(&from, &to, &Renames::default())),
            ["drop view v", "add column t.x integer", "create view v"]
        );
    }
}
