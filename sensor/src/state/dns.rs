//! Names of IP addresses for `fd.sip.name` and its siblings, as Falco gives
//! them: only the names the loaded rules compare against are resolved,
//! through the system resolver (so `/etc/hosts` applies), on a background
//! thread that refreshes them periodically. An event only looks its address
//! up in the last table built: no DNS query per event, and the detection
//! thread never waits for one.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Resolves one name to its addresses (the system resolver, or a fake in
/// tests).
pub type ResolveFn = dyn Fn(&str) -> std::io::Result<Vec<IpAddr>> + Send + Sync;

/// Resolves `name` with getaddrinfo (`/etc/hosts`, then DNS as
/// `/etc/nsswitch.conf` says).
pub fn system_resolve(name: &str) -> std::io::Result<Vec<IpAddr>> {
    let mut ips: Vec<IpAddr> = (name, 0u16)
        .to_socket_addrs()?
        .map(|a| canonical(a.ip()))
        .collect();
    ips.sort_unstable();
    ips.dedup();
    Ok(ips)
}

/// An IPv4-mapped IPv6 address (`::ffff:10.96.0.1`, what a dual-stack
/// socket reports) as the IPv4 address it stands for.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Address -> the watched names that resolve to it.
#[derive(Debug, Clone, Default)]
pub struct NameTable {
    by_addr: HashMap<IpAddr, Vec<Arc<str>>>,
}

impl NameTable {
    /// Builds the table from `(name, addresses)` pairs; an address claimed
    /// by several names lists them in the order given.
    pub fn from_resolved<'a>(resolved: impl IntoIterator<Item = (&'a str, &'a [IpAddr])>) -> Self {
        let mut by_addr: HashMap<IpAddr, Vec<Arc<str>>> = HashMap::new();
        for (name, ips) in resolved {
            let name: Arc<str> = Arc::from(name);
            for ip in ips {
                let names = by_addr.entry(canonical(*ip)).or_default();
                if !names.contains(&name) {
                    names.push(name.clone());
                }
            }
        }
        NameTable { by_addr }
    }

    /// The watched names `ip` belongs to (none: the field is missing).
    pub fn names(&self, ip: IpAddr) -> &[Arc<str>] {
        self.by_addr.get(&canonical(ip)).map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }
}

/// What the resolver thread is asked to do.
#[derive(Default)]
struct Wanted {
    names: BTreeSet<String>,
    /// The names changed: resolve now instead of at the next refresh.
    dirty: bool,
    stop: bool,
}

struct Inner {
    wanted: Mutex<Wanted>,
    wake: Condvar,
    table: Mutex<Arc<NameTable>>,
    /// Bumped after every table published.
    generation: AtomicU64,
}

/// The background resolver. Dropping it stops the thread.
pub struct NameWatcher {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl NameWatcher {
    /// Starts the thread; it resolves nothing until [`Self::set_names`],
    /// then every `refresh`.
    pub fn start(refresh: Duration, resolve: Arc<ResolveFn>) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            wanted: Mutex::new(Wanted::default()),
            wake: Condvar::new(),
            table: Mutex::new(Arc::new(NameTable::default())),
            generation: AtomicU64::new(0),
        });
        let thread = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("ip-names".into())
                .spawn(move || run(&inner, refresh, &*resolve))?
        };
        Ok(NameWatcher {
            inner,
            thread: Some(thread),
        })
    }

    /// The names to resolve from now on (re-derived on every rules
    /// reload); a change is resolved at once.
    pub fn set_names(&self, names: BTreeSet<String>) {
        let mut w = lock(&self.inner.wanted);
        if w.names != names {
            w.names = names;
            w.dirty = true;
            self.inner.wake.notify_one();
        }
    }

    /// The table, if one newer than `*seen` was published and can be taken
    /// without waiting (else the next call gets it).
    pub fn latest(&self, seen: &mut u64) -> Option<Arc<NameTable>> {
        let generation = self.inner.generation.load(Ordering::Acquire);
        if generation == *seen {
            return None;
        }
        let table = self.inner.table.try_lock().ok()?.clone();
        *seen = generation;
        Some(table)
    }

    /// Blocks until a table newer than `*seen` is published or `limit`
    /// passes (start-up of `replay`, tests).
    pub fn wait_latest(&self, seen: &mut u64, limit: Duration) -> Option<Arc<NameTable>> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(t) = self.latest(seen) {
                return Some(t);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for NameWatcher {
    fn drop(&mut self) {
        lock(&self.inner.wanted).stop = true;
        self.inner.wake.notify_one();
        // The thread may sit in getaddrinfo (seconds at worst); do not wait.
        drop(self.thread.take());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn run(inner: &Inner, refresh: Duration, resolve: &ResolveFn) {
    // Last good addresses per name: a failed refresh keeps them, so a
    // resolver hiccup does not blind the rules.
    let mut known: HashMap<String, Vec<IpAddr>> = HashMap::new();
    let mut failing: HashSet<String> = HashSet::new();
    loop {
        let names = {
            let w = lock(&inner.wanted);
            let (mut w, _) = inner
                .wake
                .wait_timeout_while(w, refresh, |w| !w.dirty && !w.stop)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if w.stop {
                return;
            }
            if w.names.is_empty() && !w.dirty {
                continue;
            }
            w.dirty = false;
            w.names.clone()
        };
        known.retain(|n, _| names.contains(n));
        failing.retain(|n| names.contains(n));
        for name in &names {
            match resolve(name) {
                Ok(ips) => {
                    if failing.remove(name) {
                        tracing::info!("ip names: {name} resolves again: {ips:?}");
                    }
                    known.insert(name.clone(), ips);
                }
                Err(e) => {
                    if failing.insert(name.clone()) {
                        tracing::warn!(
                            "ip names: cannot resolve {name} for fd.*ip.name rules: {e}; {}",
                            if known.contains_key(name) {
                                "keeping its last addresses"
                            } else {
                                "the field stays missing for it"
                            }
                        );
                    }
                }
            }
        }
        let table = NameTable::from_resolved(
            names
                .iter()
                .filter_map(|n| Some((n.as_str(), known.get(n)?.as_slice()))),
        );
        *lock(&inner.table) = Arc::new(table);
        inner.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_table_maps_addresses_to_every_name_claiming_them() {
        let api = [ip("10.96.0.1")];
        let both = [ip("10.96.0.1"), ip("fd00::1")];
        let t = NameTable::from_resolved([
            ("kubernetes.default.svc.cluster.local", &api[..]),
            ("kubernetes.default", &both[..]),
        ]);
        let names: Vec<&str> = t.names(ip("10.96.0.1")).iter().map(|n| &**n).collect();
        assert_eq!(
            names,
            ["kubernetes.default.svc.cluster.local", "kubernetes.default"]
        );
        assert_eq!(&*t.names(ip("fd00::1"))[0], "kubernetes.default");
        assert!(t.names(ip("10.96.0.2")).is_empty());
        // A dual-stack socket reports the IPv4 address mapped into IPv6.
        assert_eq!(t.names(ip("::ffff:10.96.0.1")).len(), 2);
    }

    #[test]
    fn system_resolve_reads_the_hosts_file_for_localhost() {
        let ips = system_resolve("localhost").unwrap();
        assert!(ips.contains(&ip("127.0.0.1")), "{ips:?}");
    }

    /// A resolver whose answers the test changes, counting calls.
    fn fake(
        answers: Arc<Mutex<HashMap<String, Vec<IpAddr>>>>,
        calls: Arc<AtomicUsize>,
    ) -> Arc<ResolveFn> {
        Arc::new(move |name: &str| {
            calls.fetch_add(1, Ordering::Relaxed);
            lock(&answers).get(name).cloned().ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{name}: no such host"),
                )
            })
        })
    }

    #[test]
    fn the_watcher_resolves_new_names_at_once_and_refreshes() {
        let answers = Arc::new(Mutex::new(HashMap::from([(
            "api.example".to_string(),
            vec![ip("192.0.2.1")],
        )])));
        let calls = Arc::new(AtomicUsize::new(0));
        let w = NameWatcher::start(
            Duration::from_millis(50),
            fake(answers.clone(), calls.clone()),
        )
        .unwrap();
        let mut seen = 0;
        assert!(
            w.latest(&mut seen).is_none(),
            "nothing before names are set"
        );
        w.set_names(BTreeSet::from(["api.example".to_string()]));
        let t = w.wait_latest(&mut seen, Duration::from_secs(5)).unwrap();
        assert_eq!(&*t.names(ip("192.0.2.1"))[0], "api.example");

        // The address changes; a periodic refresh picks it up.
        lock(&answers).insert("api.example".into(), vec![ip("192.0.2.7")]);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(t) = w.wait_latest(&mut seen, Duration::from_secs(1))
                && !t.names(ip("192.0.2.7")).is_empty()
            {
                assert!(t.names(ip("192.0.2.1")).is_empty());
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no refresh");
        }
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_addresses_and_dropped_names_go() {
        let answers = Arc::new(Mutex::new(HashMap::from([
            ("a.example".to_string(), vec![ip("192.0.2.1")]),
            ("b.example".to_string(), vec![ip("192.0.2.2")]),
        ])));
        let calls = Arc::new(AtomicUsize::new(0));
        let w = NameWatcher::start(
            Duration::from_millis(20),
            fake(answers.clone(), calls.clone()),
        )
        .unwrap();
        let mut seen = 0;
        w.set_names(BTreeSet::from([
            "a.example".to_string(),
            "b.example".to_string(),
        ]));
        w.wait_latest(&mut seen, Duration::from_secs(5)).unwrap();
        lock(&answers).remove("a.example");
        let before = calls.load(Ordering::Relaxed);
        while calls.load(Ordering::Relaxed) < before + 4 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let t = w.wait_latest(&mut seen, Duration::from_secs(5)).unwrap();
        assert_eq!(&*t.names(ip("192.0.2.1"))[0], "a.example");

        w.set_names(BTreeSet::from(["b.example".to_string()]));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let t = w.wait_latest(&mut seen, Duration::from_secs(1));
            if let Some(t) = t
                && t.names(ip("192.0.2.1")).is_empty()
            {
                assert_eq!(&*t.names(ip("192.0.2.2"))[0], "b.example");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "a.example stayed");
        }
    }
}
