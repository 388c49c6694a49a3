//! The `aludel` binary: parses arguments, runs one library verb, maps the
//! outcome to an exit code. Exit codes: 0 success, 1 the command failed
//! (the message on stderr says why), 2 the command line was wrong.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let (args, env_file) = cli::parse();
    cli::init_logging(args.global.log_detail, args.global.quiet);
    cli::log_env_file(&env_file);
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The whole chain, so the message says what was being done and
            // why it failed; a cause whose text the message already holds
            // (a failed step shows its revision's error) is not repeated.
            // Escaped: an error may quote a revision's own text (its
            // message, its SQL, the database's answer to it).
            let mut shown = err.to_string();
            eprintln!("error: {}", aludel::escape::controls(&shown));
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {}", aludel::escape::controls(&text));
                    shown = text;
                }
            }
            match err.downcast_ref::<cli::Exit>() {
                Some(exit) => ExitCode::from(exit.code),
                None => ExitCode::from(1),
            }
        }
    }
}
