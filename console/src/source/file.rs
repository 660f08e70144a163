//! Alerts from a JSON-lines file in Falco's json_output format.

use crate::alert::AlertRecord;
use std::io::BufRead;
use std::path::Path;

/// What reading a file produced: the alerts and one error per bad line
/// (`file:line: what`). Blank lines are skipped.
#[derive(Debug, Default)]
pub struct FileAlerts {
    pub alerts: Vec<AlertRecord>,
    pub errors: Vec<String>,
}

/// The source key alerts from `path` are stored under.
pub fn source_key(path: &Path) -> String {
    format!("file:{}", path.display())
}

pub fn read_alerts(path: &Path) -> std::io::Result<FileAlerts> {
    let file = std::fs::File::open(path)?;
    let key = source_key(path);
    let mut out = FileAlerts::default();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let lineno = i + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                out.errors.push(format!("{}:{lineno}: {e}", path.display()));
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match AlertRecord::from_falco_json(&key, lineno as u64, &line) {
            Ok(a) => out.alerts.push(a),
            Err(e) => out.errors.push(crate::sanitize::sanitized(&format!(
                "{}:{lineno}: {e}",
                path.display()
            ))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_good_lines_and_names_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.json");
        std::fs::write(
            &p,
            concat!(
                r#"{"output":"o1","priority":"Critical","rule":"R1","time":"2024-05-01T10:00:00Z","output_fields":{"k8s.ns.name":"prod","k8s.pod.name":"api-0"}}"#,
                "\n\n",
                "not json\n",
                r#"{"output":"o2","priority":"Notice","rule":"R2","time":"2024-05-01T10:00:01Z"}"#,
                "\n"
            ),
        )
        .unwrap();
        let r = read_alerts(&p).unwrap();
        assert_eq!(r.alerts.len(), 2);
        assert_eq!(r.alerts[0].pod_ref(), "prod/api-0");
        assert_eq!(r.alerts[1].seq, 4);
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].contains("events.json:3:"), "{}", r.errors[0]);
    }
}
