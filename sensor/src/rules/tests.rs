//! End-to-end tests of the rule language: YAML through compile to
//! evaluation over typed events and a fixture state.

use super::*;
use crate::event::{Event, EventKind, EventType, L4Proto, SockAddr, SockTuple, TaskContext};
use crate::state::{ContainerInfo, MemoryState, PodInfo, ThreadInfo};
use falco_proto::v1::Priority;
use std::sync::Arc;

const CID: &str = "0123456789ab";

/// A container shell `bash` (pid 300) whose parent is `containerd-shim`
/// (200) under `systemd` (1); a host process `sshd` (400).
fn state() -> MemoryState {
    let mut st = MemoryState::default();
    let mut th = |tid: i64, ppid: i64, comm: &str, cid: &str, args: &[&str]| {
        st.threads.insert(
            tid,
            ThreadInfo {
                tid,
                pid: tid,
                ppid,
                comm: comm.into(),
                exe: comm.into(),
                exe_path: format!("/usr/bin/{comm}"),
                args: args.iter().map(|s| s.to_string()).collect(),
                container_id: Arc::from(cid),
                cwd: "/".into(),
                ..ThreadInfo::default()
            },
        );
    };
    th(1, 0, "systemd", "host", &[]);
    th(200, 1, "containerd-shim", "host", &[]);
    th(300, 200, "bash", CID, &["-i"]);
    th(400, 1, "sshd", "host", &["-D"]);
    st.containers.insert(
        CID.into(),
        ContainerInfo {
            id: CID.into(),
            full_id: format!("{CID}{}", "0".repeat(52)),
            name: "web".into(),
            image: "docker.io/library/nginx:1.27".into(),
            image_repository: "docker.io/library/nginx".into(),
            image_tag: "1.27".into(),
            pod: Some(PodInfo {
                name: "web-0".into(),
                namespace: "prod".into(),
                ..PodInfo::default()
            }),
            resolved: true,
            ..ContainerInfo::default()
        },
    );
    st
}

fn task(pid: i64, comm: &str) -> TaskContext {
    TaskContext {
        tid: pid,
        pid,
        ppid: 0,
        comm: comm.into(),
        ..TaskContext::default()
    }
}

fn open_event(pid: i64, comm: &str, path: &str, flags: u32, ts_ns: u64) -> Event {
    Event {
        num: 1,
        ts_ns,
        cpu: 0,
        etype: EventType::Openat,
        res: 3,
        task: task(pid, comm),
        kind: EventKind::Open {
            path: path.into(),
            resolved_path: path.into(),
            flags,
            mode: 0,
            dirfd: -100,
            dev: 0,
            ino: 0,
        },
    }
}

fn connect_event(pid: i64, comm: &str, ip: &str, port: u16) -> Event {
    let remote = SockAddr::Inet {
        ip: ip.parse().unwrap(),
        port,
    };
    Event {
        num: 2,
        ts_ns: 1,
        cpu: 0,
        etype: EventType::Connect,
        res: 0,
        task: task(pid, comm),
        kind: EventKind::Connect {
            fd: 3,
            addr: remote.clone(),
            tuple: Some(SockTuple {
                l4: L4Proto::Tcp,
                local: SockAddr::Inet {
                    ip: "172.17.0.2".parse().unwrap(),
                    port: 40000,
                },
                remote,
            }),
        },
    }
}

fn load(yaml: &str) -> LoadedRules {
    load_with(yaml, &LoadOptions::default())
}

fn load_with(yaml: &str, opts: &LoadOptions) -> LoadedRules {
    load_sources(&[("test.yaml".into(), yaml.into())], opts)
        .unwrap_or_else(|e| panic!("load failed: {e}"))
}

fn load_err(yaml: &str) -> LoadError {
    match load_sources(
        &[("test.yaml".into(), yaml.into())],
        &LoadOptions::default(),
    ) {
        Ok(_) => panic!("expected a load error"),
        Err(e) => e,
    }
}

fn matched(rs: &RuleSet, ev: &Event, st: &MemoryState) -> Vec<String> {
    let mut out = Vec::new();
    rs.evaluate(ev, st, &mut out);
    out.iter()
        .map(|m| rs.rule(m.rule).unwrap().name().to_string())
        .collect()
}

fn rule(name: &str, cond: &str) -> String {
    format!(
        "- rule: {name}\n  desc: d\n  condition: {cond}\n  output: \"out %proc.name\"\n  priority: WARNING\n"
    )
}

/// Whether `cond` matches an openat of `path` by bash in the container.
fn holds(cond: &str, ev: &Event) -> bool {
    let rs = load(&rule("r", cond)).ruleset;
    !matched(&rs, ev, &state()).is_empty()
}

fn bash_open(path: &str) -> Event {
    open_event(300, "bash", path, 0, 1)
}

#[test]
fn string_operators() {
    let ev = bash_open("/etc/passwd");
    let table: &[(&str, bool)] = &[
        ("fd.name = /etc/passwd", true),
        ("fd.name == /etc/passwd", true),
        ("fd.name = /ETC/passwd", false),
        ("fd.name != /etc/passwd", false),
        ("fd.name != /etc/shadow", true),
        ("fd.name contains passw", true),
        ("fd.name contains PASSW", false),
        ("fd.name icontains PASSW", true),
        ("fd.name startswith /etc/", true),
        ("fd.name startswith etc", false),
        ("fd.name endswith wd", true),
        ("fd.name endswith ''", true),
        ("fd.name contains ''", true),
        ("fd.name = ''", false),
        ("fd.name glob '/etc/*'", true),
        ("fd.name glob '/etc/pass??'", true),
        ("fd.name glob '/etc/[op]asswd'", true),
        ("fd.name glob '/etc/[!p]asswd'", false),
        ("fd.name glob '/ETC/*'", false),
        ("fd.name iglob '/ETC/*'", true),
        ("fd.name pmatch (/etc)", true),
        ("fd.name pmatch (/et)", false),
        ("fd.name pmatch (/usr, /etc/)", true),
        ("fd.name regex '/etc/p.*'", true),
        ("fd.name regex 'passwd'", false),
        ("fd.name in (/etc/shadow, /etc/passwd)", true),
        ("fd.name in (/etc/shadow)", false),
        ("fd.name in ()", false),
        ("fd.name exists", true),
        ("fd.name bcontains 706173", true),
        ("fd.name bstartswith 2f657463", true),
        ("fd.name bstartswith 706173", false),
        ("tolower(fd.name) = /etc/passwd", true),
        ("toupper(fd.name) = /ETC/PASSWD", true),
        ("basename(fd.name) = passwd", true),
        ("len(fd.name) = 11", true),
        ("len(fd.name) > 20", false),
        ("fd.name = val(fd.name)", true),
        ("fd.name startswith val(fd.directory)", true),
        ("fd.name = val(proc.name)", false),
    ];
    for (cond, want) in table {
        assert_eq!(holds(cond, &ev), *want, "{cond}");
    }
}

#[test]
fn missing_values_make_comparisons_false() {
    // A process the state does not know, outside any container: no parent,
    // no container metadata.
    let ev = open_event(999, "ghost", "/tmp/x", 0, 1);
    let table: &[(&str, bool)] = &[
        ("proc.pname = x", false),
        ("proc.pname != x", false),
        ("not proc.pname = x", true),
        ("proc.pname exists", false),
        ("not proc.pname exists", true),
        ("proc.pname in (a, b)", false),
        ("proc.pname contains ''", false),
        ("k8s.ns.name exists", false),
        ("proc.aname[5] = bash", false),
    ];
    for (cond, want) in table {
        assert_eq!(holds(cond, &ev), *want, "{cond}");
    }
}

/// One row per operator (and per way of naming `<NA>`): the condition, its
/// result for bash in the container (parent `containerd-shim` at
/// `/usr/bin/containerd-shim`, pid 200, grandparent `systemd`) and for a
/// process the state does not know (no parent: every `proc.p*` and
/// `proc.a*` field is missing).
#[test]
fn every_operator_on_present_and_missing_values() {
    let present = bash_open("/tmp/x");
    let missing = open_event(999, "ghost", "/tmp/x", 0, 1);
    let table: &[(&str, bool, bool)] = &[
        ("proc.pname = containerd-shim", true, false),
        ("proc.pname != sshd", true, false),
        ("proc.pname != containerd-shim", false, false),
        ("proc.apid[1] = 200", true, false),
        ("proc.apid[1] != 7", true, false),
        ("proc.apid[1] < 1000", true, false),
        ("proc.apid[1] <= 200", true, false),
        ("proc.apid[1] > 100", true, false),
        ("proc.apid[1] >= 200", true, false),
        ("proc.pname contains shim", true, false),
        ("proc.pname icontains SHIM", true, false),
        ("proc.pname bcontains 7368696d", true, false),
        ("proc.pname startswith containerd", true, false),
        ("proc.pname bstartswith 636f6e", true, false),
        ("proc.pname endswith shim", true, false),
        ("proc.pname glob 'containerd-*'", true, false),
        ("proc.pname iglob 'CONTAINERD-*'", true, false),
        ("proc.pexepath pmatch (/usr/bin)", true, false),
        ("proc.pname in (containerd-shim, sshd)", true, false),
        ("proc.apid[1] in (200, 7)", true, false),
        ("proc.pname intersects (containerd-shim)", true, false),
        ("proc.pname regex 'containerd-.*'", true, false),
        ("proc.pname exists", true, false),
        // `not` turns "false on missing" into true: the missing value is
        // not in the list either.
        ("not proc.pname in (sshd)", true, true),
        // `<NA>` after `=`, `in` or `intersects` names the missing value,
        // quoted or not, for any field type; `!= <NA>` means "present".
        ("proc.pname = <NA>", false, true),
        ("proc.pname = \"<NA>\"", false, true),
        ("proc.pname != <NA>", true, false),
        ("not proc.pname = <NA>", true, false),
        ("proc.pname in (\"<NA>\", \"N/A\")", false, true),
        ("not proc.pname in (\"<NA>\", \"N/A\")", true, false),
        ("proc.pname in (containerd-shim, <NA>)", true, true),
        ("proc.pname intersects (<NA>)", false, true),
        ("proc.apid[1] = <NA>", false, true),
        ("proc.apid[1] != <NA>", true, false),
        ("proc.apid[1] in (<NA>, 7)", false, true),
        // Other operators take `<NA>` as plain text.
        ("proc.pname contains <NA>", false, false),
        ("proc.pname startswith <NA>", false, false),
        ("proc.pname glob '<NA>'", false, false),
        // Transformers of a missing value are missing.
        ("tolower(proc.pname) = containerd-shim", true, false),
        ("toupper(proc.pname) != X", true, false),
        ("tolower(proc.pname) = <NA>", false, true),
        ("basename(proc.pexepath) = containerd-shim", true, false),
        ("len(proc.pname) > 0", true, false),
        ("len(proc.pname) = <NA>", false, true),
        // val(): a missing operand on either side makes the check false,
        // `!=` included.
        ("proc.pname = val(proc.pname)", true, false),
        ("proc.name != val(proc.pname)", true, false),
        ("proc.pname != val(proc.name)", true, false),
        // Ancestors without an index: any element; none at all is missing.
        ("proc.aname = systemd", true, false),
        ("proc.aname != systemd", false, false),
        ("proc.aname != sshd", true, false),
        ("proc.aname in (<NA>)", false, true),
        ("not proc.aname in (\"<NA>\")", true, false),
    ];
    for (cond, on_present, on_missing) in table {
        assert_eq!(holds(cond, &present), *on_present, "{cond} (present)");
        assert_eq!(holds(cond, &missing), *on_missing, "{cond} (missing)");
    }
}

#[test]
fn a_present_value_reading_na_is_text_not_a_missing_value() {
    // A process may name itself `<NA>` (prctl PR_SET_NAME); it must not
    // pass for one whose name is unknown, or it could slip past every
    // rule guarded by `proc_name_exists`.
    let ev = open_event(999, "<NA>", "/tmp/x", 0, 1);
    let table: &[(&str, bool)] = &[
        ("proc.name = <NA>", false),
        ("proc.name in (\"<NA>\", \"N/A\")", false),
        ("not proc.name in (\"<NA>\", \"N/A\")", true),
        ("proc.name != <NA>", true),
        ("proc.name contains <NA>", true),
        ("proc.name exists", true),
    ];
    for (cond, want) in table {
        assert_eq!(holds(cond, &ev), *want, "{cond}");
    }
    // With no comm and no thread in the state, the name is missing.
    let unknown = open_event(999, "", "/tmp/x", 0, 1);
    assert!(holds("proc.name = <NA>", &unknown));
    assert!(!holds("not proc.name in (\"<NA>\", \"N/A\")", &unknown));
}

#[test]
fn a_macro_naming_na_is_memoised_with_the_same_answer_in_every_rule() {
    let yaml = "- macro: parent_known\n  condition: not proc.pname in (\"<NA>\", \"N/A\")\n"
        .to_string()
        + &rule("known", "evt.type = openat and parent_known")
        + &rule("unknown", "evt.type = openat and not parent_known")
        + &rule(
            "known_again",
            "evt.type = openat and (parent_known and fd.name exists)",
        );
    let opts = LoadOptions {
        rule_matching: RuleMatching::All,
        ..LoadOptions::default()
    };
    let rs = load_with(&yaml, &opts).ruleset;
    let st = state();
    assert_eq!(
        matched(&rs, &bash_open("/tmp/x"), &st),
        ["known", "known_again"]
    );
    assert_eq!(
        matched(&rs, &open_event(999, "ghost", "/tmp/x", 0, 1), &st),
        ["unknown"]
    );
}

#[test]
fn numeric_boolean_and_ip_operators() {
    let ev = open_event(
        300,
        "bash",
        "/etc/passwd",
        0o101, /* O_WRONLY|O_CREAT */
        1,
    );
    let table: &[(&str, bool)] = &[
        ("proc.pid = 300", true),
        ("proc.pid != 300", false),
        ("proc.pid > 299", true),
        ("proc.pid >= 300", true),
        ("proc.pid < 300", false),
        ("proc.pid <= 300", true),
        ("proc.pid in (1, 300)", true),
        ("proc.pid in (0x12C)", true),
        ("evt.rawres >= 0", true),
        ("evt.rawres < 0", false),
        ("evt.arg.flags contains O_CREAT", true),
        ("evt.is_open_write = true", true),
        ("evt.is_open_read = false", true),
        ("evt.is_open_read = true", false),
    ];
    for (cond, want) in table {
        assert_eq!(holds(cond, &ev), *want, "{cond}");
    }
    let conn = connect_event(300, "bash", "10.1.2.3", 443);
    let st = state();
    let net_table: &[(&str, bool)] = &[
        ("fd.sip = 10.1.2.3", true),
        ("fd.sip = 10.1.2.4", false),
        ("fd.sip in (10.0.0.0/8)", true),
        ("fd.sip in (192.168.0.0/16, 127.0.0.1)", false),
        ("fd.snet in (10.0.0.0/8)", true),
        ("fd.sport = 443", true),
        ("fd.sport in (80, 443)", true),
        ("fd.l4proto = tcp", true),
    ];
    for (cond, want) in net_table {
        let rs = load(&rule("r", cond)).ruleset;
        assert_eq!(!matched(&rs, &conn, &st).is_empty(), *want, "{cond}");
    }
}

#[test]
fn ancestors_without_index_match_any() {
    let ev = bash_open("/etc/passwd");
    let table: &[(&str, bool)] = &[
        ("proc.aname = systemd", true),
        ("proc.aname = containerd-shim", true),
        ("proc.aname = bash", false),
        ("proc.aname in (nope, systemd)", true),
        ("proc.aname[1] = containerd-shim", true),
        ("proc.aname[2] = systemd", true),
        ("proc.aname[2] = containerd-shim", false),
        ("proc.pname = containerd-shim", true),
    ];
    for (cond, want) in table {
        assert_eq!(holds(cond, &ev), *want, "{cond}");
    }
}

#[test]
fn lists_nest_and_expand_and_quoted_items_do_not() {
    let yaml = "- list: inner\n  items: [/etc/passwd, '\"/a b\"']\n- list: outer\n  items: [inner, /etc/group]\n"
        .to_string()
        + &rule("by_nested", "fd.name in (outer)")
        + &rule("quoted_name_is_a_value", "fd.name in (\"outer\")")
        + &rule("unparenthesised", "fd.name in outer")
        + &rule("quoted_item", "fd.name = '/a b'");
    let opts = LoadOptions {
        rule_matching: RuleMatching::All,
        ..LoadOptions::default()
    };
    let rs = load_with(&yaml, &opts).ruleset;
    let st = state();
    assert_eq!(
        matched(&rs, &bash_open("/etc/passwd"), &st),
        ["by_nested", "unparenthesised"]
    );
    assert_eq!(
        matched(&rs, &bash_open("/a b"), &st),
        ["by_nested", "unparenthesised", "quoted_item"]
    );
    assert!(matched(&rs, &bash_open("outer"), &st) == ["quoted_name_is_a_value"]);
}

#[test]
fn macros_nest_and_and_or_not_precedence_hold() {
    let yaml = "- macro: is_open\n  condition: evt.type in (open, openat)\n- macro: sensitive\n  condition: is_open and fd.name startswith /etc\n"
        .to_string()
        + &rule("r", "sensitive and not proc.name = cat or proc.name = never");
    let rs = load(&yaml).ruleset;
    let st = state();
    assert_eq!(matched(&rs, &bash_open("/etc/passwd"), &st), ["r"]);
    assert!(matched(&rs, &open_event(300, "cat", "/etc/passwd", 0, 1), &st).is_empty());
    assert!(matched(&rs, &bash_open("/tmp/x"), &st).is_empty());
}

#[test]
fn rule_matching_first_and_all() {
    let yaml = rule("first", "fd.name startswith /etc")
        + &rule("second", "fd.name = /etc/passwd")
        + &rule("third", "fd.name = /nope");
    let st = state();
    let ev = bash_open("/etc/passwd");
    let first = load(&yaml).ruleset;
    assert_eq!(matched(&first, &ev, &st), ["first"]);
    let all = load_with(
        &yaml,
        &LoadOptions {
            rule_matching: RuleMatching::All,
            ..LoadOptions::default()
        },
    )
    .ruleset;
    assert_eq!(matched(&all, &ev, &st), ["first", "second"]);
    // With `first`, a rule that does not match does not hide later ones.
    assert_eq!(matched(&first, &bash_open("/etc/shadow"), &st), ["first"]);
}

#[test]
fn selection_by_name_tag_and_priority() {
    let yaml = "- rule: a\n  desc: d\n  condition: fd.name startswith /etc\n  output: o\n  priority: ERROR\n  tags: [filesystem]\n- rule: b\n  desc: d\n  condition: fd.name startswith /etc\n  output: o\n  priority: NOTICE\n- rule: c\n  desc: d\n  condition: fd.name startswith /etc\n  output: o\n  priority: WARNING\n  enabled: false\n";
    let st = state();
    let ev = bash_open("/etc/passwd");
    let names = |opts: LoadOptions| {
        let opts = LoadOptions {
            rule_matching: RuleMatching::All,
            ..opts
        };
        matched(&load_with(yaml, &opts).ruleset, &ev, &st)
    };
    assert_eq!(names(LoadOptions::default()), ["a", "b"]);
    assert_eq!(
        names(LoadOptions {
            disabled_tags: vec!["filesystem".into()],
            ..LoadOptions::default()
        }),
        ["b"]
    );
    assert_eq!(
        names(LoadOptions {
            disabled_rules: vec!["b".into()],
            enabled_rules: vec!["c".into()],
            ..LoadOptions::default()
        }),
        ["a", "c"]
    );
    assert_eq!(
        names(LoadOptions {
            min_priority: Priority::Warning,
            ..LoadOptions::default()
        }),
        ["a"]
    );
}

#[test]
fn append_and_override() {
    let base =
        "- list: paths\n  items: [/etc/passwd]\n- macro: m\n  condition: fd.name in (paths)\n"
            .to_string()
            + "- rule: r\n  desc: base\n  condition: m\n  output: \"first %fd.name\"\n  priority: WARNING\n  tags: [a]\n";
    let st = state();
    let opts = LoadOptions::default();
    let load2 = |extra: &str| {
        load_sources(
            &[
                ("base.yaml".into(), base.clone()),
                ("local.yaml".into(), extra.into()),
            ],
            &opts,
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .ruleset
    };
    let hit = |rs: &RuleSet, path: &str| !matched(rs, &bash_open(path), &st).is_empty();

    // List append (legacy and override form) and replace.
    let rs = load2("- list: paths\n  items: [/etc/shadow]\n  append: true\n");
    assert!(hit(&rs, "/etc/passwd") && hit(&rs, "/etc/shadow"));
    let rs = load2("- list: paths\n  items: [/etc/shadow]\n  override:\n    items: append\n");
    assert!(hit(&rs, "/etc/passwd") && hit(&rs, "/etc/shadow"));
    let rs = load2("- list: paths\n  items: [/etc/shadow]\n  override:\n    items: replace\n");
    assert!(!hit(&rs, "/etc/passwd") && hit(&rs, "/etc/shadow"));
    let rs = load2("- list: paths\n  items: [/etc/shadow]\n");
    assert!(!hit(&rs, "/etc/passwd") && hit(&rs, "/etc/shadow"));

    // Macro append / replace.
    let rs = load2("- macro: m\n  condition: or fd.name = /x\n  append: true\n");
    assert!(hit(&rs, "/etc/passwd") && hit(&rs, "/x"));
    let rs = load2("- macro: m\n  condition: fd.name = /x\n  override:\n    condition: replace\n");
    assert!(!hit(&rs, "/etc/passwd") && hit(&rs, "/x"));

    // Rule condition append (legacy) narrows; override replace swaps.
    let rs = load2("- rule: r\n  condition: and proc.name = cat\n  append: true\n");
    assert!(!hit(&rs, "/etc/passwd"));
    let rs =
        load2("- rule: r\n  condition: and proc.name = bash\n  override:\n    condition: append\n");
    assert!(hit(&rs, "/etc/passwd"));
    let rs = load2("- rule: r\n  condition: fd.name = /y\n  override:\n    condition: replace\n");
    assert!(hit(&rs, "/y") && !hit(&rs, "/etc/passwd"));

    // Other keys.
    let rs = load2(
        "- rule: r\n  output: \"second\"\n  desc: more\n  tags: [b]\n  priority: ERROR\n  override:\n    output: replace\n    desc: append\n    tags: append\n    priority: replace\n",
    );
    let r = rs.rule_by_name("r").unwrap();
    assert_eq!(r.output_format(), "second");
    assert_eq!(r.desc(), "base more");
    assert_eq!(r.tags(), ["a", "b"]);
    assert_eq!(r.priority(), Priority::Error);
    let rs = load2("- rule: r\n  enabled: false\n  override:\n    enabled: replace\n");
    assert!(!hit(&rs, "/etc/passwd"));
    let rs = load2("- rule: r\n  enabled: false\n");
    assert!(!rs.rule_by_name("r").unwrap().enabled());

    // Exceptions appended by override.
    let rs = load2(
        "- rule: r\n  exceptions:\n    - name: bash_ok\n      fields: proc.name\n      values: [bash]\n  override:\n    exceptions: append\n",
    );
    assert!(!hit(&rs, "/etc/passwd"));
}

#[test]
fn exceptions_single_tuple_and_list_values() {
    let yaml = "- list: ok_procs\n  items: [cat]\n".to_string()
        + "- rule: r\n  desc: d\n  condition: fd.name startswith /etc\n  output: o\n  priority: WARNING\n  exceptions:\n"
        + "    - name: single\n      fields: proc.name\n      comps: in\n      values: [ok_procs, vi]\n"
        + "    - name: tuple\n      fields: [proc.name, fd.name]\n      comps: [=, startswith]\n      values:\n        - [bash, /etc/hosts]\n"
        + "    - name: tuple_in\n      fields: [proc.name, fd.name]\n      comps: [in, =]\n      values:\n        - [[less, more], /etc/passwd]\n"
        + "    - name: empty\n      fields: [proc.name]\n";
    let rs = load(&yaml).ruleset;
    let st = state();
    let hit =
        |comm: &str, path: &str| !matched(&rs, &open_event(300, comm, path, 0, 1), &st).is_empty();
    assert!(hit("bash", "/etc/passwd"));
    assert!(!hit("cat", "/etc/passwd"), "list name in exception values");
    assert!(!hit("vi", "/etc/passwd"));
    assert!(!hit("bash", "/etc/hosts.allow"), "tuple exception");
    assert!(hit("cat2", "/etc/hosts"));
    assert!(!hit("more", "/etc/passwd"), "tuple with a list value");
    assert!(hit("more", "/etc/shadow"));
}

#[test]
fn evttype_index_and_interest_set() {
    let yaml = rule("opens", "evt.type in (open, openat) and fd.name = /x")
        + &rule("not_open", "not evt.type = openat and proc.name = bash")
        + &rule(
            "neq",
            "evt.type != connect and evt.type != openat and proc.name = y",
        )
        + &rule("demorgan", "not (evt.type = openat and proc.name = bash)");
    let loaded = load(&yaml);
    let rs = &loaded.ruleset;
    let types = |n: &str| rs.rule_by_name(n).unwrap().event_types();
    assert_eq!(
        types("opens"),
        [EventType::Open, EventType::Openat].into_iter().collect()
    );
    assert!(!types("not_open").contains(&EventType::Openat));
    assert!(types("not_open").contains(&EventType::Execve));
    assert!(!types("neq").contains(&EventType::Connect));
    assert!(!types("neq").contains(&EventType::Openat));
    // `not (A and B)` can match openat events (when B fails).
    assert_eq!(types("demorgan").len(), EventType::COUNT);
    let warned: Vec<&str> = loaded
        .warnings
        .iter()
        .filter(|w| w.code == WarningCode::NoEvtTypeRestriction)
        .map(|w| w.name.as_str())
        .collect();
    assert_eq!(warned, ["demorgan"]);
    let quiet = load(&(rule("q", "proc.name = x") + "  warn_evttypes: false\n"));
    assert!(
        quiet
            .warnings
            .iter()
            .all(|w| w.code != WarningCode::NoEvtTypeRestriction)
    );
    let only_opens = load(&rule(
        "opens",
        "evt.type in (open, openat) and fd.name = /x",
    ))
    .ruleset;
    assert_eq!(
        only_opens.event_types(),
        [EventType::Open, EventType::Openat].into_iter().collect()
    );
}

#[test]
fn outputs_substitute_fields_aliases_and_na() {
    let yaml = "- rule: r\n  desc: d\n  condition: fd.name = /etc/passwd and proc.aname[2] = systemd\n  output: \"file=%fd.name proc=%(proc.name) gp=%proc.aname[2] pod=%k8s.pod.name %container.info 100%\"\n  priority: WARNING\n";
    let rs = load(yaml).ruleset;
    let st = state();
    let ev = bash_open("/etc/passwd");
    let mut out = Vec::new();
    rs.evaluate(&ev, &st, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].priority, Priority::Warning);
    assert_eq!(
        rs.render_output(&out[0], &ev, &st),
        format!(
            "file=/etc/passwd proc=bash gp=systemd pod=web-0 container_id={CID} container_name=web 100%"
        )
    );
    let fields = rs.output_fields(&out[0], &ev, &st);
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "fd.name",
            "proc.name",
            "proc.aname[2]",
            "k8s.pod.name",
            "container.id",
            "container.name"
        ]
    );
    // A host process: pod fields are <NA>.
    let host = open_event(400, "sshd", "/etc/passwd", 0, 1);
    let mut st2 = st.clone();
    st2.threads.get_mut(&400).unwrap().ppid = 200;
    let mut out = Vec::new();
    rs.evaluate(&host, &st2, &mut out);
    assert_eq!(out.len(), 1);
    let text = rs.render_output(&out[0], &host, &st2);
    assert!(text.contains("pod=<NA>"), "{text}");
}

#[test]
fn throttling_is_a_token_bucket_per_rule() {
    let yaml = rule("a", "fd.name = /x") + &rule("b", "fd.name = /y");
    let opts = LoadOptions {
        rate: 1.0,
        max_burst: 2,
        ..LoadOptions::default()
    };
    let rs = load_with(&yaml, &opts).ruleset;
    let st = state();
    let at = |path: &str, ts: u64| matched(&rs, &open_event(300, "bash", path, 0, ts), &st).len();
    let sec = 1_000_000_000;
    assert_eq!(at("/x", 10 * sec), 1);
    assert_eq!(at("/x", 10 * sec), 1);
    assert_eq!(at("/x", 10 * sec), 0, "burst of 2 used up");
    assert_eq!(at("/y", 10 * sec), 1, "buckets are per rule");
    assert_eq!(at("/x", 11 * sec), 1, "one token per second");
    assert_eq!(at("/x", 11 * sec), 0);
    assert_eq!(rs.rule_by_name("a").unwrap().throttled(), 2);
    let unthrottled = load(&yaml).ruleset;
    for _ in 0..10 {
        assert_eq!(matched(&unthrottled, &bash_open("/x"), &st).len(), 1);
    }
}

#[test]
fn unsupported_sources_and_skip_if_unknown_filter_are_skipped_with_warnings() {
    let yaml = rule("k8s", "ka.verb = create")
        + "  source: k8s_audit\n"
        + &rule("skipped", "fd.name = /x and nope.field = 1")
        + "  skip-if-unknown-filter: true\n"
        + &rule("kept", "fd.name = /x");
    let loaded = load(&yaml);
    let names: Vec<&str> = loaded.ruleset.rules().map(|r| r.name()).collect();
    assert_eq!(names, ["kept"]);
    let codes: Vec<WarningCode> = loaded.warnings.iter().map(|w| w.code).collect();
    assert!(codes.contains(&WarningCode::UnsupportedSource));
    assert!(codes.contains(&WarningCode::SkippedUnknownFilter));
}

#[test]
fn required_versions_are_accepted_and_unknown_keys_warn() {
    let yaml = "- required_engine_version: 0.31.0\n- required_plugin_versions:\n  - name: container\n    version: 0.1.0\n".to_string()
        + &rule("r", "fd.name = /x")
        + "  colour: blue\n";
    let loaded = load(&yaml);
    assert_eq!(loaded.summary.rules, 1);
    let w = loaded
        .warnings
        .iter()
        .find(|w| w.code == WarningCode::UnknownKey)
        .unwrap();
    assert_eq!((w.location.line, w.location.col), (10, 3));
}

/// Asserts the error's position, item and kind.
fn assert_error(yaml: &str, line: usize, col: usize, item: ItemKind, name: &str, kind: &str) {
    let e = load_err(yaml);
    assert_eq!(
        (e.location.line, e.location.col, e.item, e.name.as_str()),
        (line, col, item, name),
        "{e}"
    );
    assert_eq!(&*e.location.file, "test.yaml");
    let k = format!("{:?}", e.kind);
    assert!(k.starts_with(kind), "{e} / {k}");
}

#[test]
fn errors_name_file_line_column_item_and_problem() {
    // YAML syntax.
    assert_error("- rule: a\n  desc: [x\n", 3, 1, ItemKind::File, "", "Yaml");
    // Unknown field in a folded multi-line condition.
    assert_error(
        "- rule: r\n  desc: d\n  condition: >\n    evt.type = open and\n    proc.nme = bash\n  output: o\n  priority: WARNING\n",
        5,
        5,
        ItemKind::Rule,
        "r",
        "UnknownField",
    );
    // Unknown field inside a macro: the macro is named.
    assert_error(
        "- macro: m\n  condition: fd.nam = x\n- rule: r\n  desc: d\n  condition: evt.type = open and m\n  output: o\n  priority: WARNING\n",
        2,
        14,
        ItemKind::Macro,
        "m",
        "UnknownField",
    );
    assert_error(
        &rule("r", "evt.type = open and not_a_macro"),
        3,
        34,
        ItemKind::Rule,
        "r",
        "UnknownMacro",
    );
    assert_error(
        &rule("r", "fd.name in no_such_list"),
        3,
        25,
        ItemKind::Rule,
        "r",
        "UnknownList",
    );
    assert_error(
        &rule("r", "proc.pid contains 1"),
        3,
        14,
        ItemKind::Rule,
        "r",
        "BadOperator",
    );
    assert_error(
        &rule("r", "proc.pid = abc"),
        3,
        25,
        ItemKind::Rule,
        "r",
        "BadValue",
    );
    assert_error(
        &rule("r", "fd.name regex '('"),
        3,
        28,
        ItemKind::Rule,
        "r",
        "BadValue",
    );
    assert_error(
        &rule("r", "fd.name = x and (proc.name = y"),
        3,
        44,
        ItemKind::Rule,
        "r",
        "Syntax",
    );
    assert_error(
        "- rule: r\n  desc: d\n  condition: fd.name = x\n  priority: WARNING\n",
        1,
        3,
        ItemKind::Rule,
        "r",
        "Schema(\"missing key \\\"output\\\"",
    );
    assert_error(
        "- rule: r\n  condition: and x\n  append: true\n",
        1,
        3,
        ItemKind::Rule,
        "r",
        "Undefined",
    );
    assert_error(
        "- list: l\n  items: [a]\n  override:\n    items: append\n",
        1,
        3,
        ItemKind::List,
        "l",
        "Undefined",
    );
}

#[test]
fn macro_recursion_is_an_error() {
    let yaml = "- macro: a\n  condition: b\n- macro: b\n  condition: a\n".to_string()
        + &rule("r", "evt.type = open and a");
    let e = load_err(&yaml);
    assert!(
        matches!(e.kind, ErrorKind::Recursion(ref c) if c == "a -> b -> a"),
        "{e}"
    );
    assert_eq!(e.item, ItemKind::Macro);
}

#[test]
fn output_errors_point_at_the_output() {
    let yaml = "- rule: r\n  desc: d\n  condition: fd.name = x\n  output: \"bad %proc.nope here\"\n  priority: WARNING\n";
    assert_error(yaml, 4, 11, ItemKind::Rule, "r", "UnknownField");
}

#[test]
fn bad_priority_and_bad_shapes_are_schema_errors() {
    assert_error(
        "- rule: r\n  desc: d\n  condition: fd.name = x\n  output: o\n  priority: LOUD\n",
        5,
        13,
        ItemKind::Rule,
        "r",
        "Schema",
    );
    assert_error("rule: r\n", 1, 1, ItemKind::File, "", "Schema");
    assert_error("- 42\n", 1, 3, ItemKind::File, "", "Schema");
    assert_error("- foo: bar\n", 1, 3, ItemKind::File, "", "Schema");
    assert_error(
        "- list: l\n  items: notalist\n",
        2,
        10,
        ItemKind::List,
        "l",
        "Schema",
    );
}

#[test]
fn shared_macros_are_evaluated_consistently_across_rules() {
    // The same macro is used positively, negated and nested; its per-event
    // memo must give every rule the same answer a fresh evaluation would.
    let yaml = "- macro: etc\n  condition: fd.name startswith /etc\n- macro: bash\n  condition: proc.name = bash and etc\n".to_string()
        + &rule("pos", "evt.type = openat and etc")
        + &rule("neg", "evt.type = openat and not etc")
        + &rule("nested", "evt.type = openat and (bash or proc.name = cat)")
        + &rule("other_type", "evt.type = connect and etc");
    let opts = LoadOptions {
        rule_matching: RuleMatching::All,
        ..LoadOptions::default()
    };
    let rs = load_with(&yaml, &opts).ruleset;
    let st = state();
    assert_eq!(
        matched(&rs, &bash_open("/etc/passwd"), &st),
        ["pos", "nested"]
    );
    assert_eq!(matched(&rs, &bash_open("/tmp/x"), &st), ["neg"]);
    assert_eq!(
        matched(&rs, &open_event(300, "cat", "/tmp/x", 0, 1), &st),
        ["neg", "nested"]
    );
    // The connect-only rule is not in the openat bucket at all.
    assert_eq!(
        rs.event_types(),
        [EventType::Openat, EventType::Connect]
            .into_iter()
            .collect()
    );
}

#[test]
fn build_alert_carries_rule_output_and_fields() {
    let yaml = "- rule: r\n  desc: d\n  condition: fd.name = /etc/passwd\n  output: \"read %fd.name by %proc.name\"\n  priority: ERROR\n  tags: [t1]\n";
    let rs = load(yaml).ruleset;
    let st = state();
    let ev = bash_open("/etc/passwd");
    let mut out = Vec::new();
    rs.evaluate(&ev, &st, &mut out);
    let alert = rs.build_alert(&out[0], &ev, &st).unwrap();
    assert_eq!(alert.rule, "r");
    assert_eq!(alert.output, "read /etc/passwd by bash");
    assert_eq!(alert.priority, Priority::Error as i32);
    assert_eq!(alert.tags, ["t1"]);
    assert_eq!(
        alert.output_fields.get("fd.name").map(String::as_str),
        Some("/etc/passwd")
    );
    assert_eq!(
        alert.output_fields.get("k8s.pod.name").map(String::as_str),
        Some("web-0")
    );
}

#[test]
fn positions_count_characters_in_non_ascii_files() {
    let yaml = "# règles é ü ✓\n- rule: r\n  desc: \"détection ✓\"\n  condition: fd.name = \"é✓\" and proc.nme = x\n  output: o\n  priority: WARNING\n";
    let e = load_err(yaml);
    assert_eq!((e.location.line, e.location.col), (4, 33), "{e}");
    let yaml = "- rule: r\n  desc: d\n  condition: 'fd.name = \"ü\" and proc.nme = x'\n  output: o\n  priority: WARNING\n";
    let e = load_err(yaml);
    assert_eq!((e.location.line, e.location.col), (3, 33), "{e}");
}

#[test]
fn deeply_chained_macros_are_an_error_not_a_stack_overflow() {
    let mut yaml = String::from("- macro: m0\n  condition: fd.name = x\n");
    for i in 1..5000 {
        yaml.push_str(&format!("- macro: m{i}\n  condition: m{}\n", i - 1));
    }
    yaml.push_str(&rule("r", "evt.type = openat and m4999"));
    let e = load_err(&yaml);
    assert!(matches!(e.kind, ErrorKind::Recursion(_)), "{e}");
    // Realistic nesting still works.
    let mut yaml = String::from("- macro: m0\n  condition: fd.name = /x\n");
    for i in 1..20 {
        yaml.push_str(&format!("- macro: m{i}\n  condition: m{}\n", i - 1));
    }
    yaml.push_str(&rule("r", "evt.type = openat and m19"));
    let rs = load(&yaml).ruleset;
    assert_eq!(matched(&rs, &bash_open("/x"), &state()), ["r"]);
}

#[test]
fn block_scalar_outputs_render_without_the_trailing_newline() {
    let loaded = load(
        "- rule: Folded\n  desc: d\n  condition: evt.type = openat\n  output: >\n    opened %fd.name\n    by %proc.name\n  priority: NOTICE\n",
    );
    let ev = bash_open("/etc/hosts");
    let st = state();
    let rule = loaded.ruleset.rule_by_name("Folded").expect("rule");
    assert_eq!(rule.render_output(&ev, &st), "opened /etc/hosts by bash");
}

#[test]
fn a_yaml_alias_bomb_is_a_load_error_at_the_alias() {
    let err = load_err(&yaml::tests::alias_bomb(9));
    assert_eq!(
        (&*err.location.file, err.location.line, err.location.col),
        ("test.yaml", 10, 15),
        "{err}"
    );
    assert_eq!(err.item, ItemKind::File);
    let ErrorKind::Yaml(msg) = &err.kind else {
        panic!("not a YAML error: {err}")
    };
    assert!(
        msg.contains("aliases expand to more than 16384 nodes"),
        "{err}"
    );
}
