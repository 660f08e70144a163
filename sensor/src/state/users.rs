//! uid / gid → names, from the host's `/etc/passwd` and `/etc/group` and, for
//! containers, from the container's own files read through
//! `/proc/<pid>/root/etc/...` of one of its processes.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One passwd entry's fields the rules use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    pub name: String,
    pub home: String,
    pub shell: String,
}

/// The users and groups of one root filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTable {
    pub users: FxHashMap<u32, UserEntry>,
    pub groups: FxHashMap<u32, String>,
}

impl UserTable {
    /// Reads `<root>/etc/passwd` and `<root>/etc/group`; missing or unreadable
    /// files give empty tables (distroless images have none).
    pub fn load(root: &Path) -> UserTable {
        let read = |name: &str| std::fs::read_to_string(root.join("etc").join(name)).ok();
        UserTable {
            users: read("passwd").map(|s| parse_passwd(&s)).unwrap_or_default(),
            groups: read("group").map(|s| parse_group(&s)).unwrap_or_default(),
        }
    }
}

/// `name:passwd:uid:gid:gecos:home:shell` lines; malformed lines are skipped.
pub fn parse_passwd(text: &str) -> FxHashMap<u32, UserEntry> {
    let mut out = FxHashMap::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[0].starts_with('#') {
            continue;
        }
        let Ok(uid) = f[2].parse::<u32>() else {
            continue;
        };
        // The first entry for a uid wins, as getpwuid does.
        out.entry(uid).or_insert_with(|| UserEntry {
            name: f[0].to_string(),
            home: f[5].to_string(),
            shell: f[6].to_string(),
        });
    }
    out
}

/// `name:passwd:gid:members` lines; malformed lines are skipped.
pub fn parse_group(text: &str) -> FxHashMap<u32, String> {
    let mut out = FxHashMap::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 3 || f[0].starts_with('#') {
            continue;
        }
        if let Ok(gid) = f[2].parse::<u32>() {
            out.entry(gid).or_insert_with(|| f[0].to_string());
        }
    }
    out
}

struct CachedTable {
    table: UserTable,
    loaded_at: Instant,
}

/// Host and per-container user tables with bounded refresh on misses.
pub struct UserDb {
    host_root: PathBuf,
    host: Option<CachedTable>,
    containers: FxHashMap<String, CachedTable>,
    refresh_interval: Duration,
}

/// Upper bound on cached container tables; containers come and go, and a
/// table is cheap to re-read.
const MAX_CONTAINER_TABLES: usize = 4096;

impl UserDb {
    pub fn new(host_root: PathBuf, refresh_interval: Duration) -> UserDb {
        UserDb {
            host_root,
            host: None,
            containers: FxHashMap::default(),
            refresh_interval,
        }
    }

    /// Makes sure the table for `container_id` is loaded and, when `uid` or
    /// `gid` is unknown in it, re-reads it (at most once per refresh interval).
    /// `pid` is a process of that container, used to reach its filesystem.
    pub fn ensure(&mut self, container_id: &str, pid: i64, uid: u32, gid: u32) {
        let is_host = container_id == super::HOST_CONTAINER_ID;
        let existing = if is_host {
            self.host.as_mut()
        } else {
            self.containers.get_mut(container_id)
        };
        // The common case, on every event: the ids are known. No allocation.
        if let Some(cached) = existing {
            let known =
                cached.table.users.contains_key(&uid) && cached.table.groups.contains_key(&gid);
            if known || cached.loaded_at.elapsed() < self.refresh_interval {
                return;
            }
        }
        let root = if is_host {
            self.host_root.clone()
        } else {
            self.host_root.join(format!("proc/{pid}/root"))
        };
        let existing = if is_host {
            self.host.as_mut()
        } else {
            self.containers.get_mut(container_id)
        };
        if let Some(cached) = existing {
            Self::refresh_slot(cached, &root);
            return;
        }
        let fresh = CachedTable {
            table: UserTable::load(&root),
            loaded_at: Instant::now(),
        };
        if is_host {
            self.host = Some(fresh);
        } else {
            if self.containers.len() >= MAX_CONTAINER_TABLES {
                self.containers.clear();
            }
            self.containers.insert(container_id.to_string(), fresh);
        }
    }

    /// Re-reads a table after a miss; the caller checked the interval.
    fn refresh_slot(slot: &mut CachedTable, root: &Path) {
        let fresh = UserTable::load(root);
        // A process that already exited leaves an empty read; keep what we had.
        if !fresh.users.is_empty() || !fresh.groups.is_empty() {
            slot.table = fresh;
        }
        slot.loaded_at = Instant::now();
    }

    /// Installs a table directly (replay and tests).
    pub fn insert(&mut self, container_id: &str, table: UserTable) {
        let cached = CachedTable {
            table,
            loaded_at: Instant::now(),
        };
        if container_id == super::HOST_CONTAINER_ID {
            self.host = Some(cached);
        } else {
            self.containers.insert(container_id.to_string(), cached);
        }
    }

    fn table(&self, container_id: &str) -> Option<&UserTable> {
        if container_id == super::HOST_CONTAINER_ID {
            self.host.as_ref().map(|c| &c.table)
        } else {
            self.containers.get(container_id).map(|c| &c.table)
        }
    }

    pub fn user(&self, container_id: &str, uid: u32) -> Option<&UserEntry> {
        self.table(container_id)?.users.get(&uid)
    }

    pub fn group(&self, container_id: &str, gid: u32) -> Option<&str> {
        self.table(container_id)?
            .groups
            .get(&gid)
            .map(String::as_str)
    }

    /// Forgets a container's table (the container is gone).
    pub fn forget(&mut self, container_id: &str) {
        self.containers.remove(container_id);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_and_group_skipping_bad_lines() {
        let pw = "root:x:0:0:root:/root:/bin/bash\n# comment:x:1:1:::\nbroken line\napp:x:1000:1000:App:/home/app:/bin/sh\nbad:x:notanumber:0:::\nroot2:x:0:0::/r2:/bin/false\n";
        let users = parse_passwd(pw);
        assert_eq!(users.len(), 2);
        assert_eq!(users[&0].name, "root");
        assert_eq!(users[&1000].home, "/home/app");
        assert_eq!(users[&1000].shell, "/bin/sh");
        let groups = parse_group("root:x:0:\nwheel:x:10:root,app\nnogid:x::\n");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[&10], "wheel");
    }

    #[test]
    fn host_and_container_tables_are_separate_and_refresh_on_miss() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\n").unwrap();
        let mut db = UserDb::new(dir.path().to_path_buf(), Duration::ZERO);
        db.ensure("host", 1, 0, 0);
        assert_eq!(db.user("host", 0).map(|u| u.name.as_str()), Some("root"));
        assert_eq!(db.group("host", 0), Some("root"));
        assert!(db.user("abc", 0).is_none());

        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nnew:x:7:7::/n:/bin/sh\n",
        )
        .unwrap();
        db.ensure("host", 1, 7, 0);
        assert_eq!(db.user("host", 7).map(|u| u.name.as_str()), Some("new"));

        let mut t = UserTable::default();
        t.users.insert(
            0,
            UserEntry {
                name: "croot".into(),
                home: "/".into(),
                shell: "/bin/ash".into(),
            },
        );
        db.insert("abc", t);
        assert_eq!(
            db.user("abc", 0).map(|u| u.shell.as_str()),
            Some("/bin/ash")
        );
        db.forget("abc");
        assert!(db.user("abc", 0).is_none());
    }
}
