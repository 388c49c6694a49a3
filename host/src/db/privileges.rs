//! Which powers of a connection let SQL reach the database server's files
//! or programs, on PostgreSQL and MySQL/MariaDB: one catalogue query per
//! backend, asked once per run that runs revisions, and the pure rules that
//! turn its rows into [`Privilege`]s (what docs/security.md lists).
//!
//! A revision's SQL runs with every power of the migrating connection, and
//! aludel cannot confine a server-side `COPY ... TO PROGRAM` or `SELECT ...
//! INTO OUTFILE` statement by statement (that would be a parser of every
//! dialect, and a round trip a statement). So it finds these powers up
//! front, warns, and refuses them under `--untrusted`.

use super::Privilege;

/// PostgreSQL: every role the current user is a member of (directly or
/// through other roles, with or without INHERIT: `SET ROLE` reaches them
/// all) that is a superuser, one of the server-file roles, or, before
/// PostgreSQL 16, has CREATEROLE (which could then grant itself any of
/// those roles: checked on 15). Then every server-side file function in
/// `pg_catalog` the user may execute (`lo_import`, `pg_read_file`, and
/// adminpack's `pg_file_write` where installed): revoked from PUBLIC by
/// default, they reach files when granted.
///
/// Rows: (kind, name, is the current user). Untrusted languages and
/// untrusted extensions (`file_fdw`, `adminpack`, `dblink_connect_u`) need
/// a superuser to create, so the superuser row covers them.
pub(super) const POSTGRES_QUERY: &str = "\
SELECT CASE WHEN r.rolsuper THEN 'superuser' \
            WHEN r.rolname IN ('pg_execute_server_program', 'pg_read_server_files', \
                               'pg_write_server_files') THEN 'role' \
            ELSE 'createrole' END, \
       r.rolname::text, r.rolname = current_user \
FROM pg_catalog.pg_roles r \
WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER') \
  AND (r.rolsuper \
       OR r.rolname IN ('pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files') \
       OR (r.rolcreaterole AND pg_catalog.current_setting('server_version_num')::int < 160000)) \
UNION ALL \
SELECT DISTINCT 'function', p.proname::text, false \
FROM pg_catalog.pg_proc p \
WHERE p.pronamespace = 'pg_catalog'::regnamespace \
  AND p.proname IN ('lo_import', 'lo_export', 'pg_read_file', 'pg_read_binary_file', \
                    'pg_ls_dir', 'pg_stat_file', 'pg_file_write', 'pg_file_rename', \
                    'pg_file_unlink', 'pg_file_sync') \
  AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')";

/// The privileges the rows of [`POSTGRES_QUERY`] mean. A superuser is
/// reported as that alone: it implies every other.
pub(super) fn postgres(rows: Vec<(String, String, bool)>) -> Vec<Privilege> {
    if rows.iter().any(|(kind, _, me)| kind == "superuser" && *me) {
        return vec![Privilege {
            name: "superuser".into(),
            reach: "any SQL, including COPY ... TO PROGRAM (shell commands on the server) \
                    and COPY ... FROM/TO a file of the server"
                .into(),
        }];
    }
    let mut out: Vec<Privilege> = rows
        .into_iter()
        .map(|(kind, name, _)| match kind.as_str() {
            "superuser" => Privilege {
                reach: format!("SET ROLE {name} makes the connection a superuser"),
                name: format!("member of superuser role {name}"),
            },
            "role" => Privilege {
                reach: match name.as_str() {
                    "pg_execute_server_program" => {
                        "COPY ... TO/FROM PROGRAM runs shell commands on the server".into()
                    }
                    "pg_read_server_files" => {
                        "COPY ... FROM reads any file the server can read".into()
                    }
                    _ => "COPY ... TO writes any file the server can write".into(),
                },
                name: format!("member of {name}"),
            },
            "createrole" => Privilege {
                reach: "before PostgreSQL 16, CREATEROLE can grant itself \
                        pg_execute_server_program and the server-file roles"
                    .into(),
                name: format!("CREATEROLE (role {name})"),
            },
            _ => Privilege {
                reach: "a server-side file function, revoked from PUBLIC by default".into(),
                name: format!("EXECUTE on {name}()"),
            },
        })
        .collect();
    out.dedup();
    out
}

/// MySQL and MariaDB: the current user's own global privileges that reach
/// files or programs, its `INSERT` on the `mysql` schema, and the roles it
/// may `SET ROLE` to, with `@@secure_file_priv` and the server's version.
///
/// Rows: (privilege or `ROLE`, scope or role name, secure_file_priv, version).
/// A user cannot read the privileges of its roles from information_schema
/// (`SHOW GRANTS FOR role` needs the `mysql` schema), so a role is reported
/// as one that may hold them: the setup in docs/security.md grants the
/// migration user its privileges directly.
pub(super) const MYSQL_QUERY: &str = "\
SELECT CAST(p.PRIVILEGE_TYPE AS CHAR), CAST('*.*' AS CHAR), \
       CAST(@@secure_file_priv AS CHAR), CAST(VERSION() AS CHAR) \
FROM information_schema.USER_PRIVILEGES p \
WHERE p.GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', \
                         SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') \
  AND p.PRIVILEGE_TYPE IN ('FILE', 'SUPER', 'SYSTEM_VARIABLES_ADMIN', 'INSERT') \
UNION ALL \
SELECT CAST(s.PRIVILEGE_TYPE AS CHAR), CAST('mysql.*' AS CHAR), \
       CAST(@@secure_file_priv AS CHAR), CAST(VERSION() AS CHAR) \
FROM information_schema.SCHEMA_PRIVILEGES s \
WHERE s.GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', \
                         SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') \
  AND s.TABLE_SCHEMA = 'mysql' AND s.PRIVILEGE_TYPE = 'INSERT' \
UNION ALL \
SELECT CAST('ROLE' AS CHAR), CAST(r.ROLE_NAME AS CHAR), \
       CAST(@@secure_file_priv AS CHAR), CAST(VERSION() AS CHAR) \
FROM information_schema.APPLICABLE_ROLES r";

/// The privileges the rows of [`MYSQL_QUERY`] mean.
///
/// `secure_file_priv` decides what FILE reaches: a directory limits it to
/// that directory; empty means every file the server's OS user can read or
/// write. Unset (NULL) differs: MariaDB then allows every file too, MySQL
/// disables file import and export, so there FILE is harmless and not
/// reported (the variable is read-only at run time).
pub(super) fn mysql(rows: Vec<(String, String, Option<String>, String)>) -> Vec<Privilege> {
    let mut out = Vec::new();
    for (privilege, scope, secure_file_priv, version) in rows {
        let mariadb = version.contains("MariaDB");
        let privilege_found = match privilege.as_str() {
            "FILE" => {
                let reach = match secure_file_priv.as_deref() {
                    Some("") => "LOAD DATA INFILE, SELECT ... INTO OUTFILE and LOAD_FILE() \
                                 reach every file the server can read or write \
                                 (secure_file_priv is empty)"
                        .to_string(),
                    None if mariadb => "LOAD DATA INFILE, SELECT ... INTO OUTFILE and \
                                        LOAD_FILE() reach every file the server can read \
                                        or write (secure_file_priv is not set)"
                        .to_string(),
                    None => continue,
                    Some(dir) => format!(
                        "LOAD DATA INFILE, SELECT ... INTO OUTFILE and LOAD_FILE() reach \
                         the files under {dir} (secure_file_priv)"
                    ),
                };
                Privilege {
                    name: "FILE".into(),
                    reach,
                }
            }
            "SUPER" | "SYSTEM_VARIABLES_ADMIN" => Privilege {
                name: privilege.clone(),
                reach: "SET GLOBAL general_log_file (and other log paths) writes files \
                        anywhere the server can"
                    .into(),
            },
            "INSERT" => Privilege {
                name: format!("INSERT on {scope}"),
                reach: "writes the mysql schema: INSTALL PLUGIN and CREATE FUNCTION ... \
                        SONAME load shared libraries into the server"
                    .into(),
            },
            _ => Privilege {
                name: format!("role {scope}"),
                reach: "its privileges are not visible to this user, so it may hold FILE \
                        or SUPER: grant the migration user its privileges directly"
                    .into(),
            },
        };
        if !out.contains(&privilege_found) {
            out.push(privilege_found);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(privileges: &[Privilege]) -> Vec<&str> {
        privileges.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn a_postgres_superuser_is_reported_as_that_alone() {
        let rows = vec![
            ("superuser".into(), "postgres".into(), true),
            ("role".into(), "pg_execute_server_program".into(), false),
            ("function".into(), "lo_import".into(), false),
        ];
        assert_eq!(names(&postgres(rows)), ["superuser"]);
    }

    #[test]
    fn postgres_memberships_createrole_and_file_functions_are_each_named() {
        let rows = vec![
            ("superuser".into(), "admin".into(), false),
            ("role".into(), "pg_read_server_files".into(), false),
            ("createrole".into(), "mig".into(), true),
            ("function".into(), "lo_export".into(), false),
        ];
        let found = postgres(rows);
        assert_eq!(
            names(&found),
            [
                "member of superuser role admin",
                "member of pg_read_server_files",
                "CREATEROLE (role mig)",
                "EXECUTE on lo_export()",
            ]
        );
        assert!(found[1].reach.contains("COPY ... FROM"), "{:?}", found[1]);
        assert!(postgres(Vec::new()).is_empty());
    }

    #[test]
    fn mysql_file_depends_on_secure_file_priv_and_the_server() {
        let file = |priv_dir: Option<&str>, version: &str| {
            mysql(vec![(
                "FILE".into(),
                "*.*".into(),
                priv_dir.map(str::to_string),
                version.into(),
            )])
        };
        assert!(file(Some(""), "8.0.36")[0].reach.contains("every file"));
        assert!(file(None, "10.11.6-MariaDB")[0].reach.contains("not set"));
        assert!(
            file(Some("/var/lib/mysql-files/"), "8.0.36")[0]
                .reach
                .contains("under /var/lib/mysql-files/")
        );
        // MySQL with secure_file_priv NULL refuses every file operation.
        assert!(file(None, "8.0.36").is_empty());
    }

    #[test]
    fn mysql_super_insert_on_the_mysql_schema_and_roles_are_named_once() {
        let row = |p: &str, s: &str| (p.to_string(), s.to_string(), None, "10.11".to_string());
        let found = mysql(vec![
            row("SUPER", "*.*"),
            row("INSERT", "*.*"),
            row("INSERT", "mysql.*"),
            row("ROLE", "app_admin"),
            row("ROLE", "app_admin"),
        ]);
        assert_eq!(
            names(&found),
            [
                "SUPER",
                "INSERT on *.*",
                "INSERT on mysql.*",
                "role app_admin"
            ]
        );
    }
}
