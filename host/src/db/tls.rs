//! TLS to PostgreSQL and MySQL/MariaDB: what the URL asks for beyond what
//! sqlx reads from it, and what a failed connection means in words a user
//! can act on (which host, which certificate, which parameter to change).
//!
//! sqlx does the handshake with rustls and the platform's root
//! certificates; docs/connecting.md says what each mode checks.

use std::path::Path;

use super::{ConnectError, Dialect};

/// The value of the first query parameter of `url` named one of `names`
/// (decoded, as a driver reads it). The last of repeated parameters wins in
/// sqlx, and so it does here.
pub(crate) fn query_param(url: &str, names: &[&str]) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').rev().find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = super::percent_decode(key);
        names
            .contains(&key.as_str())
            .then(|| super::percent_decode(value))
    })
}

/// The parameter names of one dialect, for messages that say which to set.
struct Words {
    mode: &'static str,
    root: &'static str,
    require: &'static str,
    verify_ca: &'static str,
    disable: &'static str,
}

fn words(dialect: Dialect) -> Words {
    match dialect {
        Dialect::Mysql => Words {
            mode: "ssl-mode",
            root: "ssl-ca",
            require: "REQUIRED",
            verify_ca: "VERIFY_CA",
            disable: "DISABLED",
        },
        _ => Words {
            mode: "sslmode",
            root: "sslrootcert",
            require: "require",
            verify_ca: "verify-ca",
            disable: "disable",
        },
    }
}

/// A certificate file named by the URL (`what` is its parameter): it must
/// be readable and hold a PEM certificate, checked before connecting, since
/// sqlx would report a missing file as a bare "No such file or directory"
/// from inside the handshake.
pub(crate) fn check_certificate_file(
    url: &str,
    what: &str,
    path: &str,
) -> Result<(), ConnectError> {
    let fail = |problem: String| ConnectError::Tls {
        url: super::redact_url(url),
        problem,
        fix: format!(
            "set {what} to the path of a PEM file holding the certificate \
             (a hosted database publishes its CA certificate: see docs/connecting.md)"
        ),
        source: None,
    };
    match std::fs::read(Path::new(path)) {
        Err(e) => Err(fail(format!("cannot read the {what} file {path}: {e}"))),
        Ok(data) if !contains(&data, b"-----BEGIN CERTIFICATE-----") => Err(fail(format!(
            "the {what} file {path} holds no PEM certificate (no \
             -----BEGIN CERTIFICATE----- line)"
        ))),
        Ok(_) => Ok(()),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The error of a connection that failed: a [`ConnectError::Tls`] naming
/// the host and what to do when the failure is TLS's (the server's
/// certificate, a server without TLS, a server that takes only TLS), else
/// [`ConnectError::Failed`].
pub(crate) fn connect_error(
    dialect: Dialect,
    url: &str,
    host: &str,
    mode: &str,
    source: sqlx::Error,
) -> ConnectError {
    match explain(dialect, host, mode, &source) {
        Some((problem, fix)) => ConnectError::Tls {
            url: super::redact_url(url),
            problem,
            fix,
            source: Some(source),
        },
        None => ConnectError::Failed {
            url: super::redact_url(url),
            source,
        },
    }
}

/// What went wrong and what to do, when it is TLS's doing.
fn explain(
    dialect: Dialect,
    host: &str,
    mode: &str,
    err: &sqlx::Error,
) -> Option<(String, String)> {
    let w = words(dialect);
    if let sqlx::Error::Tls(inner) = err
        && inner.to_string() == "server does not support TLS"
    {
        return Some((
            format!(
                "{host} does not offer TLS, and {}={mode} requires it",
                w.mode
            ),
            format!(
                "connect to a server or port that has TLS on, or, on a network you \
                 trust, use {}={} to connect without it",
                w.mode, w.disable
            ),
        ));
    }
    if let Some(rustls) = find_rustls_error(err) {
        return Some(explain_handshake(&w, host, mode, rustls));
    }
    if let sqlx::Error::Database(db) = err {
        let message = db.message();
        // PostgreSQL: a `hostssl`-only pg_hba.conf refuses a plain startup
        // with "no pg_hba.conf entry for host …, no encryption". MySQL and
        // MariaDB: ER_SECURE_TRANSPORT_REQUIRED (3159).
        let tls_only = match dialect {
            Dialect::Postgresql => {
                db.code().as_deref() == Some("28000") && message.contains("no encryption")
            }
            _ => message.contains("insecure transport"),
        };
        // MariaDB answers a login without TLS under
        // `require_secure_transport`, or for a user made `REQUIRE SSL`,
        // with a plain "access denied" (1045): where TLS was off, say that
        // it may be why.
        if dialect == Dialect::Mysql && mode == w.disable && db.code().as_deref() == Some("28000") {
            return Some((
                format!(
                    "{host} refused the login over a connection without TLS                      ({}={mode}): {message}; a server with require_secure_transport,                      or a user made with REQUIRE SSL, refuses every login without TLS",
                    w.mode
                ),
                format!(
                    "use {}={} (or stronger: see docs/connecting.md); if the login                      fails with TLS too, check the user name and password",
                    w.mode, w.require
                ),
            ));
        }
        if tls_only {
            return Some((
                format!(
                    "{host} accepts only TLS connections, and {}={mode} connects without TLS",
                    w.mode
                ),
                format!(
                    "use {}={} (or stronger: see docs/connecting.md)",
                    w.mode, w.require
                ),
            ));
        }
    }
    None
}

fn explain_handshake(w: &Words, host: &str, mode: &str, err: &rustls::Error) -> (String, String) {
    use rustls::CertificateError as C;
    let cert = match err {
        rustls::Error::InvalidCertificate(c) => c,
        other => {
            return (
                format!("the TLS handshake with {host} failed: {other}"),
                format!(
                    "check the server's TLS setup (aludel speaks TLS 1.2 and 1.3); \
                     {}={mode} was asked for",
                    w.mode
                ),
            );
        }
    };
    match cert {
        C::UnknownIssuer | C::BadSignature => (
            format!(
                "the TLS certificate of {host} is not trusted: it is not signed by \
                 the platform's root certificates nor by the {} file, if one was given \
                 ({}={mode})",
                w.root, w.mode
            ),
            format!(
                "set {}=PATH to the CA certificate that signed the server's \
                 (a hosted database publishes it: see docs/connecting.md), or use \
                 {}={} to encrypt without checking the certificate",
                w.root, w.mode, w.require
            ),
        ),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            let names = match cert {
                C::NotValidForNameContext { presented, .. } if !presented.is_empty() => {
                    let names: Vec<&str> = presented.iter().map(|n| bare_name(n)).collect();
                    format!(" (it is for {})", names.join(", "))
                }
                _ => String::new(),
            };
            (
                format!(
                    "the TLS certificate of {host} is not valid for the name {host}{names} \
                     ({}={mode} checks the name)",
                    w.mode
                ),
                format!(
                    "connect by a name the certificate holds, or use {}={} to check \
                     the certificate's CA but not its name",
                    w.mode, w.verify_ca
                ),
            )
        }
        C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => (
            format!("the TLS certificate of {host} is out of its validity period: {err}"),
            "renew the server's certificate, or check this machine's clock".to_string(),
        ),
        _ => (
            format!("the TLS certificate of {host} was refused: {err}"),
            format!(
                "check the server's certificate, or use {}={} to encrypt without \
                 checking it",
                w.mode, w.require
            ),
        ),
    }
}

/// A name as rustls presents it (`DnsName("localhost")`), without its
/// wrapping.
fn bare_name(presented: &str) -> &str {
    match (presented.find('"'), presented.rfind('"')) {
        (Some(a), Some(b)) if a < b => &presented[a + 1..b],
        _ => presented,
    }
}

/// The rustls error inside a sqlx error: a handshake's failure reaches
/// sqlx as an `io::Error` wrapping it, whose `source()` skips the wrapped
/// error itself, so each I/O error is opened with `get_ref`.
fn find_rustls_error(err: &sqlx::Error) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(found) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(found);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_parameter_is_read_decoded_and_the_last_one_wins() {
        let url =
            "postgres://u@h/db?sslmode=require&sslrootcert=%2Ftmp%2Fca.pem&sslmode=verify-full";
        assert_eq!(
            query_param(url, &["sslmode", "ssl-mode"]).as_deref(),
            Some("verify-full")
        );
        assert_eq!(
            query_param(url, &["sslrootcert"]).as_deref(),
            Some("/tmp/ca.pem")
        );
        assert_eq!(query_param(url, &["sslcert"]), None);
        assert_eq!(query_param("postgres://u@h/db", &["sslmode"]), None);
    }

    #[test]
    fn a_presented_name_is_shown_without_its_wrapping() {
        assert_eq!(bare_name("DnsName(\"localhost\")"), "localhost");
        assert_eq!(bare_name("db.example"), "db.example");
    }

    #[test]
    fn a_missing_or_empty_certificate_file_is_named_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let url = "postgres://u:secret@h/db";
        let message = check_certificate_file(url, "sslrootcert", missing.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("cannot read the sslrootcert file"),
            "{message}"
        );
        assert!(message.contains("nope.pem"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let message = check_certificate_file(url, "ssl-ca", empty.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(message.contains("holds no PEM certificate"), "{message}");
    }
}
