//! falco-sensor: the per-node daemon. See `docs/architecture.md` for the data
//! flow and which module owns each step.

mod api;
mod bus;
mod cli;
mod event;
mod probe;
mod respond;
mod rules;
mod sinks;
mod state;

use clap::Parser;

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
