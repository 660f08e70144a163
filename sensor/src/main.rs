//! falco-sensor: the per-node daemon. See `docs/architecture.md` for the data
//! flow and which module owns each step.

use clap::Parser;
use falco_sensor::cli;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("falco-sensor: error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
