#!/usr/bin/env python3
"""Benchmark driver for falco-sensor (issue 8). Called by scripts/bench.sh.

Every figure is a ratio or a rate measured in the same run as its baseline:
configurations are interleaved per repetition (their order rotates), and
results are reported as median with min-max over the repetitions.

Sections: overhead (syscall slowdown + sensor CPU), engine (record/replay
throughput), drops, latency, memory and start, console. Each section writes
its numbers into one results dict; `report` turns it into the printed table
and docs/benchmarks.md. Python 3 standard library only.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class SectionError(Exception):
    """A section could not produce its numbers; the message says why."""


# --------------------------------------------------------------------------
# Sizes: the full run follows issue 8; --smoke shrinks everything.


def sizes(smoke):
    if smoke:
        return dict(
            reps=1, openclose=20_000, forkexec=200, connect=500, getppid=200_000,
            mixed_src="/usr/include/linux", drop_secs=1,
            drop_rates=[10_000, 50_000], latency_n=200, latency_rate=500,
            sleepers=300, record_mix=0.05, idle_secs=1, console_alerts=5_000,
            sink_alerts=500, sink_rate=1_000,
        )
    return dict(
        reps=5, openclose=2_000_000, forkexec=20_000, connect=100_000, getppid=10_000_000,
        mixed_src="/usr/include", drop_secs=30,
        drop_rates=[25_000, 50_000, 100_000, 150_000, 200_000, 300_000],
        latency_n=10_000, latency_rate=1_000, sleepers=10_000, record_mix=1.0,
        idle_secs=5, console_alerts=100_000, sink_alerts=20_000, sink_rate=5_000,
    )


# --------------------------------------------------------------------------
# Process and /proc helpers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime of every thread of `pid`, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the comm field: state is fields[0], utime is stat field 14.
    return int(fields[11]) + int(fields[12])


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise SectionError(f"no VmRSS for pid {pid}")


def run_workload(cmd, timeout=3600):
    """Runs a C workload; returns its elapsed seconds (from its own clock)."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise SectionError(f"{' '.join(map(str, cmd))} failed: {out.stderr.strip()}")
    m = re.search(r"elapsed_ns=(\d+)", out.stdout)
    if not m:
        raise SectionError(f"{cmd[0]} printed no elapsed_ns: {out.stdout!r}")
    fields = dict(re.findall(r"(\w+)=([\d.]+)", out.stdout))
    return int(m.group(1)) / 1e9, fields


class RssSampler:
    """Samples a pid's RSS every 100 ms in a thread; keeps the maximum."""

    def __init__(self, pid):
        self.pid, self.max, self._stop = pid, 0, threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.max = max(self.max, rss_bytes(self.pid))
            except (OSError, SectionError):
                return
            self._stop.wait(0.1)

    def stop(self):
        self._stop.set()
        self._t.join()
        return self.max


# --------------------------------------------------------------------------
# The sensor under test


class Sensor:
    def __init__(self, ctx, name, rules, options=()):
        self.ctx, self.name, self.rules, self.options = ctx, name, rules, list(options)
        self.proc = None
        self.grpc_port = free_port()
        self.metrics_port = free_port()
        ctx.sensor_starts += 1
        self.log_path = ctx.work / f"sensor-{ctx.sensor_starts:02d}-{name}.log"
        self.start_secs = None

    def start(self, timeout=60):
        cmd = [str(self.ctx.sensor_bin), "run"]
        for r in self.rules:
            cmd += ["-r", str(r)]
        cmd += ["-o", f"grpc.listen=127.0.0.1:{self.grpc_port}",
                "-o", f"metrics.listen=127.0.0.1:{self.metrics_port}"]
        for o in self.options:
            cmd += ["-o", o]
        self.log = open(self.log_path, "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise SectionError(
                    f"sensor ({self.name}) exited with {self.proc.returncode} before it was "
                    f"ready; log: {self.log_path}: {self.tail_log()}")
            if self.healthy():
                self.start_secs = time.monotonic() - t0
                m = re.search(rb"ready in (\d+) ms", self.log_path.read_bytes())
                self.ctx.results["start_secs"].append(self.start_secs)
                if m:
                    self.ctx.results["start_self_ms"].append(int(m.group(1)))
                return self
            time.sleep(0.01)
        self.stop()
        raise SectionError(f"sensor ({self.name}) not healthy after {timeout} s; log: {self.log_path}")

    def tail_log(self, n=5):
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def healthy(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def metrics(self):
        """Prometheus text parsed to {series: value}, series as printed."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                try:
                    out[series] = float(value)
                except ValueError:
                    pass
        return out

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None


def counter_sum(metrics, prefix):
    return sum(v for k, v in metrics.items() if k == prefix or k.startswith(prefix + "{"))


# --------------------------------------------------------------------------
# Statistics


def summary(values):
    """median, min, max of a list of numbers."""
    return dict(median=statistics.median(values), min=min(values), max=max(values), n=len(values))


# --------------------------------------------------------------------------
# Context: paths and sizes shared by every section


class Ctx:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.size = sizes(args.smoke)
        if args.reps:
            self.size["reps"] = args.reps
        for key in ("openclose", "forkexec", "connect", "getppid", "latency_n", "sleepers", "drop_secs"):
            v = getattr(args, key, None)
            if v:
                self.size[key] = v
        self.repo = Path(args.repo).resolve()
        self.sensor_bin = Path(args.sensor_bin)
        self.wl = Path(args.workloads)
        self.work = Path(args.workdir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.scratch = Path(tempfile.mkdtemp(prefix="falco-bench-", dir="/tmp"))
        self.results = {"notes": [], "errors": {}, "start_secs": [], "start_self_ms": []}
        self.sensor_starts = 0
        self.all_rules = self.rules_files()
        self.bench_rules = self.write_bench_rules()

    def rules_files(self):
        default = self.repo / "sensor/src/rules/defaults/falco-sensor_rules.yaml"
        files = [default] if default.exists() else []
        if not files:
            self.results["notes"].append(f"default rules file {default} not found")
        upstream_dir = (self.repo / self.args.upstream_rules).resolve()
        names = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]
        if all((upstream_dir / n).exists() for n in names):
            files += [upstream_dir / n for n in names]
            self.results["rulesets"] = "default + falco_rules + falco-incubating_rules + falco-sandbox_rules"
        else:
            msg = (f"upstream rulesets not found in {upstream_dir}: "
                   "sensor configurations run with the default rules only")
            log(msg)
            self.results["notes"].append(msg)
            self.results["rulesets"] = "default only"
        return files

    def write_bench_rules(self):
        """Rules the drops and latency sections need, loaded after all others."""
        self.drop_dir = self.scratch / "drop"
        self.lat_dir = self.scratch / "lat"
        self.drop_dir.mkdir()
        self.lat_dir.mkdir()
        path = self.work / "bench_rules.yaml"
        path.write_text(f"""\
# Written by scripts/bench/driver.py for the drops and latency sections.
- rule: Bench rated open
  desc: Drop test target; every open under the drop directory is evaluated, one in a thousand matches.
  condition: evt.type in (open, openat, openat2) and fd.name startswith "{self.drop_dir}/" and fd.name glob "*/alert"
  output: bench rated open (file=%fd.name proc=%proc.name)
  priority: NOTICE
  tags: [bench]
- rule: Bench latency open
  desc: Latency probe; the file name carries the send time.
  condition: evt.type in (open, openat, openat2) and fd.name startswith "{self.lat_dir}/lat-"
  output: bench latency (file=%fd.name)
  priority: NOTICE
  tags: [bench]
""")
        return path

    def w(self, name):
        return str(self.wl / name)


# --------------------------------------------------------------------------
# 1. Syscall overhead + sensor CPU + RSS under load


def mixed_tarball(ctx):
    tar = ctx.work / ("mixed-smoke.tar" if ctx.smoke else "mixed.tar")
    if not tar.exists():
        src = Path(ctx.size["mixed_src"])
        subprocess.run(["tar", "-cf", str(tar), "-C", str(src.parent), src.name], check=True,
                       stderr=subprocess.DEVNULL)
    return tar


def run_mixed(ctx, tar):
    d = ctx.scratch / "mixed"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    t0 = time.monotonic()
    subprocess.run(["tar", "-xf", str(tar), "-C", str(d)], check=True)
    # grep exits 1 when nothing matches; both 0 and 1 are fine here.
    g = subprocess.run(["grep", "-rc", "define", str(d)], stdout=subprocess.DEVNULL)
    if g.returncode > 1:
        raise SectionError("grep in the mixed job failed")
    shutil.rmtree(d)
    return time.monotonic() - t0, {}


WORKLOADS = ["openclose", "hostname", "getppid", "forkexec", "connect", "mixed"]


def section_overhead(ctx):
    s = ctx.size
    # The scratch dir is /tmp/falco-bench-*/: a path no rule of the four
    # rulesets watches, so the kernel prefilter drops these opens (and their
    # closes), as it would a busy service's. Under the workdir
    # (/root/.cache/...) `fd.name startswith /root/` rules would keep every
    # open. sensor/src/pipeline/open_filter_tests.rs checks that this path
    # shape crosses no derived constraint.
    target = ctx.scratch / "openclose-target"
    target.write_text("x\n")
    tar = mixed_tarball(ctx)
    runners = {
        "openclose": lambda: run_workload([ctx.w("openclose"), str(s["openclose"]), str(target)]),
        # A path under a prefix the rules watch (/etc/): every open is sent.
        "hostname": lambda: run_workload([ctx.w("openclose"), str(s["openclose"] // 4), "/etc/hostname"]),
        # A syscall no rule watches: pays only for how syscalls are hooked.
        "getppid": lambda: run_workload([ctx.w("getppid"), str(s["getppid"])]),
        "forkexec": lambda: run_workload([ctx.w("forkexec"), str(s["forkexec"])]),
        "connect": lambda: run_workload([ctx.w("connect"), str(s["connect"])]),
        "mixed": lambda: run_mixed(ctx, tar),
    }
    # "per_syscall": all rules, syscalls hooked per syscall (their exit
    # tracepoints) instead of by the sys_exit dispatcher (probe.attach,
    # docs/probes.md).
    configs = ["baseline", "rules", "per_syscall", "nofilter"]
    ctx.results["reps"] = s["reps"]
    times = {c: {w: [] for w in WORKLOADS} for c in configs}
    cpu = {c: [] for c in configs[1:]}
    # Warm the page cache (tarball, binaries) so the first timed run is not special.
    run_mixed(ctx, tar)
    runners["forkexec"]()
    rss_load = []
    for rep in range(s["reps"]):
        order = configs[rep % len(configs):] + configs[:rep % len(configs)]
        for cfg in order:
            log(f"overhead rep {rep + 1}/{s['reps']}: {cfg}")
            sensor = None
            if cfg != "baseline":
                opts = {"nofilter": ["probe.filter_enabled=false"],
                        "per_syscall": ["probe.attach=per_syscall"]}.get(cfg, [])
                sensor = Sensor(ctx, cfg, ctx.all_rules, opts).start()
                time.sleep(0.5)
            try:
                sampler = RssSampler(sensor.pid) if cfg == "rules" else None
                for wname in WORKLOADS:
                    t_before = cpu_ticks(sensor.pid) if sensor and wname == "openclose" else None
                    elapsed, _ = runners[wname]()
                    times[cfg][wname].append(elapsed)
                    if t_before is not None:
                        busy = (cpu_ticks(sensor.pid) - t_before) / CLK_TCK
                        cpu[cfg].append(100.0 * busy / elapsed)
                    if ctx.args.perf and rep == 0 and cfg == "rules" and wname == "openclose":
                        profile_openclose(ctx, sensor, runners["openclose"])
                if sampler:
                    rss_load.append(sampler.stop())
            finally:
                if sensor:
                    sensor.stop()
    res = {}
    for wname in WORKLOADS:
        base = times["baseline"][wname]
        row = {"baseline_s": summary(base)}
        for cfg in configs[1:]:
            ratios = [t / b for t, b in zip(times[cfg][wname], base)]
            row[cfg + "_s"] = summary(times[cfg][wname])
            row[cfg + "_ratio"] = summary(ratios)
        res[wname] = row
    ctx.results["overhead"] = res
    ctx.results["cpu_openclose_pct"] = {cfg: summary(v) for cfg, v in cpu.items()}
    ctx.results.setdefault("memory", {})["load_rss"] = summary(rss_load)


def profile_openclose(ctx, sensor, run_openclose):
    """perf record of the sensor during one more open+close loop."""
    if not shutil.which("perf"):
        ctx.results["notes"].append("perf not installed: no profile")
        return
    data = ctx.work / "perf-openclose.data"
    perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-p", str(sensor.pid),
                             "-o", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    run_openclose()
    perf.send_signal(signal.SIGINT)
    perf.wait()
    rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                          "--sort", "symbol", "-g", "none", "--percent-limit", "1.5"],
                         capture_output=True, text=True)
    top = [ln.strip() for ln in rep.stdout.splitlines() if re.match(r"\s+\d+\.\d+%", ln)]
    ctx.results["perf_openclose"] = top[:20]


# --------------------------------------------------------------------------
# 2. Engine throughput: record a realistic mix, replay it through all rules


def section_engine(ctx):
    s = ctx.size
    f = s["record_mix"]
    big = ctx.work / "engine-mix.rec"
    tiny = ctx.work / "engine-tiny.rec"
    target = ctx.scratch / "record-target"
    target.write_text("x\n")

    def record(path, mix, max_events=None):
        cmd = [str(ctx.sensor_bin), "record", "-o", str(path)]
        if max_events:
            cmd += ["--max-events", str(max_events)]
        rec = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # record says "recording ..." once the probe is attached; on a busy
        # machine that takes seconds, and SIGINT before it would kill it.
        early = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = rec.stderr.readline()
            if not line:
                raise SectionError(f"record exited early: {''.join(early).strip()}")
            early.append(line)
            if "falco-sensor: recording" in line:
                break
        else:
            rec.kill()
            raise SectionError("record did not start capturing within 120 s")
        mix()
        if rec.poll() is None:
            rec.send_signal(signal.SIGINT)
        _, err = rec.communicate(timeout=120)
        err = "".join(early) + err
        m = re.search(r"recorded (\d+) events", err)
        if rec.returncode != 0 or not m:
            raise SectionError(f"record failed ({rec.returncode}): {err.strip()}")
        return int(m.group(1))

    def realistic_mix():
        run_workload([ctx.w("forkexec"), str(int(2000 * f) or 20)])
        run_workload([ctx.w("openclose"), str(int(200_000 * f) or 100), str(target)])
        run_workload([ctx.w("connect"), str(int(5000 * f) or 20)])
        run_mixed(ctx, mixed_tarball(ctx))
        for cmd in (["ls", "-la", "/etc"], ["cat", "/etc/passwd"], ["id"], ["ps", "aux"]):
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    log("engine: recording the mix")
    n_big = record(big, realistic_mix)
    n_tiny = record(tiny, lambda: None, max_events=50)
    rules = [a for r in ctx.all_rules for a in ("-r", str(r))]
    help_text = subprocess.run([str(ctx.sensor_bin), "replay", "--help"], capture_output=True,
                               text=True).stdout
    has_stats = "--stats" in help_text

    def replay(path):
        cmd = [str(ctx.sensor_bin), "replay", str(path)] + rules
        if has_stats:
            cmd.append("--stats")
        t0 = time.monotonic()
        out = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        t = time.monotonic() - t0
        if out.returncode != 0:
            raise SectionError(f"replay failed: {out.stderr.strip()[-500:]}")
        return t, out.stderr

    wall_rates, self_rates, self_ns, cpu_ns = [], [], [], []
    for rep in range(max(3, s["reps"])):
        log(f"engine: replay rep {rep + 1}")
        t_big, err = replay(big)
        t_tiny, _ = replay(tiny)
        # Startup (rules compile, file open) is the tiny replay's time;
        # what remains is per-event work.
        wall_rates.append((n_big - n_tiny) / max(t_big - t_tiny, 1e-9))
        # replay's own figure, timed from its first to its last event.
        m = re.search(r"([\d.]+) events/s, ([\d.]+) ns/event", err)
        if m:
            self_rates.append(float(m.group(1)))
            self_ns.append(float(m.group(2)))
        # replay's thread CPU time: not inflated by waiting for a shared core.
        m = re.search(r"thread CPU ([\d.]+) ns/event", err)
        if m:
            cpu_ns.append(float(m.group(1)))
    e = {"events": n_big, "file_mib": big.stat().st_size / MIB}
    if self_rates:
        e.update(events_per_s=summary(self_rates), ns_per_event=summary(self_ns),
                 method="replay's own timing from first to last event",
                 wall_events_per_s=summary(wall_rates))
        if cpu_ns:
            e["cpu_ns_per_event"] = summary(cpu_ns)
    else:
        e.update(events_per_s=summary(wall_rates),
                 ns_per_event=summary([1e9 / r for r in wall_rates]),
                 method="wall time of replay minus that of a 50-event replay (startup)")
    if ctx.args.rules_bin:
        iters = "20000" if ctx.smoke else "500000"
        out = subprocess.run([ctx.args.rules_bin, "--iters", iters] + [str(r) for r in ctx.all_rules],
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise SectionError(f"bench_rules failed: {out.stderr.strip()[-500:]}")
        e["micro"] = json.loads(out.stdout.strip().splitlines()[-1])
    if not ctx.smoke:
        e["criterion"] = criterion_condition_eval(ctx)
    ctx.results["engine"] = e
    big.unlink()
    tiny.unlink()


def criterion_condition_eval(ctx):
    """The criterion micro-benches of the condition evaluator (full run only:
    compiling them takes minutes), briefly: ns per evaluation by case."""
    profile = "dev" if ctx.args.profile == "dev" else "bench"
    cmd = ["cargo", "bench", "--locked", "--profile", profile, "-p", "falco-sensor",
           "--bench", "condition_eval", "--", "--warm-up-time", "0.5", "--measurement-time", "1",
           "--output-format", "bencher"]
    out = subprocess.run(cmd, cwd=ctx.args.repo, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SectionError(f"criterion benches failed: {out.stderr.strip()[-500:]}")
    # bencher format: "test NAME ... bench:  1,234 ns/iter (+/- 56)"
    cases = {}
    for m in re.finditer(r"^test (\S+) \.\.\. bench:\s+([\d,.]+) ns/iter", out.stdout, re.M):
        cases[m.group(1)] = float(m.group(2).replace(",", ""))
    if not cases:
        raise SectionError("criterion benches printed no results")
    return cases


# --------------------------------------------------------------------------
# 3. Drops at increasing rates of rule-relevant events


def section_drops(ctx):
    s = ctx.size
    sensor = Sensor(ctx, "drops", ctx.all_rules + [ctx.bench_rules]).start()
    rows = []
    try:
        sampler = RssSampler(sensor.pid)
        time.sleep(0.5)
        for rate in s["drop_rates"] + [0]:
            # rate 0: as fast as one thread can go, to find the ceiling.
            target_rate = rate or 100_000_000
            before = sensor.metrics()
            log(f"drops: {rate or 'max'} opens/s for {s['drop_secs']} s")
            elapsed, fields = run_workload([ctx.w("ratedopen"), str(target_rate), str(s["drop_secs"]),
                                            str(ctx.drop_dir), "1000"])
            time.sleep(1.0)  # let the pipeline drain before reading counters
            after = sensor.metrics()

            def delta(name):
                return counter_sum(after, name) - counter_sum(before, name)
            kd = delta("falco_sensor_kernel_drops_total")
            ud = delta("falco_sensor_userspace_drops_total")
            opens_seen = sum(after.get(k, 0) - before.get(k, 0) for k in after
                             if re.match(r'falco_sensor_events_total\{type="(open|openat|openat2)"\}', k))
            all_seen = delta("falco_sensor_events_total")
            matches = sum(after.get(k, 0) - before.get(k, 0) for k in after
                          if k.startswith("falco_sensor_rule_matches_total") and "Bench rated open" in k)
            ops = int(fields["ops"])
            rows.append(dict(
                target=rate, achieved=ops / elapsed, ops=ops, opens_seen=opens_seen,
                kernel_drops=kd, userspace_drops=ud, alerts=matches, events_seen=all_seen,
                # Drops are not per type: compare them with every event of the step.
                drop_pct=100.0 * (kd + ud) / max(all_seen + kd + ud, 1),
            ))
        ctx.results.setdefault("memory", {})["drops_rss"] = sampler.stop()
    finally:
        sensor.stop()
    # A step counts only if its opens reached the engine (an in-kernel
    # prefilter that discarded them would make "no drops" meaningless).
    zero = [r["achieved"] for r in rows if r["kernel_drops"] == 0 and r["userspace_drops"] == 0
            and r["opens_seen"] >= 0.95 * r["ops"]]
    if any(r["opens_seen"] < 0.95 * r["ops"] for r in rows):
        ctx.results["notes"].append("drops: some steps' opens did not all reach userspace "
                                    "(opens decoded < opens made); those steps do not count as sustained")
    ctx.results["drops"] = {"steps": rows, "secs": s["drop_secs"],
                            "max_zero_drop_rate": max(zero) if zero else 0}


# --------------------------------------------------------------------------
# 4. Latency: syscall -> alert received by a gRPC subscriber


def section_latency(ctx):
    s = ctx.size
    sensor = Sensor(ctx, "latency", ctx.all_rules + [ctx.bench_rules]).start()
    try:
        sub = subprocess.Popen([str(ctx.args.latency_bin), "--sensor", f"127.0.0.1:{sensor.grpc_port}",
                                "--rule", "Bench latency open", "--count", str(s["latency_n"]),
                                "--timeout-secs", str(int(s["latency_n"] / s["latency_rate"]) + 30)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = sub.stderr.readline()
        if "subscribed" not in line:
            sub.kill()
            raise SectionError(f"latency subscriber: {line.strip()} {sub.stderr.read().strip()}")
        time.sleep(0.2)
        log(f"latency: {s['latency_n']} alerts at {s['latency_rate']}/s")
        run_workload([ctx.w("latency"), str(s["latency_n"]), str(s["latency_rate"]), str(ctx.lat_dir)])
        out, err = sub.communicate(timeout=s["latency_n"] / s["latency_rate"] + 60)
        if sub.returncode != 0:
            raise SectionError(f"latency subscriber failed: {err.strip()}")
        res = json.loads(out)
        if res["samples"] == 0:
            raise SectionError("no latency alerts received (is fd.name in the alert's output_fields?)")
        res["requested"] = s["latency_n"]
        res["rate"] = s["latency_rate"]
        ctx.results["latency"] = res
    finally:
        sensor.stop()
        shutil.rmtree(ctx.lat_dir, ignore_errors=True)
        ctx.lat_dir.mkdir()


# --------------------------------------------------------------------------
# 5. Memory and start


def section_memory(ctx):
    s = ctx.size
    mem = ctx.results.setdefault("memory", {})
    sensor = Sensor(ctx, "memory", ctx.all_rules).start()
    sleepers = None
    try:
        time.sleep(s["idle_secs"])
        mem["idle_rss"] = rss_bytes(sensor.pid)
        log(f"memory: starting {s['sleepers']} sleeping processes")
        sleepers = subprocess.Popen([ctx.w("sleepers"), str(s["sleepers"]), "900"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = sleepers.stdout.readline()
        m = re.match(r"ready (\d+)", ready)
        if not m:
            raise SectionError(f"sleepers did not start: {ready!r}")
        mem["procs"] = int(m.group(1))
        time.sleep(max(1.0, s["idle_secs"] / 2))
        mem["procs_rss"] = rss_bytes(sensor.pid)
        sampler = RssSampler(sensor.pid)
        target = ctx.scratch / "mem-target"
        target.write_text("x\n")
        run_workload([ctx.w("openclose"), str(s["openclose"] // 4), str(target)])
        run_workload([ctx.w("forkexec"), str(s["forkexec"] // 10 or 10)])
        run_workload([ctx.w("connect"), str(s["connect"] // 4)])
        mem["procs_load_rss"] = max(sampler.stop(), mem["procs_rss"])
    finally:
        if sleepers:
            sleepers.stdin.close()
            sleepers.wait(timeout=120)
        sensor.stop()
    if len(ctx.results["start_secs"]) < 3:
        for _ in range(3):
            Sensor(ctx, "start", ctx.all_rules).start().stop()


# --------------------------------------------------------------------------
# 6. Console


def section_console(ctx):
    if not ctx.args.console_bin or not Path(ctx.args.console_bin).exists():
        raise SectionError("console benchmark binary not built (falco-console example bench_console)")
    out = subprocess.run([ctx.args.console_bin, "--alerts", str(ctx.size["console_alerts"]),
                          "--dir", str(ctx.scratch / "console")],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SectionError(f"console bench failed: {out.stderr.strip()[-500:]}")
    ctx.results["console"] = json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# 7. Sinks: alerts/s through each new forwarder against its real local
# server, and the sensor's CPU meanwhile. Alerts come from the latency
# workload's opens; routing sends only those to the sink under test.

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
RSYSLOGD = "/usr/sbin/rsyslogd"


def wait_port(port, proc, what, timeout=30):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise SectionError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SectionError(f"{what} not listening on {port} after {timeout} s")


def start_sink_servers(ctx):
    """An Alertmanager and an rsyslog (TCP) of our own; returns (procs, options per sink)."""
    for b, pkg in ((ALERTMANAGER, "prometheus-alertmanager"), (RSYSLOGD, "rsyslog")):
        if not Path(b).exists():
            raise SectionError(f"{b} missing: install {pkg} (TEST_PACKAGES)")
    d = ctx.scratch / "sinks"
    d.mkdir(exist_ok=True)
    am_port, sl_port = free_port(), free_port()
    (d / "am.yml").write_text("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
    (d / "rsyslog.conf").write_text(f"""global(workDirectory="{d}")
module(load="imtcp" maxSessions="10")
input(type="imtcp" address="127.0.0.1" port="{sl_port}")
*.* action(type="omfile" file="{d}/syslog.out")
""")
    logf = open(ctx.work / "sink-servers.log", "wb")
    am = subprocess.Popen([ALERTMANAGER, f"--config.file={d}/am.yml", f"--storage.path={d}/am",
                           f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                          stdout=logf, stderr=subprocess.STDOUT)
    rs = subprocess.Popen([RSYSLOGD, "-n", "-f", str(d / "rsyslog.conf"), "-i", str(d / "rsyslogd.pid")],
                          stdout=logf, stderr=subprocess.STDOUT)
    procs = [am, rs]
    try:
        wait_port(am_port, am, "alertmanager")
        wait_port(sl_port, rs, "rsyslogd")
    except SectionError:
        for p in procs:
            p.kill()
        raise
    fast = ["forward.batch_wait_ms=20", "forward.min_priority=Debug",
            "forward.routing.rules=Bench latency open", "forward.queue_capacity=100000"]
    opts = {
        "alertmanager": [f"outputs.alertmanager.urls=http://127.0.0.1:{am_port}"],
        "syslog": [f"outputs.syslog.address=127.0.0.1:{sl_port}", "outputs.syslog.protocol=tcp"],
    }
    for sink in opts:
        opts[sink] = [f"outputs.{sink}.enabled=true"] + opts[sink] + [f"outputs.{sink}.{o}" for o in fast]
    return procs, opts


def section_sinks(ctx):
    s = ctx.size
    n, rate = s["sink_alerts"], s["sink_rate"]
    procs, opts = start_sink_servers(ctx)
    out = {}
    try:
        for sink, options in opts.items():
            sensor = Sensor(ctx, f"sink-{sink}", ctx.all_rules + [ctx.bench_rules],
                            ["outputs.stdout.enabled=false"] + options).start()
            try:
                series = f'falco_sensor_alerts_sent_total{{sink="{sink}"}}'
                base = sensor.metrics().get(series, 0)
                c0, t0 = cpu_ticks(sensor.pid), time.monotonic()
                log(f"sinks: {n} alerts at {rate}/s through {sink}")
                run_workload([ctx.w("latency"), str(n), str(rate), str(ctx.lat_dir)])
                deadline = time.monotonic() + 60
                sent = 0
                while time.monotonic() < deadline:
                    m = sensor.metrics()
                    sent = m.get(series, 0) - base
                    if sent >= n:
                        break
                    time.sleep(0.02)
                secs = time.monotonic() - t0
                ticks = cpu_ticks(sensor.pid) - c0
                m = sensor.metrics()
                failed = m.get(f'falco_sensor_alerts_failed_total{{sink="{sink}"}}', 0)
                dropped = m.get(f'falco_sensor_alerts_dropped_total{{sink="{sink}"}}', 0)
                if sent < n:
                    raise SectionError(f"{sink}: {sent:.0f} of {n} alerts sent within 60 s "
                                       f"(failed {failed:.0f}, dropped {dropped:.0f}); log {sensor.log_path}")
                out[sink] = dict(alerts=n, offered_rate=rate, alerts_per_s=n / secs,
                                 cpu_pct=100.0 * ticks / os.sysconf("SC_CLK_TCK") / secs,
                                 failed=failed, dropped=dropped)
            finally:
                sensor.stop()
    finally:
        for p in procs:
            p.kill()
            p.wait()
    ctx.results["sinks"] = out


SECTIONS = {
    "overhead": section_overhead,
    "engine": section_engine,
    "drops": section_drops,
    "latency": section_latency,
    "memory": section_memory,
    "console": section_console,
    "sinks": section_sinks,
}


# --------------------------------------------------------------------------
# Report


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // 1024
    load = open("/proc/loadavg").read().split()[:3]
    return dict(nproc=os.cpu_count(), kernel=platform.release(), cpu=cpu, mem_mib=mem, load=" ".join(load))


def fmt_spread(sm, fmt="{:.2f}"):
    return f"{fmt.format(sm['median'])} ({fmt.format(sm['min'])}–{fmt.format(sm['max'])})"


def rows(r):
    """(figure, measured, target, verdict) rows; verdict is met/missed/n/a."""
    out = []

    def add(name, value_str, target_str, ok):
        verdict = "n/a" if ok is None else ("met" if ok else "MISSED")
        out.append((name, value_str, target_str, verdict))

    targets = {"openclose": 1.25, "hostname": 1.25, "getppid": 1.03, "forkexec": 1.04,
               "connect": 1.15, "mixed": 1.03}
    labels = {"openclose": "open+close", "hostname": "open+close /etc/hostname (watched)",
              "getppid": "getppid (no rule watches it)", "forkexec": "fork+exec /bin/true",
              "connect": "TCP connect/accept", "mixed": "mixed (untar + grep)"}
    if "overhead" in r:
        for w in WORKLOADS:
            row = r["overhead"][w]
            add(f"{labels[w]}: slowdown, all rules", fmt_spread(row["rules_ratio"], "{:.3f}") + "×",
                f"≤ {targets[w]}×", row["rules_ratio"]["median"] <= targets[w])
            add(f"{labels[w]}: slowdown, all rules, probe.attach=per_syscall",
                fmt_spread(row["per_syscall_ratio"], "{:.3f}") + "×", "(per-syscall tracepoints vs dispatcher)", None)
            add(f"{labels[w]}: slowdown, filter off", fmt_spread(row["nofilter_ratio"], "{:.3f}") + "×",
                "(shows what the filter buys)", None)
        c = r["cpu_openclose_pct"]
        add("sensor CPU during open+close, all rules", fmt_spread(c["rules"], "{:.1f}") + " % of a core",
            "≤ 25 %", c["rules"]["median"] <= 25)
        add("sensor CPU during open+close, filter off", fmt_spread(c["nofilter"], "{:.1f}") + " % of a core",
            "", None)
    if "engine" in r:
        e = r["engine"]
        add("engine: replay, all rules, 1 thread", fmt_spread(e["events_per_s"], "{:,.0f}") + " events/s",
            "≥ 1,000,000 events/s", e["events_per_s"]["median"] >= 1_000_000)
        add("engine: ns per event", fmt_spread(e["ns_per_event"], "{:.0f}") + " ns", "≤ 1,000 ns",
            e["ns_per_event"]["median"] <= 1000)
        if "cpu_ns_per_event" in e:
            add("engine: thread CPU ns per event", fmt_spread(e["cpu_ns_per_event"], "{:.0f}") + " ns", "", None)
        if "micro" in e:
            mi = e["micro"]
            add(f"evaluator micro-bench ({mi['rules_enabled']} rules; open, open, connect)",
                f"{mi['mean_ns']:,.0f} ns/event ({mi['evals_per_s']:,.0f} /s)", "",
                None)
            add("rules compile, all four rulesets", f"{mi['compile_ms']:.0f} ms", "", None)
        for case, ns in e.get("criterion", {}).items():
            add(f"criterion condition_eval {case}", f"{ns:,.0f} ns", "", None)
    if "drops" in r:
        d = r["drops"]
        add(f"drops: highest rate with zero drops ({d['secs']} s steps)",
            f"{d['max_zero_drop_rate']:,.0f} opens/s", "≥ 100,000 /s", d["max_zero_drop_rate"] >= 100_000)
        for st in d["steps"]:
            if st["kernel_drops"] or st["userspace_drops"]:
                add(f"drops at {st['achieved']:,.0f} opens/s", f"{st['drop_pct']:.2f} %", "", None)
    if "latency" in r:
        lat = r["latency"]
        add(f"latency syscall→gRPC alert ({lat['samples']:,} alerts)",
            f"p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, max {lat['max_ms']:.2f} ms",
            "p99 ≤ 5 ms", lat["p99_ms"] <= 5 and lat["samples"] >= lat["requested"])
    m = r.get("memory", {})
    if "idle_rss" in m:
        add("sensor RSS idle, all rules", f"{m['idle_rss'] / MIB:.1f} MiB", "≤ 32 MiB", m["idle_rss"] <= 32 * MIB)
    if "load_rss" in m:
        add("sensor RSS peak under the overhead workloads", fmt_spread(
            {k: v / MIB if k != "n" else v for k, v in m["load_rss"].items()}, "{:.1f}") + " MiB",
            "≤ 64 MiB", m["load_rss"]["max"] <= 64 * MIB)
    if "procs_rss" in m:
        add(f"sensor RSS with {m['procs']:,} live processes", f"{m['procs_rss'] / MIB:.1f} MiB", "≤ 64 MiB",
            m["procs_rss"] <= 64 * MIB)
        add(f"sensor RSS, {m['procs']:,} processes + load", f"{m['procs_load_rss'] / MIB:.1f} MiB",
            "≤ 64 MiB", m["procs_load_rss"] <= 64 * MIB)
    if r.get("start_secs"):
        st = summary(r["start_secs"])
        add(f"start → /healthz ok ({st['n']} starts)", fmt_spread(st, "{:.2f}") + " s", "≤ 2 s",
            st["median"] <= 2)
        if r.get("start_self_ms"):
            add("start, as logged by the sensor (\"ready in N ms\")",
                fmt_spread(summary(r["start_self_ms"]), "{:.0f}") + " ms", "≤ 2,000 ms",
                statistics.median(r["start_self_ms"]) <= 2000)
    if "console" in r:
        c = r["console"]
        add(f"console ingest into the store ({c['alerts']:,} alerts)", f"{c['ingest_per_s']:,.0f} alerts/s",
            "≥ 20,000 /s", c["ingest_per_s"] >= 20_000)
        add(f"console key → frame, {c['alerts']:,} alerts", f"p50 {c['key_frame_ms_p50']:.1f} ms, max {c['key_frame_ms_max']:.1f} ms",
            "≤ 50 ms", c["key_frame_ms_max"] <= 50)
        add(f"console filter as you type, {c['alerts']:,} alerts", f"p50 {c['filter_ms_p50']:.1f} ms, max {c['filter_ms_max']:.1f} ms",
            "≤ 50 ms", c["filter_ms_max"] <= 50)
        add("console RSS with the alerts loaded", f"{c['rss_bytes'] / MIB:.1f} MiB", "≤ 200 MiB",
            c["rss_bytes"] <= 200 * MIB)
    for sink, sk in r.get("sinks", {}).items():
        add(f"{sink} sink: alerts/s against its local server ({sk['alerts']:,} offered at {sk['offered_rate']:,}/s)",
            f"{sk['alerts_per_s']:,.0f} alerts/s, sensor CPU {sk['cpu_pct']:.1f} % of a core", "", None)
    return out


def print_table(table):
    w = [max(len(r[i]) for r in table + [("figure", "measured", "target", "verdict")]) for i in range(4)]
    line = lambda r: "  ".join(c.ljust(w[i]) for i, c in enumerate(r))  # noqa: E731
    print(line(("figure", "measured", "target", "verdict")))
    print("  ".join("-" * x for x in w))
    for r in table:
        print(line(r))


def markdown(ctx, table, elapsed):
    r, m, s = ctx.results, machine(), ctx.size
    md = []
    md.append("# Benchmarks\n")
    md.append("Generated by `scripts/bench.sh` (issue 8). Every figure is a ratio or a rate measured in "
              "the same run as its baseline; configurations are interleaved (their order rotates every "
              "repetition) and each figure is the median with the min–max over the repetitions in "
              "parentheses.\n")
    md.append("## Machine\n")
    md.append(f"- {m['nproc']} CPUs: {m['cpu']}; {m['mem_mib']:,} MiB RAM; kernel {m['kernel']}")
    took = f"{elapsed / 60:.1f} min, " if elapsed else ""
    md.append(f"- run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {took}"
              f"{r.get('reps', s['reps'])} repetitions, sensor binary `{ctx.args.profile}` profile")
    md.append(f"- rules: {r.get('rulesets')}")
    md.append(f"- load average (1/5/15 min) at the start: {r.get('load_start')}, at the end: {m['load']} "
              "(other jobs shared the machine; the interleaving is what keeps ratios comparable)\n")
    md.append("## Results\n")
    md.append("| figure | measured | target | verdict |")
    md.append("|---|---|---|---|")
    for row in table:
        md.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    md.append("")
    if "overhead" in r:
        md.append("### Workload times (seconds, median and min–max)\n")
        md.append("| workload | baseline | all rules | all rules, per_syscall | filter off |")
        md.append("|---|---|---|---|---|")
        for w in WORKLOADS:
            row = r["overhead"][w]
            md.append(f"| {w} | {fmt_spread(row['baseline_s'], '{:.3f}')} | {fmt_spread(row['rules_s'], '{:.3f}')} | "
                      f"{fmt_spread(row['per_syscall_s'], '{:.3f}')} | {fmt_spread(row['nofilter_s'], '{:.3f}')} |")
        md.append("")
    if "drops" in r:
        md.append(f"### Drop steps ({r['drops']['secs']} s each)\n")
        md.append("| target opens/s | achieved opens/s | opens decoded | all events decoded | kernel drops | userspace drops | drop % | alerts |")
        md.append("|---|---|---|---|---|---|---|---|")
        for st in r["drops"]["steps"]:
            tgt = f"{st['target']:,}" if st["target"] else "max (one thread)"
            md.append(f"| {tgt} | {st['achieved']:,.0f} | {st['opens_seen']:,.0f} | {st['events_seen']:,.0f} | {st['kernel_drops']:,.0f} | "
                      f"{st['userspace_drops']:,.0f} | {st['drop_pct']:.2f} | {st['alerts']:,.0f} |")
        md.append("")
    if r.get("perf_openclose"):
        md.append("### Sensor profile during open+close (perf, self time, top symbols)\n")
        md.append("```")
        md.extend(r["perf_openclose"])
        md.append("```\n")
    if r["errors"]:
        md.append("### Sections that produced no numbers\n")
        for k, v in r["errors"].items():
            md.append(f"- **{k}**: {v}")
        md.append("")
    if r["notes"]:
        md.append("### Notes\n")
        md.extend(f"- {n}" for n in r["notes"])
        md.append("")
    md.append(METHOD.format(**{**s, "openclose_watched": s["openclose"] // 4,
                               "drop_rates": ", ".join(f"{x:,}" for x in s["drop_rates"])}))
    return "\n".join(md) + "\n"


METHOD = """## Method

- **Overhead.** C workloads in `scripts/bench/workloads/` (compiled with `gcc -O2`):
  {openclose:,} × `open`+`close` of one file under `/tmp/falco-bench-*/`, which no
  rule watches (the kernel prefilter drops those opens; see docs/probes.md); {openclose_watched:,} ×
  `open`+`close` of `/etc/hostname`, under a prefix the rules watch (every open is sent);
  {getppid:,} × `getppid()` (raw syscall), which no rule watches; {forkexec:,} × `fork`+`execve(/bin/true)`+`wait`;
  {connect:,} TCP connections over 127.0.0.1 (connect, send one byte, server
  closes); a mixed job: untar a tarball of `{mixed_src}` and `grep -rc` it. Each
  workload times itself with CLOCK_MONOTONIC. Four configurations per
  repetition, in rotating order: no sensor (baseline); the sensor with our
  default rules plus the three upstream rulesets (`probe.attach` auto: the
  `tp_btf/sys_exit` dispatcher); the same with `-o probe.attach=per_syscall`
  (a program on each watched syscall's exit tracepoint); the same with the kernel
  interest filter off (`-o probe.filter_enabled=false`: every event type
  captured, no open prefilter, no close filter). The slowdown is each repetition's time divided by the baseline time
  of the same repetition; the table gives the median of those ratios.
- **Sensor CPU**: utime+stime of the sensor process (all threads, from
  `/proc/PID/stat`) over the open+close loop, as a percentage of one core over
  the loop's wall time.
- **Engine**: `falco-sensor record` captures every event type while a mix runs
  (fork+exec, open+close, TCP connects, untar+grep, ls/cat/id/ps);
  `falco-sensor replay FILE -r <all four rulesets>` runs it through decode, state
  and all rules on one thread (alerts formatted to /dev/null). Events per
  second as replay reports them (timed from its first to its last event, so
  rules compile and startup are excluded); cross-checked with (events) /
  (replay wall time − wall time of replaying a 50-event file). Host processes
  only: the recording has no container events.
- **Drops**: a paced open loop (`ratedopen`, 1 ms slots) opens files under a
  temporary directory that a benchmark rule evaluates (one open in 1,000
  matches and alerts) at {drop_rates} opens/s and then as fast as one thread
  can, {drop_secs} s each, with all rulesets loaded. Kernel and userspace drops
  are the deltas of `falco_sensor_kernel_drops_total` and
  `falco_sensor_userspace_drops_total` from `/metrics`, read 1 s after each step.
- **Latency**: {latency_n:,} files created at {latency_rate:,}/s, each named
  `lat-<CLOCK_REALTIME ns>`; a gRPC subscriber (`sensor/examples/bench_latency.rs`)
  takes the receive time minus the time in the alert's `fd.name`.
- **Memory and start**: VmRSS of the sensor 5 s after it is healthy (all
  rulesets); the peak (sampled every 100 ms) during the overhead workloads; with
  {sleepers:,} live `sleep` processes, idle and under a short load. Start is the
  time from spawning `falco-sensor run` to `/healthz` answering 200.
- **Console**: `console/examples/bench_console.rs` inserts alerts into the SQLite
  store, loads them into the app, and times key handling and filtering with
  rendering into a 200×50 buffer.
- **Sinks**: a local `prometheus-alertmanager` and `rsyslogd` (TCP input to a
  file) started by the driver; for each, a sensor with only that sink enabled,
  routed (`forward.routing.rules`) to the latency rule, while the latency
  workload makes {sink_alerts:,} alerts at {sink_rate:,}/s. Alerts/s is
  {sink_alerts:,} over the time from the workload's start to the sink's
  `falco_sensor_alerts_sent_total` reaching it (so at most the offered rate:
  a sink that keeps up shows the offered rate); sensor CPU as above over the same time.

## Reproduce

```
scripts/bench.sh                 # full run (~30-60 min on 2 cores), rewrites this file
scripts/bench.sh --smoke         # every section, tiny sizes, < 2 min; no file written
scripts/bench.sh --reps 3 --sections overhead,latency
```
Needs root (eBPF), gcc, python3 and the Rust toolchain; the script builds the
binaries (`--release` by default) and the workloads itself.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--sensor-bin", required=True)
    ap.add_argument("--latency-bin", required=True)
    ap.add_argument("--console-bin")
    ap.add_argument("--rules-bin", help="the condition evaluator micro-bench (bench_rules example)")
    ap.add_argument("--workloads", required=True, help="directory of the compiled workloads")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--upstream-rules", default="../shared/compat/falco-rules/")
    ap.add_argument("--profile", default="release")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--openclose", type=int)
    ap.add_argument("--getppid", type=int)
    ap.add_argument("--forkexec", type=int)
    ap.add_argument("--connect", type=int)
    ap.add_argument("--latency-n", type=int, dest="latency_n")
    ap.add_argument("--sleepers", type=int)
    ap.add_argument("--drop-secs", type=int, dest="drop_secs")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--perf", action="store_true", help="profile the sensor during open+close")
    ap.add_argument("--output", help="markdown report to write (default: none)")
    ap.add_argument("--json", help="raw results as JSON")
    ap.add_argument("--merge", help="results JSON of an earlier run: keep its sections, rerun only --sections")
    args = ap.parse_args()

    ctx = Ctx(args)
    ctx.results["load_start"] = machine()["load"]
    if args.merge:
        earlier = json.loads(Path(args.merge).read_text())
        fresh = ctx.results
        ctx.results = earlier
        earlier.setdefault("reps", fresh.get("reps"))
        for name in args.sections.split(","):
            earlier["errors"].pop(name, None)
        earlier["notes"] = [n for n in earlier["notes"] if n not in fresh["notes"]] + fresh["notes"]
        earlier["notes"].append(f"sections rerun and merged into an earlier run's results: {args.sections}")
    t0 = time.monotonic()
    wanted = [s for s in args.sections.split(",") if s]
    for name in wanted:
        if name not in SECTIONS:
            sys.exit(f"unknown section {name}; choose from {', '.join(SECTIONS)}")
    try:
        for name in wanted:
            log(f"section {name}")
            try:
                SECTIONS[name](ctx)
            except (SectionError, subprocess.SubprocessError, OSError, KeyError, ValueError) as e:
                log(f"section {name} FAILED: {e}")
                ctx.results["errors"][name] = str(e)
    finally:
        shutil.rmtree(ctx.scratch, ignore_errors=True)
    # A merged report has no single duration.
    elapsed = 0 if args.merge else time.monotonic() - t0
    table = rows(ctx.results)
    print()
    print_table(table)
    if args.json:
        Path(args.json).write_text(json.dumps(ctx.results, indent=1, default=str))
    if args.output:
        text = markdown(ctx, table, elapsed)
        # A hand-written analysis of the last run survives regeneration.
        old = Path(args.output).read_text() if Path(args.output).exists() else ""
        m = re.search(r"<!-- analysis:begin -->.*?<!-- analysis:end -->\n", old, re.S)
        if m:
            text = text.replace("## Method\n", m.group(0) + "\n## Method\n", 1)
        Path(args.output).write_text(text)
        log(f"wrote {args.output}")
    if ctx.results["errors"]:
        for k, v in ctx.results["errors"].items():
            print(f"FAILED section {k}: {v}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
