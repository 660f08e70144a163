//! How fast is `:noise` on a big store? Fills a scratch store with `--alerts N`
//! synthetic alerts spread over the last 24 hours (a skewed mix: a few noisy
//! groups and a long tail, as in real clusters), then times the ranking query
//! for several windows and groupings, and the exception preview count.
//! Prints one JSON object.
//!
//! Usage: bench_noise --alerts 1000000 --dir SCRATCH_DIR [--reuse]
//! (`--reuse` times the queries on the store a previous run left behind.)

use falco_console::alert::AlertRecord;
use falco_console::store::{NoiseBy, NoiseQuery, Store};
use std::path::PathBuf;
use std::time::Instant;

const RULES: &[&str] = &[
    "Terminal shell in container",
    "Read sensitive file untrusted",
    "Write below etc",
    "Unexpected network connection",
    "Launch Package Management Process in Container",
    "Modify binary dirs",
];
const NAMESPACES: &[&str] = &["prod", "staging", "kube-system", "payments", "web"];
const PROCS: &[&str] = &[
    "bash", "cat", "curl", "apt-get", "sh", "python3", "java", "node",
];

fn arg(name: &str) -> Option<String> {
    let mut it = std::env::args();
    while let Some(a) = it.next() {
        if a == name {
            return it.next();
        }
    }
    None
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = arg("--alerts")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = PathBuf::from(arg("--dir").unwrap_or_else(|| "/tmp/bench-noise".into()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("noise.db");
    let reuse = std::env::args().any(|a| a == "--reuse") && path.exists();
    if !reuse {
        let _ = std::fs::remove_file(&path);
    }
    let mut store = Store::open(&path, n)?;
    let now_ns = 1_714_559_400 * 1_000_000_000i64;
    let day_ns = 24 * 3600 * 1_000_000_000i64;
    // xorshift: deterministic, no dependency
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let t0 = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in (0..n).filter(|_| !reuse) {
        // skew: the low group numbers are the noisy ones
        let g = (rnd() % 1000) as usize;
        let g = (g * g / 1000) % 960;
        let image = format!("registry.local/team-{}/app-{}", g % 12, g % 40);
        batch.push(AlertRecord {
            sensor: "bench".into(),
            seq: i as u64 + 1,
            time_ns: now_ns - (rnd() % day_ns as u64) as i64,
            priority: 5,
            rule: RULES[g % RULES.len()].into(),
            output: "bench alert".into(),
            namespace: NAMESPACES[g % NAMESPACES.len()].into(),
            pod: format!("pod-{}", g % 50),
            image,
            proc_name: PROCS[g % PROCS.len()].into(),
            cmdline: format!("{} -c x", PROCS[g % PROCS.len()]),
            ..Default::default()
        });
        if batch.len() == 10_000 {
            store.insert(&mut batch)?;
            batch.clear();
        }
    }
    store.insert(&mut batch)?;
    let insert_s = t0.elapsed().as_secs_f64();
    let mut results = Vec::new();
    for (label, window_s) in [("15m", 900), ("1h", 3600), ("24h", 86_400)] {
        for by in [NoiseBy::Image, NoiseBy::Namespace] {
            let q = NoiseQuery {
                now_ns,
                window_s,
                by,
                limit: 200,
            };
            let mut times = Vec::new();
            let mut total = 0;
            for _ in 0..5 {
                let t = Instant::now();
                let r = store.noise(&q)?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                total = r.total;
            }
            times.sort_by(|a, b| a.total_cmp(b));
            results.push(format!(
                "{{\"window\":\"{label}\",\"by\":\"{}\",\"alerts_in_window\":{total},\"median_ms\":{:.2},\"max_ms\":{:.2}}}",
                by.as_str(),
                times[2],
                times[4]
            ));
        }
    }
    let t = Instant::now();
    let p = store.preview_exception(
        RULES[0],
        &[
            ("proc.name".into(), "bash".into()),
            (
                "container.image.repository".into(),
                "registry.local/team-0/app-0".into(),
            ),
        ],
        3,
    )?;
    let preview_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{{\"alerts\":{n},\"insert_s\":{insert_s:.1},\"noise\":[{}],\"preview_ms\":{preview_ms:.1},\"preview_count\":{}}}",
        results.join(","),
        p.count
    );
    Ok(())
}
