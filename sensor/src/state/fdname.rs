//! Falco-style renderings of fd names (`fd.name`) and path normalisation.

use crate::event::{SockAddr, SockTuple};

/// `ip:port` (IPv6 without brackets, as Falco prints it), the unix path, or
/// empty for families we do not understand.
pub fn addr_name(a: &SockAddr) -> String {
    match a {
        SockAddr::Inet { ip, port } => format!("{ip}:{port}"),
        SockAddr::Unix { path } => path.clone(),
        SockAddr::Other { .. } => String::new(),
    }
}

/// `local->remote` for inet sockets (the connecting side first, as Falco
/// does for connect), the path for unix sockets.
pub fn tuple_name(t: &SockTuple) -> String {
    match (&t.local, &t.remote) {
        (SockAddr::Unix { path: l }, SockAddr::Unix { path: r }) => {
            if r.is_empty() {
                l.clone()
            } else {
                r.clone()
            }
        }
        (l, r) => format!("{}->{}", addr_name(l), addr_name(r)),
    }
}

/// For an accepted connection the remote peer is the client: `remote->local`.
pub fn accepted_tuple_name(t: &SockTuple) -> String {
    match (&t.local, &t.remote) {
        (SockAddr::Unix { .. }, _) => tuple_name(t),
        (l, r) => format!("{}->{}", addr_name(r), addr_name(l)),
    }
}

/// Joins `path` onto `base` (when relative) and removes `.`, `..` and
/// repeated slashes. `..` at the root stays at the root, as the kernel does.
pub fn resolve(base: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let joined = if path.starts_with('/') {
        path.split('/').chain("".split('/'))
    } else {
        base.split('/').chain(path.split('/'))
    };
    for comp in joined {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(base.len() + path.len() + 1);
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::event::L4Proto;

    #[test]
    fn resolves_paths() {
        let cases = [
            ("/home/u", "a.txt", "/home/u/a.txt"),
            ("/home/u", "../x", "/home/x"),
            ("/home/u", "./././b//c/", "/home/u/b/c"),
            ("/", "../../etc/passwd", "/etc/passwd"),
            ("/tmp", "/etc/../etc/./shadow", "/etc/shadow"),
            ("/tmp", "", "/tmp"),
            ("/", ".", "/"),
            ("/a/b", "..", "/a"),
        ];
        for (base, path, want) in cases {
            assert_eq!(resolve(base, path), want, "{base} + {path}");
        }
    }

    #[test]
    fn names_sockets() {
        let t = SockTuple {
            l4: L4Proto::Tcp,
            local: SockAddr::Inet {
                ip: "10.0.0.2".parse().unwrap(),
                port: 40000,
            },
            remote: SockAddr::Inet {
                ip: "10.0.0.9".parse().unwrap(),
                port: 443,
            },
        };
        assert_eq!(tuple_name(&t), "10.0.0.2:40000->10.0.0.9:443");
        assert_eq!(accepted_tuple_name(&t), "10.0.0.9:443->10.0.0.2:40000");
        let u = SockTuple {
            l4: L4Proto::Unix,
            local: SockAddr::Unix {
                path: String::new(),
            },
            remote: SockAddr::Unix {
                path: "/run/containerd/containerd.sock".into(),
            },
        };
        assert_eq!(tuple_name(&u), "/run/containerd/containerd.sock");
    }
}
