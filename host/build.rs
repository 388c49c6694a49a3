//! Builds the built-in `sql` plugin for wasm32-wasip2 so the host can embed
//! it: a user of aludel never needs a wasm toolchain to run SQL revisions.
//!
//! In a checkout the plugin is built from `plugins/sql`. The crate as
//! `cargo package` makes it has no `plugins/` beside it: there the plugin
//! comes from `prebuilt/aludel_plugin_sql.wasm`, which `scripts/package`
//! builds from the same sources and puts into the package.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The files src/plugin_build.rs embeds, relative to the workspace root;
/// scripts/package copies the same list into prebuilt/sources.
const PLUGIN_SOURCES: &[&str] = &[
    "wit/migration.wit",
    "plugins/python/app.py",
    "sdk/python/aludel.py",
    "plugins/js/src/plugin.js",
    "plugins/js/package.json",
    "plugins/js/wit/plugin.wit",
    "plugins/js/wit/deps/cli/cli.wit",
    "plugins/js/wit/deps/clocks/clocks.wit",
    "plugins/js/wit/deps/filesystem/filesystem.wit",
    "plugins/js/wit/deps/io/io.wit",
    "sdk/js/aludel.js",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf();
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("aludel_plugin_sql.wasm");
    // The sources of the interpreter plugins `aludel build` makes
    // (src/plugin_build.rs): the checkout's, or the package's copy.
    let checkout = root.join("plugins/sql/Cargo.toml").is_file();
    let sources = if checkout {
        root.clone()
    } else {
        manifest_dir.join("prebuilt/sources")
    };
    for path in PLUGIN_SOURCES {
        println!("cargo:rerun-if-changed={}", sources.join(path).display());
    }
    println!(
        "cargo:rustc-env=ALUDEL_PLUGIN_SOURCES={}",
        sources.display()
    );
    if !checkout {
        let prebuilt = manifest_dir.join("prebuilt/aludel_plugin_sql.wasm");
        println!("cargo:rerun-if-changed={}", prebuilt.display());
        std::fs::copy(&prebuilt, &out).unwrap_or_else(|e| {
            panic!(
                "neither plugins/sql (a checkout) nor {} (a package made by \
                 scripts/package) is here: {e}",
                prebuilt.display()
            )
        });
        return;
    }
    for path in [
        "plugins/sql/src",
        "plugins/sql/Cargo.toml",
        "sdk/src",
        "sdk/Cargo.toml",
        "sdk/wit",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }

    // A target directory of its own: the outer cargo holds the lock on ours.
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("guests");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(root.join("plugins/sql/Cargo.toml"))
    .env("CARGO_TARGET_DIR", &target_dir);
    // What cargo sets for this build script must not leak into a build for
    // another target.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cannot run cargo to build plugins/sql");
    if !status.success() {
        panic!(
            "building plugins/sql for wasm32-wasip2 failed; is the target installed? \
             (`rustup target add wasm32-wasip2`)"
        );
    }
    let built = target_dir.join("wasm32-wasip2/release/aludel_plugin_sql.wasm");
    std::fs::copy(&built, &out)
        .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", built.display(), out.display()));
}
