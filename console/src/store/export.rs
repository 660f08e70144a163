//! Writes a list of alerts as JSON lines (Falco's json_output shape) or CSV.

use crate::alert::{AlertRecord, rfc3339};
use crate::triage::TriageState;
use std::borrow::Borrow;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    JsonLines,
    Csv,
}

impl ExportFormat {
    /// CSV for `*.csv`, JSON lines otherwise.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => ExportFormat::Csv,
            _ => ExportFormat::JsonLines,
        }
    }
}

const CSV_HEADER: &str =
    "time,priority,rule,hostname,namespace,pod,container,image,command,user,state,output";

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `alerts` to `path`; returns how many were written.
pub fn export<'a, A: Borrow<AlertRecord>>(
    path: &Path,
    alerts: impl Iterator<Item = (A, TriageState, &'a [String])>,
) -> std::io::Result<usize> {
    let format = ExportFormat::from_path(path);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut n = 0;
    if format == ExportFormat::Csv {
        writeln!(out, "{CSV_HEADER}")?;
    }
    for (a, state, notes) in alerts {
        let a = a.borrow();
        match format {
            ExportFormat::JsonLines => {
                writeln!(out, "{}", a.to_falco_json(state.as_str(), notes))?;
            }
            ExportFormat::Csv => {
                let cells = [
                    rfc3339(a.time_ns),
                    a.priority().falco_name().to_string(),
                    a.rule.clone(),
                    a.hostname.clone(),
                    a.namespace.clone(),
                    a.pod.clone(),
                    a.container_name.clone(),
                    a.image.clone(),
                    a.cmdline.clone(),
                    a.user.clone(),
                    state.as_str().to_string(),
                    a.output.clone(),
                ];
                let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                writeln!(out, "{}", line.join(","))?;
            }
        }
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let a = AlertRecord {
            rule: "Read, \"sensitive\"".into(),
            priority: 5,
            time_ns: 1_700_000_000_000_000_000,
            ..Default::default()
        };
        let csv = dir.path().join("x.CSV");
        assert_eq!(
            export(&csv, [(&a, TriageState::Resolved, &[][..])].into_iter()).unwrap(),
            1
        );
        let text = std::fs::read_to_string(&csv).unwrap();
        let line = text.lines().nth(1).unwrap();
        assert!(line.contains(",\"Read, \"\"sensitive\"\"\","), "{line}");
        assert!(line.contains(",resolved,"), "{line}");

        let jl = dir.path().join("x.jsonl");
        let notes = ["n1".to_string()];
        export(&jl, [(&a, TriageState::New, &notes[..])].into_iter()).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&jl).unwrap().trim()).unwrap();
        assert_eq!(v["priority"], "Warning");
        assert_eq!(v["console"]["notes"][0], "n1");
    }
}
