//! The local SQLite store: alert history, triage state, notes and silences.
//!
//! Lives in `dirs::data_dir()/falco-console/console.db` unless `--store` says
//! otherwise. Alerts are keyed by (sensor, seq) so a replay after reconnecting or
//! re-opening a file never duplicates them.

mod export;
mod noise;

pub use export::{ExportFormat, export};
pub use noise::{ExceptionPreview, NoiseBy, NoiseQuery, NoiseReport, NoiseRow};

use crate::alert::AlertRecord;
use crate::triage::{Silence, SilenceScope, TriageState};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("store {path}: cannot create or restrict: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store {path}: alert {id} has a corrupt record: {source}")]
    Corrupt {
        path: PathBuf,
        id: i64,
        source: serde_json::Error,
    },
}

/// An alert loaded from the store with its triage.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub alert: AlertRecord,
    pub state: TriageState,
    pub notes: Vec<String>,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Maximum number of alerts kept; the oldest go first.
    retention: usize,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    sensor TEXT NOT NULL,
    seq INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    rule TEXT NOT NULL,
    namespace TEXT NOT NULL,
    pod TEXT NOT NULL,
    record TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'new',
    image TEXT NOT NULL DEFAULT '',
    proc TEXT NOT NULL DEFAULT '',
    UNIQUE(sensor, seq)
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts(time_ns);
CREATE INDEX IF NOT EXISTS alerts_pod ON alerts(namespace, pod);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    time_ns INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    scope TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS views (
    name TEXT PRIMARY KEY,
    filter TEXT NOT NULL,
    sort TEXT NOT NULL,
    grouped INTEGER NOT NULL
);
PRAGMA foreign_keys = ON;
";

/// A named filter + sort + grouping (`:view NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedView {
    pub name: String,
    /// `:filter` syntax (see `Filter::to_args`).
    pub filter: String,
    pub sort: String,
    pub grouped: bool,
}

impl Store {
    /// Default location: `<data dir>/falco-console/console.db`.
    pub fn default_path() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("falco-console").join("console.db"))
    }

    pub fn open(path: &Path, retention: usize) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            crate::private_fs::create_dir(dir).map_err(|source| StoreError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // 0600 before SQLite opens it: its -wal and -shm files copy this mode.
        crate::private_fs::restrict_file(path).map_err(|source| StoreError::Dir {
            path: path.to_path_buf(),
            source,
        })?;
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            retention,
        };
        store.conn.execute_batch(SCHEMA).map_err(|e| store.err(e))?;
        store
            .conn
            .execute_batch(noise::SCHEMA)
            .map_err(|e| store.err(e))?;
        store.migrate()?;
        // WAL keeps inserts cheap; a failure (e.g. a read-only medium) is not fatal.
        let _ = store.conn.pragma_update(None, "journal_mode", "WAL");
        // With WAL, NORMAL syncs at checkpoints instead of every commit: the
        // database stays consistent, and a power cut can lose only the last
        // few batches (which a sensor's resume buffer replays anyway).
        let _ = store.conn.pragma_update(None, "synchronous", "NORMAL");
        Ok(store)
    }

    /// Version 1 added the `image` and `proc` columns (indexed with the rule,
    /// for exception previews) and the noise rollups: fill them from the
    /// alerts already stored.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let path = self.path.clone();
        let e = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let has_proc = self
            .conn
            .prepare("SELECT 1 FROM pragma_table_info('alerts') WHERE name = 'proc'")
            .and_then(|mut s| s.exists([]))
            .map_err(e)?;
        if !has_proc {
            self.conn
                .execute_batch(
                    "ALTER TABLE alerts ADD COLUMN image TEXT NOT NULL DEFAULT '';
                     ALTER TABLE alerts ADD COLUMN proc TEXT NOT NULL DEFAULT '';
                     UPDATE alerts SET image = COALESCE(json_extract(record, '$.image'), ''),
                                       proc = COALESCE(json_extract(record, '$.proc_name'), '');",
                )
                .map_err(e)?;
        }
        self.conn
            .execute_batch("CREATE INDEX IF NOT EXISTS alerts_group ON alerts(rule, proc, image, namespace, time_ns)")
            .map_err(e)?;
        if version >= 1 {
            return Ok(());
        }
        let tx = self.conn.transaction().map_err(e)?;
        noise::backfill(&tx).map_err(e)?;
        tx.pragma_update(None, "user_version", 1).map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Saved views, by name.
    pub fn views(&self) -> Result<Vec<SavedView>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, filter, sort, grouped FROM views ORDER BY name")
            .map_err(|e| self.err(e))?;
        stmt.query_map([], |r| {
            Ok(SavedView {
                name: r.get(0)?,
                filter: r.get(1)?,
                sort: r.get(2)?,
                grouped: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    pub fn save_view(&mut self, v: &SavedView) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO views (name, filter, sort, grouped) VALUES (?1, ?2, ?3, ?4)",
                params![v.name, v.filter, v.sort, v.grouped],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Inserts alerts in one transaction, skipping (sensor, seq) pairs already
    /// stored. Sets `id` on each inserted record and returns how many were new.
    pub fn insert(&mut self, alerts: &mut [AlertRecord]) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let e = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(e)?;
        let mut new = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO alerts
                        (sensor, seq, time_ns, rule, namespace, pod, record, image, proc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(e)?;
            // One buffer for the batch: a fresh String per record made the
            // allocator a visible share of ingest.
            let mut buf = Vec::with_capacity(2048);
            for a in alerts.iter_mut() {
                buf.clear();
                if serde_json::to_writer(&mut buf, a).is_err() {
                    buf.clear();
                }
                let record = std::str::from_utf8(&buf).unwrap_or_default();
                let n = stmt
                    .execute(params![
                        a.sensor,
                        a.seq as i64,
                        a.time_ns,
                        a.rule,
                        a.namespace,
                        a.pod,
                        record,
                        a.image,
                        a.proc_name
                    ])
                    .map_err(e)?;
                if n == 1 {
                    a.id = tx.last_insert_rowid();
                    new += 1;
                } else {
                    a.id = 0;
                }
            }
        }
        noise::roll(
            &tx,
            alerts.iter().filter(|a| a.id != 0).map(|a| {
                (
                    a.time_ns,
                    a.rule.as_str(),
                    a.namespace.as_str(),
                    a.image.as_str(),
                    a.proc_name.as_str(),
                )
            }),
            1,
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(new)
    }

    /// Deletes the oldest alerts beyond the retention limit; returns their ids.
    pub fn enforce_retention(&mut self) -> Result<Vec<i64>, StoreError> {
        let count: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let excess = count - self.retention as i64;
        if excess <= 0 {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id FROM alerts ORDER BY time_ns, id LIMIT ?1")
                .map_err(|e| self.err(e))?;
            stmt.query_map([excess], |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<_, _>>())
                .map_err(|e| self.err(e))?
        };
        let tx = self
            .conn
            .transaction()
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })?;
        let path = self.path.clone();
        let e = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let mut gone = Vec::with_capacity(ids.len());
        {
            let mut get = tx
                .prepare_cached(
                    "SELECT time_ns, rule, namespace, image, proc FROM alerts WHERE id = ?1",
                )
                .map_err(e)?;
            for id in &ids {
                let row: (i64, String, String, String, String) = get
                    .query_row([id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })
                    .map_err(e)?;
                gone.push(row);
                tx.execute("DELETE FROM alerts WHERE id = ?1", [id])
                    .map_err(e)?;
            }
        }
        noise::roll(
            &tx,
            gone.iter()
                .map(|(t, r, n, i, p)| (*t, r.as_str(), n.as_str(), i.as_str(), p.as_str())),
            -1,
        )
        .map_err(e)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(ids)
    }

    /// Every stored alert, oldest first, with triage state and notes.
    pub fn load(&self) -> Result<Vec<StoredAlert>, StoreError> {
        let mut out = Vec::new();
        self.load_each(|a| out.push(a))?;
        Ok(out)
    }

    /// Like [`Store::load`] but hands each alert to `f` as it is read, so a
    /// caller that keeps less than the whole record never holds every full
    /// record at once.
    pub fn load_each(&self, mut f: impl FnMut(StoredAlert)) -> Result<(), StoreError> {
        let mut notes: HashMap<i64, Vec<String>> = HashMap::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT alert_id, text FROM notes ORDER BY id")
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (id, text) = row.map_err(|e| self.err(e))?;
                notes.entry(id).or_default().push(text);
            }
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id, record, state FROM alerts ORDER BY time_ns, id")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let id: i64 = row.get(0).map_err(|e| self.err(e))?;
            let record = row.get_ref(1).map_err(|e| self.err(e))?;
            let mut alert = self.parse_record(id, record)?;
            let state: String = row.get(2).map_err(|e| self.err(e))?;
            alert.id = id;
            f(StoredAlert {
                alert,
                state: TriageState::parse(&state).unwrap_or_default(),
                notes: notes.remove(&id).unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// The full record of alert `id`, if it is still stored.
    pub fn get(&self, id: i64) -> Result<Option<AlertRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT record FROM alerts WHERE id = ?1")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([id]).map_err(|e| self.err(e))?;
        let Some(row) = rows.next().map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        let record = row.get_ref(0).map_err(|e| self.err(e))?;
        let mut alert = self.parse_record(id, record)?;
        alert.id = id;
        Ok(Some(alert))
    }

    fn parse_record(
        &self,
        id: i64,
        record: rusqlite::types::ValueRef<'_>,
    ) -> Result<AlertRecord, StoreError> {
        let bytes = record.as_bytes().map_err(|e| self.err(e.into()))?;
        serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
            path: self.path.clone(),
            id,
            source,
        })
    }

    pub fn set_state(&mut self, ids: &[i64], state: TriageState) -> Result<(), StoreError> {
        let path = self.path.clone();
        let e = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(e)?;
        for id in ids {
            tx.execute(
                "UPDATE alerts SET state = ?1 WHERE id = ?2",
                params![state.as_str(), id],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    pub fn add_note(&mut self, ids: &[i64], time_ns: i64, text: &str) -> Result<(), StoreError> {
        for id in ids {
            self.conn
                .execute(
                    "INSERT INTO notes (alert_id, time_ns, text) VALUES (?1, ?2, ?3)",
                    params![id, time_ns, text],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    pub fn add_silence(&mut self, s: &Silence) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO silences (rule, scope, value, expires_ns) VALUES (?1, ?2, ?3, ?4)",
                params![s.rule, s.scope.as_str(), s.value, s.expires_ns],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Silences that have not expired at `now_ns`; expired ones are deleted.
    pub fn silences(&mut self, now_ns: i64) -> Result<Vec<Silence>, StoreError> {
        self.conn
            .execute("DELETE FROM silences WHERE expires_ns <= ?1", [now_ns])
            .map_err(|e| self.err(e))?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, rule, scope, value, expires_ns FROM silences ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, rule, scope, value, expires_ns) = row.map_err(|e| self.err(e))?;
            if let Some(scope) = SilenceScope::parse(&scope) {
                out.push(Silence {
                    id,
                    rule,
                    scope,
                    value,
                    expires_ns,
                });
            }
        }
        Ok(out)
    }

    /// Highest seq stored per sensor key, so a restarted console resumes.
    pub fn last_seqs(&self) -> Result<HashMap<String, u64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT sensor, MAX(seq) FROM alerts GROUP BY sensor")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for row in rows {
            let (s, seq) = row.map_err(|e| self.err(e))?;
            out.insert(s, seq as u64);
        }
        Ok(out)
    }

    /// The latest event time among alerts whose sensor key starts with
    /// `prefix` (a NATS source resumes from it).
    pub fn latest_time_ns(&self, prefix: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT MAX(time_ns) FROM alerts WHERE substr(sensor, 1, length(?1)) = ?1",
                params![prefix],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Whether a (sensor, seq) alert is stored (used by tests and dedup checks).
    pub fn contains(&self, sensor: &str, seq: u64) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT 1 FROM alerts WHERE sensor = ?1 AND seq = ?2",
                params![sensor, seq as i64],
                |_| Ok(()),
            )
            .optional()
            .map(|x| x.is_some())
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn alert(sensor: &str, seq: u64, time_s: i64, rule: &str) -> AlertRecord {
        AlertRecord {
            sensor: sensor.into(),
            seq,
            time_ns: time_s * 1_000_000_000,
            priority: 5,
            rule: rule.into(),
            namespace: "default".into(),
            pod: "web-1".into(),
            image: "nginx".into(),
            ..Default::default()
        }
    }

    #[test]
    fn triage_notes_and_silences_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/console.db");
        {
            let mut s = Store::open(&path, 100).unwrap();
            let mut a = vec![alert("s1", 1, 10, "A"), alert("s1", 2, 11, "B")];
            assert_eq!(s.insert(&mut a).unwrap(), 2);
            s.set_state(&[a[0].id], TriageState::FalsePositive).unwrap();
            s.add_note(&[a[1].id], 5, "looked at it").unwrap();
            let sil = Silence::for_alert(&a[0], SilenceScope::Namespace, 1_000);
            s.add_silence(&sil).unwrap();
        }
        let mut s = Store::open(&path, 100).unwrap();
        let loaded = s.load().unwrap();
        let got = s.get(loaded[1].alert.id).unwrap().unwrap();
        assert_eq!(got, loaded[1].alert);
        assert!(s.get(loaded[1].alert.id + 100).unwrap().is_none());
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].state, TriageState::FalsePositive);
        assert_eq!(loaded[0].alert.rule, "A");
        assert_eq!(loaded[1].state, TriageState::New);
        assert_eq!(loaded[1].notes, vec!["looked at it".to_string()]);
        let sil = s.silences(500).unwrap();
        assert_eq!(sil.len(), 1);
        assert_eq!(sil[0].value, "default");
        assert!(
            s.silences(2_000).unwrap().is_empty(),
            "expired silence kept"
        );
        assert_eq!(s.last_seqs().unwrap()["s1"], 2);
    }

    #[cfg(unix)]
    #[test]
    fn store_directory_and_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("falco-console/console.db");
        let mut s = Store::open(&path, 100).unwrap();
        s.insert(&mut [alert("s1", 1, 10, "A")]).unwrap();
        assert_eq!(mode(&dir.path().join("falco-console")), 0o700);
        assert_eq!(mode(&path), 0o600);
        let wal = dir.path().join("falco-console/console.db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600, "SQLite copies the database's mode");
        }
        // an existing store with a loose mode is tightened on open
        drop(s);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Store::open(&path, 100).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn duplicates_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("c.db"), 100).unwrap();
        let mut a = vec![alert("s1", 1, 10, "A")];
        assert_eq!(s.insert(&mut a).unwrap(), 1);
        let mut again = vec![alert("s1", 1, 10, "A"), alert("s2", 1, 10, "A")];
        assert_eq!(s.insert(&mut again).unwrap(), 1);
        assert_eq!(again[0].id, 0);
        assert!(s.contains("s2", 1).unwrap());
    }

    #[test]
    fn retention_drops_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("c.db"), 3).unwrap();
        let mut a: Vec<_> = (1..=5)
            .map(|i| alert("s", i, 100 - i as i64, "R"))
            .collect();
        s.insert(&mut a).unwrap();
        let dropped = s.enforce_retention().unwrap();
        assert_eq!(dropped, vec![a[4].id, a[3].id]);
        let seqs: Vec<u64> = s.load().unwrap().iter().map(|x| x.alert.seq).collect();
        assert_eq!(seqs, vec![3, 2, 1]);
    }
}
