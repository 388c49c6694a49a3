//! Revision templates: the built-in ones embedded in the binary (and written
//! into a project by `aludel init`), and rendering a project's
//! `templates/<kind>/` into a new revision directory with minijinja, the way
//! Alembic renders `script.py.mako`.

use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use minijinja::{Environment, UndefinedBehavior};

use super::manifest::{check_id, parse_manifest};
use super::{
    MANIFEST_FILE, Project, ProjectError, TEMPLATES_DIR, VERSIONS_DIR, cap_error, open_root,
};

/// A template shipped with aludel: its path under `templates/` and its text.
pub(crate) struct BuiltinTemplate {
    pub path: &'static str,
    pub contents: &'static str,
}

macro_rules! builtin {
    ($path:literal) => {
        BuiltinTemplate {
            path: $path,
            contents: include_str!(concat!("../../templates/", $path)),
        }
    };
}

pub(crate) const BUILTIN_TEMPLATES: &[BuiltinTemplate] = &[
    builtin!("sql/revision.toml.j2"),
    builtin!("sql/upgrade.sql.j2"),
    builtin!("sql/downgrade.sql.j2"),
    builtin!("rust/revision.toml.j2"),
    builtin!("rust/Cargo.toml.j2"),
    builtin!("rust/src/lib.rs.j2"),
    builtin!("python/revision.toml.j2"),
    builtin!("python/migration.py.j2"),
    builtin!("js/revision.toml.j2"),
    builtin!("js/migration.js.j2"),
];

/// The `aludel.toml` that `aludel init` writes.
pub(crate) const CONFIG_TEMPLATE: &str = include_str!("../../templates/aludel.toml");

/// What `aludel revision` asks for.
///
/// The templates see these variables: `id`, `parents` (a list), `message`,
/// `slug`, `created` (RFC 3339, UTC, whole seconds), `kind`, and
/// `sdk_dependency` (see [`sdk_dependency`]). The filter `toml` writes a
/// value as TOML (`message = {{ message | toml }}`), so that quotes in a
/// message cannot break `revision.toml`. An undefined variable is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRevision {
    pub message: String,
    /// The template directory under `templates/`: `sql` or `rust` built in.
    pub kind: String,
    /// Full ids of existing revisions; empty for a base revision.
    pub parents: Vec<String>,
    /// A custom id (as Alembic's `--rev-id`); a random one when `None`.
    pub id: Option<String>,
    /// Branch labels of the new revision (`--branch-label`).
    pub branch_labels: Vec<String>,
    /// Revisions it depends on without descending from them (`--depends-on`), full ids.
    pub depends_on: Vec<String>,
    /// What `revision --autogenerate` found: the templates receive it as
    /// `upgrade_ops` and `downgrade_ops`, and every statement must appear
    /// in what they render. None for a hand-written revision (the lists
    /// are then empty).
    pub operations: Option<Operations>,
}

/// The statements of a generated revision, as the templates see them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Operations {
    pub upgrade: Vec<Operation>,
    pub downgrade: Vec<Operation>,
    /// Keys the revision.toml template may add (`foreign_keys = false` for
    /// a SQLite rebuild), as `manifest_extra`.
    pub manifest_extra: Vec<String>,
}

/// One statement: `sql` (without its `;`), `comment` (what it does) and
/// `destructive` (why it may lose data, or empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Operation {
    pub sql: String,
    pub comment: String,
    pub destructive: Option<String>,
}

/// A new random revision id: 12 lowercase hex characters, as Alembic's.
pub fn new_revision_id() -> String {
    hex::encode(rand::random::<[u8; 6]>())
}

/// The slug of a revision message, as Alembic makes it: the runs of letters
/// and digits, lowercased and joined by `_`; longer than 40 characters, it is
/// cut at the last `_` before the limit and ends with `_` to show the cut.
/// Only ASCII letters and digits are kept, so that the directory name is
/// portable.
pub fn slugify(message: &str) -> String {
    const MAX: usize = 40;
    let slug = message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join("_")
        .to_ascii_lowercase();
    if slug.len() <= MAX {
        return slug;
    }
    // The slug is ASCII, so byte indexes are char boundaries.
    let cut = &slug[..MAX];
    match cut.rfind('_') {
        Some(i) => format!("{}_", &cut[..i]),
        None => format!("{cut}_"),
    }
}

/// The `aludel-sdk` dependency of a new Rust revision, as a TOML inline
/// value for its `Cargo.toml`:
///
/// 1. `{ path = "<ALUDEL_SDK_PATH>" }` when the environment variable
///    `ALUDEL_SDK_PATH` is set (made absolute against the working directory);
/// 2. else `{ path = "<aludel's source>/sdk" }` when the `sdk/` directory
///    beside the sources aludel was compiled from still exists, which is the
///    case for a development build run from its checkout;
/// 3. else `"0.1"`, the SDK from crates.io.
pub fn sdk_dependency() -> String {
    let from_env = std::env::var_os("ALUDEL_SDK_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .map(|p| std::path::absolute(&p).unwrap_or(p));
    let from_checkout = || {
        let sdk = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk"));
        sdk.is_dir()
            .then(|| std::fs::canonicalize(sdk).unwrap_or_else(|_| sdk.to_path_buf()))
    };
    match from_env.or_else(from_checkout) {
        Some(path) => {
            let path = toml::Value::String(path.to_string_lossy().into_owned());
            format!("{{ path = {path} }}")
        }
        None => "\"0.1\"".to_string(),
    }
}

/// One file of a template directory.
struct TemplateFile {
    /// Relative to the template directory, with `/` separators.
    path: String,
    contents: Vec<u8>,
}

pub(crate) fn new_revision(project: &Project, req: &NewRevision) -> Result<PathBuf, ProjectError> {
    let id = req.id.clone().unwrap_or_else(new_revision_id);
    check_id(&id).map_err(|reason| ProjectError::InvalidId {
        id: id.clone(),
        reason,
    })?;
    if let Some(existing) = project.revision(&id) {
        return Err(ProjectError::RevisionExists {
            id,
            dir: Path::new(VERSIONS_DIR).join(&existing.dir_name),
        });
    }
    for parent in req.parents.iter().chain(&req.depends_on) {
        if project.revision(parent).is_none() {
            return Err(ProjectError::UnknownParent {
                parent: parent.clone(),
            });
        }
    }

    let root = open_root(&project.root)?;
    let files = load_template(&root, &req.kind)?;
    let slug = slugify(&req.message);
    let created = now_rfc3339();
    let context = minijinja::context! {
        id => &id,
        parents => &req.parents,
        branch_labels => &req.branch_labels,
        depends_on => &req.depends_on,
        message => &req.message,
        slug => &slug,
        created => &created,
        kind => &req.kind,
        sdk_dependency => sdk_dependency(),
        autogenerate => req.operations.is_some(),
        upgrade_ops => req.operations.as_ref().map(|o| o.upgrade.clone()).unwrap_or_default(),
        downgrade_ops => req.operations.as_ref().map(|o| o.downgrade.clone()).unwrap_or_default(),
        manifest_extra => req.operations.as_ref().map(|o| o.manifest_extra.clone()).unwrap_or_default(),
    };
    let rendered = render(&req.kind, &files, &context)?;
    if let Some(ops) = &req.operations {
        check_operations_rendered(&req.kind, &rendered, ops)?;
    }

    let dir_name = if slug.is_empty() {
        id.clone()
    } else {
        format!("{id}_{slug}")
    };
    let rel_dir = Path::new(VERSIONS_DIR).join(&dir_name);
    let abs_dir = project.root.join(&rel_dir);

    // Check what the template made before writing anything, so that a broken
    // template never leaves a broken revision behind.
    let Some((_, manifest)) = rendered.iter().find(|(path, _)| path == MANIFEST_FILE) else {
        return Err(ProjectError::Template {
            template: Path::new(TEMPLATES_DIR).join(&req.kind),
            message: format!("it makes no {MANIFEST_FILE}: add `{MANIFEST_FILE}.j2` to it"),
        });
    };
    let manifest_text = String::from_utf8_lossy(manifest);
    let revision = parse_manifest(
        &manifest_text,
        &rel_dir.join(MANIFEST_FILE),
        abs_dir.clone(),
        dir_name.clone(),
    )
    .map_err(|e| ProjectError::Template {
        template: Path::new(TEMPLATES_DIR)
            .join(&req.kind)
            .join("revision.toml.j2"),
        message: format!("it renders an invalid revision.toml: {e}"),
    })?;
    if revision.id != id
        || revision.parents != req.parents
        || revision.branch_labels != req.branch_labels
        || revision.depends_on != req.depends_on
    {
        return Err(ProjectError::Template {
            template: Path::new(TEMPLATES_DIR).join(&req.kind).join("revision.toml.j2"),
            message: "the revision.toml it renders must take `id`, `parents`, `branch_labels` and \
                      `depends_on` from the template variables: `id = {{ id | toml }}`, \
                      `parents = {{ parents | toml }}`, `branch_labels = {{ branch_labels | toml }}`, \
                      `depends_on = {{ depends_on | toml }}`"
                .to_string(),
        });
    }

    root.create_dir_all(VERSIONS_DIR)
        .map_err(|e| cap_error("create", Path::new(VERSIONS_DIR), e))?;
    // create_dir, not create_dir_all: an existing directory is refused.
    root.create_dir(&rel_dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            ProjectError::RevisionExists {
                id: id.clone(),
                dir: rel_dir.clone(),
            }
        } else {
            cap_error("create", &rel_dir, e)
        }
    })?;
    if let Err(e) = write_files(&root, &rel_dir, &rendered) {
        // Half a revision would fail every later `open`.
        if let Err(cleanup) = root.remove_dir_all(&rel_dir) {
            tracing::warn!(dir = %rel_dir.display(), error = %cleanup, "could not remove a partly written revision");
        }
        return Err(e);
    }
    Ok(abs_dir)
}

/// A generated revision whose template dropped a statement would run
/// something other than what was proved: refused, naming the template.
fn check_operations_rendered(
    kind: &str,
    rendered: &[(String, Vec<u8>)],
    ops: &Operations,
) -> Result<(), ProjectError> {
    for (file, list) in [
        ("upgrade.sql", &ops.upgrade),
        ("downgrade.sql", &ops.downgrade),
    ] {
        let text = rendered
            .iter()
            .find(|(path, _)| path == file)
            .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_default();
        let mut at = 0;
        for op in list.iter() {
            match text[at..].find(op.sql.as_str()) {
                Some(i) => at += i + op.sql.len(),
                None => {
                    return Err(ProjectError::Template {
                        template: Path::new(TEMPLATES_DIR)
                            .join(kind)
                            .join(format!("{file}.j2")),
                        message: format!(
                            "it does not write every generated statement, in order (missing: {}): \
                             render them with `{{% for op in {}_ops %}}{{{{ op.sql }}}};{{% endfor %}}`",
                            op.sql.lines().next().unwrap_or(""),
                            file.trim_end_matches(".sql")
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

fn write_files(
    root: &Dir,
    rel_dir: &Path,
    files: &[(String, Vec<u8>)],
) -> Result<(), ProjectError> {
    for (path, contents) in files {
        let rel = rel_dir.join(path);
        if let Some(parent) = rel.parent() {
            root.create_dir_all(parent)
                .map_err(|e| cap_error("create", parent, e))?;
        }
        root.write(&rel, contents)
            .map_err(|e| cap_error("write", &rel, e))?;
    }
    Ok(())
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// The files of `templates/<kind>/` in the project, or the built-in ones for
/// `sql` and `rust` when the project has no such directory (a project made
/// before a template existed, or one that deleted them).
fn load_template(root: &Dir, kind: &str) -> Result<Vec<TemplateFile>, ProjectError> {
    let valid_kind = !kind.is_empty()
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let rel = Path::new(TEMPLATES_DIR).join(kind);
    let dir = if valid_kind {
        match root.open_dir(&rel) {
            Ok(dir) => Some(dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(cap_error("open", &rel, e)),
        }
    } else {
        None
    };
    let Some(dir) = dir else {
        let builtin: Vec<TemplateFile> = BUILTIN_TEMPLATES
            .iter()
            .filter_map(|t| {
                let path = t.path.strip_prefix(kind)?.strip_prefix('/')?;
                Some(TemplateFile {
                    path: path.to_string(),
                    contents: t.contents.as_bytes().to_vec(),
                })
            })
            .collect();
        if valid_kind && !builtin.is_empty() {
            tracing::debug!(
                kind,
                "no templates/{kind}/ in the project: using the built-in one"
            );
            return Ok(builtin);
        }
        return Err(ProjectError::UnknownTemplate {
            kind: kind.to_string(),
            available: available_kinds(root),
        });
    };
    let mut files = Vec::new();
    walk(&dir, &rel, "", &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn walk(
    dir: &Dir,
    shown: &Path,
    prefix: &str,
    files: &mut Vec<TemplateFile>,
) -> Result<(), ProjectError> {
    let entries = dir.entries().map_err(|e| cap_error("list", shown, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| cap_error("list", shown, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(ProjectError::Template {
                template: shown.join(&name),
                message: "the name is not valid UTF-8: rename it".to_string(),
            });
        };
        let path = format!("{prefix}{name}");
        let meta = dir
            .metadata(name)
            .map_err(|e| cap_error("inspect", &shown.join(name), e))?;
        if meta.is_dir() {
            let sub = dir
                .open_dir(name)
                .map_err(|e| cap_error("open", &shown.join(name), e))?;
            walk(&sub, &shown.join(name), &format!("{path}/"), files)?;
        } else {
            let contents = dir
                .read(name)
                .map_err(|e| cap_error("read", &shown.join(name), e))?;
            files.push(TemplateFile { path, contents });
        }
    }
    Ok(())
}

fn available_kinds(root: &Dir) -> Vec<String> {
    let mut kinds: Vec<String> = BUILTIN_TEMPLATES
        .iter()
        .filter_map(|t| t.path.split('/').next())
        .map(str::to_string)
        .collect();
    if let Ok(entries) = root.read_dir(TEMPLATES_DIR) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir())
                && let Some(name) = entry.file_name().to_str()
                && !name.starts_with('.')
            {
                kinds.push(name.to_string());
            }
        }
    }
    kinds.sort();
    kinds.dedup();
    kinds
}

/// Renders the `.j2` files (which lose the suffix) and copies the others.
fn render(
    kind: &str,
    files: &[TemplateFile],
    context: &minijinja::Value,
) -> Result<Vec<(String, Vec<u8>)>, ProjectError> {
    let template_path = |path: &str| Path::new(TEMPLATES_DIR).join(kind).join(path);
    let mut env = Environment::new();
    // Keep generated files byte-for-byte as written: no HTML escaping (the
    // output is TOML, SQL, Rust), and the final newline kept.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("toml", toml_filter);
    // Every .j2 is added first, so that templates can include one another.
    for file in files.iter().filter(|f| f.path.ends_with(".j2")) {
        let source =
            String::from_utf8(file.contents.clone()).map_err(|_| ProjectError::Template {
                template: template_path(&file.path),
                message: "it is not valid UTF-8".to_string(),
            })?;
        env.add_template_owned(file.path.clone(), source)
            .map_err(|e| ProjectError::Template {
                template: template_path(&file.path),
                message: e.to_string(),
            })?;
    }
    files
        .iter()
        .map(|file| match file.path.strip_suffix(".j2") {
            Some(output) => {
                let text = env
                    .get_template(&file.path)
                    .and_then(|t| t.render(context))
                    .map_err(|e| ProjectError::Template {
                        template: template_path(&file.path),
                        message: e.to_string(),
                    })?;
                Ok((output.to_string(), text.into_bytes()))
            }
            None => Ok((file.path.clone(), file.contents.clone())),
        })
        .collect()
}

/// `{{ value | toml }}`: the value as a TOML value: strings quoted and
/// escaped (always as one-line basic strings, which read best in a
/// manifest), lists and maps inline.
fn toml_filter(value: minijinja::Value) -> Result<String, minijinja::Error> {
    let json = serde_json::to_value(&value).map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("cannot write {value} as TOML: {e}"),
        )
    })?;
    let mut out = String::new();
    write_toml(&json, &mut out).map_err(|what| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("cannot write {what} as TOML"),
        )
    })?;
    Ok(out)
}

fn write_toml(value: &serde_json::Value, out: &mut String) -> Result<(), &'static str> {
    match value {
        serde_json::Value::Null => return Err("none"),
        serde_json::Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        serde_json::Value::Number(n) => out.push_str(&n.to_string()),
        serde_json::Value::String(s) => write_toml_string(s, out),
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_toml(item, out)?;
            }
            out.push(']');
        }
        serde_json::Value::Object(map) => {
            out.push_str("{ ");
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let bare = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if bare {
                    out.push_str(key);
                } else {
                    write_toml_string(key, out);
                }
                out.push_str(" = ");
                write_toml(item, out)?;
            }
            out.push_str(" }");
        }
    }
    Ok(())
}

fn write_toml_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, Project) {
        let tmp = tempfile::tempdir().unwrap();
        Project::init(tmp.path()).unwrap();
        let project = Project::open(tmp.path()).unwrap();
        (tmp, project)
    }

    fn request(kind: &str, message: &str, parents: &[&str], id: Option<&str>) -> NewRevision {
        NewRevision {
            message: message.to_string(),
            kind: kind.to_string(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            id: id.map(str::to_string),
            branch_labels: Vec::new(),
            depends_on: Vec::new(),
            operations: None,
        }
    }

    #[test]
    fn new_revision_ids_are_12_lowercase_hex_characters() {
        let id = new_revision_id();
        assert_eq!(id.len(), 12);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(id, new_revision_id());
    }

    #[test]
    fn slugs_follow_alembic() {
        assert_eq!(slugify("Add users"), "add_users");
        assert_eq!(
            slugify("add 'email' column, to users!"),
            "add_email_column_to_users"
        );
        assert_eq!(slugify("  --  "), "");
        assert_eq!(slugify("café au lait"), "caf_au_lait");
        assert_eq!(
            slugify("rename the accounts table to users and backfill their emails"),
            "rename_the_accounts_table_to_users_and_"
        );
        assert_eq!(slugify(&"x".repeat(50)), format!("{}_", "x".repeat(40)));
    }

    #[test]
    fn sql_revisions_render_into_a_directory_that_open_loads() {
        let (_tmp, project) = project();
        let dir = project
            .new_revision(&request(
                "sql",
                "Add \"users\" table",
                &[],
                Some("ae1027a6acf0"),
            ))
            .unwrap();
        assert_eq!(
            dir,
            project.root.join("versions/ae1027a6acf0_add_users_table")
        );
        let upgrade = std::fs::read_to_string(dir.join("upgrade.sql")).unwrap();
        assert!(upgrade.starts_with("-- Add \"users\" table\n"), "{upgrade}");
        assert!(dir.join("downgrade.sql").is_file());

        let project = Project::open(&project.root).unwrap();
        let base = &project.revisions[0];
        assert_eq!(base.id, "ae1027a6acf0");
        assert_eq!(base.message, "Add \"users\" table");
        assert_eq!(base.runner, Runner::Plugin { name: "sql".into() });
        assert!(base.created.as_deref().is_some_and(|c| c.ends_with('Z')));

        let dir = project
            .new_revision(&request("sql", "two\nlines", &["ae1027a6acf0"], None))
            .unwrap();
        let upgrade = std::fs::read_to_string(dir.join("upgrade.sql")).unwrap();
        assert!(upgrade.starts_with("-- two\n-- lines\n"), "{upgrade}");
        let project = Project::open(&project.root).unwrap();
        let child = project
            .revisions
            .iter()
            .find(|r| r.id != "ae1027a6acf0")
            .unwrap();
        assert_eq!(child.parents, ["ae1027a6acf0"]);
        assert_eq!(child.message, "two\nlines");
    }

    use super::super::Runner;

    #[test]
    fn rust_revisions_render_a_crate_that_builds_a_component() {
        let (_tmp, project) = project();
        let dir = project
            .new_revision(&request("rust", "backfill emails", &[], Some("b1")))
            .unwrap();
        let cargo: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
        assert_eq!(cargo["package"]["name"].as_str(), Some("revision-b1"));
        assert_eq!(cargo["lib"]["crate-type"][0].as_str(), Some("cdylib"));
        assert!(cargo["workspace"].as_table().unwrap().is_empty());
        assert!(cargo["dependencies"].get("aludel-sdk").is_some());
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("aludel_sdk::export!(Revision);"), "{lib}");

        let project = Project::open(&project.root).unwrap();
        assert_eq!(
            project.revisions[0].runner,
            Runner::Component {
                file: "revision.wasm".into(),
                source: Some("rust".into())
            }
        );
    }

    #[test]
    fn python_revisions_render_a_migration_for_the_python_plugin() {
        let (_tmp, project) = project();
        let dir = project
            .new_revision(&request("python", "backfill emails", &[], Some("p1")))
            .unwrap();
        let migration = std::fs::read_to_string(dir.join("migration.py")).unwrap();
        assert!(migration.contains("def upgrade(ctx)"), "{migration}");
        assert!(migration.contains("def downgrade(ctx)"), "{migration}");
        let project = Project::open(&project.root).unwrap();
        assert_eq!(
            project.revisions[0].runner,
            Runner::Plugin {
                name: "python".into()
            }
        );
    }

    #[test]
    fn the_toml_filter_writes_values_that_parse_back() {
        let value = minijinja::Value::from_serialize(serde_json::json!({
            "s": "quote \" backslash \\ newline \n tab \t bell \u{7} del \u{7f} é",
            "list": ["a", "b"],
            "n": 1.5,
            "key with space": true,
        }));
        let text = toml_filter(value).unwrap();
        let parsed: toml::Table = toml::from_str(&format!("x = {text}")).unwrap();
        assert_eq!(
            parsed["x"]["s"].as_str(),
            Some("quote \" backslash \\ newline \n tab \t bell \u{7} del \u{7f} é")
        );
        assert_eq!(
            toml_filter(minijinja::Value::from("a\"b")).unwrap(),
            r#""a\"b""#
        );
        assert_eq!(
            toml_filter(minijinja::Value::from_serialize(["x", "y"])).unwrap(),
            r#"["x", "y"]"#
        );
    }

    #[test]
    fn the_sdk_dependency_is_a_toml_inline_value() {
        let dep = sdk_dependency();
        let table: toml::Table = toml::from_str(&format!("x = {dep}")).unwrap();
        assert!(
            table["x"].is_str() || table["x"].get("path").is_some(),
            "{dep}"
        );
    }

    #[test]
    fn a_project_template_is_preferred_and_plain_files_are_copied() {
        let (_tmp, project) = project();
        let kind = project.root.join("templates/custom");
        std::fs::create_dir_all(&kind).unwrap();
        std::fs::write(
            kind.join("revision.toml.j2"),
            "id = {{ id | toml }}\nparents = {{ parents | toml }}\nmessage = {{ message | toml }}\nplugin = \"{{ kind }}\"\n",
        )
        .unwrap();
        std::fs::write(kind.join("data.csv"), "a,{{ b }}\n").unwrap();
        let dir = project
            .new_revision(&request("custom", "m", &[], Some("c1")))
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("data.csv")).unwrap(),
            "a,{{ b }}\n"
        );
    }

    #[test]
    fn an_unknown_kind_lists_the_templates() {
        let (_tmp, project) = project();
        let err = project
            .new_revision(&request("cobol", "m", &[], None))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "there is no template `cobol`: the templates are js, python, rust, sql"
        );
        let err = project
            .new_revision(&request("../sql", "m", &[], None))
            .unwrap_err();
        assert!(matches!(err, ProjectError::UnknownTemplate { .. }), "{err}");
    }

    #[test]
    fn a_template_that_renders_an_invalid_manifest_writes_nothing() {
        let (_tmp, project) = project();
        let template = project.root.join("templates/sql/revision.toml.j2");
        std::fs::write(
            &template,
            "id = {{ id | toml }}\nparents = []\nmessage = \"m\"\n",
        )
        .unwrap();
        let err = project
            .new_revision(&request("sql", "m", &[], Some("d1")))
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("templates/sql/revision.toml.j2"), "{msg}");
        assert!(msg.contains("neither `plugin` nor `component`"), "{msg}");
        assert!(!project.root.join("versions/d1_m").exists());

        std::fs::write(&template, "{{ nope }}").unwrap();
        let err = project
            .new_revision(&request("sql", "m", &[], Some("d1")))
            .unwrap_err();
        assert!(err.to_string().contains("undefined"), "{err}");
    }

    #[test]
    fn new_revision_refuses_bad_ids_duplicates_and_unknown_parents() {
        let (_tmp, project) = project();
        let err = project
            .new_revision(&request("sql", "m", &[], Some("A/B")))
            .unwrap_err();
        assert!(matches!(err, ProjectError::InvalidId { .. }), "{err}");
        project
            .new_revision(&request("sql", "m", &[], Some("e1")))
            .unwrap();
        let project = Project::open(&project.root).unwrap();
        let err = project
            .new_revision(&request("sql", "m", &[], Some("e1")))
            .unwrap_err();
        assert!(matches!(err, ProjectError::RevisionExists { .. }), "{err}");
        let err = project
            .new_revision(&request("sql", "m", &["f0"], None))
            .unwrap_err();
        assert!(matches!(err, ProjectError::UnknownParent { .. }), "{err}");
    }

    #[test]
    fn an_empty_slug_names_the_directory_by_id_alone() {
        let (_tmp, project) = project();
        let dir = project
            .new_revision(&request("sql", "", &[], Some("f1")))
            .unwrap();
        assert_eq!(dir.file_name().unwrap(), "f1");
    }
}
