//! Human-readable listings of the field registry: the text `falco-sensor
//! list-fields` prints and the Markdown of `docs/fields.md`.

use super::{ArgKind, FieldInfo, FieldType, registry};
use std::fmt::Write;

/// Field classes in listing order, with a one-line description.
pub const CLASSES: &[(&str, &str)] = &[
    (
        "evt",
        "The event itself: type, time, result and syscall arguments.",
    ),
    ("syscall", "The system call behind the event."),
    (
        "proc",
        "The process that caused the event and its ancestors.",
    ),
    ("thread", "The thread that caused the event."),
    ("user", "The effective user of the thread."),
    ("group", "The effective group of the thread."),
    (
        "fd",
        "The file descriptor the event uses: file, directory or socket.",
    ),
    (
        "fs.path",
        "The paths of filesystem syscalls (mkdir, unlink, rename, link...).",
    ),
    (
        "container",
        "The container the thread runs in ('host' outside containers).",
    ),
    ("k8s", "The Kubernetes pod of the container."),
];

/// The class a field belongs to (`fs.path` for `fs.path.name`, else the
/// part before the first dot).
pub fn class_of(name: &str) -> &str {
    if name.starts_with("fs.path.") {
        return "fs.path";
    }
    name.split('.').next().unwrap_or(name)
}

impl FieldType {
    /// Falco-style type name for listings.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "string",
            FieldType::Int => "int64",
            FieldType::UInt => "uint64",
            FieldType::Bool => "bool",
            FieldType::Ip => "ipaddr",
            FieldType::IpNet => "ipnet",
            FieldType::RelTime => "reltime",
            FieldType::AbsTime => "abstime",
            FieldType::Bytes => "bytebuf",
            FieldType::StrList => "list",
        }
    }
}

/// How a field is written with its argument, e.g. `proc.aname[N]`.
pub fn syntax(f: &FieldInfo) -> String {
    match f.arg {
        ArgKind::None => f.name.to_string(),
        ArgKind::OptionalIndex => format!("{}[N]?", f.name),
        ArgKind::RequiredIndex => format!("{}[N]", f.name),
        ArgKind::RequiredKey if f.name == "evt.arg" || f.name == "evt.rawarg" => {
            format!("{}.NAME / {}[N]", f.name, f.name)
        }
        ArgKind::RequiredKey => format!("{}[KEY]", f.name),
        ArgKind::OptionalKey => format!("{}[KEY]?", f.name),
    }
}

fn fields_of(class: &str) -> impl Iterator<Item = &'static FieldInfo> + '_ {
    registry().iter().filter(move |f| class_of(f.name) == class)
}

/// The plain-text listing of `falco-sensor list-fields`.
pub fn text() -> String {
    let mut out = String::new();
    for (class, desc) in CLASSES {
        let _ = writeln!(out, "{class}: {desc}");
        let _ = writeln!(out, "{}", "-".repeat(class.len() + desc.len() + 2));
        for f in fields_of(class) {
            let _ = writeln!(out, "  {:<44} {:<8} {}", syntax(f), f.ftype.name(), f.desc);
        }
        out.push('\n');
    }
    out
}

/// `docs/fields.md`.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str("# Rule fields\n\n");
    out.push_str(
        "Every field the rule engine understands, generated from the registry in \
         `sensor/src/rules/fields/registry.rs` (`falco-sensor list-fields` prints the same \
         list). A test fails when this page is out of date; regenerate it with \
         `UPDATE_DOCS=1 cargo test -p falco-sensor fields_doc`.\n\n",
    );
    out.push_str(
        "A missing value prints as `<NA>` and makes every comparison false; only the \
         literal `<NA>` after `=`, `in` or `intersects` matches it (see Missing values in \
         docs/rule-language.md). Fields marked \
         `[N]?` take an optional index (`proc.aname[2]`); used without it in a condition \
         they match any ancestor above the process. `evt.arg.NAME` uses Falco's parameter \
         names (`evt.arg.flags`, `evt.arg.mode`, `evt.arg.request`...).\n\n",
    );
    for (class, desc) in CLASSES {
        let _ = writeln!(out, "## `{class}`\n\n{desc}\n");
        out.push_str("| Field | Type | Description |\n|---|---|---|\n");
        for f in fields_of(class) {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                syntax(f),
                f.ftype.name(),
                f.desc.replace('|', "\\|")
            );
        }
        out.push('\n');
    }
    out.push_str(IP_NAMES_SECTION);
    out
}

/// How `fd.*ip.name` gets its values, for `docs/fields.md`.
const IP_NAMES_SECTION: &str = "## Host names of addresses

`fd.cip.name`, `fd.sip.name`, `fd.lip.name` and `fd.rip.name` work as in Falco: \
the sensor never asks DNS about an event's address. When rules load, it collects the \
names they compare these fields with (the literal operands of `=`, `!=` and `in`, \
through lists and macros; e.g. `kubernetes.default.svc.cluster.local` from the stable \
ruleset's `k8s_api_server` macro) and resolves them through the system resolver \
(getaddrinfo: `/etc/hosts`, then DNS) on a background thread, again every \
`state.dns_refresh_secs` (30 s) and after every rules reload. Per event the field's \
value is the watched name whose addresses contain the IP (an IPv4 address mapped into \
IPv6 counts as the IPv4 one); when several watched names share the address the value \
is all of them and a comparison holds for any; when none does the field is missing. \
A name that stops resolving keeps its last addresses. Operators such as `contains` or \
`glob` name no host, so they cannot match.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_belongs_to_a_listed_class() {
        for f in registry() {
            let class = class_of(f.name);
            assert!(
                CLASSES.iter().any(|(c, _)| *c == class),
                "{} has no class in CLASSES",
                f.name
            );
        }
        let listed = text();
        for f in registry() {
            assert!(
                listed.contains(f.name),
                "{} missing from the listing",
                f.name
            );
        }
    }

    /// docs/fields.md must be the registry's current Markdown.
    #[test]
    fn fields_doc_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/fields.md");
        let want = markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &want).expect("write docs/fields.md");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/fields.md is stale; run UPDATE_DOCS=1 cargo test -p falco-sensor fields_doc"
        );
    }
}
