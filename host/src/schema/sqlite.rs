//! SQLite: reading a schema from its PRAGMAs and its stored `CREATE`
//! statements, and writing changes as `ALTER TABLE` where SQLite can and
//! as the twelve-step table rebuild of <https://sqlite.org/lang_altertable.html>
//! where it cannot.
//!
//! SQLite keeps every `CREATE` statement as it was written, so what the
//! PRAGMAs do not say (CHECK constraints, collations, generated columns,
//! `AUTOINCREMENT`, `STRICT`) is read from that text with the small
//! tokenizer below. Residual normalisation, applied to both sides alike
//! (and tested on its own): declared types in upper case with spaces
//! squeezed out of their arguments; expressions as their tokens joined by
//! single spaces, keywords and bare names in lower case, quoted names
//! unquoted where they need no quotes, strings and numbers kept.

use std::collections::{BTreeMap, BTreeSet};

use super::value::{int, text};
use super::{
    Change, Column, Constraint, ConstraintKind, Generated, Index, Schema, SchemaError, Scope, Step,
    Table, View,
};
use crate::db::{Connection, Dialect, Value};

const D: Dialect = Dialect::Sqlite;

/// Reads the schema of the connection's main database.
pub async fn inspect(conn: &mut dyn Connection, scope: &Scope) -> Result<Schema, SchemaError> {
    let master = conn
        .query(
            "SELECT type, name, tbl_name, sql FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            Vec::new(),
        )
        .await
        .map_err(SchemaError::inspect("sqlite_master"))?;
    let mut schema = Schema::default();
    let mut index_sql: BTreeMap<String, String> = BTreeMap::new();
    let mut triggers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut table_sql: Vec<(String, String)> = Vec::new();
    let mut view_sql: Vec<(String, String)> = Vec::new();
    for row in &master.rows {
        let (kind, name, tbl, sql) = (text(&row[0]), text(&row[1]), text(&row[2]), text(&row[3]));
        if scope.excludes(D, &tbl) {
            continue;
        }
        match kind.as_str() {
            "table" => {
                if sql
                    .trim_start()
                    .to_ascii_uppercase()
                    .starts_with("CREATE VIRTUAL")
                {
                    return Err(SchemaError::Unsupported {
                        what: format!("virtual table {name}"),
                        why: "aludel does not compare virtual tables (FTS, R*Tree) or their shadow tables: \
                              add them to `[models] exclude`"
                            .into(),
                    });
                }
                table_sql.push((name, sql));
            }
            "view" => view_sql.push((name, sql)),
            "index" if !sql.is_empty() => {
                index_sql.insert(name, sql);
            }
            "trigger" => triggers.entry(tbl).or_default().push(sql),
            _ => {}
        }
    }
    // Shadow tables of virtual tables have their own names; a virtual
    // table was refused above, so none are here.
    for (name, sql) in table_sql {
        let mut table = read_table(conn, &name, &sql, &index_sql).await?;
        table.triggers = triggers.remove(&name).unwrap_or_default();
        schema.tables.insert(name, table);
    }
    let names: BTreeSet<String> = schema
        .tables
        .keys()
        .cloned()
        .chain(view_sql.iter().map(|(n, _)| n.clone()))
        .collect();
    for (name, sql) in view_sql {
        let tokens = tokenize(&sql);
        let as_at = tokens.iter().position(|t| t.is_word("as")).ok_or_else(|| {
            SchemaError::Unsupported {
                what: format!("view {name}"),
                why: "its stored CREATE VIEW has no AS".into(),
            }
        })?;
        let definition = normal(&tokens[as_at + 1..]);
        let depends_on = tokens[as_at + 1..]
            .iter()
            .filter_map(|t| t.ident())
            .filter(|w| {
                names.iter().any(|n| n.eq_ignore_ascii_case(w)) && !w.eq_ignore_ascii_case(&name)
            })
            .map(|w| {
                names
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(&w))
                    .cloned()
                    .expect("found")
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        schema.views.insert(
            name.clone(),
            View {
                name,
                definition,
                depends_on,
                create_sql: Some(sql),
            },
        );
    }
    Ok(schema)
}

async fn pragma(
    conn: &mut dyn Connection,
    pragma: &str,
    arg: &str,
) -> Result<Vec<Vec<Value>>, SchemaError> {
    let sql = format!("SELECT * FROM pragma_{pragma}({})", lit(arg));
    Ok(conn
        .query(&sql, Vec::new())
        .await
        .map_err(SchemaError::inspect(format!("PRAGMA {pragma}({arg})")))?
        .rows)
}

fn lit(s: &str) -> String {
    super::lit(D, s)
}

async fn read_table(
    conn: &mut dyn Connection,
    name: &str,
    sql: &str,
    index_sql: &BTreeMap<String, String>,
) -> Result<Table, SchemaError> {
    let parsed = parse_create_table(sql).ok_or_else(|| SchemaError::Unsupported {
        what: format!("table {name}"),
        why: format!("aludel could not read its stored CREATE TABLE: {sql}"),
    })?;
    let mut table = Table {
        name: name.to_string(),
        options: parsed.options.clone(),
        create_sql: Some(sql.to_string()),
        ..Table::default()
    };
    // cid, name, type, notnull, dflt_value, pk, hidden
    let mut pk: Vec<(i64, String)> = Vec::new();
    for row in pragma(conn, "table_xinfo", name).await? {
        let col_name = text(&row[1]);
        let def = parsed
            .columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(&col_name));
        let hidden = int(&row[6]);
        if hidden == 1 {
            continue;
        }
        let pk_pos = int(&row[5]);
        if pk_pos > 0 {
            pk.push((pk_pos, col_name.clone()));
        }
        let default = match &row[4] {
            Value::Null => None,
            v => Some(normal(&tokenize(&text(v)))),
        };
        let generated = match (hidden, def.and_then(|d| d.generated.clone())) {
            (2 | 3, Some(expression)) => Some(Generated {
                expression,
                stored: hidden == 3,
            }),
            (2 | 3, None) => {
                return Err(SchemaError::Unsupported {
                    what: format!("column {name}.{col_name}"),
                    why: "it is generated but aludel could not read its expression".into(),
                });
            }
            _ => None,
        };
        table.columns.push(Column {
            name: col_name,
            data_type: normal_type(&text(&row[2])),
            nullable: int(&row[3]) == 0,
            default,
            identity: def
                .filter(|d| d.autoincrement)
                .map(|_| "autoincrement".into()),
            generated,
            collation: def.and_then(|d| d.collation.clone()),
            comment: None,
            definition: def.map(|d| d.text.clone()),
        });
    }
    pk.sort();
    if !pk.is_empty() {
        let columns: Vec<String> = pk.into_iter().map(|(_, c)| c).collect();
        table.primary_key = Some(Constraint {
            name: None,
            kind: ConstraintKind::PrimaryKey,
            definition: format!("PRIMARY KEY ({})", columns.join(", ")),
            columns,
            references: None,
        });
    }
    // Indexes: those of UNIQUE constraints ('u') are constraints; those of
    // CREATE INDEX ('c') are indexes; the primary key's ('pk') is above.
    // seq, name, unique, origin, partial
    for row in pragma(conn, "index_list", name).await? {
        let (index, unique, origin) = (text(&row[1]), int(&row[2]) != 0, text(&row[3]));
        // seqno, cid, name, desc, coll, key
        let cols: Vec<Vec<Value>> = pragma(conn, "index_xinfo", &index)
            .await?
            .into_iter()
            .filter(|r| int(&r[5]) != 0)
            .collect();
        let columns: Vec<String> = cols
            .iter()
            .filter(|r| int(&r[1]) >= 0)
            .map(|r| text(&r[2]))
            .collect();
        match origin.as_str() {
            "u" => {
                let parts: Vec<String> = cols
                    .iter()
                    .map(|r| {
                        let mut p = text(&r[2]);
                        if int(&r[3]) != 0 {
                            p.push_str(" DESC");
                        }
                        let coll = text(&r[4]);
                        if !coll.eq_ignore_ascii_case("BINARY") {
                            p.push_str(&format!(" COLLATE {}", coll.to_uppercase()));
                        }
                        p
                    })
                    .collect();
                table.constraints.push(Constraint {
                    name: None,
                    kind: ConstraintKind::Unique,
                    definition: format!("UNIQUE ({})", parts.join(", ")),
                    columns,
                    references: None,
                });
            }
            "c" => {
                let sql = index_sql.get(&index).cloned().unwrap_or_default();
                let tokens = tokenize(&sql);
                let on = tokens.iter().position(|t| t.is_word("on"));
                let definition = match on {
                    Some(on) if on + 2 <= tokens.len() => normal(&tokens[on + 2..]),
                    _ => normal(&tokens),
                };
                table.indexes.push(Index {
                    name: index,
                    unique,
                    columns,
                    definition,
                    create_sql: Some(sql),
                });
            }
            _ => {}
        }
    }
    // id, seq, table, from, to, on_update, on_delete, match
    let mut fks: BTreeMap<i64, Vec<Vec<Value>>> = BTreeMap::new();
    for row in pragma(conn, "foreign_key_list", name).await? {
        fks.entry(int(&row[0])).or_default().push(row);
    }
    for rows in fks.into_values() {
        let target = text(&rows[0][2]);
        let from: Vec<String> = rows.iter().map(|r| text(&r[3])).collect();
        let to: Vec<String> = rows.iter().map(|r| text(&r[4])).collect();
        let to = if to.iter().all(|t| t.is_empty()) {
            String::new()
        } else {
            format!(" ({})", to.join(", "))
        };
        let mut definition = format!("FOREIGN KEY ({}) REFERENCES {target}{to}", from.join(", "));
        let (on_update, on_delete) = (text(&rows[0][5]), text(&rows[0][6]));
        if on_update != "NO ACTION" {
            definition.push_str(&format!(" ON UPDATE {on_update}"));
        }
        if on_delete != "NO ACTION" {
            definition.push_str(&format!(" ON DELETE {on_delete}"));
        }
        table.constraints.push(Constraint {
            name: None,
            kind: ConstraintKind::ForeignKey,
            columns: from,
            definition,
            references: Some(target),
        });
    }
    for check in &parsed.checks {
        table.constraints.push(Constraint {
            name: None,
            kind: ConstraintKind::Check,
            columns: Vec::new(),
            definition: format!("CHECK ({check})"),
            references: None,
        });
    }
    table.constraints.sort_by_key(Constraint::key);
    table.constraints.dedup_by_key(|c| c.key());
    table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(table)
}

/// `varchar( 20 )` → `VARCHAR(20)`.
pub(crate) fn normal_type(t: &str) -> String {
    let tokens = tokenize(t);
    let mut out = String::new();
    for (i, tok) in tokens.iter().enumerate() {
        let s = tok.text(t).to_uppercase();
        let glue = i == 0
            || matches!(s.as_str(), "(" | ")" | ",")
            || matches!(tokens[i - 1].text(t), "(" | ",");
        if !glue {
            out.push(' ');
        }
        out.push_str(&s);
    }
    out
}

// --- The tokenizer -------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    /// `"x"`, `` `x` `` or `[x]`.
    Quoted,
    Str,
    Number,
    Punct,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
    /// The token's text (for a quoted name: unquoted).
    value: String,
}

impl Token {
    fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }
    fn is_word(&self, w: &str) -> bool {
        self.kind == Kind::Word && self.value.eq_ignore_ascii_case(w)
    }
    fn is(&self, p: &str) -> bool {
        self.kind == Kind::Punct && self.value == p
    }
    /// The name the token spells, if it is one.
    fn ident(&self) -> Option<String> {
        matches!(self.kind, Kind::Word | Kind::Quoted).then(|| self.value.clone())
    }
}

fn tokenize(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(b.len());
        } else if c == b'\'' || c == b'"' || c == b'`' || c == b'[' {
            let close = if c == b'[' { b']' } else { c };
            let start = i;
            i += 1;
            let mut value = Vec::new();
            while i < b.len() {
                if b[i] == close {
                    if close != b']' && b.get(i + 1) == Some(&close) {
                        value.push(close);
                        i += 2;
                        continue;
                    }
                    break;
                }
                value.push(b[i]);
                i += 1;
            }
            i = (i + 1).min(b.len());
            let value = String::from_utf8_lossy(&value).into_owned();
            out.push(Token {
                kind: if c == b'\'' { Kind::Str } else { Kind::Quoted },
                start,
                end: i,
                value,
            });
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric()
                    || b[i] == b'.'
                    || ((b[i] == b'+' || b[i] == b'-') && matches!(b[i - 1], b'e' | b'E')))
            {
                i += 1;
            }
            out.push(Token {
                kind: Kind::Number,
                start,
                end: i,
                value: src[start..i].to_string(),
            });
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            out.push(Token {
                kind: Kind::Word,
                start,
                end: i,
                value: src[start..i].to_string(),
            });
        } else {
            let start = i;
            let two = &src.get(i..i + 2).unwrap_or("");
            i += if ["<=", ">=", "<>", "!=", "==", "||", "<<", ">>", "->"].contains(two) {
                2
            } else {
                src[i..].chars().next().map_or(1, char::len_utf8)
            };
            out.push(Token {
                kind: Kind::Punct,
                start,
                end: i,
                value: src[start..i].to_string(),
            });
        }
    }
    out
}

/// The normal form of an expression: see the module documentation.
fn normal(tokens: &[Token]) -> String {
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        let piece = match t.kind {
            Kind::Word => t.value.to_lowercase(),
            Kind::Quoted if is_plain(&t.value) => t.value.to_lowercase(),
            Kind::Quoted => format!("\"{}\"", t.value.replace('"', "\"\"")),
            Kind::Str => format!("'{}'", t.value.replace('\'', "''")),
            Kind::Number | Kind::Punct => t.value.clone(),
        };
        let glue = i == 0
            || t.is("(") && matches!(tokens[i - 1].kind, Kind::Word | Kind::Quoted)
            || t.is(")")
            || t.is(",")
            || t.is(".")
            || tokens[i - 1].is("(")
            || tokens[i - 1].is(".");
        if !glue {
            out.push(' ');
        }
        out.push_str(&piece);
    }
    out
}

/// A name that needs no quotes (and is no keyword that matters here).
fn is_plain(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s))
}

const KEYWORDS: &[&str] = &[
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "null",
    "is",
    "in",
    "as",
    "on",
    "group",
    "order",
    "by",
    "table",
    "index",
    "check",
    "default",
    "primary",
    "key",
    "unique",
    "references",
    "constraint",
    "foreign",
    "collate",
    "generated",
    "case",
    "when",
    "then",
    "else",
    "end",
    "like",
    "between",
    "exists",
    "join",
    "values",
];

/// What the stored `CREATE TABLE` says that no PRAGMA does.
#[derive(Debug, Default)]
struct ParsedTable {
    columns: Vec<ParsedColumn>,
    /// Every CHECK, of a column or of the table, in normal form.
    checks: Vec<String>,
    /// `STRICT`, `WITHOUT ROWID`, in normal form.
    options: String,
    /// Byte span of the table's name in the statement.
    name_span: (usize, usize),
}

#[derive(Debug)]
struct ParsedColumn {
    name: String,
    /// The column's definition as written.
    text: String,
    collation: Option<String>,
    generated: Option<String>,
    autoincrement: bool,
}

fn parse_create_table(sql: &str) -> Option<ParsedTable> {
    let tokens = tokenize(sql);
    let open = tokens.iter().position(|t| t.is("("))?;
    // CREATE [TEMP] TABLE [IF NOT EXISTS] [schema.]name (
    let name_tok = &tokens[open.checked_sub(1)?];
    let mut parsed = ParsedTable {
        name_span: (name_tok.start, name_tok.end),
        ..ParsedTable::default()
    };
    // Split the body at top-level commas.
    let mut depth = 0usize;
    let mut parts: Vec<&[Token]> = Vec::new();
    let mut part_start = open + 1;
    let mut close = None;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.is("(") {
            depth += 1;
        } else if t.is(")") {
            depth -= 1;
            if depth == 0 {
                parts.push(&tokens[part_start..i]);
                close = Some(i);
                break;
            }
        } else if t.is(",") && depth == 1 {
            parts.push(&tokens[part_start..i]);
            part_start = i + 1;
        }
    }
    let close = close?;
    parsed.options = normal(&tokens[close + 1..])
        .trim_end_matches(';')
        .trim()
        .to_uppercase();
    for part in parts {
        let Some(first) = part.first() else { continue };
        let table_constraint = ["constraint", "primary", "unique", "check", "foreign"]
            .iter()
            .any(|k| first.is_word(k));
        if table_constraint {
            for (i, t) in part.iter().enumerate() {
                if t.is_word("check") {
                    if let Some(expr) = parenthesised(part, i + 1) {
                        parsed.checks.push(normal(expr));
                    }
                    break;
                }
            }
            continue;
        }
        let name = first.ident()?;
        let text = sql[first.start..part.last()?.end].to_string();
        let mut column = ParsedColumn {
            name,
            text,
            collation: None,
            generated: None,
            autoincrement: false,
        };
        let mut i = 1;
        while i < part.len() {
            let t = &part[i];
            if t.is_word("collate") {
                column.collation = part
                    .get(i + 1)
                    .and_then(Token::ident)
                    .map(|c| c.to_uppercase());
            } else if t.is_word("check") {
                if let Some(expr) = parenthesised(part, i + 1) {
                    parsed.checks.push(normal(expr));
                }
            } else if t.is_word("as") && part.get(i + 1).is_some_and(|n| n.is("(")) {
                column.generated = parenthesised(part, i + 1).map(normal);
            } else if t.is_word("autoincrement") {
                column.autoincrement = true;
            }
            // Skip over a parenthesised group (types, defaults, checks).
            if part.get(i + 1).is_some_and(|n| n.is("(")) && !t.is_word("as") && !t.is_word("check")
            {
                i = skip_group(part, i + 1);
                continue;
            }
            i += 1;
        }
        parsed.columns.push(column);
    }
    Some(parsed)
}

/// The tokens inside the parentheses that open at `at`.
fn parenthesised(tokens: &[Token], at: usize) -> Option<&[Token]> {
    if !tokens.get(at)?.is("(") {
        return None;
    }
    let end = skip_group(tokens, at);
    Some(&tokens[at + 1..end - 1])
}

/// The index after the parenthesised group that opens at `at`.
fn skip_group(tokens: &[Token], at: usize) -> usize {
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate().skip(at) {
        if t.is("(") {
            depth += 1;
        } else if t.is(")") {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
    }
    tokens.len()
}

// --- Rendering -------------------------------------------------------------

fn q(name: &str) -> String {
    super::ident(D, name)
}

/// The statements of `changes` in SQLite.
pub fn render(changes: &[Change], from: &Schema, to: &Schema) -> Result<Vec<Step>, SchemaError> {
    // Tables that ALTER TABLE cannot bring to their target: rebuilt once,
    // where their last change would have run.
    let start_names: BTreeMap<&str, &str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::RenameTable { from, to } => Some((to.as_str(), from.as_str())),
            _ => None,
        })
        .collect();
    // A dropped table's keys go with it.
    let dropped: BTreeSet<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::DropTable { table } => Some(table.name.as_str()),
            _ => None,
        })
        .collect();
    // Indexes added later by their own change, not by a rebuild.
    let added_indexes: BTreeSet<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::AddIndex { index, .. } => Some(index.name.as_str()),
            _ => None,
        })
        .collect();
    let mut rebuild: BTreeSet<String> = BTreeSet::new();
    for change in changes {
        if let Change::DropConstraint { table, .. } = change
            && dropped.contains(table.as_str())
        {
            continue;
        }
        if let Some(table) = needs_rebuild(change, from, &start_names) {
            rebuild.insert(table);
        }
    }
    let last_of: BTreeMap<&str, usize> = changes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| table_of(c).map(|t| (t, i)))
        .filter(|(t, _)| rebuild.contains(*t))
        .fold(BTreeMap::new(), |mut m, (t, i)| {
            m.insert(t, i);
            m
        });
    let mut steps = Vec::new();
    let step = |steps: &mut Vec<Step>, sql: String, change: &Change| {
        steps.push(Step {
            sql,
            comment: change.describe(),
            destructive: change.destructive(),
        })
    };
    for (i, change) in changes.iter().enumerate() {
        if let Change::DropConstraint { table, .. } = change
            && dropped.contains(table.as_str())
        {
            continue;
        }
        if let Some(t) = table_of(change)
            && rebuild.contains(t)
        {
            // Renames still run (the rebuild copies by the new names);
            // everything else of the table is the rebuild's.
            let keeps = matches!(
                change,
                Change::RenameTable { .. } | Change::RenameColumn { .. }
            );
            if keeps {
                step(&mut steps, render_one(change, from, to)?.join("\n"), change);
            }
            if last_of.get(t) == Some(&i) {
                let table_changes: Vec<&Change> =
                    changes.iter().filter(|c| table_of(c) == Some(t)).collect();
                let sqls = rebuild_table(t, &table_changes, from, to, &added_indexes)?;
                let describe = table_changes
                    .iter()
                    .filter(|c| {
                        !matches!(c, Change::RenameTable { .. } | Change::RenameColumn { .. })
                    })
                    .map(|c| c.describe())
                    .collect::<Vec<_>>()
                    .join("; ");
                let destructive: Vec<String> = table_changes
                    .iter()
                    .filter_map(|c| c.destructive())
                    .collect();
                for (k, sql) in sqls.into_iter().enumerate() {
                    // The comment and the warning once, above the first.
                    steps.push(Step {
                        sql,
                        comment: if k == 0 {
                            format!("rebuild {t}: {describe}")
                        } else {
                            String::new()
                        },
                        destructive: (k == 0 && !destructive.is_empty())
                            .then(|| destructive.join("; ")),
                    });
                }
            }
            continue;
        }
        for sql in render_one(change, from, to)? {
            step(&mut steps, sql, change);
        }
    }
    Ok(steps)
}

/// The table a change alters in place (not created or dropped), by the
/// name it has after the renames.
fn table_of(change: &Change) -> Option<&str> {
    match change {
        Change::RenameTable { to, .. } => Some(to),
        Change::DropConstraint { table, .. }
        | Change::AddConstraint {
            table,
            deferred: false,
            ..
        }
        | Change::AddColumn { table, .. }
        | Change::AlterColumn { table, .. }
        | Change::DropColumn { table, .. }
        | Change::RenameColumn { table, .. }
        | Change::TableOptions { table, .. } => Some(table),
        _ => None,
    }
}

/// The table that `change` forces a rebuild of, if any.
fn needs_rebuild(
    change: &Change,
    from: &Schema,
    start_names: &BTreeMap<&str, &str>,
) -> Option<String> {
    match change {
        Change::AlterColumn { table, .. }
        | Change::TableOptions { table, .. }
        | Change::AddConstraint {
            table,
            deferred: false,
            ..
        } => Some(table.clone()),
        // Named by its start name: the rebuild is of its target name.
        Change::DropConstraint { table, .. } => Some(
            start_names
                .iter()
                .find(|(_, s)| **s == table.as_str())
                .map_or(table.clone(), |(t, _)| t.to_string()),
        ),
        Change::AddColumn { table, column } => (!can_add_column(column)).then(|| table.clone()),
        Change::DropColumn { table, column } => {
            let start = from
                .tables
                .get(start_names.get(table.as_str()).copied().unwrap_or(table));
            (!can_drop_column(column, start)).then(|| table.clone())
        }
        _ => None,
    }
}

/// What `ALTER TABLE ADD COLUMN` accepts (lang_altertable.html).
fn can_add_column(c: &Column) -> bool {
    let def = c.definition.as_deref().unwrap_or("").to_lowercase();
    let tokens: Vec<String> = tokenize(&def)
        .iter()
        .map(|t| t.value.to_lowercase())
        .collect();
    let has = |w: &str| tokens.iter().any(|t| t == w);
    let stored = c.generated.as_ref().is_some_and(|g| g.stored);
    let not_null_without_default = !c.nullable && c.default.is_none() && c.generated.is_none();
    let expression_default = c
        .default
        .as_deref()
        .is_some_and(|d| d.starts_with('(') || d.starts_with("current_"));
    let key_with_default = has("references") && c.default.as_deref().is_some_and(|d| d != "null");
    !(has("primary")
        || has("unique")
        || stored
        || not_null_without_default
        || expression_default
        || key_with_default)
}

/// What `ALTER TABLE DROP COLUMN` accepts: a column no key, unique
/// constraint, check or generated column uses (its indexes were dropped
/// before). Checks are not parsed for the names they read, so a table
/// with any check is rebuilt instead.
fn can_drop_column(c: &Column, start: Option<&Table>) -> bool {
    let def = c.definition.as_deref().unwrap_or("");
    let tokens = tokenize(def);
    let has = |w: &str| tokens.iter().any(|t| t.is_word(w));
    let used = start.is_none_or(|t| {
        t.primary_key
            .iter()
            .chain(&t.constraints)
            .any(|k| k.kind == ConstraintKind::Check || k.columns.iter().any(|n| n == &c.name))
            || t.columns.iter().any(|g| g.generated.is_some())
    });
    !(has("primary") || has("unique") || has("references") || has("check") || used)
}

fn render_one(change: &Change, from: &Schema, to: &Schema) -> Result<Vec<String>, SchemaError> {
    let _ = from;
    Ok(match change {
        Change::DropView { view, .. } => vec![format!("DROP VIEW {}", q(&view.name))],
        Change::CreateView { view, .. } => vec![stored(&view.create_sql, "view", &view.name)?],
        Change::DropIndex { index, .. } => vec![format!("DROP INDEX {}", q(&index.name))],
        Change::AddIndex { index, .. } => vec![stored(&index.create_sql, "index", &index.name)?],
        Change::RenameTable { from, to } => {
            vec![format!("ALTER TABLE {} RENAME TO {}", q(from), q(to))]
        }
        Change::RenameColumn { table, from, to } => vec![format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            q(table),
            q(from),
            q(to)
        )],
        Change::CreateTable { table, .. } => {
            let mut out = vec![stored(&table.create_sql, "table", &table.name)?];
            for i in &table.indexes {
                out.push(stored(&i.create_sql, "index", &i.name)?);
            }
            out
        }
        Change::AddColumn { table, column } => vec![format!(
            "ALTER TABLE {} ADD COLUMN {}",
            q(table),
            column
                .definition
                .clone()
                .unwrap_or_else(|| column.name.clone())
        )],
        Change::DropColumn { table, column } => vec![format!(
            "ALTER TABLE {} DROP COLUMN {}",
            q(table),
            q(&column.name)
        )],
        Change::DropTable { table } => vec![format!("DROP TABLE {}", q(&table.name))],
        // A key left out of a CREATE TABLE to break a cycle: SQLite has it
        // inline already.
        Change::AddConstraint { deferred: true, .. } => Vec::new(),
        // Comments do not exist on SQLite; the others are rebuilds.
        Change::TableComment { .. } => Vec::new(),
        Change::CreateEnum { .. }
        | Change::AlterEnum { .. }
        | Change::DropEnum { .. }
        | Change::CreateSequence { .. }
        | Change::AlterSequence { .. }
        | Change::DropSequence { .. }
        | Change::AlterColumn { .. }
        | Change::AddConstraint { .. }
        | Change::DropConstraint { .. }
        | Change::TableOptions { .. } => {
            let _ = to;
            return Err(SchemaError::Inexpressible {
                change: change.describe(),
                dialect: D,
                why: "SQLite has no such statement and this change was not part of a table rebuild"
                    .into(),
            });
        }
    })
}

fn stored(sql: &Option<String>, what: &str, name: &str) -> Result<String, SchemaError> {
    sql.clone().ok_or_else(|| SchemaError::Inexpressible {
        change: format!("create {what} {name}"),
        dialect: D,
        why: "its CREATE statement was not read".into(),
    })
}

/// The rebuild of table `name` (its target name) to its target shape,
/// steps 4 to 10 of lang_altertable.html's procedure; the caller's
/// revision runs with foreign keys off (steps 1, 11, 12), and the views
/// over the table were dropped before it by the diff.
fn rebuild_table(
    name: &str,
    changes: &[&Change],
    from: &Schema,
    to: &Schema,
    added_indexes: &BTreeSet<&str>,
) -> Result<Vec<String>, SchemaError> {
    let target = to
        .tables
        .get(name)
        .ok_or_else(|| SchemaError::Inexpressible {
            change: format!("rebuild table {name}"),
            dialect: D,
            why: "the table is not in the target schema".into(),
        })?;
    // The table as it is when the rebuild runs: its start version, renamed.
    let start_name = changes
        .iter()
        .find_map(|c| match c {
            Change::RenameTable { from, .. } => Some(from.as_str()),
            _ => None,
        })
        .unwrap_or(name);
    let start = from
        .tables
        .get(start_name)
        .ok_or_else(|| SchemaError::Inexpressible {
            change: format!("rebuild table {name}"),
            dialect: D,
            why: "the table is not in the start schema".into(),
        })?;
    let mut current: Vec<String> = start.columns.iter().map(|c| c.name.clone()).collect();
    for c in changes {
        if let Change::RenameColumn { from, to, .. } = c {
            for n in current.iter_mut() {
                if n == from {
                    *n = to.clone();
                }
            }
        }
    }
    let generated_at_start: BTreeSet<&str> = start
        .columns
        .iter()
        .filter(|c| c.generated.is_some())
        .map(|c| c.name.as_str())
        .collect();
    let copied: Vec<String> = target
        .columns
        .iter()
        .filter(|c| c.generated.is_none())
        .filter(|c| {
            current
                .iter()
                .zip(&start.columns)
                .any(|(n, s)| n == &c.name && !generated_at_start.contains(s.name.as_str()))
        })
        .map(|c| q(&c.name))
        .collect();
    let create = target
        .create_sql
        .as_deref()
        .ok_or_else(|| SchemaError::Inexpressible {
            change: format!("rebuild table {name}"),
            dialect: D,
            why: "its CREATE TABLE was not read".into(),
        })?;
    let parsed = parse_create_table(create).ok_or_else(|| SchemaError::Inexpressible {
        change: format!("rebuild table {name}"),
        dialect: D,
        why: "its CREATE TABLE could not be read".into(),
    })?;
    let temp = format!("_aludel_new_{name}");
    let new_create = format!(
        "{}{}{}",
        &create[..parsed.name_span.0],
        q(&temp),
        &create[parsed.name_span.1..]
    );
    let cols = copied.join(", ");
    let mut out = vec![
        new_create,
        format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM {}",
            q(&temp),
            q(name)
        ),
        format!("DROP TABLE {}", q(name)),
        format!("ALTER TABLE {} RENAME TO {}", q(&temp), q(name)),
    ];
    for i in target
        .indexes
        .iter()
        .filter(|i| !added_indexes.contains(i.name.as_str()))
    {
        out.push(stored(&i.create_sql, "index", &i.name)?);
    }
    // Triggers are not compared: the start's are kept.
    out.extend(start.triggers.iter().cloned());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_upper_case_without_spaces_in_their_arguments() {
        assert_eq!(normal_type("varchar( 20 )"), "VARCHAR(20)");
        assert_eq!(normal_type("numeric(10 , 2)"), "NUMERIC(10,2)");
        assert_eq!(normal_type("unsigned big int"), "UNSIGNED BIG INT");
        assert_eq!(normal_type(""), "");
    }

    #[test]
    fn expressions_compare_equal_however_they_were_spaced_cased_or_quoted() {
        let n = |s: &str| normal(&tokenize(s));
        assert_eq!(n("length(\"name\")>0"), n("LENGTH( name ) > 0"));
        assert_eq!(n("price >= 0 AND price<1e6"), "price >= 0 and price < 1e6");
        assert_eq!(n("'It''s' || x"), "'It''s' || x");
        assert_ne!(n("'A'"), n("'a'"));
        assert_eq!(n("\"odd name\" + 1"), "\"odd name\" + 1");
    }

    #[test]
    fn a_create_table_yields_its_checks_collations_generated_columns_and_options() {
        let parsed = parse_create_table(
            "CREATE TABLE \"t\" (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             name TEXT COLLATE nocase CHECK (length(name) > 0), \
             total REAL GENERATED ALWAYS AS (price * 2) STORED, price REAL DEFAULT (1.5), \
             CONSTRAINT positive CHECK (price >= 0), UNIQUE (name)) STRICT",
        )
        .unwrap();
        let names: Vec<&str> = parsed.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "name", "total", "price"]);
        assert!(parsed.columns[0].autoincrement);
        assert_eq!(parsed.columns[1].collation.as_deref(), Some("NOCASE"));
        assert_eq!(parsed.columns[2].generated.as_deref(), Some("price * 2"));
        assert_eq!(parsed.checks, ["length(name) > 0", "price >= 0"]);
        assert_eq!(parsed.options, "STRICT");
        assert_eq!(parsed.columns[3].text, "price REAL DEFAULT (1.5)");
    }
}
