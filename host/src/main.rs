//! The `aludel` binary: parses arguments, runs one library verb, maps the
//! outcome to an exit code. Exit codes: 0 success, 1 the command failed
//! (the message on stderr says why), 2 the command line was wrong.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.global.log_detail, args.global.quiet);
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The whole chain, so the message says what was being done and why it failed.
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}
