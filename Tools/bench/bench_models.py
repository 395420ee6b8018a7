#!/usr/bin/env python3
"""Two models under one memory budget, in one run: how long a burst on one model delays another model's job.

Two ids of the same pipeline folder (`busy` and `other`, both `load: lazy`, continuous batching) in three daemons:

    resident   no memory budget: both stay loaded (the memory a server without eviction needs)
    fifo       a budget for one model and memory.min_turn_s 1e9: the busy model never yields, so the other model's
               job waits until the burst is over (a one-model-at-a-time server's queue)
    fair       a budget for one model and the default turn: the busy running set yields at a step boundary

Each daemon is warmed with one job per model (both load once). Then --burst jobs for `busy` are submitted at once, and
--delay seconds later one job for `other`. Printed per daemon: the other job's latency (submit to completed, as the
server records it), its delay beyond the same job run alone (`alone`: the same job on the same daemon just before,
with the busy model idle and the other one loaded), the mean model load time, the delay less one load in steps of
the busy model (its step time measured from its first job's progress during the burst, before the other job
arrives; the issue's bound is 1), the burst's makespan, the model loads and preemptions, and the daemon's peak RSS
(VmHWM). Python standard library only.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_load import REPO, Daemon, http, parse_ts  # noqa: E402


def job_config(model_dir, model_id, max_batch):
    return {"id": model_id, "path": os.path.abspath(model_dir), "load": "lazy", "max_batch_size": max_batch,
            "max_queue_delay_ms": 0, "batching": "continuous", "limits": {"max_steps": 200}}


def submit(d, body):
    st, b = http("POST", d.base + "/v1/generate", body)
    if st != 202:
        raise SystemExit(f"submit failed: {st} {b}")
    return b["id"]


def wait(d, ids, timeout):
    end = time.time() + timeout
    out = {}
    while time.time() < end and len(out) < len(ids):
        for i in ids:
            if i in out:
                continue
            st, b = http("GET", f"{d.base}/v1/jobs/{i}")
            if st == 200 and b["status"] in ("succeeded", "failed", "canceled"):
                out[i] = b
        time.sleep(0.02)
    if len(out) < len(ids) or any(b["status"] != "succeeded" for b in out.values()):
        raise SystemExit(f"jobs did not all succeed: {[b.get('status') for b in out.values()]}")
    return [out[i] for i in ids]


def latency(b):
    return parse_ts(b["completed_at"]) - parse_ts(b["created_at"])


def metric(text, name, labels=""):
    m = re.search(r"^" + re.escape(name + labels) + r" ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def minor_faults(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run(args, mode, footprint_mb):
    ids = ["busy", "other"]
    extra = {}
    if mode != "resident":
        extra["memory"] = {"budget_mb": int(footprint_mb * 1.5) + 1}
        if mode == "fifo":
            extra["memory"]["min_turn_s"] = 1e9
    d = Daemon(args.easel, [job_config(args.model, i, args.max_batch) for i in ids], args.threads, "models-" + mode, extra)
    try:
        def body(model, seed, steps):
            return {"model": model, "prompt": "a large red circle on a white background, centered", "seed": seed,
                    "steps": steps, "width": args.size, "height": args.size}
        for m in ids:  # warm-up: both load once
            wait(d, [submit(d, body(m, 1, 2))], 300)
        alone = latency(wait(d, [submit(d, body("other", 7, args.other_steps))], 300)[0])
        burst = [submit(d, body("busy", 100 + i, args.busy_steps)) for i in range(args.burst)]
        t0 = time.time()
        samples = []
        while time.time() < t0 + args.delay:
            st, b = http("GET", f"{d.base}/v1/jobs/{burst[0]}")
            step = (b.get("progress") or {}).get("step") or 0
            if step:
                samples.append((time.time(), step))
            time.sleep(0.01)
        other = submit(d, body("other", 7, args.other_steps))
        o = wait(d, [other], 600)[0]
        done = wait(d, burst, 600)
        if len(samples) < 2 or samples[-1][1] == samples[0][1]:
            step_s = float("nan")
        else:
            step_s = (samples[-1][0] - samples[0][0]) / (samples[-1][1] - samples[0][1])
        created = min(parse_ts(b["created_at"]) for b in done)
        makespan = max(parse_ts(b["completed_at"]) for b in done) - created
        with urllib.request.urlopen(d.base + "/metrics", timeout=30) as r:
            text = r.read().decode()
        loads = {m: int(metric(text, "easel_model_loads_total", f'{{model="{m}",result="ok"}}')) for m in ids}
        load_s = metric(text, "easel_model_load_seconds_sum") / max(1, metric(text, "easel_model_load_seconds_count"))
        preempted = int(metric(text, "easel_model_evictions_total", '{model="busy",reason="preempted"}'))
        return {"mode": mode, "other": latency(o), "alone": alone, "delay": latency(o) - alone, "step": step_s, "load": load_s,
                "makespan": makespan, "loads": loads, "preempted": preempted, "rss": peak_rss_mb(d.proc.pid), "faults": minor_faults(d.proc.pid),
                "budget": extra.get("memory", {}).get("budget_mb")}
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--easel", default=os.path.join(REPO, ".build-bench", "release", "easel"))
    ap.add_argument("--model", default=os.path.join(REPO, "Config", "models", "easel-shapes"))
    ap.add_argument("--modes", default="resident,fifo,fair")
    ap.add_argument("--burst", type=int, default=8, help="jobs for the busy model, submitted at once")
    ap.add_argument("--busy-steps", type=int, default=28)
    ap.add_argument("--other-steps", type=int, default=8)
    ap.add_argument("--size", type=int, default=128, help="width and height of every job")
    ap.add_argument("--max-batch", type=int, default=4)
    ap.add_argument("--delay", type=float, default=10.0, help="seconds into the burst that the other job arrives")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    # What one model counts against the budget, from a daemon that only reads the folder's headers.
    probe = Daemon(args.easel, [job_config(args.model, "probe", 1)], args.threads, "models-probe")
    try:
        _, info = http("GET", probe.base + "/v1/models/probe")
        footprint = info["memory_mb"]
    finally:
        probe.stop()
    print(f"bench-models: {os.path.basename(os.path.abspath(args.model))} twice ({footprint} MiB of weights each), "
          f"a burst of {args.burst} x {args.busy_steps} steps on `busy` (max_batch_size {args.max_batch}), one "
          f"{args.other_steps}-step job on `other` {args.delay} s in, {args.size}x{args.size}, {args.threads} threads, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{'mode':<9} {'budget':>7} {'other s':>8} {'alone s':>8} {'delay s':>8} {'busy step s':>12} "
          f"{'load s':>7} {'(delay-load)/step':>17} {'burst s':>8} {'loads b/o':>9} {'yields':>6} {'peak RSS MiB':>12}")
    rows = []
    for mode in args.modes.split(","):
        r = run(args, mode, footprint)
        rows.append(r)
        print(f"{mode:<9} {str(r['budget'] or '-'):>7} {r['other']:>8.2f} {r['alone']:>8.2f} {r['delay']:>8.2f} "
              f"{r['step']:>12.3f} {r['load']:>7.2f} {(r['delay'] - r['load']) / r['step']:>17.1f} {r['makespan']:>8.2f} "
              f"{r['loads']['busy']:>4}/{r['loads']['other']:<4} {r['preempted']:>6} {r['rss']:>12.0f} {r['faults']:>12}", flush=True)
    by = {r["mode"]: r for r in rows}
    if "fair" in by and "fifo" in by:
        print(f"\nfair vs fifo: the other model's job {by['fifo']['other'] / by['fair']['other']:.1f}x sooner; "
              f"the burst {by['fair']['makespan'] / by['fifo']['makespan']:.2f}x as long")
    if "fair" in by and "resident" in by:
        print(f"fair vs resident: peak RSS {by['fair']['rss'] / by['resident']['rss']:.2f}x, the other job "
              f"{by['fair']['other'] / by['resident']['other']:.2f}x as long")


if __name__ == "__main__":
    main()
