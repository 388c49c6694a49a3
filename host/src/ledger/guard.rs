//! The check that a revision left aludel's own tables as the host expects,
//! made inside the revision's transaction by the statement that writes its
//! history row, so that it costs no round trip of its own.
//!
//! The host knows what the tables must hold when a revision's records are
//! written: the version table exactly the heads after the step, the history
//! as many rows as it has written with its chain head as last written, the
//! artifact store and the failed state as many rows as before. And it knows
//! what the tables must be: base tables, with no trigger or rule that could
//! rewrite the host's own writes (no row security on PostgreSQL, where the
//! three audit tables also keep the OIDs they had when the run began; a
//! renamed table with a view in its place has another). The history row's
//! `row_hash` is fed through a `CASE` over that check, which yields the
//! name of the first table found changed, or `''`:
//!
//! - PostgreSQL: a changed table makes the row's value a cast of
//!   `aludel-guard: <table>` to `bigint`, which raises; neither a trigger
//!   nor a dropped constraint can stop that (a subquery in a `CASE` arm is
//!   never folded at plan time);
//! - MySQL: a changed table selects a subquery of two rows, which raises
//!   whatever `sql_mode` the revision set;
//!
//! Not on SQLite: there the authorizer (`db::sqlite_guard`) judges every
//! statement a revision's SQL makes SQLite prepare, triggers it fires
//! included, and refuses any write or DDL on aludel's tables before it
//! runs, so nothing is left for the check to find. It cost a quarter of
//! aludel's own time per revision there (the statement's subqueries are
//! parsed and planned anew each time): measured with `cargo bench --bench
//! apply_sql_revisions`, 0.40 ms a revision with it, 0.31 ms without.
//!
//! The statement fails, the revision fails and is rolled back.
//!
//! A row rewritten in place keeps every count and the head. On PostgreSQL
//! the check also looks at each row's `xmin`, the transaction that wrote
//! its version (see [`State::window_floor`]); its operators and functions
//! are `pg_catalog`'s by name (see `db::dialect::op`). On MySQL a revision
//! that ran SQL the lexer could not read has the tables checked whole
//! instead (`super::deep`). What none of it sees, the chain shows at the
//! next run, which refuses while it is broken (`migrate::verify`), and an
//! artifact is re-hashed whenever it is loaded (`migrate::stored`).

use crate::db::Dialect;
use crate::db::dialect::{func, op, placeholder, quote};
use crate::db::{Statement, Value};

/// The prefix of the text PostgreSQL's failed cast quotes; the table's
/// name follows it.
pub const MARK: &str = "aludel-guard: ";

/// What aludel's tables hold, as the host last knew it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub history_rows: i64,
    /// The last history row's id and hash (0 and `''` before any row).
    pub head_id: i64,
    pub head_hash: String,
    pub artifacts: i64,
    pub failed: i64,
    /// PostgreSQL: the OIDs of the history, artifact and failed tables.
    pub oids: Vec<i64>,
    /// The audit tables' columns, defaults, constraints and indexes as the
    /// catalogue describes them when the run began, hashed: PostgreSQL's
    /// MD5 (`Tables::definition`), checked by every revision; MySQL's
    /// SHA-256 (`super::deep::definition`), checked after SQL the lexer
    /// could not read. Empty on SQLite, whose authorizer refuses DDL on
    /// them.
    pub definition: String,
    /// The history's last id and the store's row count when the revision's
    /// window opened (its transaction began, or it began outside one):
    /// rows up to that id were written before it, and the store holds
    /// `artifacts - settled_artifacts` rows written since, all by the host.
    pub settled_id: i64,
    pub settled_artifacts: i64,
    /// PostgreSQL outside a transaction (`transaction = "none"`): the first
    /// transaction id the revision's statements could have. `None` inside a
    /// transaction, whose own (sub)transactions are the window.
    pub window_floor: Option<u64>,
}

impl State {
    /// Opens the window of a revision: what aludel's tables hold now was
    /// written before it. `floor` as [`State::window_floor`].
    pub fn open_window(&mut self, floor: Option<u64>) {
        self.settled_id = self.head_id;
        self.settled_artifacts = self.artifacts;
        self.window_floor = floor;
    }
}

/// What a check expected: the state before the row and the heads after
/// the step, kept to name the changed table if the check fails.
pub type Expected = (State, Vec<String>);

/// Names of aludel's tables for SQL: `sql` quoted (and qualified where the
/// ledger resolved a schema), `schema` and `bare` for the catalogue.
#[derive(Debug, Clone)]
pub struct Tables {
    /// Version table, history, artifacts, failed: as `own_tables`.
    pub names: [String; 4],
}

impl Tables {
    fn quoted(&self, dialect: Dialect, i: usize) -> String {
        quote(dialect, &self.names[i])
    }

    fn split(&self, i: usize) -> (Option<&str>, &str) {
        match self.names[i].rsplit_once('.') {
            Some((schema, bare)) => (Some(schema), bare),
            None => (None, &self.names[i]),
        }
    }

    /// One query that reads the [`State`], in one round trip. Counts are
    /// cast to a 64-bit integer on PostgreSQL, whose `COUNT` and OIDs are
    /// of other types.
    pub fn state_query(&self, dialect: Dialect) -> Statement {
        let sql = Spelling(dialect);
        let h = self.quoted(dialect, 1);
        let int = |e: String| match dialect {
            Dialect::Postgresql => format!("CAST({e} AS bigint)"),
            _ => e,
        };
        let (count, max) = (sql.func("count"), sql.func("max"));
        let mut columns = vec![
            int(format!("(SELECT {count}(*) FROM {h})")),
            int(format!("COALESCE((SELECT {max}(id) FROM {h}), 0)")),
            format!("COALESCE((SELECT row_hash FROM {h} ORDER BY id DESC LIMIT 1), '')"),
            int(format!(
                "(SELECT {count}(*) FROM {})",
                self.quoted(dialect, 2)
            )),
            int(format!(
                "(SELECT {count}(*) FROM {})",
                self.quoted(dialect, 3)
            )),
        ];
        if dialect == Dialect::Postgresql {
            for i in 1..4 {
                columns.push(format!(
                    "CAST(CAST(pg_catalog.to_regclass('{}') AS pg_catalog.oid) AS bigint)",
                    self.quoted(dialect, i).replace('\'', "''")
                ));
            }
            columns.push(self.definition());
        }
        Statement::new(format!("SELECT {}", columns.join(", ")), Vec::new())
    }

    /// PostgreSQL: the MD5 of what the catalogue says of the three audit
    /// tables' columns (name, type, modifier, collation, NOT NULL, default),
    /// their constraints, their indexes, and their owner, privileges and
    /// persistence. A revision that alters one (a narrower `error` column,
    /// a unique index on the history, its own INSERT privilege revoked)
    /// would make the host's later writes fail and a failed state be lost;
    /// the same text read when the run began must come out the same.
    fn definition(&self) -> String {
        let sql = Spelling(Dialect::Postgresql);
        // The audit tables: the version table may be created after the
        // run began, in the first revision's transaction.
        let oids: Vec<String> = (1..4)
            .map(|i| {
                format!(
                    "pg_catalog.to_regclass('{}')",
                    self.quoted(Dialect::Postgresql, i).replace('\'', "''")
                )
            })
            .collect();
        format!(
            "(SELECT pg_catalog.md5(COALESCE(pg_catalog.string_agg(d, ';' ORDER BY d), '')) \
             FROM (SELECT pg_catalog.concat_ws(':', a.attrelid, a.attnum, a.attname, a.atttypid, \
             a.atttypmod, a.attcollation, a.attnotnull, a.attisdropped, \
             pg_catalog.pg_get_expr(f.adbin, f.adrelid)) AS d \
             FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef f \
             ON {} AND {} WHERE {} AND {} \
             UNION ALL SELECT pg_catalog.concat_ws(':', c.conrelid, c.conname, \
             pg_catalog.pg_get_constraintdef(c.oid)) FROM pg_catalog.pg_constraint c WHERE {} \
             UNION ALL SELECT pg_catalog.pg_get_indexdef(i.indexrelid) \
             FROM pg_catalog.pg_index i WHERE {} \
             UNION ALL SELECT pg_catalog.concat_ws(':', r.oid, r.relowner, r.relacl, \
             r.relpersistence) FROM pg_catalog.pg_class r WHERE {}) AS definitions)",
            sql.eq("f.adrelid", "a.attrelid"),
            sql.eq("f.adnum", "a.attnum"),
            sql.any("a.attrelid", &oids),
            sql.binary("a.attnum", ">", "0"),
            sql.any("c.conrelid", &oids),
            sql.any("i.indrelid", &oids),
            sql.any("r.oid", &oids),
        )
    }

    /// The expression that names the first of aludel's tables found other
    /// than `state` and `heads` say (the heads after the step), or is `''`;
    /// with the parameters it binds from `first` (PostgreSQL numbers them).
    /// None on SQLite (see the module doc).
    pub fn changed(
        &self,
        dialect: Dialect,
        state: &State,
        heads: &[String],
        first: usize,
    ) -> Option<(String, Vec<Value>)> {
        if dialect == Dialect::Sqlite {
            return None;
        }
        let sql = Spelling(dialect);
        let mut params = Vec::new();
        let mut next = first;
        let mut p = |v: Value, params: &mut Vec<Value>| {
            params.push(v);
            let ph = placeholder(dialect, next);
            next += 1;
            ph
        };
        let int = |n: i64| n.to_string();
        let count = sql.func("count");
        let [v, h, a, f] = [0, 1, 2, 3].map(|i| self.quoted(dialect, i));
        let mut heads_ok = sql.eq(
            &format!("(SELECT {count}(*) FROM {v})"),
            &heads.len().to_string(),
        );
        if !heads.is_empty() {
            let list: Vec<String> = heads
                .iter()
                .map(|id| p(Value::Text(id.clone()), &mut params))
                .collect();
            heads_ok.push_str(&format!(
                " AND {}",
                sql.eq(
                    &format!(
                        "(SELECT {count}(*) FROM {v} WHERE {})",
                        sql.any("version_num", &list)
                    ),
                    &heads.len().to_string()
                )
            ));
        }
        let head_hash = p(Value::Text(state.head_hash.clone()), &mut params);
        // The head by its key: O(log n) on every backend.
        let head_ok = format!(
            "{} AND {}",
            sql.eq(
                &format!("COALESCE((SELECT {}(id) FROM {h}), 0)", sql.func("max")),
                &int(state.head_id)
            ),
            sql.eq(
                &format!(
                    "COALESCE((SELECT row_hash FROM {h} WHERE {}), '')",
                    sql.eq("id", &int(state.head_id))
                ),
                &head_hash
            ),
        );
        let mut failed_ok = sql.eq(&format!("(SELECT {count}(*) FROM {f})"), &int(state.failed));
        let name = |i: usize| format!("'{}'", self.names[i].replace('\'', "''"));
        let mut history_ok = format!(
            "{} AND {head_ok}",
            sql.eq(
                &format!("(SELECT {count}(*) FROM {h})"),
                &int(state.history_rows)
            )
        );
        let mut artifacts_ok = sql.eq(
            &format!("(SELECT {count}(*) FROM {a})"),
            &int(state.artifacts),
        );
        if dialect == Dialect::Postgresql {
            // Rewritten in place: a row keeps its count and its key, but
            // any change gives it a new version, stamped with the writing
            // transaction's id (`xmin`). A row written in the revision's
            // window is the revision's unless the host wrote it there:
            // history rows after `settled_id`, and as many artifacts as it
            // stored, each still the content of its hash. It scans the xmin
            // of every row, and reads no stored content but the window's.
            let fresh = sql.le(
                "pg_catalog.age(xmin)",
                &match state.window_floor {
                    None => "0".to_string(),
                    // 0, 1 and 2 are not ordinary transaction ids.
                    Some(floor) => format!(
                        "pg_catalog.age(CAST('{}' AS pg_catalog.xid))",
                        (floor & 0xffff_ffff).max(3)
                    ),
                },
            );
            history_ok.push_str(&format!(
                " AND NOT EXISTS (SELECT 1 FROM {h} WHERE {} AND {fresh})",
                sql.le("id", &int(state.settled_id))
            ));
            artifacts_ok.push_str(&format!(
                " AND {} AND NOT EXISTS (SELECT 1 FROM {a} WHERE {fresh} AND {})",
                sql.eq(
                    &format!("(SELECT {count}(*) FROM {a} WHERE {fresh})"),
                    &int(state.artifacts - state.settled_artifacts)
                ),
                sql.ne(
                    "hash",
                    "pg_catalog.encode(pg_catalog.sha256(content), 'hex')"
                )
            ));
            failed_ok.push_str(&format!(
                " AND NOT EXISTS (SELECT 1 FROM {f} WHERE {fresh})"
            ));
        }
        let (shape_ok, each) = self.shape_ok(dialect, state);
        let which_shape: Vec<String> = each
            .iter()
            .enumerate()
            .map(|(i, ok)| format!("WHEN NOT ({ok}) THEN {}", name(i)))
            .collect();
        // Each table is whole on its own: what changed is a definition.
        let definitions = format!(
            "'{} (the columns, constraints, indexes or privileges of aludel''s tables)'",
            self.names[1].replace('\'', "''")
        );
        let sql = format!(
            "(CASE WHEN NOT ({shape_ok}) THEN (CASE {} ELSE {} END) \
             WHEN NOT ({heads_ok}) THEN {} WHEN NOT ({history_ok}) THEN {} \
             WHEN NOT ({artifacts_ok}) THEN {} WHEN NOT ({failed_ok}) THEN {} ELSE '' END)",
            which_shape.join(" "),
            definitions,
            name(0),
            name(1),
            name(2),
            name(3)
        );
        Some((sql, params))
    }

    /// The tables are aludel's own base tables, with nothing on them that
    /// could rewrite what the host writes: one condition for all four (what
    /// a revision that changed nothing costs), then one per table, asked
    /// only once the first failed, to name the table. Names are literals
    /// (quoted as SQL text), so that the expression's only parameters are
    /// the ones [`changed`](Self::changed) binds, in the order they appear.
    fn shape_ok(&self, dialect: Dialect, state: &State) -> (String, [String; 4]) {
        let sql = Spelling(dialect);
        let literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let all = [0usize, 1, 2, 3];
        let count = sql.func("count");
        match dialect {
            Dialect::Postgresql => {
                let regclass = |i: usize| {
                    format!(
                        "pg_catalog.to_regclass({})",
                        literal(&self.quoted(dialect, i))
                    )
                };
                let base = |list: &[usize]| {
                    let oids: Vec<String> = list.iter().map(|&i| regclass(i)).collect();
                    // aludel's statements name the schema, so a table of
                    // the same name in `pg_temp` intercepts none of them;
                    // trying is still a revision's attempt to hide one.
                    let bare: Vec<String> =
                        list.iter().map(|&i| literal(self.split(i).1)).collect();
                    let mut ok = format!(
                        "{} AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class \
                         WHERE {} AND {})",
                        sql.eq(
                            &format!(
                                "(SELECT {count}(*) FROM pg_catalog.pg_class c WHERE {} \
                                 AND {} AND NOT c.relrowsecurity AND NOT c.relhastriggers \
                                 AND NOT c.relhasrules)",
                                sql.any("c.oid", &oids),
                                sql.eq("c.relkind", "'r'"),
                            ),
                            &list.len().to_string()
                        ),
                        sql.eq("relnamespace", "pg_catalog.pg_my_temp_schema()"),
                        sql.any("relname", &bare)
                    );
                    // Columns, constraints and indexes as when the run began.
                    if list.len() == all.len() && !state.definition.is_empty() {
                        ok.push_str(&format!(
                            " AND {}",
                            sql.eq(&self.definition(), &literal(&state.definition))
                        ));
                    }
                    // The audit tables keep the OIDs they had when the run
                    // began: a replaced table has another.
                    for &i in list.iter().filter(|&&i| i > 0) {
                        if let Some(oid) = state.oids.get(i - 1) {
                            ok.push_str(&format!(
                                " AND {}",
                                sql.eq(
                                    &format!(
                                        "COALESCE(CAST(CAST({} AS pg_catalog.oid) AS bigint), 0)",
                                        regclass(i)
                                    ),
                                    &oid.to_string()
                                )
                            ));
                        }
                    }
                    ok
                };
                (base(&all), all.map(|i| base(&[i])))
            }
            // Never asked on SQLite (see `changed`).
            Dialect::Sqlite => ("1 = 1".into(), all.map(|_| "1 = 1".to_string())),
            Dialect::Mysql => {
                let schema = match self.split(0).0 {
                    Some(s) => literal(s),
                    None => "DATABASE()".to_string(),
                };
                let base = |list: &[usize]| {
                    let names: Vec<String> =
                        list.iter().map(|&i| literal(self.split(i).1)).collect();
                    let names = names.join(", ");
                    format!(
                        "(SELECT COUNT(*) FROM information_schema.tables \
                         WHERE table_schema = {schema} AND table_name IN ({names}) \
                         AND table_type = 'BASE TABLE') = {} \
                         AND NOT EXISTS (SELECT 1 FROM information_schema.triggers \
                         WHERE event_object_schema = {schema} AND event_object_table IN ({names}))",
                        list.len()
                    )
                };
                (base(&all), all.map(|i| base(&[i])))
            }
        }
    }
}

/// The check's comparisons and functions in a dialect's spelling: on
/// PostgreSQL every operator and function is `pg_catalog`'s, named so
/// (see [`crate::db::dialect::op`]); it runs after the revision, on
/// whatever the revision created.
#[derive(Clone, Copy)]
struct Spelling(Dialect);

impl Spelling {
    fn binary(self, left: &str, operator: &str, right: &str) -> String {
        format!("{left} {} {right}", op(self.0, operator))
    }

    fn eq(self, left: &str, right: &str) -> String {
        self.binary(left, "=", right)
    }

    fn ne(self, left: &str, right: &str) -> String {
        self.binary(left, "<>", right)
    }

    fn le(self, left: &str, right: &str) -> String {
        self.binary(left, "<=", right)
    }

    /// `left` equals one of `list` (not empty): `IN` would compare with an
    /// unqualified `=`.
    fn any(self, left: &str, list: &[String]) -> String {
        let each: Vec<String> = list.iter().map(|item| self.eq(left, item)).collect();
        format!("({})", each.join(" OR "))
    }

    fn func(self, name: &str) -> String {
        func(self.0, name)
    }
}

/// `value` (a placeholder) guarded by the expression `changed`: the value
/// when it is `''`, else an error of the database (see the module doc).
pub fn guarded(dialect: Dialect, changed: &str, value: &str) -> String {
    match dialect {
        Dialect::Postgresql => format!(
            "CASE WHEN {changed} OPERATOR(pg_catalog.=) '' THEN CAST({value} AS pg_catalog.text) \
             ELSE CAST(CAST('{MARK}' OPERATOR(pg_catalog.||) {changed} AS bigint) \
             AS pg_catalog.text) END"
        ),
        Dialect::Mysql => {
            format!("CASE WHEN {changed} = '' THEN {value} ELSE (SELECT 1 UNION ALL SELECT 2) END")
        }
        // No check is made on SQLite (see the module doc): `changed` is
        // never built there, and the value goes as it is.
        Dialect::Sqlite => value.to_string(),
    }
}

/// The table a failed guard names, from PostgreSQL's error text.
pub fn named_in(message: &str) -> Option<String> {
    let start = message.find(MARK)? + MARK.len();
    let rest = &message[start..];
    Some(rest.split('"').next().unwrap_or(rest).to_string())
}
