//! `falco-sensor validate` on hostile rules files: it refuses them with
//! the file, line and limit named instead of running out of time or memory.

use std::process::Command;

/// Lists nested through aliases, `levels` deep with ten aliases a level:
/// the last level would be 10^levels scalars.
fn alias_bomb(levels: usize) -> String {
    let mut src = "- list: a0\n  items: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_string();
    for i in 1..=levels {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        src.push_str(&format!("- list: a{i}\n  items: &a{i} [{refs}]\n"));
    }
    src
}

#[test]
fn validate_refuses_a_yaml_alias_bomb_naming_file_line_and_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bomb.yaml");
    std::fs::write(&file, alias_bomb(9)).expect("write rules");
    let out = Command::new(env!("CARGO_BIN_EXE_falco-sensor"))
        .arg("validate")
        .arg("-r")
        .arg(&file)
        .output()
        .expect("run validate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "validate accepted the bomb: {text}");
    let want = format!("error: {}:10:15: ", file.display());
    assert!(text.contains(&want), "no {want:?} in {text:?}");
    assert!(
        text.contains("aliases expand to more than 16384 nodes"),
        "{text}"
    );
    assert!(text.contains("FAILED"), "{text}");
}
