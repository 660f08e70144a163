//! Build-script half of the kernel contract: reads the enums and numeric
//! `#define`s of `bpf/src/sensor.h` and writes `contract.rs` (the Rust
//! constants, included by `sensor/src/contract.rs`) and, for the Linux
//! test that compares them with the skeleton's BTF types,
//! `contract_btf_check.rs`. The parser only understands the plain forms the
//! header uses (`NAME = literal,` or `NAME,` in an enum; `#define NAME
//! literal`) and fails the build on anything else inside a contract enum.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Rust type of each contract enum's constants.
const ENUM_TYPES: &[(&str, &str)] = &[
    ("sensor_limit", "usize"),
    ("sensor_handler", "u8"),
    ("sensor_sd_flag", "u8"),
    ("sensor_sock_mode", "u8"),
    ("sensor_event_type", "u16"),
    ("sensor_open_limit", "usize"),
    ("sensor_cache_size", "usize"),
    ("sensor_set_size", "usize"),
    ("sensor_silent_size", "usize"),
    ("sensor_exe_flag", "u64"),
];

/// Rust type of each exported numeric `#define` (others are not exported).
const DEFINE_TYPES: &[(&str, &str)] = &[
    ("SENSOR_GRAM_MULT", "u32"),
    ("SENSOR_COMM_MULT_LO", "u64"),
    ("SENSOR_COMM_MULT_HI", "u64"),
    ("SENSOR_FNV_OFFSET", "u64"),
    ("SENSOR_FNV_PRIME", "u64"),
];

struct Constant {
    name: String,
    value: u64,
    rust_type: &'static str,
    /// The C enum holding it; `None` for a `#define`.
    c_enum: Option<String>,
}

pub fn generate(header: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(header).map_err(|e| format!("reading it: {e}"))?;
    let constants = parse(&strip_comments(&text))?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    write(&out_dir.join("contract.rs"), &render_constants(&constants)?)?;
    write(
        &out_dir.join("contract_btf_check.rs"),
        &render_btf_check(&constants),
    )
}

fn write(path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        match rest[start..].find("*/") {
            Some(end) => rest = &rest[start + end + 2..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

fn parse_literal(lit: &str) -> Option<u64> {
    let lit = lit.trim().trim_end_matches(['U', 'u', 'L', 'l']);
    match lit.strip_prefix("0x").or_else(|| lit.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => lit.parse().ok(),
    }
}

fn lookup(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn parse(text: &str) -> Result<Vec<Constant>, String> {
    let mut constants = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        if let Some(rust_type) = lookup(DEFINE_TYPES, name) {
            let value = parse_literal(value)
                .ok_or_else(|| format!("#define {name}: `{value}` is not a number"))?;
            constants.push(Constant {
                name: name.to_string(),
                value,
                rust_type,
                c_enum: None,
            });
        }
    }
    let mut rest = text;
    while let Some(at) = rest.find("enum ") {
        rest = &rest[at + 5..];
        let Some(open) = rest.find('{') else { break };
        let name = rest[..open].trim();
        if name.contains(|c: char| !(c.is_alphanumeric() || c == '_')) {
            continue; // `enum x field;` inside a struct, not a definition
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("enum {name}: no closing brace"))?;
        let body = &rest[open + 1..open + close];
        rest = &rest[open + close..];
        let rust_type = lookup(ENUM_TYPES, name).ok_or_else(|| {
            format!(
                "enum {name} has no Rust type: add it to ENUM_TYPES in sensor/build_contract.rs"
            )
        })?;
        let mut next = 0u64;
        for entry in body.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (cname, value) = match entry.split_once('=') {
                Some((n, v)) => (
                    n.trim(),
                    parse_literal(v).ok_or_else(|| {
                        format!("enum {name}: `{entry}`: only literal values are supported")
                    })?,
                ),
                None => (entry, next),
            };
            if cname.contains(|c: char| !(c.is_alphanumeric() || c == '_')) {
                return Err(format!("enum {name}: cannot read entry `{entry}`"));
            }
            constants.push(Constant {
                name: cname.to_string(),
                value,
                rust_type,
                c_enum: Some(name.to_string()),
            });
            next = value + 1;
        }
    }
    for (name, _) in ENUM_TYPES {
        if !constants.iter().any(|c| c.c_enum.as_deref() == Some(*name)) {
            return Err(format!(
                "enum {name} (ENUM_TYPES) is not defined in the header"
            ));
        }
    }
    Ok(constants)
}

fn render_constants(constants: &[Constant]) -> Result<String, String> {
    let mut out = String::from("// Generated by sensor/build_contract.rs from bpf/src/sensor.h.\n");
    for c in constants {
        let origin = match &c.c_enum {
            Some(e) => format!("`enum {e}`"),
            None => "`#define`".to_string(),
        };
        let _ = writeln!(
            out,
            "/// `{}` ({origin} in bpf/src/sensor.h).\npub const {}: {} = {:#x};",
            c.name, c.name, c.rust_type, c.value
        );
    }
    out.push_str("/// `enum sensor_event_type`: (Falco event name, id), in header order.\n");
    out.push_str("pub const EVENT_TYPES: &[(&str, u16)] = &[\n");
    for c in constants
        .iter()
        .filter(|c| c.c_enum.as_deref() == Some("sensor_event_type"))
    {
        let evt = c
            .name
            .strip_prefix("SENSOR_ET_")
            .ok_or_else(|| format!("{}: event types are named SENSOR_ET_<name>", c.name))?
            .to_ascii_lowercase();
        let _ = writeln!(out, "    (\"{evt}\", {}),", c.name);
    }
    out.push_str("];\n");
    Ok(out)
}

fn render_btf_check(constants: &[Constant]) -> String {
    let mut out = String::from(
        "// Generated by sensor/build_contract.rs: one check per enum constant of bpf/src/sensor.h.\n{\n",
    );
    for c in constants {
        if let Some(e) = &c.c_enum {
            let _ = writeln!(
                out,
                "    check(\"{name}\", types::{e}::{name}.0 as u64, contract::{name} as u64);",
                name = c.name
            );
        }
    }
    out.push_str("}\n");
    out
}
