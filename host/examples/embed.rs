//! A program that embeds aludel instead of running the binary: it opens a
//! project, upgrades its database to head under the run lock, and prints
//! what was applied, one `upgrade <id>` line a revision, then the heads.
//!
//! `cargo run --example embed -- path/to/aludel.toml [DATABASE_URL]`
//!
//! The verbs in `aludel::ops` are the ones the CLI calls: the lock, the
//! URL rules and the `[runtime]` limits come with them.

use aludel::ops::{self, Options};
use aludel::project::Project;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(config) = args.next() else {
        anyhow::bail!("usage: embed PROJECT/aludel.toml [DATABASE_URL]");
    };
    let project = Project::open(config.as_ref())?;
    // No URL: the project's own `[database] url`.
    let options = Options {
        url: args.next(),
        ..Options::default()
    };
    let applied = ops::upgrade(&project, &options, "head", false).await?;
    for step in &applied {
        println!("{} {}", step.direction, step.revision);
    }
    let heads = ops::current(&project, &options).await?;
    println!("heads: {}", heads.join(", "));
    Ok(())
}
