//! Drafting a Falco rule exception from an alert: the operator picks which of the
//! alert's fields to keep, the console writes a rules file with an
//! `override: exceptions: append` item ready to ship (or to PutRulesFile).

use crate::alert::{AlertRecord, field};
use std::path::{Path, PathBuf};

/// File name used on the sensor for PutRulesFile.
pub const SENSOR_FILE_NAME: &str = "console-tuning.yaml";

/// Fields offered, in order, and whether each is kept by default. Pod names are
/// offered but not kept: they change on every rollout.
const CANDIDATES: [(&str, bool); 9] = [
    ("proc.name", true),
    ("proc.exepath", false),
    ("proc.pname", false),
    ("container.image.repository", true),
    ("k8s.ns.name", true),
    ("k8s.pod.name", false),
    ("user.name", false),
    ("fd.name", false),
    ("proc.cmdline", false),
];

#[derive(Debug, Clone, PartialEq)]
pub struct DraftField {
    pub name: String,
    pub value: String,
    pub keep: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionDraft {
    pub rule: String,
    pub fields: Vec<DraftField>,
    pub cursor: usize,
    /// Local rules file the draft is appended to.
    pub path: PathBuf,
}

fn value_for(a: &AlertRecord, name: &str) -> String {
    let v = field(&a.fields, name);
    if !v.is_empty() {
        return v;
    }
    match name {
        "proc.name" => a.proc_name.clone(),
        "proc.cmdline" => a.cmdline.clone(),
        "container.image.repository" => a.image.clone(),
        "k8s.ns.name" => a.namespace.clone(),
        "k8s.pod.name" => a.pod.clone(),
        "user.name" => a.user.clone(),
        "proc.pname" => a
            .ancestors
            .first()
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

impl ExceptionDraft {
    pub fn from_alert(a: &AlertRecord, path: &Path) -> Self {
        let fields = CANDIDATES
            .iter()
            .filter_map(|(name, keep)| {
                let value = value_for(a, name);
                (!value.is_empty()).then(|| DraftField {
                    name: name.to_string(),
                    value,
                    keep: *keep,
                })
            })
            .collect();
        ExceptionDraft {
            rule: a.rule.clone(),
            fields,
            cursor: 0,
            path: path.to_path_buf(),
        }
    }

    pub fn toggle(&mut self) {
        if let Some(f) = self.fields.get_mut(self.cursor) {
            f.keep = !f.keep;
        }
    }

    fn kept(&self) -> impl Iterator<Item = &DraftField> {
        self.fields.iter().filter(|f| f.keep)
    }

    /// The YAML item for this draft; `n` makes the exception name unique in the file.
    pub fn yaml(&self, n: usize) -> Result<String, &'static str> {
        let kept: Vec<&DraftField> = self.kept().collect();
        if kept.is_empty() {
            return Err("keep at least one field (space toggles)");
        }
        let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let names: Vec<&str> = kept.iter().map(|f| f.name.as_str()).collect();
        let comps = vec!["="; kept.len()].join(", ");
        let values: Vec<String> = kept.iter().map(|f| q(&f.value)).collect();
        let slug: String = names
            .iter()
            .map(|n| n.replace('.', "_"))
            .collect::<Vec<_>>()
            .join("_");
        Ok(format!(
            "- rule: {rule}\n  exceptions:\n    - name: console_{slug}_{n}\n      fields: [{fields}]\n      comps: [{comps}]\n      values:\n        - [{values}]\n  override:\n    exceptions: append\n",
            rule = q(&self.rule),
            fields = names.join(", "),
            values = values.join(", "),
        ))
    }

    /// Appends the draft to the local rules file; returns the file's full content.
    pub fn write(&self) -> Result<String, String> {
        let existing = match std::fs::read_to_string(&self.path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        let n = existing.matches("\n- rule:").count()
            + usize::from(existing.starts_with("- rule:"))
            + 1;
        let item = self.yaml(n).map_err(str::to_string)?;
        let mut content = existing;
        if content.is_empty() {
            content.push_str(
                "# Exceptions drafted with falco-console. Load after the rules they tune.\n",
            );
        } else if !content.ends_with('\n') {
            content.push('\n');
        }
        content.push_str(&item);
        crate::private_fs::write(&self.path, content.as_bytes())
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        Ok(content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn alert() -> AlertRecord {
        let mut fields = BTreeMap::new();
        fields.insert("proc.name".to_string(), "bash".to_string());
        fields.insert(
            "container.image.repository".into(),
            "docker.io/library/nginx".into(),
        );
        fields.insert("k8s.ns.name".into(), "prod".into());
        fields.insert("k8s.pod.name".into(), "web-1".into());
        AlertRecord {
            rule: "Terminal shell in container".into(),
            fields,
            user: "ro\"ot".into(),
            ..Default::default()
        }
    }

    #[test]
    fn drafts_override_append_with_chosen_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t/tuning.yaml");
        let mut d = ExceptionDraft::from_alert(&alert(), &path);
        let names: Vec<&str> = d.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "proc.name",
                "container.image.repository",
                "k8s.ns.name",
                "k8s.pod.name",
                "user.name"
            ]
        );
        // keep user.name too, drop the namespace
        d.cursor = 4;
        d.toggle();
        d.cursor = 2;
        d.toggle();
        let content = d.write().unwrap();
        assert!(
            content.contains("- rule: \"Terminal shell in container\"\n"),
            "{content}"
        );
        assert!(content.contains("fields: [proc.name, container.image.repository, user.name]"));
        assert!(content.contains("comps: [=, =, =]"));
        assert!(
            content.contains(r#"- ["bash", "docker.io/library/nginx", "ro\"ot"]"#),
            "{content}"
        );
        assert!(content.contains("override:\n    exceptions: append"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "exceptions say what is tolerated where");
        }
        let again = d.write().unwrap();
        assert!(again.contains("_1\n") && again.contains("_2\n"), "{again}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), again);
    }

    #[test]
    fn refuses_an_empty_exception() {
        let mut d = ExceptionDraft::from_alert(&alert(), Path::new("x"));
        for f in &mut d.fields {
            f.keep = false;
        }
        assert!(d.yaml(1).is_err());
    }
}
