//! `falco-sensor list-fields`: every supported rule field with its type,
//! argument syntax and description, grouped by class.

use crate::rules::fields::doc;
use std::io::Write;
use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    out.write_all(doc::text().as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
