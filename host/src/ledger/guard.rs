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
//! - SQLite: a changed table makes `row_hash` NULL in a NOT NULL column;
//!   the revision cannot drop the constraint, since the authorizer refuses
//!   it any DDL on aludel's tables (`db::sqlite_guard`). There the
//!   authorizer is the first fence, and the check keeps to what needs no
//!   scan that grows with the project: the version rows, the history's
//!   head by its key, the failed state.
//!
//! The statement fails, the revision fails and is rolled back. What the
//! check does not see: the content of a stored artifact (re-hashed whenever
//! it is loaded instead, see `migrate::stored`), and an older history row
//! rewritten in place (the chain shows it, checked before every run).

use crate::db::Dialect;
use crate::db::dialect::{placeholder, quote};
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
        let h = self.quoted(dialect, 1);
        let int = |e: String| match dialect {
            Dialect::Postgresql => format!("CAST({e} AS bigint)"),
            _ => e,
        };
        let mut columns = vec![
            int(format!("(SELECT COUNT(*) FROM {h})")),
            int(format!("COALESCE((SELECT MAX(id) FROM {h}), 0)")),
            format!("COALESCE((SELECT row_hash FROM {h} ORDER BY id DESC LIMIT 1), '')"),
            int(format!(
                "(SELECT COUNT(*) FROM {})",
                self.quoted(dialect, 2)
            )),
            int(format!(
                "(SELECT COUNT(*) FROM {})",
                self.quoted(dialect, 3)
            )),
        ];
        if dialect == Dialect::Postgresql {
            for i in 1..4 {
                columns.push(format!(
                    "CAST(CAST(pg_catalog.to_regclass('{}') AS oid) AS bigint)",
                    self.quoted(dialect, i).replace('\'', "''")
                ));
            }
        }
        Statement::new(format!("SELECT {}", columns.join(", ")), Vec::new())
    }

    /// The expression that names the first of aludel's tables found other
    /// than `state` and `heads` say (the heads after the step), or is `''`;
    /// with the parameters it binds from `first` (PostgreSQL numbers them).
    pub fn changed(
        &self,
        dialect: Dialect,
        state: &State,
        heads: &[String],
        first: usize,
    ) -> (String, Vec<Value>) {
        let mut params = Vec::new();
        let mut next = first;
        let mut p = |v: Value, params: &mut Vec<Value>| {
            params.push(v);
            let ph = placeholder(dialect, next);
            next += 1;
            ph
        };
        let int = |n: i64| n.to_string();
        let [v, h, a, f] = [0, 1, 2, 3].map(|i| self.quoted(dialect, i));
        let mut heads_ok = format!("(SELECT COUNT(*) FROM {v}) = {}", heads.len());
        if !heads.is_empty() {
            let list: Vec<String> = heads
                .iter()
                .map(|id| p(Value::Text(id.clone()), &mut params))
                .collect();
            heads_ok.push_str(&format!(
                " AND (SELECT COUNT(*) FROM {v} WHERE version_num IN ({})) = {}",
                list.join(", "),
                heads.len()
            ));
        }
        let head_hash = p(Value::Text(state.head_hash.clone()), &mut params);
        // The head by its key: O(log n) on every backend.
        let head_ok = format!(
            "COALESCE((SELECT MAX(id) FROM {h}), 0) = {} \
             AND COALESCE((SELECT row_hash FROM {h} WHERE id = {}), '') = {head_hash}",
            int(state.head_id),
            int(state.head_id),
        );
        let failed_ok = format!("(SELECT COUNT(*) FROM {f}) = {}", int(state.failed));
        if dialect == Dialect::Sqlite {
            // SQLite's authorizer refuses every write and DDL on aludel's
            // tables, statement by statement (`db::sqlite_guard`): the check
            // is the second fence, and keeps to what costs no scan growing
            // with the project (a COUNT of the history and the store, and
            // sqlite_master, grow with every revision). The failed state
            // is empty while revisions run.
            let name = |i: usize| format!("'{}'", self.names[i].replace('\'', "''"));
            let sql = format!(
                "(CASE WHEN NOT ({heads_ok}) THEN {} WHEN NOT ({head_ok}) THEN {} \
                 WHEN NOT ({failed_ok}) THEN {} ELSE '' END)",
                name(0),
                name(1),
                name(3)
            );
            return (sql, params);
        }
        let history_ok = format!(
            "(SELECT COUNT(*) FROM {h}) = {} AND {head_ok}",
            int(state.history_rows)
        );
        let artifacts_ok = format!("(SELECT COUNT(*) FROM {a}) = {}", int(state.artifacts));
        let (shape_ok, each) = self.shape_ok(dialect, state);
        let name = |i: usize| format!("'{}'", self.names[i].replace('\'', "''"));
        let which_shape: Vec<String> = each
            .iter()
            .enumerate()
            .map(|(i, ok)| format!("WHEN NOT ({ok}) THEN {}", name(i)))
            .collect();
        let sql = format!(
            "(CASE WHEN NOT ({shape_ok}) THEN (CASE {} ELSE {} END) \
             WHEN NOT ({heads_ok}) THEN {} WHEN NOT ({history_ok}) THEN {} \
             WHEN NOT ({artifacts_ok}) THEN {} WHEN NOT ({failed_ok}) THEN {} ELSE '' END)",
            which_shape.join(" "),
            name(0),
            name(0),
            name(1),
            name(2),
            name(3)
        );
        (sql, params)
    }

    /// The tables are aludel's own base tables, with nothing on them that
    /// could rewrite what the host writes: one condition for all four (what
    /// a revision that changed nothing costs), then one per table, asked
    /// only once the first failed, to name the table. Names are literals
    /// (quoted as SQL text), so that the expression's only parameters are
    /// the ones [`changed`](Self::changed) binds, in the order they appear.
    fn shape_ok(&self, dialect: Dialect, state: &State) -> (String, [String; 4]) {
        let literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let all = [0usize, 1, 2, 3];
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
                        "(SELECT COUNT(*) FROM pg_catalog.pg_class c WHERE c.oid IN ({}) \
                         AND c.relkind = 'r' AND NOT c.relrowsecurity AND NOT c.relhastriggers \
                         AND NOT c.relhasrules) = {} \
                         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class \
                         WHERE relnamespace = pg_catalog.pg_my_temp_schema() AND relname IN ({}))",
                        oids.join(", "),
                        list.len(),
                        bare.join(", ")
                    );
                    // The audit tables keep the OIDs they had when the run
                    // began: a replaced table has another.
                    for &i in list.iter().filter(|&&i| i > 0) {
                        if let Some(oid) = state.oids.get(i - 1) {
                            ok.push_str(&format!(
                                " AND COALESCE(CAST(CAST({} AS oid) AS bigint), 0) = {oid}",
                                regclass(i)
                            ));
                        }
                    }
                    ok
                };
                (base(&all), all.map(|i| base(&[i])))
            }
            // Not asked on SQLite: its authorizer refuses what this finds
            // (see `changed`).
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

/// `value` (a placeholder) guarded by the expression `changed`: the value
/// when it is `''`, else an error of the database (see the module doc).
pub fn guarded(dialect: Dialect, changed: &str, value: &str) -> String {
    match dialect {
        Dialect::Postgresql => format!(
            "CASE WHEN {changed} = '' THEN CAST({value} AS text) \
             ELSE CAST(CAST('{MARK}' || {changed} AS bigint) AS text) END"
        ),
        Dialect::Mysql => {
            format!("CASE WHEN {changed} = '' THEN {value} ELSE (SELECT 1 UNION ALL SELECT 2) END")
        }
        Dialect::Sqlite => format!("CASE WHEN {changed} = '' THEN {value} END"),
    }
}

/// The table a failed guard names, from PostgreSQL's error text.
pub fn named_in(message: &str) -> Option<String> {
    let start = message.find(MARK)? + MARK.len();
    let rest = &message[start..];
    Some(rest.split('"').next().unwrap_or(rest).to_string())
}
