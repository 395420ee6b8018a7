#!/usr/bin/env python3
"""Build-time checks of the compiled kernels, used by Scripts/build-kernels.

  kernel_report.py ptxas LOG...        per kernel and arch: registers, stack, spill bytes (from nvcc -Xptxas -v);
                                       exit 1 if any kernel spills (spill stores or loads non-zero), or if ptxas
                                       reports that it serialized wgmma instructions ("Potential Performance Loss")
  kernel_report.py sass CUOBJDUMP OBJ... global load/store widths per kernel and arch from `cuobjdump -sass`;
                                       exit 1 if a vectorized kernel (*_vec_kernel) has a global load or store of
                                       x/y narrower than 128 bits, or no 128-bit load at all; and exit 1 if any
                                       kernel touches local memory (LDL/STL: a spill or a dynamically indexed
                                       register array). Kernels that load through cp.async (LDGSTS, e.g. the
                                       attention kernel) are not *_vec_kernel; their cp.async widths are listed.
                                       Warpgroup kernels (*_wgmma_kernel*) must, on sm_90a, contain warpgroup MMAs
                                       (HGMMA for f16/bf16, QGMMA for fp8 operands) and TMA loads (UTMALDG);
                                       their counts, and those of the mbarrier ops (SYNCS.*), are listed.
                                       Required sm_90a kernels (REQUIRED_SM90, e.g. the Hopper attention) must be
                                       present with their minimum HGMMA count and, where listed, HGMMAs reading a
                                       transposed (MN-major) B operand (.tnspB: V in the attention's P.V product).
"""
import re
import shutil
import subprocess
import sys


def demangle(names):
    cxxfilt = shutil.which("c++filt")
    if not cxxfilt or not names:
        return {n: n for n in names}
    out = subprocess.run([cxxfilt], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    return dict(zip(names, out)) if len(out) == len(names) else {n: n for n in names}


def short(name):
    # easel::(anonymous namespace)::rmsnorm_vec_kernel<128, 3, 128>(...) -> rmsnorm_vec_kernel<128, 3, 128>
    name = name.replace("(anonymous namespace)::", "").replace("easel::", "").replace("easel_check::", "")
    name = re.sub(r"^void ", "", re.sub(r"\(.*$", "", name))
    return name.replace("__nv_bfloat16", "bf16")


def ptxas(logs):
    rows, serialized = [], []
    for log in logs:
        cur = None
        for line in open(log, errors="replace"):
            if "Potential Performance Loss" in line and "wgmma" in line:
                serialized.append(line.strip())
            m = re.search(r"Compiling entry function '([^']+)' for '(sm_\w+)'", line)
            if m:
                cur = {"name": m.group(1), "arch": m.group(2), "regs": None, "stack": 0, "st": 0, "ld": 0}
                rows.append(cur)
                continue
            if cur is None:
                continue
            m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
            if m:
                cur["stack"], cur["st"], cur["ld"] = map(int, m.groups())
            m = re.search(r"Used (\d+) registers", line)
            if m:
                cur["regs"] = int(m.group(1))
    if not rows:
        print("kernel_report: no ptxas entries found (was -Xptxas -v passed?)", file=sys.stderr)
        return 1
    names = demangle(sorted({r["name"] for r in rows}))
    bad = [r for r in rows if r["st"] or r["ld"]]
    print(f"{'arch':8} {'regs':>4} {'stack':>5} {'spill st/ld':>11}  kernel")
    for r in sorted(rows, key=lambda r: (short(names[r["name"]]), r["arch"])):
        flag = "  <-- SPILLS" if (r["st"] or r["ld"]) else ""
        print(f"{r['arch']:8} {r['regs'] if r['regs'] is not None else '?':>4} {r['stack']:>5} "
              f"{r['st']:>5}/{r['ld']:<5}  {short(names[r['name']])}{flag}")
    for line in serialized:
        print(f"  <-- WGMMA SERIALIZED: {line}")
    print(f"ptxas: {len(rows)} kernel builds, {len(bad)} with spills, {len(serialized)} wgmma serialization warnings")
    return 1 if bad or serialized else 0


MEM = re.compile(r"\b(LDG|STG)\.E((?:\.[A-Z0-9_]+)*)")
LOCAL = re.compile(r"\b(LDL|STL)\b")
ASYNC = re.compile(r"\bLDGSTS\.E((?:\.[A-Z0-9_]+)*)")
GMMA = re.compile(r"\b([HQI]GMMA)\.")
TMA_LOAD = re.compile(r"\bUTMALDG\b")
SYNCS = re.compile(r"\bSYNCS\.")


# sm_90a kernels that must exist (so a renamed or #if'd-out kernel cannot pass silently): name fragment ->
# (minimum HGMMA instructions, minimum HGMMAs with .tnspB). Hopper attention: 8 k16 steps of S = Q K^T and 8 of
# O += P V (V MN-major, transpose bit) per KV block.
REQUIRED_SM90 = {"attention_fwd_wgmma_kernel": (16, 8)}
TNSPB = re.compile(r"\bHGMMA\.[^;]*\.tnspB")


def width(mods):
    for tok in mods.split("."):
        if tok in ("64", "128"):
            return int(tok)
        if tok in ("U8", "S8"):
            return 8
        if tok in ("U16", "S16"):
            return 16
    return 32


def sass(cuobjdump, objs):
    failures = 0
    found = {}
    print(f"{'arch':8} {'loads by width (bits:count)':34} {'stores by width':22} kernel")
    for obj in objs:
        text = subprocess.run([cuobjdump, "-sass", obj], capture_output=True, text=True, check=True).stdout
        arch, func, stats = None, None, []
        for line in text.splitlines():
            m = re.search(r"code for (sm_\w+)", line)
            if m:
                arch = m.group(1)
                continue
            m = re.search(r"Function : (\S+)", line)
            if m:
                func = {"name": m.group(1), "arch": arch, "ld": {}, "st": {}, "local": 0, "async": {},
                        "gmma": {}, "tma": 0, "syncs": 0, "tnspb": 0}
                stats.append(func)
                continue
            if func is not None and LOCAL.search(line):
                func["local"] += 1
            if func is not None:
                g = GMMA.search(line)
                if g:
                    func["gmma"][g.group(1)] = func["gmma"].get(g.group(1), 0) + 1
                func["tma"] += 1 if TMA_LOAD.search(line) else 0
                func["syncs"] += 1 if SYNCS.search(line) else 0
                func["tnspb"] += 1 if TNSPB.search(line) else 0
            m = ASYNC.search(line)
            if m and func is not None:
                w = width(m.group(1))
                func["async"][w] = func["async"].get(w, 0) + 1
                continue
            m = MEM.search(line)
            if m and func is not None:
                w = width(m.group(2))
                d = func["ld"] if m.group(1) == "LDG" else func["st"]
                d[w] = d.get(w, 0) + 1
        names = demangle(sorted({f["name"] for f in stats}))
        for f in stats:
            nm = short(names[f["name"]])
            fmt = lambda d: " ".join(f"{w}:{c}" for w, c in sorted(d.items())) or "-"
            vec = "_vec_kernel" in nm
            # vectorized kernels: x, y, weight, bf16 shift/scale are 128-bit; f32 shift/scale are float4 (128-bit)
            ok = not vec or (f["ld"].get(128, 0) > 0 and set(f["ld"]) <= {128} and set(f["st"]) <= {128})
            note = "" if ok else "  <-- NOT 128-bit"
            if f["local"]:
                ok = False
                note += f"  <-- LOCAL MEMORY ({f['local']} LDL/STL)"
            if f["async"]:
                note += f"  (cp.async {fmt(f['async'])})"
            if "_wgmma_kernel" in nm and f["arch"] == "sm_90a":
                gm = " ".join(f"{k}:{v}" for k, v in sorted(f["gmma"].items())) or "none"
                note += f"  (warpgroup MMA {gm}, UTMALDG:{f['tma']}, SYNCS:{f['syncs']})"
                if not f["gmma"] or not f["tma"]:
                    ok = False
                    note += "  <-- NO WGMMA/TMA"
            for frag, (min_gmma, min_tnspb) in REQUIRED_SM90.items():
                if frag in nm and f["arch"] == "sm_90a":
                    found[frag] = True
                    if f["gmma"].get("HGMMA", 0) < min_gmma or f["tnspb"] < min_tnspb:
                        ok = False
                        note += (f"  <-- HGMMA {f['gmma'].get('HGMMA', 0)} (want >= {min_gmma}), .tnspB "
                                 f"{f['tnspb']} (want >= {min_tnspb})")
                    else:
                        note += f"  (HGMMA .tnspB:{f['tnspb']})"
            if not ok:
                failures += 1
            print(f"{f['arch']:8} {fmt(f['ld']):34} {fmt(f['st']):22} {nm}{note}")
    for frag in REQUIRED_SM90:
        if frag not in found:
            failures += 1
            print(f"sm_90a   {'-':34} {'-':22} {frag}  <-- REQUIRED sm_90a KERNEL MISSING")
    print(f"sass: {failures} kernel(s) with narrower global accesses (vectorized kernels), local memory, or a "
          f"warpgroup kernel without wgmma/TMA")
    return 1 if failures else 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "ptxas":
        return ptxas(argv[2:])
    if len(argv) >= 4 and argv[1] == "sass":
        return sass(argv[2], argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
