//! Command-line interface: one file per subcommand.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

pub mod list_fields;
pub mod record;
pub mod replay;
pub mod run;
pub mod validate;

/// Runtime security sensor: eBPF probes + Falco rules + alert delivery.
#[derive(Debug, Parser)]
#[command(name = "falco-sensor", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Attach the probes, evaluate rules and deliver alerts.
    Run(RunArgs),
    /// Capture decoded, enriched events to a file for later replay.
    Record(RecordArgs),
    /// Run a recorded event file through the rules and print alerts.
    Replay(ReplayArgs),
    /// Check a config file and load and compile rules files, print a summary, exit non-zero on error.
    Validate(ValidateArgs),
    /// Print every supported field with its type and description.
    ListFields,
    /// Print the embedded default ruleset, to install it as a file or edit a copy.
    DefaultRules,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Config file (YAML).
    #[arg(short = 'c', long)]
    pub config: Option<PathBuf>,
    /// Rules file or directory (repeatable; replaces the configured list).
    #[arg(short = 'r', long = "rules")]
    pub rules: Vec<PathBuf>,
    /// Print alerts as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// Override a config key, e.g. `-o grpc.listen=0.0.0.0:5060` (repeatable).
    #[arg(short = 'o', long = "option")]
    pub options: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Output file.
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Stop after this many events.
    #[arg(long)]
    pub max_events: Option<u64>,
    /// Rules whose interest set selects what to capture (default: capture everything).
    #[arg(short = 'r', long = "rules")]
    pub rules: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Recorded event file.
    pub file: PathBuf,
    /// Rules files (default: the embedded default ruleset).
    #[arg(short = 'r', long = "rules")]
    pub rules: Vec<PathBuf>,
    /// Print alerts as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Rules files, loaded in order (default with --config: the configured rules).
    #[arg(short = 'r', long = "rules", required_unless_present = "config")]
    pub rules: Vec<PathBuf>,
    /// Sensor config file: checked as `run` would load it, and its rules
    /// settings (files, enabled/disabled rules and tags) apply.
    #[arg(short = 'c', long)]
    pub config: Option<PathBuf>,
}

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Record(args) => record::run(args),
        Command::Replay(args) => replay::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::ListFields => list_fields::run(),
        Command::DefaultRules => {
            print!("{}", crate::rules::default_rules_yaml());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default `info` level.
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
