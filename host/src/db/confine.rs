//! The first line of the database side of the sandbox on PostgreSQL and
//! MySQL/MariaDB: a lexical judge of a revision's SQL, run by the broker on
//! the text of every import that carries SQL, before it is sent. Pure: no
//! connection, no round trip.
//!
//! It lexes each dialect as the server does (strings with `''`, PostgreSQL
//! `E''` escapes and `$tag$` dollar quoting, MySQL backslash escapes;
//! `"quoted"` identifiers, MySQL backticks, SQLite brackets; `--` and
//! `/* */` comments, nested on PostgreSQL, MySQL `#` comments, and MySQL's
//! executable comments `/*! ... */` and `/*M! ... */`, whose content the
//! server RUNS, so it is read as code), splits the text into statements
//! and refuses:
//!
//! - every statement that ends, restarts or leaves the transaction aludel
//!   opened (`BEGIN`, `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK`,
//!   `ABORT`, `SAVEPOINT`, `RELEASE`, `PREPARE TRANSACTION`, `XA`, MySQL's
//!   `LOCK`/`UNLOCK TABLES`, which commit implicitly), and every `SET` of
//!   what governs the host's transactions or how this text is read
//!   (`autocommit`, `completion_type`, `SET TRANSACTION`, the session's
//!   transaction characteristics, `standard_conforming_strings`);
//! - every statement that names one of aludel's own tables as an
//!   identifier (any case, quoted or not, qualified or not), and on MySQL
//!   `DROP DATABASE`/`DROP SCHEMA`, which would take them along.
//!
//! A string whose meaning depends on a setting the revision may have
//! changed through a function the lexer cannot see (PostgreSQL's
//! `standard_conforming_strings`, MySQL's `NO_BACKSLASH_ESCAPES`) is read
//! both ways, and a transaction statement found in either reading is
//! refused.
//!
//! What it cannot see, it does not pretend to judge: SQL built at run time
//! (a PostgreSQL `DO` block or function, MySQL `PREPARE ... FROM`,
//! `EXECUTE`, `CALL`). On PostgreSQL none of these can end the transaction:
//! a procedure or `DO` block called inside a transaction block cannot
//! COMMIT or ROLLBACK ("invalid transaction termination"), and PL/pgSQL's
//! `EXECUTE` of a transaction command is refused by the server. On MySQL
//! they can, so [`Judgement::may_commit_implicitly`] marks them, with DDL
//! and every other statement MySQL commits around: the broker records the
//! failed state before the first one runs (docs/runtime.md), and
//! [`Judgement::unreadable`] has aludel's tables checked whole after the
//! revision; with [`Confinement::untrusted`] they are refused instead, as
//! are MySQL events, which run later outside any revision. Behind this
//! judge the backends check that the transaction they opened is still the
//! one open before anything is committed (the second line, which the lexer
//! cannot fool).
//!
//! On SQLite the authorizer (`sqlite_guard`) judges transaction statements,
//! because it sees what SQLite actually prepares; this module only refuses
//! aludel's own tables there.

use std::fmt;

use super::Dialect;

/// Why a statement was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// It ends, restarts or leaves the host's transaction.
    Transaction,
    /// It changes how the host's transactions behave or how SQL is read.
    Setting,
    /// It names one of aludel's own tables.
    OwnTable(String),
    /// MySQL: `DROP DATABASE` or `DROP SCHEMA`, which would take aludel's
    /// tables with it and, DDL committing there, could not be rolled back.
    DropDatabase,
    /// MySQL with `--untrusted`: it runs SQL the lexer cannot read
    /// (`CALL`, `EXECUTE`, `PREPARE`), or leaves code that runs outside
    /// the revision (`CREATE EVENT`).
    Unreadable,
}

/// A statement the judge refused: what it is (its leading words, or the
/// table it names) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub what: String,
    pub why: Why,
}

/// The same words as SQLite's guard, so a revision reads one message on
/// every backend.
pub const TRANSACTION: &str = "a revision cannot end or restart the transaction aludel runs it in";

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.why {
            Why::Transaction => write!(
                f,
                "{} was refused: {TRANSACTION} (BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, \
                 ABORT, SAVEPOINT, RELEASE, PREPARE TRANSACTION, XA and LOCK/UNLOCK TABLES are \
                 refused); remove it: aludel commits the revision when it returns ok",
                self.what
            ),
            Why::Setting => write!(
                f,
                "{} was refused: {TRANSACTION}, nor change how aludel's transactions behave or \
                 how its SQL is read (autocommit, completion_type, transaction characteristics, \
                 standard_conforming_strings); remove it",
                self.what
            ),
            Why::OwnTable(table) => write!(
                f,
                "a statement naming {table} was refused: a revision cannot touch aludel's own \
                 tables (the version table, its history, artifacts and failed state); \
                 use `aludel stamp`, `aludel resolve` or `aludel log` instead"
            ),
            Why::DropDatabase => write!(
                f,
                "{} was refused: on MySQL a database holds aludel's own tables (the version \
                 table, its history, artifacts and failed state), and dropping one commits at \
                 once, so a revision may not drop a database; drop it by hand if you mean to",
                self.what
            ),
            Why::Unreadable => write!(
                f,
                "{} was refused: with --untrusted (or `[runtime] untrusted = true`) a revision \
                 on MySQL may not run SQL that aludel cannot read before it runs (CALL, \
                 EXECUTE, PREPARE), which could end its transaction or reach aludel's tables, \
                 nor create or alter an EVENT, which would run later outside any revision; \
                 write the statements out, or run the revision without --untrusted",
                self.what
            ),
        }
    }
}

/// What the judge found in text it let through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Judgement {
    /// A statement of it may commit the open transaction implicitly (MySQL
    /// DDL and its kin), or runs SQL the lexer cannot see that may commit
    /// (`CALL`, `EXECUTE`).
    pub may_commit_implicitly: bool,
    /// MySQL: a statement of it runs SQL the lexer cannot read (`CALL`,
    /// `EXECUTE`, `PREPARE`), or leaves an event whose body the server runs
    /// later: the host checks aludel's tables whole before the revision's
    /// records are written (`ledger::deep`).
    pub unreadable: bool,
}

/// The judge of one revision run: a dialect and aludel's tables.
#[derive(Debug, Clone)]
pub struct Confinement {
    dialect: Dialect,
    /// The unqualified names of aludel's tables, lower-cased.
    own: Vec<String>,
    /// `--untrusted`: on MySQL, what the lexer cannot read is refused.
    untrusted: bool,
}

impl Confinement {
    /// A judge for `dialect` that keeps revisions away from `own_tables`
    /// (`crate::ledger::own_tables`; a qualified name is matched by its
    /// last part, so an unqualified mention that may resolve to it is
    /// refused too).
    pub fn new(dialect: Dialect, own_tables: &[String]) -> Self {
        let own = own_tables
            .iter()
            .map(|t| t.rsplit('.').next().unwrap_or(t).to_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        Confinement {
            dialect,
            own,
            untrusted: false,
        }
    }

    /// With `untrusted`, a MySQL revision's SQL that the lexer cannot read
    /// is refused rather than run and checked after (see [`Why::Unreadable`]).
    pub fn untrusted(mut self, untrusted: bool) -> Self {
        self.untrusted = untrusted;
        self
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Judges the text of one call (a statement, or a whole script).
    pub fn judge(&self, sql: &str) -> Result<Judgement, Refused> {
        let mut judgement = Judgement::default();
        let primary = lex(self.dialect, sql, false);
        for statement in split(&primary) {
            if self.dialect != Dialect::Sqlite {
                refuse_transaction_control(self.dialect, statement)?;
                if self.dialect == Dialect::Mysql && mysql_may_commit(statement) {
                    judgement.may_commit_implicitly = true;
                }
                // SQL run unread now, or an event's body run unread later.
                if self.dialect == Dialect::Mysql
                    && let Some(what) =
                        mysql_unreadable(statement).or_else(|| mysql_event(statement))
                {
                    if self.untrusted {
                        return Err(Refused {
                            what,
                            why: Why::Unreadable,
                        });
                    }
                    judgement.unreadable = true;
                }
            }
            self.refuse_own_tables(statement)?;
        }
        if self.dialect != Dialect::Sqlite && sql.contains('\\') {
            // The other reading of backslashes in strings (see the module
            // doc): only what would end the transaction is judged in it.
            let other = lex(self.dialect, sql, true);
            for statement in split(&other) {
                refuse_transaction_control(self.dialect, statement)?;
            }
        }
        Ok(judgement)
    }

    fn refuse_own_tables(&self, statement: &[Token<'_>]) -> Result<(), Refused> {
        if self.own.is_empty() {
            return Ok(());
        }
        for token in statement {
            let name = match token {
                Token::Word(w) => w,
                Token::Quoted(q) => q,
                _ => continue,
            };
            if let Some(table) = self.own.iter().find(|t| t.eq_ignore_ascii_case(name)) {
                return Err(Refused {
                    what: table.clone(),
                    why: Why::OwnTable(table.clone()),
                });
            }
        }
        Ok(())
    }
}

/// One token of SQL text. Strings and comments leave no text behind: no
/// decision is made on what they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    /// A bare word: a keyword or an unquoted identifier.
    Word(&'a str),
    /// A quoted identifier, without its quotes (doubled quotes kept).
    Quoted(&'a str),
    /// A string literal or a dollar-quoted body.
    Str,
    /// `;`, which ends a statement.
    Semicolon,
    /// Any other character (`=`, `(`, `.`, `@`, ...).
    Punct(char),
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_word_char(c: u8) -> bool {
    is_word_start(c) || c.is_ascii_digit() || c == b'$'
}

/// The tokens of `sql` as `dialect` reads it. `flip_backslash` reads
/// backslashes in plain strings the other way: as escapes on PostgreSQL
/// (`standard_conforming_strings = off`), as plain characters on MySQL
/// (`NO_BACKSLASH_ESCAPES`). Unterminated strings and comments run to the
/// end, as the server would read them until it fails.
fn lex(dialect: Dialect, sql: &str, flip_backslash: bool) -> Vec<Token<'_>> {
    let b = sql.as_bytes();
    let n = b.len();
    let pg = dialect == Dialect::Postgresql;
    let my = dialect == Dialect::Mysql;
    // Backslashes escape in plain strings: MySQL by default, PostgreSQL only
    // with standard_conforming_strings off.
    let backslash = my != flip_backslash;
    let mut out = Vec::new();
    let mut i = 0;
    // MySQL executable comments open, whose `*/` ends them.
    let mut executable = 0usize;
    while i < n {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => i += 1,
            b';' => {
                out.push(Token::Semicolon);
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                // MySQL wants whitespace (or the end) after `--`.
                if my && !b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) {
                    out.push(Token::Punct('-'));
                    i += 1;
                    continue;
                }
                i = skip_line(b, i);
            }
            b'#' if my => i = skip_line(b, i),
            b'*' if executable > 0 && b.get(i + 1) == Some(&b'/') => {
                executable -= 1;
                i += 2;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                if my && matches!(b.get(i + 2), Some(b'!')) {
                    executable += 1;
                    i = skip_version(b, i + 3);
                } else if my && b.get(i + 2) == Some(&b'M') && b.get(i + 3) == Some(&b'!') {
                    executable += 1;
                    i = skip_version(b, i + 4);
                } else {
                    i = skip_block_comment(b, i, pg);
                }
            }
            b'\'' => {
                i = skip_string(b, i + 1, backslash);
                out.push(Token::Str);
            }
            b'"' if my => {
                // A string in MySQL's default sql_mode (an identifier with
                // ANSI_QUOTES): read as a string, never as a name, so that
                // a name hidden in it is not taken for code.
                i = skip_string_quote(b, i + 1, b'"', true);
                out.push(Token::Str);
            }
            b'"' | b'`' | b'[' => {
                let close = match c {
                    b'[' => b']',
                    other => other,
                };
                if (c == b'`' && !my && dialect != Dialect::Sqlite)
                    || (c == b'[' && dialect != Dialect::Sqlite)
                {
                    out.push(Token::Punct(c as char));
                    i += 1;
                    continue;
                }
                let start = i + 1;
                let end = skip_quoted_identifier(b, start, close);
                out.push(Token::Quoted(&sql[start..end.min(n)]));
                i = (end + 1).min(n);
            }
            b'$' if pg => match dollar_tag(b, i) {
                Some(tag_end) => {
                    let tag = &b[i..tag_end];
                    i = find(b, tag_end, tag).map_or(n, |at| at + tag.len());
                    out.push(Token::Str);
                }
                None => {
                    // `$1`, or `$` inside nothing we know.
                    i += 1;
                    while i < n && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    out.push(Token::Punct('$'));
                }
            },
            c if is_word_start(c) => {
                let start = i;
                while i < n && is_word_char(b[i]) && !(b[i] == b'$' && pg && i == start) {
                    i += 1;
                }
                let word = &sql[start..i];
                if i < n && b[i] == b'\'' {
                    // A prefixed string: PostgreSQL's E'' takes backslash
                    // escapes; B'', X'', N'', U&'' and MySQL's _charset''
                    // are read as plain strings of their dialect.
                    let escapes = if pg && word.eq_ignore_ascii_case("e") {
                        true
                    } else {
                        backslash
                    };
                    i = skip_string(b, i + 1, escapes);
                    out.push(Token::Str);
                } else {
                    out.push(Token::Word(word));
                }
            }
            c if c.is_ascii_digit() => {
                while i < n && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
                out.push(Token::Punct('0'));
            }
            other => {
                out.push(Token::Punct(other as char));
                i += 1;
            }
        }
    }
    out
}

fn skip_line(b: &[u8], i: usize) -> usize {
    match b[i..].iter().position(|&c| c == b'\n') {
        Some(at) => i + at + 1,
        None => b.len(),
    }
}

/// Past the optional version digits of an executable comment.
fn skip_version(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

fn skip_block_comment(b: &[u8], start: usize, nested: bool) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < b.len() {
        if b[i] == b'/' && b[i + 1] == b'*' {
            depth += 1;
            i += 2;
            if !nested && depth > 1 {
                depth = 1;
            }
        } else if b[i] == b'*' && b[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// Past the closing quote of a `'...'` string whose opening quote is
/// before `i`.
fn skip_string(b: &[u8], i: usize, backslash: bool) -> usize {
    skip_string_quote(b, i, b'\'', backslash)
}

fn skip_string_quote(b: &[u8], mut i: usize, quote: u8, backslash: bool) -> usize {
    while i < b.len() {
        let c = b[i];
        if backslash && c == b'\\' {
            i += 2;
        } else if c == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// The index of the closing quote of an identifier opened before `i`
/// (doubled quotes are part of it), or the end.
fn skip_quoted_identifier(b: &[u8], mut i: usize, close: u8) -> usize {
    while i < b.len() {
        if b[i] == close {
            if close != b']' && b.get(i + 1) == Some(&close) {
                i += 2;
                continue;
            }
            return i;
        }
        i += 1;
    }
    b.len()
}

/// The end of a dollar-quote tag (`$$` or `$tag$`) starting at `i`.
fn dollar_tag(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if j < b.len() && b[j] == b'$' {
        return Some(j + 1);
    }
    if j >= b.len() || !is_word_start(b[j]) {
        return None;
    }
    while j < b.len() && (is_word_start(b[j]) || b[j].is_ascii_digit()) {
        j += 1;
    }
    (j < b.len() && b[j] == b'$').then_some(j + 1)
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The statements of a token stream, split at `;`, without empty ones.
///
/// A MySQL `CREATE PROCEDURE`, `FUNCTION`, `TRIGGER` or `EVENT` with a
/// `BEGIN ... END` body is one statement, as the server reads it: its
/// inner `;` are not split on (the body is judged with it).
fn split<'t, 'a>(tokens: &'t [Token<'a>]) -> Vec<&'t [Token<'a>]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut depth = 0usize;
    let mut routine = false;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Word(w) if i == start && w.eq_ignore_ascii_case("create") => {
                routine = tokens[i..]
                    .iter()
                    .take_while(|t| **t != Token::Semicolon)
                    .any(|t| {
                        matches!(t, Token::Word(w) if ["procedure", "function", "trigger", "event"]
                            .iter().any(|k| w.eq_ignore_ascii_case(k)))
                    });
            }
            Token::Word(w) if routine => {
                let next = tokens.get(i + 1);
                let next_is =
                    |k: &str| matches!(next, Some(Token::Word(n)) if n.eq_ignore_ascii_case(k));
                let after_end = matches!(tokens.get(i.wrapping_sub(1)),
                    Some(Token::Word(p)) if p.eq_ignore_ascii_case("end"));
                // A block (`BEGIN`, not `BEGIN WORK`) or a CASE (not the
                // `CASE` of `END CASE`) opens; `END` closes either.
                let opens = (w.eq_ignore_ascii_case("begin") && !next_is("work"))
                    || (w.eq_ignore_ascii_case("case") && !after_end);
                if opens {
                    depth += 1;
                } else if w.eq_ignore_ascii_case("end")
                    && !["if", "loop", "while", "repeat"].iter().any(|k| next_is(k))
                {
                    depth = depth.saturating_sub(1);
                }
            }
            Token::Semicolon if depth == 0 => {
                if i > start {
                    out.push(&tokens[start..i]);
                }
                start = i + 1;
                routine = false;
            }
            _ => {}
        }
    }
    if start < tokens.len() {
        out.push(&tokens[start..]);
    }
    out
}

fn word_at<'a>(statement: &[Token<'a>], i: usize) -> Option<&'a str> {
    match statement.get(i) {
        Some(Token::Word(w)) => Some(w),
        _ => None,
    }
}

fn is(word: Option<&str>, keyword: &str) -> bool {
    word.is_some_and(|w| w.eq_ignore_ascii_case(keyword))
}

/// The first word of a statement, past opening parentheses and a MySQL
/// label (`name:`).
fn lead(statement: &[Token<'_>]) -> usize {
    let mut i = 0;
    while matches!(statement.get(i), Some(Token::Punct('('))) {
        i += 1;
    }
    i
}

/// Refuses a statement that ends, restarts or leaves the transaction, or
/// sets what governs the host's transactions.
fn refuse_transaction_control(dialect: Dialect, statement: &[Token<'_>]) -> Result<(), Refused> {
    let i = lead(statement);
    let first = word_at(statement, i);
    let second = word_at(statement, i + 1);
    let refuse = |what: String, why: Why| Err(Refused { what, why });
    let upper = |w: &str| w.to_ascii_uppercase();
    let Some(first_word) = first else {
        return Ok(());
    };
    let pg = dialect == Dialect::Postgresql;
    let my = dialect == Dialect::Mysql;
    match upper(first_word).as_str() {
        "BEGIN" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" => {
            return refuse(upper(first_word), Why::Transaction);
        }
        "END" | "ABORT" if pg => return refuse(upper(first_word), Why::Transaction),
        "START" if is(second, "transaction") => {
            return refuse("START TRANSACTION".into(), Why::Transaction);
        }
        "PREPARE" if pg && is(second, "transaction") => {
            return refuse("PREPARE TRANSACTION".into(), Why::Transaction);
        }
        "XA" if my => return refuse("XA".into(), Why::Transaction),
        "LOCK" | "UNLOCK" if my => {
            return refuse(format!("{} TABLES", upper(first_word)), Why::Transaction);
        }
        "SET" | "RESET" => return refuse_settings(dialect, statement, i),
        "CREATE" if my => return refuse_in_routine(statement),
        "DROP" if my && (is(second, "database") || is(second, "schema")) => {
            return refuse(
                format!("DROP {}", upper(second.unwrap_or_default())),
                Why::DropDatabase,
            );
        }
        _ => {}
    }
    Ok(())
}

/// Names of settings a revision may not change: they govern the host's
/// transactions (now or in the next revision), or how its SQL is read.
const GUARDED_SETTINGS: [&str; 12] = [
    "autocommit",
    "completion_type",
    "transaction",
    "characteristics",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "default_transaction_deferrable",
    "transaction_isolation",
    "transaction_read_only",
    "tx_isolation",
    "tx_read_only",
    "standard_conforming_strings",
];

fn refuse_settings(dialect: Dialect, statement: &[Token<'_>], i: usize) -> Result<(), Refused> {
    // Any word of the statement: `SET autocommit = 1`, `SET @@session.
    // autocommit := 1`, `SET x = 1, autocommit = 1`, `SET SESSION
    // CHARACTERISTICS AS TRANSACTION ...`, `SET STATEMENT autocommit = 1
    // FOR ...`. A value spelt like one of these names is refused too: rare,
    // and safe.
    let _ = dialect;
    for token in &statement[i..] {
        let name = match token {
            Token::Word(w) | Token::Quoted(w) => w,
            _ => continue,
        };
        if GUARDED_SETTINGS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(name))
        {
            let verb = word_at(statement, i).unwrap_or("SET").to_ascii_uppercase();
            return Err(Refused {
                what: format!("{verb} {}", name.to_ascii_lowercase()),
                why: Why::Setting,
            });
        }
    }
    Ok(())
}

/// A MySQL routine whose body ends the transaction: refused when it is
/// created, since a `CALL` of it later would commit.
fn refuse_in_routine(statement: &[Token<'_>]) -> Result<(), Refused> {
    let opens = ["begin", "then", "else", "do", "loop", "repeat"];
    for k in 1..statement.len() {
        let starts = match &statement[k - 1] {
            Token::Semicolon => true,
            Token::Word(w) => opens.iter().any(|o| w.eq_ignore_ascii_case(o)),
            _ => false,
        };
        // A nested `BEGIN ... END` is a block, not a transaction.
        if !starts || is(word_at(statement, k), "begin") {
            continue;
        }
        let inner = &statement[k..];
        let end = inner
            .iter()
            .position(|t| *t == Token::Semicolon)
            .unwrap_or(inner.len());
        if let Err(mut refused) = refuse_transaction_control(Dialect::Mysql, &inner[..end]) {
            refused.what = format!("{} inside a routine's body", refused.what);
            return Err(refused);
        }
    }
    Ok(())
}

/// A MySQL statement that runs SQL the lexer cannot read: `CALL` (a
/// routine's body, which may be built at run time), `EXECUTE` (also
/// MariaDB's `EXECUTE IMMEDIATE`) and `PREPARE`. Its leading words.
fn mysql_unreadable(statement: &[Token<'_>]) -> Option<String> {
    let i = lead(statement);
    let first = word_at(statement, i)?;
    ["CALL", "EXECUTE", "PREPARE"]
        .iter()
        .any(|k| first.eq_ignore_ascii_case(k))
        .then(|| first.to_ascii_uppercase())
}

/// `CREATE EVENT` or `ALTER EVENT` (after any `DEFINER = ...`): code the
/// server runs later, outside any revision and its time limit.
fn mysql_event(statement: &[Token<'_>]) -> Option<String> {
    let i = lead(statement);
    let first = word_at(statement, i)?;
    if !(first.eq_ignore_ascii_case("create") || first.eq_ignore_ascii_case("alter")) {
        return None;
    }
    // The first word that says what kind of object follows, past
    // `OR REPLACE` and `DEFINER = user@host` (whose words name a user).
    const KINDS: [&str; 16] = [
        "event",
        "procedure",
        "function",
        "trigger",
        "view",
        "table",
        "database",
        "schema",
        "index",
        "unique",
        "user",
        "role",
        "server",
        "sequence",
        "algorithm",
        "temporary",
    ];
    let mut definer = false;
    for token in &statement[i + 1..] {
        let Token::Word(w) = token else {
            continue;
        };
        let w = w.to_ascii_lowercase();
        if KINDS.contains(&w.as_str()) {
            return (w == "event").then(|| format!("{} EVENT", first.to_ascii_uppercase()));
        }
        match w.as_str() {
            "or" | "replace" => {}
            "definer" => definer = true,
            _ if definer => {}
            _ => return None,
        }
    }
    None
}

/// Whether any statement of MySQL text `sql` may commit the open
/// transaction implicitly: the one rule, used by the broker (the failed
/// state first) and by the MySQL backend (a new transaction after).
pub fn mysql_may_commit_implicitly(sql: &str) -> bool {
    let tokens = lex(Dialect::Mysql, sql, false);
    split(&tokens).into_iter().any(mysql_may_commit)
}

/// Whether a MySQL statement may commit the open transaction: anything but
/// plain DML, queries and `SET` may (DDL, account statements, `CALL` and
/// `EXECUTE` of SQL the lexer cannot see, `SET PASSWORD`).
fn mysql_may_commit(statement: &[Token<'_>]) -> bool {
    let i = lead(statement);
    let Some(first) = word_at(statement, i) else {
        return false;
    };
    match first.to_ascii_uppercase().as_str() {
        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "WITH" | "VALUES" | "TABLE"
        | "DO" => false,
        "SET" => statement[i..]
            .iter()
            .any(|t| matches!(t, Token::Word(w) if w.eq_ignore_ascii_case("password"))),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Vec<String> {
        crate::ledger::own_tables("aludel_version").to_vec()
    }

    fn judge(dialect: Dialect, sql: &str) -> Result<Judgement, Refused> {
        Confinement::new(dialect, &own()).judge(sql)
    }

    fn refused(dialect: Dialect, sql: &str) -> Refused {
        judge(dialect, sql).expect_err(sql)
    }

    fn allowed(dialect: Dialect, sql: &str) -> Judgement {
        judge(dialect, sql).unwrap_or_else(|r| panic!("{sql:?} refused: {r}"))
    }

    const PG: Dialect = Dialect::Postgresql;
    const MY: Dialect = Dialect::Mysql;

    #[test]
    fn every_transaction_statement_is_refused_on_postgresql_and_mysql() {
        for sql in [
            "COMMIT",
            "commit work",
            "BEGIN",
            "ROLLBACK",
            "ROLLBACK TO SAVEPOINT a",
            "SAVEPOINT a",
            "RELEASE SAVEPOINT a",
            "START TRANSACTION READ ONLY",
            "INSERT INTO t VALUES (1); COMMIT; INSERT INTO t VALUES (2)",
            "(COMMIT)",
        ] {
            for dialect in [PG, MY] {
                let r = refused(dialect, sql);
                assert_eq!(r.why, Why::Transaction, "{dialect} {sql}");
            }
        }
        for sql in [
            "END",
            "ABORT",
            "PREPARE TRANSACTION 'x'",
            "COMMIT PREPARED 'x'",
            "ROLLBACK PREPARED 'x'",
        ] {
            assert_eq!(refused(PG, sql).why, Why::Transaction, "{sql}");
        }
        for sql in ["XA START 'x'", "LOCK TABLES t WRITE", "UNLOCK TABLES"] {
            assert_eq!(refused(MY, sql).why, Why::Transaction, "{sql}");
        }
        assert_eq!(refused(PG, "commit").what, "COMMIT");
        assert_eq!(refused(MY, "start transaction").what, "START TRANSACTION");
        let message = refused(PG, "COMMIT").to_string();
        assert!(message.starts_with("COMMIT was refused: "), "{message}");
        assert!(message.contains(TRANSACTION), "{message}");
    }

    #[test]
    fn settings_that_govern_the_transaction_are_refused_however_they_are_spelt() {
        for sql in [
            "SET autocommit = 1",
            "SET autocommit=1",
            "set @@autocommit = 1",
            "SET @@session.autocommit := 1",
            "SET SESSION autocommit = ON",
            "SET @x = 1, autocommit = 1",
            "SET completion_type = 2",
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "SET SESSION TRANSACTION READ ONLY",
            "SET STATEMENT autocommit = 1 FOR SELECT 1",
            "SET tx_read_only = 1",
        ] {
            assert_eq!(refused(MY, sql).why, Why::Setting, "{sql}");
        }
        for sql in [
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            "SET TRANSACTION READ ONLY",
            "SET default_transaction_read_only = on",
            "SET LOCAL transaction_read_only = on",
            "SET standard_conforming_strings = off",
            "RESET default_transaction_isolation",
        ] {
            assert_eq!(refused(PG, sql).why, Why::Setting, "{sql}");
        }
        assert_eq!(refused(MY, "SET autocommit = 1").what, "SET autocommit");
        // Other settings are the revision's business.
        allowed(PG, "SET search_path = app, public");
        allowed(PG, "SET LOCAL statement_timeout = '5s'");
        allowed(MY, "SET @x = 'autocommitted'");
        allowed(MY, "SET NAMES utf8mb4");
    }

    #[test]
    fn a_commit_in_a_string_a_comment_or_an_identifier_is_not_refused() {
        for dialect in [PG, MY] {
            for sql in [
                "INSERT INTO t (x) VALUES ('COMMIT')",
                "INSERT INTO t (x) VALUES ('it''s; COMMIT; --')",
                "SELECT 1 -- ; COMMIT\n",
                "SELECT 1 /* ; COMMIT; */",
                "INSERT INTO \"commit\" VALUES (1)",
                "INSERT INTO t (\"x;COMMIT\") VALUES (1)",
                "UPDATE t SET committed = true",
                "SELECT begin_date, rollback_count FROM t",
                "CREATE TABLE savepoints (release INTEGER)",
            ] {
                allowed(dialect, sql);
            }
        }
        for sql in [
            "SELECT $$; COMMIT; $$",
            "SELECT $body$ ; ROLLBACK ; $body$",
            "SELECT $a$ $b$ ; COMMIT; $b$ $a$",
            "SELECT E'\\'; COMMIT; --'",
            "SELECT 1 /* outer /* inner */ ; COMMIT; */",
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN COMMIT; END $f$",
            "DO $$ BEGIN PERFORM 1; END $$",
            "SELECT $1::int",
            "SELECT x$y FROM t",
            "SELECT U&'d\\0061t\\+000061'",
        ] {
            allowed(PG, sql);
        }
        for sql in [
            "INSERT INTO `commit` VALUES (1)",
            "SELECT 'it\\'s; COMMIT'",
            "SELECT \"; COMMIT; \"",
            "SELECT 1 # ; COMMIT\n",
            "SELECT _utf8mb4'; COMMIT;'",
        ] {
            allowed(MY, sql);
        }
    }

    #[test]
    fn a_commit_hidden_where_the_server_still_runs_it_is_refused() {
        // MySQL runs the content of executable comments.
        for sql in [
            "/*!COMMIT*/",
            "SELECT 1; /*! COMMIT */",
            "/*!50001 COMMIT */",
            "/*M! COMMIT */",
            "/*M!100101 START TRANSACTION */",
            "SELECT 1 /*!; COMMIT */",
        ] {
            assert_eq!(refused(MY, sql).why, Why::Transaction, "{sql}");
        }
        // `--` without a space is no comment on MySQL: `1--1` is arithmetic.
        assert_eq!(refused(MY, "SELECT 1--1;\nCOMMIT").why, Why::Transaction);
        // After an unfinished dollar quote or an E string's escaped quote,
        // what follows the real end is code.
        assert_eq!(
            refused(PG, "SELECT E'it\\'s'; COMMIT").why,
            Why::Transaction
        );
        assert_eq!(refused(PG, "SELECT $$x$$; COMMIT").why, Why::Transaction);
        // A string read under the other backslash rule (the revision may
        // have changed it through a function the lexer cannot see).
        assert_eq!(
            refused(PG, "SELECT 'a\\''; COMMIT; --'").why,
            Why::Transaction
        );
        assert_eq!(
            refused(MY, "SELECT 'a\\'; COMMIT; -- '").why,
            Why::Transaction,
        );
        // A routine that commits, refused when created.
        let r = refused(
            MY,
            "CREATE PROCEDURE p() BEGIN INSERT INTO t VALUES (1); COMMIT; END",
        );
        assert_eq!(r.why, Why::Transaction);
        assert!(r.what.contains("routine"), "{}", r.what);
    }

    #[test]
    fn a_mysql_routine_body_is_one_statement_and_may_use_begin_and_case() {
        let j = allowed(
            MY,
            "CREATE PROCEDURE p() BEGIN DECLARE x INT; SET x = CASE WHEN 1 THEN 2 ELSE 3 END; \
             IF x > 1 THEN INSERT INTO t VALUES (x); END IF; END; SELECT 1",
        );
        assert!(j.may_commit_implicitly);
    }

    #[test]
    fn aludels_tables_are_refused_in_any_spelling_but_not_in_strings() {
        for dialect in [PG, MY, Dialect::Sqlite] {
            for sql in [
                "DELETE FROM aludel_version_history",
                "UPDATE ALUDEL_VERSION SET version_num = 'x'",
                "DROP TABLE public.aludel_version_artifacts",
                "SELECT * FROM aludel_version_failed",
                "ALTER TABLE aludel_version RENAME TO old",
            ] {
                let r = refused(dialect, sql);
                assert!(matches!(r.why, Why::OwnTable(_)), "{dialect} {sql}");
            }
            allowed(dialect, "INSERT INTO notes VALUES ('aludel_version')");
            allowed(dialect, "CREATE TABLE aludel_versions (x INT)");
        }
        assert!(matches!(
            refused(PG, "DELETE FROM \"aludel_version_history\"").why,
            Why::OwnTable(t) if t == "aludel_version_history"
        ));
        assert!(matches!(
            refused(MY, "DELETE FROM `test`.`Aludel_Version`").why,
            Why::OwnTable(_)
        ));
        assert!(matches!(
            refused(Dialect::Sqlite, "DELETE FROM [aludel_version]").why,
            Why::OwnTable(_)
        ));
        let message = refused(PG, "DELETE FROM aludel_version_history").to_string();
        assert!(message.contains("aludel_version_history"), "{message}");
        assert!(
            message.contains("cannot touch aludel's own tables"),
            "{message}"
        );
        // A qualified version table is matched by its name.
        let c = Confinement::new(PG, &crate::ledger::own_tables("meta.versions"));
        assert!(c.judge("DELETE FROM versions_history").is_err());
        assert!(c.judge("DELETE FROM meta.versions").is_err());
    }

    #[test]
    fn on_sqlite_transaction_statements_are_left_to_the_authorizer() {
        allowed(Dialect::Sqlite, "COMMIT");
    }

    #[test]
    fn mysql_refuses_dropping_a_database_which_holds_aludels_tables() {
        for sql in [
            "DROP DATABASE test",
            "drop schema if exists `test`",
            "/*!40000 DROP DATABASE test */",
        ] {
            let refused = refused(MY, sql);
            assert_eq!(refused.why, Why::DropDatabase, "{sql}");
            assert!(refused.to_string().contains("drop it by hand"), "{sql}");
        }
        allowed(MY, "DROP TABLE t");
        allowed(PG, "DROP SCHEMA scratch CASCADE");
    }

    #[test]
    fn untrusted_mysql_refuses_sql_the_lexer_cannot_read_and_events() {
        let strict = Confinement::new(MY, &own()).untrusted(true);
        for sql in [
            "CALL p()",
            "call db.p(1)",
            "EXECUTE s",
            "EXECUTE IMMEDIATE 'SELECT 1'",
            "PREPARE s FROM @sql",
            "/*!50000 CALL p() */",
            "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t",
            "CREATE DEFINER = `root`@`%` EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t",
            "ALTER EVENT e ENABLE",
        ] {
            let refused = strict.judge(sql).expect_err(sql);
            assert_eq!(refused.why, Why::Unreadable, "{sql}");
            assert!(refused.to_string().contains("--untrusted"), "{sql}");
        }
        for sql in [
            "CREATE TABLE event (x INT)",
            "CREATE TABLE t (event INT)",
            "SELECT event FROM t",
            "CREATE DEFINER = CURRENT_USER PROCEDURE p() SELECT 1",
        ] {
            assert!(strict.judge(sql).is_ok(), "{sql}");
        }
        // Trusted, they run, marked for the check of aludel's tables.
        assert!(allowed(MY, "CALL p()").unreadable);
        assert!(allowed(MY, "EXECUTE s").unreadable);
        assert!(
            allowed(
                MY,
                "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t"
            )
            .unreadable
        );
        assert!(!allowed(MY, "CREATE TABLE t (x INT)").unreadable);
        // PostgreSQL's CALL cannot end a transaction block: not MySQL's rule.
        let pg = Confinement::new(PG, &own()).untrusted(true);
        assert!(pg.judge("CALL p()").is_ok());
    }

    #[test]
    fn mysql_ddl_and_sql_the_lexer_cannot_see_may_commit_implicitly() {
        for sql in [
            "CREATE TABLE t (x INT)",
            "ALTER TABLE t ADD y INT",
            "TRUNCATE t",
            "CALL p()",
            "EXECUTE s",
            "EXECUTE IMMEDIATE 'SELECT 1'",
            "PREPARE s FROM @sql",
            "INSERT INTO t VALUES (1); DROP TABLE u",
            "SET PASSWORD = 'x'",
            "GRANT SELECT ON t TO u",
        ] {
            assert!(allowed(MY, sql).may_commit_implicitly, "{sql}");
        }
        for sql in [
            "INSERT INTO t VALUES (1)",
            "SELECT 1",
            "(SELECT 1)",
            "UPDATE t SET x = 1; DELETE FROM t",
            "SET @x = 1",
            "",
            "-- nothing\n",
        ] {
            assert!(!allowed(MY, sql).may_commit_implicitly, "{sql}");
        }
        assert!(!allowed(PG, "CREATE TABLE t (x INT)").may_commit_implicitly);
    }

    #[test]
    fn unterminated_quotes_and_comments_do_not_panic() {
        for dialect in [PG, MY, Dialect::Sqlite] {
            for sql in [
                "'",
                "\"",
                "`",
                "[",
                "/*",
                "/* /*",
                "$",
                "$$",
                "$a$",
                "E'",
                "--",
                "#",
                "/*!",
                "/*M!",
                "é'",
                "SELECT 'é",
                "x\\",
            ] {
                let _ = judge(dialect, sql);
            }
        }
    }
}
