//! Benchmark: `aludel check` and `aludel revision --autogenerate` on a
//! 300-table schema (each table with an index and a foreign key to the
//! one before), on SQLite and PostgreSQL, beside `alembic check` on the
//! same schema (SQLAlchemy `Table`s written to match the DDL), each run as
//! a user runs it, in a subprocess. Prints each median time and the ratio
//! aludel / Alembic.
//!
//! Needs the virtualenv ./scripts/test makes (`target/differential-venv`,
//! or `ALUDEL_TEST_VENV`), and PostgreSQL at 127.0.0.1:5432 for its half.
//! Run with `cargo bench --bench autogen_300` (add `-- 1000` for another
//! table count, `-- --sqlite-only` to skip PostgreSQL).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;
const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tables: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(300);
    let sqlite_only = args.iter().any(|a| a == "--sqlite-only");
    let venv = std::env::var_os("ALUDEL_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/differential-venv")
        });
    let python = venv.join("bin/python3");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/test once (it makes the virtualenv)",
        python.display()
    );
    println!("tables: {tables}");
    let mut backends = vec!["sqlite"];
    if !sqlite_only {
        backends.push("postgres");
    }
    for backend in backends {
        let work = tempfile::tempdir().expect("a temporary directory");
        let (aludel_url, alembic_url, cleanup) = database(backend, work.path());
        let dir = work.path();
        generate(dir, tables, backend, &aludel_url, &alembic_url);
        // The live schema, made by a revision, as a project's would be.
        run(dir, &["upgrade", "head"]);

        let check = median(|| timed(dir, &["check"], true));
        // A change in ten tables, then the revision, removed after each run.
        let models = std::fs::read_to_string(dir.join("models.sql")).expect("models.sql");
        let changed = models.replacen("note TEXT", "note TEXT, extra INTEGER", 10);
        std::fs::write(dir.join("models.sql"), &changed).expect("write models.sql");
        let autogen = median(|| {
            let t = timed(dir, &["revision", "--autogenerate", "-m", "bench"], true);
            for entry in std::fs::read_dir(dir.join("versions")).expect("versions/") {
                let path = entry.expect("an entry").path();
                if path.to_string_lossy().ends_with("_bench") {
                    std::fs::remove_dir_all(path).expect("remove the generated revision");
                }
            }
            t
        });
        std::fs::write(dir.join("models.sql"), &models).expect("write models.sql");
        let alembic = median(|| {
            let started = Instant::now();
            let out = Command::new(&python)
                .args(["-m", "alembic", "check"])
                .current_dir(dir)
                .output()
                .expect("alembic runs");
            let t = started.elapsed();
            assert!(
                out.status.success(),
                "alembic check failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            t
        });
        println!(
            "{backend:<9} aludel check {:>8.1} ms   revision --autogenerate {:>8.1} ms   alembic check {:>8.1} ms   check ratio {:.2}x",
            ms(check),
            ms(autogen),
            ms(alembic),
            check.as_secs_f64() / alembic.as_secs_f64()
        );
        cleanup();
    }
}

type Cleanup = Box<dyn FnOnce()>;

fn database(backend: &str, dir: &Path) -> (String, String, Cleanup) {
    match backend {
        "sqlite" => {
            let path = dir.join("live.db");
            (
                format!("sqlite://{}", path.display()),
                format!("sqlite:///{}", path.display()),
                Box::new(|| {}),
            )
        }
        _ => {
            let name = format!("aludel_bench_{}", std::process::id());
            psql(&format!("CREATE DATABASE {name}"));
            let drop_name = name.clone();
            (
                format!("postgres://postgres@127.0.0.1:5432/{name}"),
                format!("postgresql+pg8000://postgres@127.0.0.1:5432/{name}"),
                Box::new(move || {
                    psql(&format!("DROP DATABASE IF EXISTS {drop_name} WITH (FORCE)"))
                }),
            )
        }
    }
}

fn psql(sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let mut conn = aludel::db::connect(PG_ADMIN)
            .await
            .expect("PostgreSQL at 127.0.0.1:5432");
        conn.execute_script(sql).await.expect(sql);
    });
}

/// The aludel project, the same schema as SQL models and as SQLAlchemy
/// tables, and an Alembic project over the same database.
fn generate(dir: &Path, tables: usize, backend: &str, aludel_url: &str, alembic_url: &str) {
    let mut ddl = String::new();
    let mut py = String::from("import sqlalchemy as sa\nmetadata = sa.MetaData()\n");
    let id_type = if backend == "sqlite" {
        "INTEGER"
    } else {
        "BIGINT"
    };
    for i in 0..tables {
        let fk = if i > 0 {
            format!(", parent_id {id_type} REFERENCES t{:04} (id)", i - 1)
        } else {
            String::new()
        };
        ddl.push_str(&format!(
            "CREATE TABLE t{i:04} (id {id_type} NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, \
             amount NUMERIC(12,2) DEFAULT 0, created TIMESTAMP, note TEXT{fk});\n\
             CREATE INDEX t{i:04}_name ON t{i:04} (name);\n"
        ));
        let fk_col = if i > 0 {
            format!(
                ", sa.Column('parent_id', sa.{}, sa.ForeignKey('t{:04}.id'))",
                if backend == "sqlite" {
                    "Integer"
                } else {
                    "BigInteger"
                },
                i - 1
            )
        } else {
            String::new()
        };
        py.push_str(&format!(
            "sa.Table('t{i:04}', metadata, sa.Column('id', sa.{}, primary_key=True, autoincrement=False), \
             sa.Column('name', sa.String(100), nullable=False), \
             sa.Column('amount', sa.Numeric(12, 2), server_default='0'), \
             sa.Column('created', sa.TIMESTAMP), sa.Column('note', sa.Text){fk_col}, \
             sa.Index('t{i:04}_name', 'name'))\n",
            if backend == "sqlite" { "Integer" } else { "BigInteger" }
        ));
    }
    std::fs::write(dir.join("models.sql"), &ddl).expect("write models.sql");
    std::fs::write(dir.join("models.py"), py).expect("write models.py");
    std::fs::write(
        dir.join("aludel.toml"),
        format!("[database]\nurl = \"{aludel_url}\"\n\n[models]\nsql = [\"models.sql\"]\n"),
    )
    .expect("write aludel.toml");
    let rev = dir.join("versions/000000000001_schema");
    std::fs::create_dir_all(&rev).expect("versions/");
    std::fs::write(
        rev.join("revision.toml"),
        "id = \"000000000001\"\nparents = []\nmessage = \"schema\"\nplugin = \"sql\"\n",
    )
    .expect("write revision.toml");
    std::fs::write(rev.join("upgrade.sql"), &ddl).expect("write upgrade.sql");
    std::fs::write(rev.join("downgrade.sql"), "").expect("write downgrade.sql");

    std::fs::create_dir_all(dir.join("alembic/versions")).expect("alembic/");
    std::fs::write(
        dir.join("alembic.ini"),
        format!("[alembic]\nscript_location = alembic\nsqlalchemy.url = {alembic_url}\n"),
    )
    .expect("write alembic.ini");
    std::fs::write(
        dir.join("alembic/env.py"),
        "import sys, os\nsys.path.insert(0, os.getcwd())\n\
         from alembic import context\nimport sqlalchemy as sa\nimport models\n\
         config = context.config\n\
         engine = sa.create_engine(config.get_main_option('sqlalchemy.url'))\n\
         def include_name(name, type_, parent_names):\n    return not (type_ == 'table' and name.startswith('aludel_'))\n\
         with engine.connect() as connection:\n    \
         context.configure(connection=connection, target_metadata=models.metadata, \
         compare_type=True, compare_server_default=True, include_name=include_name)\n    \
         with context.begin_transaction():\n        context.run_migrations()\n",
    )
    .expect("write env.py");
    std::fs::write(dir.join("alembic/script.py.mako"), "").expect("write script.py.mako");
}

fn run(dir: &Path, args: &[&str]) {
    timed(dir, args, true);
}

fn timed(dir: &Path, args: &[&str], must_succeed: bool) -> Duration {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_aludel"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .output()
        .expect("aludel runs");
    let elapsed = started.elapsed();
    assert!(
        !must_succeed || out.status.success(),
        "aludel {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn median(mut f: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..ROUNDS).map(|_| f()).collect();
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
