//! `falco-sensor validate -r FILE...`: loads and compiles rules files in
//! order and prints what was loaded, every warning and the first error.

use super::ValidateArgs;
use crate::rules::{LoadOptions, load_files};
use std::process::ExitCode;

/// Runs the subcommand; the exit code is non-zero when loading fails.
pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut out = String::new();
    let code = report(args, &mut out);
    print!("{out}");
    Ok(code)
}

/// Builds the report text (separate from printing, for tests).
pub fn report(args: &ValidateArgs, out: &mut String) -> ExitCode {
    use std::fmt::Write;
    match load_files(&args.rules, &LoadOptions::default()) {
        Ok(loaded) => {
            let s = &loaded.summary;
            for w in &loaded.warnings {
                let _ = writeln!(out, "warning: {w}");
            }
            let _ = writeln!(out, "Files:");
            for f in &s.files {
                let _ = writeln!(
                    out,
                    "  {}: {} rules, {} macros, {} lists",
                    f.file, f.rules, f.macros, f.lists
                );
            }
            let _ = writeln!(
                out,
                "Loaded {} rules ({} enabled), {} macros, {} lists",
                s.rules, s.enabled_rules, s.macros, s.lists
            );
            let _ = writeln!(out, "0 errors, {} warnings", loaded.warnings.len());
            let _ = writeln!(out, "OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            let _ = writeln!(out, "1 error");
            let _ = writeln!(out, "FAILED");
            ExitCode::FAILURE
        }
    }
}
