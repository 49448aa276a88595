"""Training speed of the default job on a quiet machine and beside busy processes.

For each variant and round, one fresh child process trains the default job's row
(demo/digits/nfe1, batch 64, CPU) through repro's own API into a temp run dir, logging every
step. The parent reads the per-step rates from metrics.jsonl, drops the first WARM steps, then
measures --budget seconds with no added load and --budget seconds beside --competitors processes
spinning on the CPU (--load matmul: numpy matmuls instead); the phase order alternates by round.
No evaluation runs.

Variants (--variants, comma-separated):
  old   torch's defaults, as before repro.launch.threads: no OMP_* / GOMP_* / KMP_* variables
  new   what `repro` does now: repro.launch.threads.configure_threads() before torch is imported
  K=V[+K=V...]  the old defaults plus these variables, e.g. OMP_NUM_THREADS=1 or
        GOMP_SPINCOUNT=0, to compare single knobs
Variants alternate within each round, so slow drifts in background load hit all of them.

    python benchmarks/load.py [--rounds 2] [--budget 20] [--competitors 2] [--load spin|matmul]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROW = "demo/digits/nfe1"
WARM = 2
# Every variable that steers the OpenMP runtimes; stripped from the children's environment so
# each variant starts from the same place whatever the caller's shell exports.
THREAD_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OMP_PROC_BIND", "OMP_PLACES", "GOMP_SPINCOUNT",
               "KMP_BLOCKTIME", "KMP_AFFINITY", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

SPIN = "while True: pass"
MATMUL = ("import numpy as np\n"
          "a = np.random.default_rng(0).standard_normal((384, 384))\n"
          "while True: a = np.tanh(a @ a)\n")


def child(run_dir: str, steps: int, variant: str) -> None:
    if variant == "new":
        from repro.launch.threads import configure_threads
        configure_threads()
    from repro.rows import load_row
    from repro.train import train_row

    row = load_row(ROW, overrides=("RuntimeSpec.log_every = 1", "RuntimeSpec.ckpt_every = 1000000"))
    train_row(row, Path(run_dir), max_steps=steps, progress=False, device="cpu")


def child_env(variant: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    if variant not in ("old", "new"):
        for item in variant.split("+"):
            key, _, value = item.partition("=")
            env[key.strip()] = value.strip()
    return env


def rates(log: Path) -> list[float]:
    try:
        lines = log.read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # the line being written
        if "steps_per_s" in rec:
            out.append(float(rec["steps_per_s"]))
    return out


def measure(variant: str, phases: list[str], steps: int, budget: float, load_kind: str, competitors: int,
            startup_limit: float = 300.0) -> dict:
    """One fresh child of `variant`, stepping through `phases` ('quiet'/'loaded') of `budget` s each.

    Returns {phase: (steps/s, measured steps, '<' when the rate is only an upper bound)}. A
    record read in the poll that follows a phase switch may hold a step that straddled it, so it
    is left out along with the warm-up steps.
    """
    out = {}
    with tempfile.TemporaryDirectory(prefix="repro-load-") as tmp:
        log = Path(tmp) / "run" / "metrics.jsonl"
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(log.parent), "--steps", str(steps),
                                 "--variant", variant], env=child_env(variant))
        load: list = []
        try:
            t_start = time.monotonic()
            while proc.poll() is None and len(rates(log)) < WARM:
                if time.monotonic() - t_start > startup_limit:
                    raise RuntimeError(f"{variant}: no {WARM} steps within {startup_limit:.0f} s")
                time.sleep(0.1)
            if len(rates(log)) < WARM:
                raise RuntimeError(f"{variant}: the child exited ({proc.returncode}) before {WARM} steps")
            for phase in phases:
                if phase == "loaded":
                    load = start_load(load_kind, competitors)
                time.sleep(0.2)
                first = len(rates(log)) + 1
                t_phase = time.monotonic()
                while proc.poll() is None and time.monotonic() - t_phase < budget:
                    time.sleep(0.1)
                if proc.returncode is not None:  # failed, or ran out of the row's steps: a short phase
                    raise RuntimeError(f"{variant}: the child ended ({proc.returncode}) during the "
                                       f"{phase} phase; with exit 0, lower --budget")
                measured = rates(log)[first:]
                stop_load(load)
                load = []
                if measured:
                    out[phase] = (len(measured) / sum(1.0 / r for r in measured), len(measured), "")
                else:  # at most the left-out record and one unfinished step fell in the phase
                    out[phase] = (2.0 / budget, 0, "<")
        finally:
            stop_load(load)
            if proc.poll() is None:
                proc.kill()  # SIGKILL: SIGTERM would make the loop save a checkpoint first
            proc.wait()
    return out


def start_load(kind: str, n: int) -> list[subprocess.Popen]:
    code = SPIN if kind == "spin" else MATMUL
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return [subprocess.Popen([sys.executable, "-c", code], env=env) for _ in range(n)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def fmt(value) -> str:
    """'1.23' for a measurement; '< 0.13' / '> 5.00' for an upper / lower bound; '?' for neither."""
    x, sign = value
    return ("?" if sign == "?" else f"{sign + ' ' if sign else ''}{x:.2f}").rjust(8)


def med(values):
    """Median of (rate, sign) pairs; a bound in the middle makes the median a bound."""
    vals = sorted(values)
    mid = vals[(len(vals) - 1) // 2:len(vals) // 2 + 1]
    return sum(x for x, _ in mid) / len(mid), "<" if any(b for _, b in mid) else ""


def ratio(num, den):
    flip = {"": "", "<": ">", ">": "<"}
    sign = num[1] if not den[1] else (flip[den[1]] if not num[1] else "?")
    return num[0] / den[0], sign


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="old,new")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=600, help="most steps per child (the row's K is 600)")
    ap.add_argument("--budget", type=float, default=20.0, help="seconds of stepping per phase")
    ap.add_argument("--competitors", type=int, default=2)
    ap.add_argument("--load", choices=("spin", "matmul"), default="spin")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.steps, args.variant)
        return 0

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    print(f"{ROW} training, batch 64, CPU; affinity {len(os.sched_getaffinity(0))} CPUs; "
          f"load average at start {os.getloadavg()[0]:.1f}; loaded = {args.competitors} x {args.load}")
    print(f"per variant and round: one fresh process, first {WARM} steps dropped, then "
          f"{args.budget:.0f} s quiet and {args.budget:.0f} s loaded (order alternates by round)")
    results: dict = {(v, c): [] for v in variants for c in ("quiet", "loaded")}
    t0 = time.monotonic()
    for r in range(args.rounds):
        # Alternate which phase comes first, so a phase is not always the fresher process.
        phases = ["quiet", "loaded"] if r % 2 == 0 else ["loaded", "quiet"]
        for v in variants:
            got = measure(v, phases, args.steps, args.budget, args.load, args.competitors)
            for cond in phases:
                sps, n, sign = got[cond]
                results[(v, cond)].append((sps, sign))
                print(f"  round {r + 1} {v:24s} {cond:6s} {fmt((sps, sign))} steps/s ({n} steps)", flush=True)
            print(f"  [load average {os.getloadavg()[0]:.1f}]", flush=True)

    print(f"\nmedian over {args.rounds} round(s), {time.monotonic() - t0:.0f} s in all")
    print(f"{'variant':28s} {'quiet':>8s} {'loaded':>8s} {'loaded/quiet':>13s}")
    for v in variants:
        q, l = med(results[(v, 'quiet')]), med(results[(v, 'loaded')])
        print(f"{v:28s} {fmt(q)} {fmt(l)} {fmt(ratio(l, q)):>13s}")
    if "old" in variants and "new" in variants:
        r = ratio(med(results[("new", "loaded")]), med(results[("old", "loaded")]))
        print(f"loaded, new / old: {fmt(r).strip()}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
