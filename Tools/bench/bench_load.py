#!/usr/bin/env python3
"""Open-loop Poisson load against `easel serve` on loopback: no batching, static and continuous batching, in one run.

For each workload (uniform: every job at the model's default steps; mixed: half 4-step, half 28-step jobs, in a
seeded random order) it first measures the capacity: --jobs jobs submitted at once to a continuous-batching daemon,
capacity = jobs / (last completion - first submission). Then, for each mode

    none        max_batch_size 1 (one job at a time)
    static      max_batch_size --max-batch, batching "static" (a batch runs to its end; the next waits)
    continuous  max_batch_size --max-batch, batching "continuous" (admission at every step boundary)

and each load in --loads (fractions of that capacity), it submits --jobs jobs with exponential inter-arrival times
(a fixed seed, so every mode and load sees the same arrival pattern and prompts; the gaps are scaled to a mean
of exactly 1/rate) from a clock thread that never waits for a
response (open loop), then waits for every job to finish (or --point-seconds to pass; unfinished jobs are counted).
Latency is the job's own completed_at - created_at (submit to completed, as the server records them, in ms);
throughput is the jobs completed / (last completion - first submission).

Each mode is a fresh `easel serve` process with its own data dir and a generated config (the bundled easel-shapes model
unless --model), warmed with one job before the first point. Python standard library only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

PROMPTS = [
    "a large red circle on a white background, centered",
    "a small blue square on a yellow background, top left",
    "a green triangle on a black background, bottom right",
    "a purple circle on a white background, bottom left",
    "a large orange square on a blue background, top right",
    "a small yellow triangle on a green background, centered",
]


def http(method, url, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def parse_ts(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def model_config(model_dir, mode, max_batch, default_steps, model_id="m"):
    """One models[] entry for `mode` (none, static or continuous batching)."""
    return {"id": model_id, "path": os.path.abspath(model_dir), "load": "startup",
            "max_batch_size": 1 if mode == "none" else max_batch, "max_queue_delay_ms": 20,
            "batching": "continuous" if mode == "continuous" else "static",
            "defaults": {"steps": default_steps}, "limits": {"max_steps": 100}}


class Daemon:
    """`easel serve` on a free loopback port with a generated config (`models`, and `extra` top-level sections)."""

    def __init__(self, easel, models, threads, label, extra=None):
        self.dir = tempfile.mkdtemp(prefix=f"bench-{label}-")
        cfg = {
            "server": {"host": "127.0.0.1", "port": 0, "data_dir": os.path.join(self.dir, "data")},
            "queue": {"max_queued": 100000, "retention_hours": 1},
            "models": models,
            **(extra or {}),
        }
        path = os.path.join(self.dir, "easel.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.proc = subprocess.Popen([easel, "serve", "--config", path, "--threads", str(threads), "--log-level", "error"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.time() + 120
        self.base = None
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if "listening on" in line:
                self.base = line.split("listening on ")[1].split()[0]
                break
        if not self.base:
            raise SystemExit(f"easel serve did not start ({label})")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def workload_jobs(kind, n, rng, default_steps):
    jobs = []
    for i in range(n):
        steps = default_steps if kind == "uniform" else rng.choice([4, 28])
        jobs.append({"model": "m", "prompt": PROMPTS[i % len(PROMPTS)], "seed": 1000 + i, "steps": steps})
    return jobs


def run_point(d, jobs, rate, rng, point_seconds):
    """Submits `jobs` open-loop at Poisson `rate` (None: all at once); returns per-job records."""
    if rate is None:
        gaps = [0.0] * len(jobs)
    else:
        # Exponential gaps scaled so that their mean is exactly 1/rate: with a few dozen jobs a raw draw's rate is
        # often 30 % off the nominal one; this keeps the Poisson shape and makes the nominal rate the real one.
        raw = [rng.expovariate(1.0) for _ in jobs]
        mean = sum(raw) / len(raw)
        gaps = [g / mean / rate for g in raw]
    ids = [None] * len(jobs)
    errors = []

    def submit(i):
        st, body = http("POST", d.base + "/v1/generate", jobs[i])
        if st == 202:
            ids[i] = body["id"]
        else:
            errors.append((st, body))

    t0 = time.time()
    threads = []
    at = t0
    for i in range(len(jobs)):
        at += gaps[i]
        delay = at - time.time()
        if delay > 0:
            time.sleep(delay)
        th = threading.Thread(target=submit, args=(i,))
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    if errors:
        raise SystemExit(f"submission failed: {errors[:3]}")
    end = t0 + point_seconds
    done = {}
    while time.time() < end and len(done) < len(ids):
        for i, jid in enumerate(ids):
            if i in done:
                continue
            st, body = http("GET", f"{d.base}/v1/jobs/{jid}")
            if st == 200 and body["status"] in ("succeeded", "failed", "canceled"):
                done[i] = body
        if len(done) < len(ids):
            time.sleep(0.05)
    records = []
    for i, jid in enumerate(ids):
        b = done.get(i)
        if b is None or b["status"] != "succeeded":
            records.append({"steps": jobs[i]["steps"], "ok": False, "status": b["status"] if b else "unfinished"})
            continue
        c, f = parse_ts(b["created_at"]), parse_ts(b["completed_at"])
        records.append({"steps": jobs[i]["steps"], "ok": True, "created": c, "completed": f, "latency": f - c,
                        "batch_size": b["metrics"].get("batch_size")})
    return records


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summarize(records):
    ok = [r for r in records if r["ok"]]
    lat = [r["latency"] for r in ok]
    if not ok:
        return {"completed": 0, "jobs": len(records)}
    span = max(r["completed"] for r in ok) - min(r["created"] for r in ok)
    return {"jobs": len(records), "completed": len(ok), "throughput": len(ok) / span if span > 0 else float("nan"),
            "p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99),
            "p95_short": pct([r["latency"] for r in ok if r["steps"] == 4], 95)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--easel", default=os.path.join(REPO, ".build-bench", "release", "easel"))
    ap.add_argument("--model", default=os.path.join(REPO, "Config", "models", "easel-shapes"))
    ap.add_argument("--modes", default="none,static,continuous")
    ap.add_argument("--workloads", default="uniform,mixed")
    ap.add_argument("--loads", default="0.25,0.5,0.75,1.0,1.25", help="fractions of the measured capacity")
    ap.add_argument("--jobs", type=int, default=40, help="jobs per point (and for the capacity run)")
    ap.add_argument("--point-seconds", type=float, default=120, help="give up waiting on a point after this long")
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=8, help="the uniform workload's steps")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write every point here")
    args = ap.parse_args()
    modes = args.modes.split(",")
    loads = [float(x) for x in args.loads.split(",")]
    out = []
    print(f"bench-load: {os.path.basename(os.path.abspath(args.model))}, {args.jobs} jobs per point, max_batch_size "
          f"{args.max_batch}, {args.threads} threads, seed {args.seed}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for wl in args.workloads.split(","):
        jobs = workload_jobs(wl, args.jobs, random.Random(args.seed), args.steps)
        d = Daemon(args.easel, [model_config(args.model, "continuous", args.max_batch, args.steps)], args.threads, "load")
        try:
            run_point(d, jobs[:2], None, random.Random(0), args.point_seconds)  # warm-up
            cap = summarize(run_point(d, jobs, None, random.Random(0), args.point_seconds))["throughput"]
        finally:
            d.stop()
        print(f"\n{wl} workload ({'all ' + str(args.steps) if wl == 'uniform' else '4 and 28'} steps): capacity "
              f"{cap:.2f} jobs/s (continuous batching, all {args.jobs} submitted at once)")
        print(f"{'mode':<11} {'load':>5} {'rate/s':>7} {'done':>6} {'jobs/s':>7} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7}"
              + ("  p95 4-step s" if wl == "mixed" else ""))
        for mode in modes:
            d = Daemon(args.easel, [model_config(args.model, mode, args.max_batch, args.steps)], args.threads, "load-" + mode)
            try:
                run_point(d, jobs[:2], None, random.Random(0), args.point_seconds)  # warm-up
                for load in loads:
                    s = summarize(run_point(d, jobs, load * cap, random.Random(args.seed),
                                            args.point_seconds))
                    s.update({"workload": wl, "mode": mode, "load": load, "rate": load * cap, "capacity": cap})
                    out.append(s)
                    extra = f"  {s.get('p95_short', float('nan')):13.2f}" if wl == "mixed" else ""
                    print(f"{mode:<11} {load:>5.2f} {load * cap:>7.2f} {s['completed']:>3}/{s['jobs']:<2} "
                          f"{s.get('throughput', float('nan')):>7.2f} {s.get('p50', float('nan')):>7.2f} "
                          f"{s.get('p95', float('nan')):>7.2f} {s.get('p99', float('nan')):>7.2f}{extra}", flush=True)
            finally:
                d.stop()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
