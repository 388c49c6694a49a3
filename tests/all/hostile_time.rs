//! Issue 11, properties 4 and 5, on every backend: a revision's time limit
//! stops its statement in the database (a sleep, an unbounded query, a lock
//! wait), the host's own bookkeeping gives up at `--lock-timeout` naming the
//! session in its way, and a runner killed with SIGKILL leaves a database
//! the next run completes without waiting for ever or applying anything
//! twice.
//!
//! Times are never asserted tightly: each run of the binary has a generous
//! hang guard, far below the 1000 s the statements would otherwise take.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection};

use crate::support::{Backend, Run, TestProject, block_on, on_every_backend};

const BASE: &str = "base00000001";
const SLOW: &str = "slow00000001";

/// Longer than any run here should take, far shorter than a 1000 s sleep.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// A statement that runs for 1000 s, or for ever, in the database.
fn endless(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "SELECT pg_sleep(1000);",
        Backend::Mysql => "SELECT SLEEP(1000);",
        // Unbounded: only an interrupt ends it.
        Backend::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
             SELECT count(*) FROM c;"
        }
    }
}

/// Writes revision BASE: a table `kept` with the row (1, 1).
fn base_revision(p: &TestProject) {
    p.sql_revision(
        BASE,
        None,
        "CREATE TABLE kept (id INTEGER PRIMARY KEY, v INTEGER);\n\
         INSERT INTO kept (id, v) VALUES (1, 1);\n",
        "DROP TABLE kept;\n",
    );
}

/// A project with BASE applied.
fn project(backend: Backend) -> TestProject {
    let p = TestProject::on(backend);
    base_revision(&p);
    p.ok(&["upgrade", "head"]);
    p
}

/// Runs the binary with `args`, killing it and failing the test if it is
/// still running after [`HANG_GUARD`].
fn run_guarded(p: &TestProject, args: &[&str]) -> Run {
    let child = p
        .command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("aludel runs");
    wait_guarded(child, args)
}

fn wait_guarded(mut child: Child, args: &[&str]) -> Run {
    let started = Instant::now();
    loop {
        if child
            .try_wait()
            .expect("the child can be waited for")
            .is_some()
        {
            return child.wait_with_output().expect("its output").into();
        }
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let out: Run = child.wait_with_output().expect("its output").into();
            panic!(
                "aludel {} still ran after {HANG_GUARD:?}: it hangs\n{}",
                args.join(" "),
                out.stderr
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The audit log: (revision, outcome, error) in order.
fn history(p: &TestProject) -> Vec<(String, String, String)> {
    p.query("SELECT revision, outcome, COALESCE(error, '') FROM aludel_version_history ORDER BY id")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect()
}

/// What must hold after a revision failed: the database, the version table
/// and the audit log as before, but for one `failed` row for SLOW whose
/// error says `expected`.
fn unchanged_but_a_failed_row(
    p: &TestProject,
    dump: &str,
    log: &[(String, String, String)],
    expected: &str,
) {
    assert_eq!(p.dump(), dump, "the database changed");
    assert_eq!(p.versions(), vec![BASE], "the version table changed");
    let after = history(p);
    assert_eq!(&after[..log.len()], log, "the audit log was rewritten");
    let added = &after[log.len()..];
    assert_eq!(added.len(), 1, "one row for the failed run: {added:?}");
    assert_eq!((added[0].0.as_str(), added[0].1.as_str()), (SLOW, "failed"));
    assert!(
        added[0].2.contains(expected),
        "the failed row says {:?}, not {expected:?}",
        added[0].2
    );
}

on_every_backend!(
    a_statement_running_past_the_time_limit_is_stopped_in_the_database,
    a_statement_that_never_ends_is_stopped_before_any_other_and_the_next_run_is_clean,
    the_hosts_bookkeeping_gives_up_at_the_lock_timeout_naming_who_holds_it,
    a_runner_killed_mid_statement_leaves_a_database_the_next_run_completes_once,
    a_runner_killed_outside_a_transaction_leaves_the_revision_refused_until_resolved,
);

/// A revision that changes a row and then sleeps (an unbounded query on
/// SQLite) with a 2 s limit fails with the timeout error and exits long
/// before the statement would end; nothing it did stays.
fn a_statement_running_past_the_time_limit_is_stopped_in_the_database(backend: Backend) {
    let p = project(backend);
    p.set_limits(2, 64);
    p.sql_revision(
        SLOW,
        Some(BASE),
        &format!(
            "UPDATE kept SET v = 2 WHERE id = 1;\n{}\n",
            endless(backend)
        ),
        "",
    );
    let (dump, log) = (p.dump(), history(&p));
    let run = run_guarded(&p, &["upgrade", "head"]);
    assert!(!run.success, "the endless revision succeeded");
    let expected = format!("revision {SLOW} ran past its time limit of 2s and was stopped");
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    unchanged_but_a_failed_row(&p, &dump, &log, "ran past its time limit of 2s");
    assert_eq!(p.query("SELECT v FROM kept"), vec![vec!["1".to_string()]]);
    assert_nothing_left_running(&p);
}

/// The cancelled statement was not left to run on in the server.
fn assert_nothing_left_running(p: &TestProject) {
    let sql = match p.backend() {
        Backend::Postgres => {
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'active' AND query LIKE '%pg_sleep(1000)%' \
             AND pid <> pg_backend_pid()"
        }
        Backend::Mysql => {
            "SELECT id FROM information_schema.processlist WHERE db = DATABASE() \
             AND info LIKE '%SLEEP(1000)%' AND id <> CONNECTION_ID()"
        }
        Backend::Sqlite => return,
    };
    assert_eq!(p.query(sql), Vec::<Vec<String>>::new(), "still running");
}

/// The same, with the endless statement first: and a second run of a
/// repaired revision then applies it once, on a connection nothing is left
/// on.
fn a_statement_that_never_ends_is_stopped_before_any_other_and_the_next_run_is_clean(
    backend: Backend,
) {
    let p = project(backend);
    p.set_limits(2, 64);
    let dir = p.sql_revision(
        SLOW,
        Some(BASE),
        &format!(
            "{}\nINSERT INTO kept (id, v) VALUES (2, 2);\n",
            endless(backend)
        ),
        "DELETE FROM kept WHERE id = 2;\n",
    );
    let (dump, log) = (p.dump(), history(&p));
    let run = run_guarded(&p, &["upgrade", "head"]);
    assert!(!run.success);
    assert!(
        run.stderr.contains("ran past its time limit of 2s"),
        "{}",
        run.stderr
    );
    unchanged_but_a_failed_row(&p, &dump, &log, "ran past its time limit");

    std::fs::write(
        dir.join("upgrade.sql"),
        "INSERT INTO kept (id, v) VALUES (2, 2);\n",
    )
    .expect("write");
    let run = run_guarded(&p, &["upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(p.versions(), vec![SLOW]);
    assert_eq!(
        p.query("SELECT id, v FROM kept ORDER BY id"),
        vec![
            vec!["1".to_string(), "1".into()],
            vec!["2".into(), "2".into()]
        ]
    );
}

/// A test session holds a lock in aludel's way: on a server, the version
/// table's row (`SELECT ... FOR UPDATE`); on SQLite, the database's write
/// lock. Returns what the error must name (the session's id), and the
/// connection, to be closed by the caller.
enum Holder {
    Postgres(sqlx::PgConnection),
    Mysql(sqlx::MySqlConnection),
    Sqlite(sqlx::SqliteConnection),
}

async fn hold_the_version_table(p: &TestProject) -> (Holder, Option<String>) {
    let url = p.url();
    match p.backend() {
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&url).await.expect("connects");
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut c)
                .await
                .expect("pid");
            sqlx::raw_sql("BEGIN; SELECT * FROM aludel_version FOR UPDATE")
                .execute(&mut c)
                .await
                .expect("locks the version table's row");
            (Holder::Postgres(c), Some(format!("pid {pid}")))
        }
        Backend::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(&url)
                .await
                .expect("connects");
            let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
                .fetch_one(&mut c)
                .await
                .expect("id");
            sqlx::raw_sql("BEGIN; SELECT * FROM aludel_version FOR UPDATE")
                .execute(&mut c)
                .await
                .expect("locks the version table's row");
            (Holder::Mysql(c), Some(format!("connection {id}")))
        }
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&url).await.expect("opens");
            sqlx::raw_sql("BEGIN IMMEDIATE")
                .execute(&mut c)
                .await
                .expect("takes the write lock");
            (Holder::Sqlite(c), None)
        }
    }
}

async fn release(holder: Holder) {
    let sql = AssertSqlSafe("ROLLBACK");
    match holder {
        Holder::Postgres(mut c) => drop(sqlx::raw_sql(sql).execute(&mut c).await),
        Holder::Mysql(mut c) => drop(sqlx::raw_sql(sql).execute(&mut c).await),
        Holder::Sqlite(mut c) => drop(sqlx::raw_sql(sql).execute(&mut c).await),
    }
}

/// A session holding the version table's row lock (SQLite: the database's
/// write lock) makes the host's own first write wait; with
/// `--lock-timeout 2` it gives up, saying who holds it and what to do, and
/// leaves everything as it was.
fn the_hosts_bookkeeping_gives_up_at_the_lock_timeout_naming_who_holds_it(backend: Backend) {
    let p = project(backend);
    p.sql_revision(
        SLOW,
        Some(BASE),
        "INSERT INTO kept (id, v) VALUES (2, 2);\n",
        "",
    );
    let (dump, log) = (p.dump(), history(&p));
    let run = block_on(async {
        let (holder, named) = hold_the_version_table(&p).await;
        // The binary runs while this thread keeps the holder's session open.
        let run = run_guarded(&p, &["upgrade", "head", "--lock-timeout", "2"]);
        release(holder).await;
        if let Some(named) = named {
            assert!(
                run.stderr.contains(&named),
                "{named} not named:\n{}",
                run.stderr
            );
        }
        run
    });
    assert!(!run.success, "the upgrade did not wait for the lock");
    match backend {
        Backend::Sqlite => {
            for text in [
                "database is locked after waiting the lock timeout (2 s, --lock-timeout)",
                "then run again",
            ] {
                assert!(
                    run.stderr.contains(text),
                    "{text:?} not in:\n{}",
                    run.stderr
                );
            }
        }
        _ => {
            assert!(
                run.stderr
                    .contains("the lock timeout (2 s, --lock-timeout)"),
                "{}",
                run.stderr
            );
            assert!(
                run.stderr.contains("held by another session"),
                "{}",
                run.stderr
            );
            assert!(run.stderr.contains("then run again"), "{}", run.stderr);
        }
    }
    if backend != Backend::Sqlite {
        // On SQLite the wait is at the BEGIN, before any revision.
        assert!(
            run.stderr.contains(SLOW),
            "the revision is not named:\n{}",
            run.stderr
        );
    }
    assert_eq!(p.dump(), dump, "the database changed");
    assert_eq!(p.versions(), vec![BASE]);
    let after = history(&p);
    assert_eq!(&after[..log.len()], &log[..]);
    assert!(
        after[log.len()..]
            .iter()
            .all(|(r, o, _)| r == SLOW && o == "failed"),
        "{after:?}"
    );
    // Once the session is gone, the same run goes through.
    let run = run_guarded(&p, &["upgrade", "head", "--lock-timeout", "2"]);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(p.versions(), vec![SLOW]);
}

/// Waits until the endless statement of SLOW is running in the server (SQLite:
/// until the runner holds the database's write lock, which it takes at the
/// revision's BEGIN, right before the statement).
fn wait_until_running(p: &TestProject, child: &mut Child) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("aludel exited ({status}) before its statement was seen running");
        }
        if statement_running(p) {
            return;
        }
        assert!(
            started.elapsed() < HANG_GUARD,
            "the statement never showed as running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn statement_running(p: &TestProject) -> bool {
    let url = p.url();
    match p.backend() {
        Backend::Postgres => !p
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND state = 'active' AND query LIKE '%pg_sleep(1000)%' \
                 AND pid <> pg_backend_pid()",
            )
            .is_empty(),
        Backend::Mysql => !p
            .query(
                "SELECT id FROM information_schema.processlist WHERE db = DATABASE() \
                 AND info LIKE '%SLEEP(1000)%' AND id <> CONNECTION_ID()",
            )
            .is_empty(),
        Backend::Sqlite => block_on(async move {
            use sqlx::ConnectOptions;
            use std::str::FromStr;
            let mut c = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                .expect("url")
                .busy_timeout(Duration::ZERO)
                .connect()
                .await
                .expect("opens");
            let taken = sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut c).await;
            let busy = taken.is_err();
            if !busy {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut c).await;
            }
            busy
        }),
    }
}

/// SIGKILL while the revision's statement runs in the database: the next
/// run (of the repaired revision) neither hangs nor applies anything twice,
/// and the version table and the audit log say the truth.
fn a_runner_killed_mid_statement_leaves_a_database_the_next_run_completes_once(backend: Backend) {
    let p = project(backend);
    let dir = p.sql_revision(
        SLOW,
        Some(BASE),
        &format!(
            "INSERT INTO kept (id, v) VALUES (2, 2);\n{}\n",
            endless(backend)
        ),
        "DELETE FROM kept WHERE id = 2;\n",
    );
    let log = history(&p);
    let mut child = p
        .command()
        .args(["upgrade", "head"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aludel runs");
    wait_until_running(&p, &mut child);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // Nothing of the killed run is committed.
    assert_eq!(p.versions(), vec![BASE]);
    assert_eq!(
        history(&p),
        log,
        "the audit log records a run that did not commit"
    );

    std::fs::write(
        dir.join("upgrade.sql"),
        "INSERT INTO kept (id, v) VALUES (2, 2);\n",
    )
    .expect("write");
    let run = run_guarded(&p, &["upgrade", "head", "--lock-timeout", "30"]);
    assert!(
        run.success,
        "the run after the kill failed:\n{}",
        run.stderr
    );
    assert_eq!(p.versions(), vec![SLOW]);
    assert_eq!(
        p.query("SELECT id, v FROM kept ORDER BY id"),
        vec![
            vec!["1".to_string(), "1".into()],
            vec!["2".into(), "2".into()]
        ],
        "applied twice, or not at all"
    );
    let after = history(&p);
    let applied: Vec<_> = after[log.len()..]
        .iter()
        .map(|(r, o, _)| (r.as_str(), o.as_str()))
        .collect();
    assert_eq!(applied, vec![(SLOW, "applied")]);
}

/// A revision waiting for a row lock another session holds is cancelled at
/// its time limit, not at `--lock-timeout` (300 s here).
fn a_revision_waiting_for_a_row_lock_is_cancelled_at_its_time_limit(backend: Backend) {
    let p = project(backend);
    p.set_limits(2, 64);
    p.sql_revision(
        SLOW,
        Some(BASE),
        "UPDATE kept SET v = 3 WHERE id = 1;\n",
        "",
    );
    let (dump, log) = (p.dump(), history(&p));
    let run = block_on(async {
        let holder = hold_kept_row(&p).await;
        let run = run_guarded(&p, &["upgrade", "head"]);
        release(holder).await;
        run
    });
    assert!(!run.success, "the revision did not wait for the row");
    assert!(
        run.stderr
            .contains(&format!("revision {SLOW} ran past its time limit of 2s")),
        "{}",
        run.stderr
    );
    unchanged_but_a_failed_row(&p, &dump, &log, "ran past its time limit");
}

async fn hold_kept_row(p: &TestProject) -> Holder {
    let url = p.url();
    let sql = "BEGIN; UPDATE kept SET v = 9 WHERE id = 1";
    match p.backend() {
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&url).await.expect("connects");
            sqlx::raw_sql(sql).execute(&mut c).await.expect("locks");
            Holder::Postgres(c)
        }
        Backend::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(&url)
                .await
                .expect("connects");
            sqlx::raw_sql(sql).execute(&mut c).await.expect("locks");
            Holder::Mysql(c)
        }
        Backend::Sqlite => unreachable!("SQLite has no row locks"),
    }
}

/// Row locks exist on the servers only: on SQLite the write lock is taken
/// at the revision's BEGIN, by the host (the bookkeeping test above).
#[test]
fn a_revision_waiting_for_a_row_lock_on_postgresql_is_cancelled_at_its_time_limit() {
    a_revision_waiting_for_a_row_lock_is_cancelled_at_its_time_limit(Backend::Postgres);
}

#[test]
fn a_revision_waiting_for_a_row_lock_on_mysql_is_cancelled_at_its_time_limit() {
    a_revision_waiting_for_a_row_lock_is_cancelled_at_its_time_limit(Backend::Mysql);
}

/// SIGKILL while the runner's COMMIT runs (a deferred trigger sleeps in it):
/// the server notices the dead client, the commit does not happen, and the
/// next run applies the repaired revision once.
#[test]
fn a_runner_killed_in_its_commit_on_postgresql_leaves_nothing_applied() {
    let p = project(Backend::Postgres);
    let dir = p.sql_revision(
        SLOW,
        Some(BASE),
        "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$\n\
         BEGIN PERFORM pg_sleep(1000); RETURN NULL; END $$;\n\
         CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON kept \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();\n\
         INSERT INTO kept (id, v) VALUES (2, 2);\n",
        "",
    );
    let log = history(&p);
    let mut child = p
        .command()
        .args(["upgrade", "head"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aludel runs");
    let started = Instant::now();
    loop {
        assert!(child.try_wait().expect("wait").is_none(), "aludel exited");
        let committing = p.query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'aludel' AND state = 'active' \
             AND wait_event = 'PgSleep' AND query ILIKE '%COMMIT%'",
        );
        if !committing.is_empty() {
            break;
        }
        assert!(started.elapsed() < HANG_GUARD, "never seen committing");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    std::fs::write(
        dir.join("upgrade.sql"),
        "INSERT INTO kept (id, v) VALUES (2, 2);\n",
    )
    .expect("write");
    let run = run_guarded(&p, &["upgrade", "head", "--lock-timeout", "30"]);
    assert!(
        run.success,
        "the run after the kill failed:\n{}",
        run.stderr
    );
    assert_eq!(p.versions(), vec![SLOW]);
    assert_eq!(
        p.query("SELECT id, v FROM kept ORDER BY id"),
        vec![
            vec!["1".to_string(), "1".into()],
            vec!["2".into(), "2".into()]
        ]
    );
    assert!(
        p.query("SELECT 1 FROM pg_proc WHERE proname = 'slow_commit'")
            .is_empty(),
        "the killed run's commit happened"
    );
    let after = history(&p);
    let applied: Vec<_> = after[log.len()..]
        .iter()
        .map(|(r, o, _)| (r.as_str(), o.as_str()))
        .collect();
    assert_eq!(applied, vec![(SLOW, "applied")]);
}

/// SIGKILL of a runner whose revision already did what no rollback undoes:
/// `transaction = "none"` on every backend (its first INSERT stands), and
/// DDL on MySQL (its CREATE TABLE committed). The failed state was
/// recorded before that point, so the next run refuses, naming `aludel
/// resolve`, rather than running the revision a second time.
fn a_runner_killed_after_what_no_rollback_undoes_leaves_the_revision_refused_until_resolved(
    backend: Backend,
    outside_a_transaction: bool,
) {
    let p = project(backend);
    let first = if outside_a_transaction {
        "INSERT INTO kept (id, v) VALUES (2, 2);"
    } else {
        "CREATE TABLE made (x INTEGER);"
    };
    let dir = p.sql_revision(
        SLOW,
        Some(BASE),
        &format!("{first}\n{}\n", endless(backend)),
        "",
    );
    if outside_a_transaction {
        TestProject::outside_a_transaction(&dir);
    }
    let mut child = p
        .command()
        .args(["upgrade", "head"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aludel runs");
    if outside_a_transaction && backend == Backend::Sqlite {
        // Killed once its first statement committed by itself (SQLite's
        // endless read takes no lock to watch for).
        let started = Instant::now();
        while p.query("SELECT id FROM kept").len() < 2 {
            assert!(child.try_wait().expect("wait").is_none(), "aludel exited");
            assert!(started.elapsed() < HANG_GUARD, "the INSERT never committed");
            std::thread::sleep(Duration::from_millis(50));
        }
    } else {
        wait_until_running(&p, &mut child);
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    assert_eq!(p.versions(), vec![BASE], "the version table claims it");
    // What stands depends on the server: PostgreSQL runs a script sent in
    // one message as one implicit transaction, so its INSERT went with the
    // kill; SQLite and MySQL committed it. aludel cannot know which, so it
    // refuses either way.
    let inserted = p.query("SELECT id FROM kept ORDER BY id").len() == 2;
    if outside_a_transaction {
        assert_eq!(inserted, backend != Backend::Postgres);
    } else {
        assert!(p.has_table("made"), "the DDL did not commit");
    }
    std::fs::write(dir.join("upgrade.sql"), format!("{first}\n")).expect("write");
    let run = run_guarded(&p, &["upgrade", "head", "--lock-timeout", "30"]);
    assert!(!run.success, "the revision ran again:\n{}", run.stderr);
    assert!(run.stderr.contains(SLOW), "{}", run.stderr);
    assert!(run.stderr.contains("aludel resolve"), "{}", run.stderr);
    assert!(run.stderr.contains("did not finish"), "{}", run.stderr);
    assert_eq!(p.versions(), vec![BASE]);

    // The operator looks, says what stands, and the run goes on.
    if outside_a_transaction && !inserted {
        let run = run_guarded(&p, &["resolve", SLOW, "--rolled-back"]);
        assert!(run.success, "{}", run.stderr);
        let run = run_guarded(&p, &["upgrade", "head"]);
        assert!(run.success, "{}", run.stderr);
    } else {
        let run = run_guarded(&p, &["resolve", SLOW, "--applied"]);
        assert!(run.success, "{}", run.stderr);
    }
    assert_eq!(p.versions(), vec![SLOW]);
    if outside_a_transaction {
        assert_eq!(p.query("SELECT id FROM kept ORDER BY id").len(), 2);
    } else {
        assert!(p.has_table("made"));
    }
}

fn a_runner_killed_outside_a_transaction_leaves_the_revision_refused_until_resolved(
    backend: Backend,
) {
    a_runner_killed_after_what_no_rollback_undoes_leaves_the_revision_refused_until_resolved(
        backend, true,
    );
}

#[test]
fn a_runner_killed_after_mysql_ddl_leaves_the_revision_refused_until_resolved() {
    a_runner_killed_after_what_no_rollback_undoes_leaves_the_revision_refused_until_resolved(
        Backend::Mysql,
        false,
    );
}

/// Runs `sql` as the PostgreSQL administrator, on `database` or the
/// default one.
fn postgres_admin(database: Option<&str>, sql: &str) {
    let url = match database {
        Some(db) => format!("postgres://postgres@127.0.0.1:5432/{db}"),
        None => crate::support::POSTGRES_ADMIN_URL.to_string(),
    };
    let sql = sql.to_string();
    block_on(async move {
        let mut c = sqlx::PgConnection::connect(&url)
            .await
            .expect("the PostgreSQL server is reachable (see README, Databases)");
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .expect("the administrator's statement runs");
    });
}

/// A login role that owns the test's database and may hold only two
/// sessions: aludel's run lock and its migration connection, none more.
struct TwoSessionRole {
    name: String,
    database: String,
}

impl TwoSessionRole {
    fn new(p: &TestProject) -> Self {
        let database = p.url().rsplit('/').next().expect("a database").to_string();
        let name = database.replacen("aludel_t_", "aludel_two_", 1);
        postgres_admin(
            None,
            &format!(
                "CREATE ROLE {name} LOGIN NOSUPERUSER CONNECTION LIMIT 2; \
                 ALTER DATABASE {database} OWNER TO {name}"
            ),
        );
        TwoSessionRole { name, database }
    }

    fn url(&self) -> String {
        format!("postgres://{}@127.0.0.1:5432/{}", self.name, self.database)
    }

    /// The statements the role's sessions run now.
    fn running(&self) -> Vec<String> {
        let url = crate::support::POSTGRES_ADMIN_URL.to_string();
        let name = self.name.clone();
        block_on(async move {
            let mut c = sqlx::PgConnection::connect(&url).await.expect("connects");
            sqlx::query_scalar::<_, String>(
                "SELECT query FROM pg_stat_activity WHERE usename = $1 AND state = 'active'",
            )
            .bind(name)
            .fetch_all(&mut c)
            .await
            .expect("pg_stat_activity")
        })
    }
}

impl Drop for TwoSessionRole {
    fn drop(&mut self) {
        let (name, database) = (&self.name, &self.database);
        postgres_admin(
            None,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'"
            ),
        );
        postgres_admin(
            Some(database),
            &format!("REASSIGN OWNED BY {name} TO postgres; DROP OWNED BY {name}"),
        );
        postgres_admin(
            None,
            &format!("ALTER DATABASE {database} OWNER TO postgres; DROP ROLE IF EXISTS {name}"),
        );
    }
}

/// PostgreSQL, when the cancel cannot reach the server (the role may open
/// no session beyond aludel's two, so the side connection that would send
/// `pg_cancel_backend` is refused): aludel does not wait in ROLLBACK behind
/// the statement for its 1000 s. It closes the connection and says so,
/// without claiming the database is as it was, and the server, seeing the
/// client gone, ends the statement and rolls the revision back.
#[test]
fn a_statement_the_cancel_cannot_reach_is_left_to_the_server_and_aludel_exits() {
    let p = TestProject::on(Backend::Postgres);
    let role = TwoSessionRole::new(&p);
    base_revision(&p);
    let url = role.url();
    let run = run_guarded(&p, &["--url", &url, "upgrade", "head"]);
    assert!(run.success, "{}", run.stderr);
    p.set_limits(2, 256);
    p.sql_revision(
        SLOW,
        Some(BASE),
        &format!(
            "UPDATE kept SET v = 2 WHERE id = 1;\n{}\n",
            endless(Backend::Postgres)
        ),
        "",
    );
    let dump = p.dump();
    let run = run_guarded(&p, &["--url", &url, "upgrade", "head"]);
    assert!(!run.success, "{}", run.stderr);
    for text in [SLOW, "did not stop when cancelled", "closed its connection"] {
        assert!(
            run.stderr.contains(text),
            "{text:?} not in:\n{}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains("the database is as it was"),
        "{}",
        run.stderr
    );
    // The server ends the statement once it sees the client gone
    // (client_connection_check_interval, set by aludel at connect).
    let started = Instant::now();
    while role.running().iter().any(|q| q.contains("pg_sleep")) {
        assert!(
            started.elapsed() < HANG_GUARD,
            "the abandoned statement still runs in the server"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(p.versions(), vec![BASE]);
    assert_eq!(p.dump(), dump, "the revision was not rolled back");
}
