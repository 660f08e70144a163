//! The layering docs/architecture.md promises, checked: every `crate::<m>`
//! a module of sensor/src names (outside test code) must be allowed for it
//! in docs/architecture-deps.txt, every module must be listed there, and a
//! module may only use modules listed above it (so the table has no cycle).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (module, allowed dependencies), in file order.
fn table() -> Vec<(String, BTreeSet<String>)> {
    let path = manifest().join("../docs/architecture-deps.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (module, deps) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{}:{}: expected `module: deps`", path.display(), n + 1));
        out.push((
            module.trim().to_string(),
            deps.split_whitespace().map(str::to_string).collect(),
        ));
    }
    out
}

fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name == "tests.rs" || name == "test_support.rs" || name.ends_with("_tests.rs")
}

/// The file's text before its `#[cfg(test)] mod ...`, without `//` lines.
fn non_test_code(text: &str) -> String {
    let mut out = String::new();
    let mut pending_cfg_test = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("#[cfg(test)]") || t.starts_with("#[cfg(all(test") {
            pending_cfg_test = true;
            continue;
        }
        if pending_cfg_test {
            if t.starts_with("#[") {
                continue;
            }
            if t.starts_with("mod ") || t.starts_with("pub mod ") {
                break;
            }
            pending_cfg_test = false;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Top-level modules named as `crate::<m>` (paths and `use crate::{a, b}`).
fn used_modules(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            // Top-level items of the group: names at nesting depth 0.
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && depth == 0 && !c.is_whitespace() => {
                        out.insert(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Module → the modules its non-test code uses.
fn actual() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = manifest().join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut deps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in files.iter().filter(|f| !is_test_file(f)) {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let entry = deps.entry(module.clone()).or_default();
        for used in used_modules(&non_test_code(&text)) {
            if used != module {
                entry
                    .entry(used)
                    .or_insert_with(|| rel.display().to_string());
            }
        }
    }
    deps
}

#[test]
fn modules_use_only_what_the_layer_table_allows() {
    let table = table();
    let allowed: BTreeMap<_, _> = table.iter().cloned().collect();
    let mut problems = Vec::new();
    for (module, uses) in actual() {
        let Some(ok) = allowed.get(&module) else {
            problems.push(format!(
                "module `{module}` is not in docs/architecture-deps.txt"
            ));
            continue;
        };
        for (used, file) in uses {
            if !ok.contains(&used) {
                problems.push(format!(
                    "{file}: `{module}` uses `crate::{used}`, which docs/architecture-deps.txt does not allow"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_layer_table_only_points_up() {
    let table = table();
    let mut above = BTreeSet::new();
    for (module, deps) in &table {
        for d in deps {
            assert!(
                above.contains(d),
                "docs/architecture-deps.txt: `{module}` may use `{d}`, which is not listed above it"
            );
        }
        above.insert(module.clone());
    }
}

#[test]
fn the_scanner_sees_paths_and_groups() {
    let code = "use crate::event::{self, Event};\nuse crate::{rules::RuleSet, state::{A, B}};\nlet x = crate::sys::clock_ns(c);\n#[cfg(test)]\nmod tests {\n    use crate::cli;\n}\n";
    let used = used_modules(&non_test_code(code));
    let want: BTreeSet<String> = ["event", "rules", "state", "sys"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(used, want);
}
