//! What makes the noise: alerts counted per minute and per (rule, namespace,
//! image, process), kept next to the alerts so the `:noise` ranking is a
//! GROUP BY over a few thousand rollup rows instead of every stored alert.
//! Also: which stored alerts a drafted exception would have silenced.

use super::{Store, StoreError};
use crate::alert::AlertRecord;
use rusqlite::{Transaction, params};
use rustc_hash::FxHashMap as FastMap;

pub const NS_PER_MIN: i64 = 60_000_000_000;
pub const NS_PER_HOUR: i64 = 60 * NS_PER_MIN;

/// Windows this long and longer are counted by whole hours (the hourly
/// rollup has ~60 times fewer rows to group than the per-minute one).
pub const HOURLY_FROM_S: i64 = 6 * 3600;

/// The two rollups: same shape, per minute and per hour.
const ROLLUPS: [(&str, i64); 2] = [("noise_minutes", NS_PER_MIN), ("noise_hours", NS_PER_HOUR)];

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS noise_minutes (
    bucket INTEGER NOT NULL,
    rule TEXT NOT NULL,
    namespace TEXT NOT NULL,
    image TEXT NOT NULL,
    proc TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (bucket, rule, namespace, image, proc)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS noise_hours (
    bucket INTEGER NOT NULL,
    rule TEXT NOT NULL,
    namespace TEXT NOT NULL,
    image TEXT NOT NULL,
    proc TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (bucket, rule, namespace, image, proc)
) WITHOUT ROWID;
";

/// What the ranking's second column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseBy {
    Image,
    Namespace,
}

impl NoiseBy {
    pub fn as_str(self) -> &'static str {
        match self {
            NoiseBy::Image => "image",
            NoiseBy::Namespace => "namespace",
        }
    }

    /// The Falco field an exception on this column uses.
    pub fn field(self) -> &'static str {
        match self {
            NoiseBy::Image => "container.image.repository",
            NoiseBy::Namespace => "k8s.ns.name",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NoiseQuery {
    /// The window ends here (the console's clock).
    pub now_ns: i64,
    pub window_s: i64,
    pub by: NoiseBy,
    pub limit: usize,
}

/// One (rule, image or namespace, process) group.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseRow {
    pub rule: String,
    /// The image or namespace (see [`NoiseQuery::by`]).
    pub place: String,
    pub proc: String,
    pub count: u64,
    /// Alerts in the window's second half: against the first, the trend.
    pub recent: u64,
}

impl NoiseRow {
    pub fn earlier(&self) -> u64 {
        self.count - self.recent
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NoiseReport {
    pub query: NoiseQuery,
    /// Every alert in the window (the denominator of each row's share).
    pub total: u64,
    /// Most alerts first.
    pub rows: Vec<NoiseRow>,
}

/// How many stored alerts an exception matches, and the newest few.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionPreview {
    pub count: u64,
    pub sample: Vec<AlertRecord>,
}

type Key = (i64, String, String, String, String);

/// Adds (`sign` 1) or removes (-1) alerts from the rollup.
pub(super) fn roll<'a>(
    tx: &Transaction<'_>,
    alerts: impl Iterator<Item = (i64, &'a str, &'a str, &'a str, &'a str)>,
    sign: i64,
) -> rusqlite::Result<()> {
    let alerts: Vec<_> = alerts.collect();
    for (table, width) in ROLLUPS {
        let mut acc: FastMap<Key, i64> = FastMap::default();
        for &(time_ns, rule, ns, image, proc) in &alerts {
            let key = (
                time_ns.div_euclid(width),
                rule.to_string(),
                ns.to_string(),
                image.to_string(),
                proc.to_string(),
            );
            *acc.entry(key).or_default() += sign;
        }
        let mut up = tx.prepare_cached(&format!(
            "INSERT INTO {table} (bucket, rule, namespace, image, proc, n)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (bucket, rule, namespace, image, proc) DO UPDATE SET n = n + excluded.n"
        ))?;
        for ((bucket, rule, ns, image, proc), n) in acc {
            up.execute(params![bucket, rule, ns, image, proc, n])?;
        }
        if sign < 0 {
            tx.execute(&format!("DELETE FROM {table} WHERE n <= 0"), [])?;
        }
    }
    Ok(())
}

/// Fills the rollup from the alerts of a store created before it existed.
pub(super) fn backfill(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    for (table, width) in ROLLUPS {
        tx.execute(&format!("DELETE FROM {table}"), [])?;
        tx.execute(
            &format!(
                "INSERT INTO {table} (bucket, rule, namespace, image, proc, n)
                 SELECT time_ns / {width}, rule, namespace, image, proc, COUNT(*)
                 FROM alerts GROUP BY 1, 2, 3, 4, 5"
            ),
            [],
        )?;
    }
    Ok(())
}

/// SQL for an alert's value of a Falco field: the output field when the
/// record has it, else the record member the console fills it from.
fn field_sql(name: &str) -> Option<String> {
    let member = match name {
        "proc.name" => Some("'$.proc_name'"),
        "proc.cmdline" => Some("'$.cmdline'"),
        "container.image.repository" => Some("'$.image'"),
        "container.name" => Some("'$.container_name'"),
        "container.id" => Some("'$.container_id'"),
        "user.name" => Some("'$.user'"),
        "proc.pname" => Some("'$.ancestors[0].name'"),
        _ => None,
    };
    // Columns (indexed with the rule): the fields drafts keep by default.
    match name {
        "k8s.ns.name" => return Some("namespace".into()),
        "k8s.pod.name" => return Some("pod".into()),
        "proc.name" => return Some("proc".into()),
        "container.image.repository" => return Some("image".into()),
        _ => {}
    }
    // Field names are the console's own candidates, but quote defensively.
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '[' | ']'))
    {
        return None;
    }
    let from_fields = format!("NULLIF(json_extract(record, '$.fields.\"{name}\"'), '')");
    Some(match member {
        Some(m) => format!("COALESCE({from_fields}, json_extract(record, {m}), '')"),
        None => format!("COALESCE({from_fields}, '')"),
    })
}

impl Store {
    /// Ranks groups by volume over the query's window (see [`NoiseReport`]).
    pub fn noise(&self, q: &NoiseQuery) -> Result<NoiseReport, StoreError> {
        let (table, width) = ROLLUPS[usize::from(q.window_s >= HOURLY_FROM_S)];
        // Whole buckets covering the window: at most one bucket more than asked.
        let window_ns = q.window_s.max(1) * 1_000_000_000;
        let end = q.now_ns.div_euclid(width);
        let start = (q.now_ns - window_ns + 1).div_euclid(width);
        let mid = (q.now_ns - window_ns / 2).div_euclid(width) + 1;
        let col = match q.by {
            NoiseBy::Image => "image",
            NoiseBy::Namespace => "namespace",
        };
        let total: i64 = self
            .conn
            .query_row(
                &format!("SELECT COALESCE(SUM(n), 0) FROM {table} WHERE bucket BETWEEN ?1 AND ?2"),
                params![start, end],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let sql = format!(
            "SELECT rule, {col}, proc, SUM(n), SUM(CASE WHEN bucket >= ?3 THEN n ELSE 0 END)
             FROM {table} WHERE bucket BETWEEN ?1 AND ?2
             GROUP BY rule, {col}, proc ORDER BY 4 DESC, 1, 2, 3 LIMIT ?4"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![start, end, mid, q.limit as i64], |r| {
                Ok(NoiseRow {
                    rule: r.get(0)?,
                    place: r.get(1)?,
                    proc: r.get(2)?,
                    count: r.get::<_, i64>(3)? as u64,
                    recent: r.get::<_, i64>(4)? as u64,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        Ok(NoiseReport {
            query: q.clone(),
            total: total as u64,
            rows,
        })
    }

    /// The stored alerts of `rule` whose fields all have the given values:
    /// what an exception with these fields would have silenced.
    pub fn preview_exception(
        &self,
        rule: &str,
        fields: &[(String, String)],
        sample: usize,
    ) -> Result<ExceptionPreview, StoreError> {
        let mut cond = String::from("rule = ?1");
        let mut values: Vec<&str> = vec![rule];
        for (name, value) in fields {
            let Some(expr) = field_sql(name) else {
                continue;
            };
            values.push(value);
            cond.push_str(&format!(" AND {expr} = ?{}", values.len()));
        }
        let params = rusqlite::params_from_iter(values.iter());
        let count: i64 = self
            .conn
            .query_row(
                &format!("SELECT COUNT(*) FROM alerts WHERE {cond}"),
                params.clone(),
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let mut stmt = self
            .conn
            .prepare(&format!(
                // Sort ids (covered by the index), not rows carrying records.
                "SELECT id, record FROM alerts WHERE id IN
                   (SELECT id FROM alerts WHERE {cond} ORDER BY time_ns DESC LIMIT {sample})
                 ORDER BY time_ns DESC"
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let id: i64 = row.get(0).map_err(|e| self.err(e))?;
            let mut a = self.parse_record(id, row.get_ref(1).map_err(|e| self.err(e))?)?;
            a.id = id;
            out.push(a);
        }
        Ok(ExceptionPreview {
            count: count as u64,
            sample: out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertRecord;
    use std::collections::BTreeMap;

    const NOW: i64 = 1_000 * NS_PER_MIN;

    fn alert(seq: u64, age_min: i64, rule: &str, ns: &str, image: &str, proc: &str) -> AlertRecord {
        let mut fields = BTreeMap::new();
        fields.insert("proc.name".to_string(), proc.to_string());
        AlertRecord {
            sensor: "s".into(),
            seq,
            time_ns: NOW - age_min * NS_PER_MIN - 1,
            rule: rule.into(),
            namespace: ns.into(),
            pod: "p".into(),
            image: image.into(),
            proc_name: proc.into(),
            cmdline: format!("{proc} -x"),
            fields,
            ..Default::default()
        }
    }

    fn query(window_s: i64, by: NoiseBy) -> NoiseQuery {
        NoiseQuery {
            now_ns: NOW,
            window_s,
            by,
            limit: 10,
        }
    }

    #[test]
    fn ranks_groups_with_share_trend_and_retention() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let mut s = Store::open(&path, 100).unwrap();
        let mut batch = Vec::new();
        // shell/nginx/bash: 2 early in the hour, 6 late; cat in two namespaces
        for i in 0..2 {
            batch.push(alert(i, 50, "Shell", "prod", "nginx", "bash"));
        }
        for i in 2..8 {
            batch.push(alert(i, 5, "Shell", "prod", "nginx", "bash"));
        }
        batch.push(alert(8, 1, "Read", "prod", "redis", "cat"));
        batch.push(alert(9, 1, "Read", "dev", "redis", "cat"));
        // outside the hour
        batch.push(alert(10, 120, "Shell", "prod", "nginx", "bash"));
        s.insert(&mut batch).unwrap();
        let r = s.noise(&query(3600, NoiseBy::Image)).unwrap();
        assert_eq!(r.total, 10);
        assert_eq!(r.rows.len(), 2);
        let top = &r.rows[0];
        assert_eq!(
            (top.rule.as_str(), top.place.as_str(), top.proc.as_str()),
            ("Shell", "nginx", "bash")
        );
        assert_eq!((top.count, top.recent, top.earlier()), (8, 6, 2));
        assert_eq!(r.rows[1].count, 2, "one redis/cat group across namespaces");
        let by_ns = s.noise(&query(3600, NoiseBy::Namespace)).unwrap();
        assert_eq!(by_ns.rows.len(), 3);
        assert_eq!(s.noise(&query(3 * 3600, NoiseBy::Image)).unwrap().total, 11);
        // long windows count whole hours from the hourly rollup
        let day = s.noise(&query(24 * 3600, NoiseBy::Image)).unwrap();
        assert_eq!(day.total, 11);
        assert_eq!(day.rows[0].count, 9);
        // retention takes the oldest out of the ranking too
        let mut small = Store::open(&path, 9).unwrap();
        assert_eq!(small.enforce_retention().unwrap().len(), 2);
        let r = small.noise(&query(3 * 3600, NoiseBy::Image)).unwrap();
        assert_eq!(r.total, 9);
        assert_eq!(r.rows[0].count, 7);
    }

    #[test]
    fn backfills_a_store_from_before_the_rollup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        {
            let mut s = Store::open(&path, 100).unwrap();
            s.insert(&mut [alert(1, 1, "Shell", "prod", "nginx", "bash")])
                .unwrap();
            s.conn
                .execute_batch(
                    "DELETE FROM noise_minutes; DELETE FROM noise_hours; PRAGMA user_version = 0;",
                )
                .unwrap();
        }
        let s = Store::open(&path, 100).unwrap();
        let r = s.noise(&query(3600, NoiseBy::Image)).unwrap();
        assert_eq!(r.total, 1);
        assert_eq!(r.rows[0].proc, "bash");
    }

    #[test]
    fn migrates_a_store_from_before_the_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE alerts (id INTEGER PRIMARY KEY, sensor TEXT NOT NULL,
                 seq INTEGER NOT NULL, time_ns INTEGER NOT NULL, rule TEXT NOT NULL,
                 namespace TEXT NOT NULL, pod TEXT NOT NULL, record TEXT NOT NULL,
                 state TEXT NOT NULL DEFAULT 'new', UNIQUE(sensor, seq));",
            )
            .unwrap();
            let a = alert(1, 1, "Shell", "prod", "nginx", "bash");
            c.execute(
                "INSERT INTO alerts (sensor, seq, time_ns, rule, namespace, pod, record)
                 VALUES ('s', 1, ?1, 'Shell', 'prod', 'p', ?2)",
                params![a.time_ns, serde_json::to_string(&a).unwrap()],
            )
            .unwrap();
        }
        let s = Store::open(&path, 100).unwrap();
        let r = s.noise(&query(3600, NoiseBy::Image)).unwrap();
        assert_eq!((r.total, r.rows[0].place.as_str()), (1, "nginx"));
        let p = s
            .preview_exception("Shell", &[("proc.name".into(), "bash".into())], 1)
            .unwrap();
        assert_eq!(p.count, 1);
    }

    #[test]
    fn preview_counts_what_an_exception_would_silence() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("c.db"), 100).unwrap();
        let mut batch = vec![
            alert(1, 3, "Shell", "prod", "nginx", "bash"),
            alert(2, 2, "Shell", "prod", "nginx", "bash"),
            alert(3, 1, "Shell", "dev", "nginx", "bash"),
            alert(4, 1, "Shell", "prod", "nginx", "sh"),
            alert(5, 1, "Read", "prod", "nginx", "bash"),
        ];
        s.insert(&mut batch).unwrap();
        let f = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let p = s
            .preview_exception(
                "Shell",
                &f(&[
                    ("proc.name", "bash"),
                    ("container.image.repository", "nginx"),
                ]),
                2,
            )
            .unwrap();
        assert_eq!(p.count, 3);
        assert_eq!(p.sample.len(), 2);
        assert_eq!(p.sample[0].seq, 3, "newest first");
        let p = s
            .preview_exception(
                "Shell",
                &f(&[("proc.name", "bash"), ("k8s.ns.name", "prod")]),
                3,
            )
            .unwrap();
        assert_eq!(p.count, 2);
        let p = s
            .preview_exception("Shell", &f(&[("proc.cmdline", "sh -x")]), 3)
            .unwrap();
        assert_eq!(
            p.count, 1,
            "record members stand in for missing output fields"
        );
    }
}
