//! `container.*` and `k8s.*`: the container the thread runs in and its pod.
//! Host processes get `host` for the id and name and `<NA>` for image,
//! pod and namespace fields, as Falco does.

use super::registry::Key;
use super::{Cx, FieldArg, Value, str_value};
use crate::state::{ContainerInfo, ContainerMount, HOST_CONTAINER_ID, PodInfo};
use std::borrow::Cow;
use std::fmt::Write;

fn non_empty(s: &str) -> Option<Value<'_>> {
    (!s.is_empty()).then(|| str_value(s))
}

/// Short container id: 12 hex digits (the thread may carry the full id).
pub(crate) fn short_id(id: &str) -> &str {
    if id == HOST_CONTAINER_ID {
        return id;
    }
    id.get(..12).unwrap_or(id)
}

impl<'a> Cx<'a> {
    /// The container metadata of the thread, when known and not the host.
    pub(crate) fn container(&self) -> Option<&'a ContainerInfo> {
        let id = self.container_id()?;
        if id == HOST_CONTAINER_ID {
            return None;
        }
        self.st.container(id)
    }

    pub(crate) fn is_host(&self) -> bool {
        self.container_id() == Some(HOST_CONTAINER_ID)
    }

    pub(crate) fn pod(&self) -> Option<&'a PodInfo> {
        self.container()?.pod.as_ref()
    }
}

fn render_mount(m: &ContainerMount, out: &mut String) {
    let _ = write!(
        out,
        "{}:{}:{}:{}:{}",
        m.source, m.dest, m.mode, m.read_write, m.propagation
    );
}

/// Selects a mount by position or by a glob on one of its paths.
fn select<'m>(
    mounts: &'m [ContainerMount],
    arg: Option<&FieldArg>,
    path_of: impl Fn(&ContainerMount) -> &str,
) -> Option<&'m ContainerMount> {
    match arg? {
        FieldArg::Index(n) => mounts.get(*n),
        FieldArg::Key(pattern) => mounts.iter().find(|m| glob_match(pattern, path_of(m))),
    }
}

/// Shell-style glob: `*` any run of characters, `?` one character,
/// `[...]` a character class (`!` or `^` negates, `a-z` ranges).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = class_match(&p, pi, t[ti]) {
                        if matched {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == '[' {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                c => {
                    if c == t[ti] {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class starting at `p[start] == '['`; returns
/// (matched, index after the class), or None for an unterminated class.
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

pub(super) fn extract<'a>(key: Key, arg: Option<&FieldArg>, cx: &Cx<'a>) -> Option<Value<'a>> {
    let host = cx.is_host();
    let info = cx.container();
    let v = match key {
        Key::ContainerId => match info {
            Some(c) if !c.id.is_empty() => str_value(&c.id),
            _ => str_value(short_id(cx.container_id()?)),
        },
        Key::ContainerFullId => match info {
            Some(c) if !c.full_id.is_empty() => str_value(&c.full_id),
            _ => str_value(cx.container_id()?),
        },
        Key::ContainerName if host => str_value(HOST_CONTAINER_ID),
        Key::ContainerName => non_empty(&info?.name)?,
        Key::ContainerType if host => str_value(HOST_CONTAINER_ID),
        Key::ContainerType => non_empty(&info?.runtime)?,
        Key::ContainerImage => non_empty(&info?.image)?,
        Key::ContainerImageRepository => non_empty(&info?.image_repository)?,
        Key::ContainerImageTag => non_empty(&info?.image_tag)?,
        Key::ContainerImageDigest => non_empty(&info?.image_digest)?,
        Key::ContainerPrivileged => Value::Bool(info?.privileged),
        Key::ContainerMounts => {
            let mut s = String::new();
            for (i, m) in info?.mounts.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                render_mount(m, &mut s);
            }
            Value::Str(Cow::Owned(s))
        }
        Key::ContainerMount => {
            let m = select(&info?.mounts, arg, |m| m.source.as_str())?;
            let mut s = String::new();
            render_mount(m, &mut s);
            Value::Str(Cow::Owned(s))
        }
        Key::ContainerMountSource => {
            str_value(&select(&info?.mounts, arg, |m| m.dest.as_str())?.source)
        }
        Key::ContainerMountDest => {
            str_value(&select(&info?.mounts, arg, |m| m.source.as_str())?.dest)
        }
        Key::ContainerMountMode => {
            str_value(&select(&info?.mounts, arg, |m| m.source.as_str())?.mode)
        }
        Key::ContainerMountRdwr => {
            let m = select(&info?.mounts, arg, |m| m.source.as_str())?;
            str_value(if m.read_write { "true" } else { "false" })
        }
        Key::ContainerMountPropagation => {
            str_value(&select(&info?.mounts, arg, |m| m.source.as_str())?.propagation)
        }
        Key::ContainerStartTs => Value::UInt(Some(info?.start_ns).filter(|t| *t > 0)?),
        Key::ContainerDuration => {
            let start = Some(info?.start_ns).filter(|t| *t > 0)?;
            Value::UInt(cx.ev.ts_ns.saturating_sub(start))
        }

        Key::K8sNsName => non_empty(&cx.pod()?.namespace)?,
        Key::K8sPodName => non_empty(&cx.pod()?.name)?,
        Key::K8sPodUid | Key::K8sPodId => non_empty(&cx.pod()?.uid)?,
        Key::K8sPodSandboxId => non_empty(short_id(&cx.pod()?.sandbox_id))?,
        Key::K8sPodFullSandboxId => non_empty(&cx.pod()?.sandbox_id)?,
        Key::K8sPodLabel => match arg? {
            FieldArg::Key(k) => str_value(cx.pod()?.labels.get(k)?),
            FieldArg::Index(n) => str_value(cx.pod()?.labels.get(&n.to_string())?),
        },
        Key::K8sPodLabels => {
            let labels = &cx.pod()?.labels;
            Value::List(
                labels
                    .iter()
                    .map(|(k, v)| Value::Str(Cow::Owned(format!("{k}:{v}"))))
                    .collect(),
            )
        }
        _ => return None,
    };
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("/proc*", "/proc"));
        assert!(glob_match("/proc*", "/proc/sys"));
        assert!(!glob_match("/proc*", "/etc"));
        assert!(glob_match("/", "/"));
        assert!(!glob_match("/", "/etc"));
        assert!(glob_match("/root*", "/root/.ssh"));
        assert!(glob_match("/var/run/*.sock", "/var/run/docker.sock"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[!a-c]x", "bx"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a", ""));
    }
}
