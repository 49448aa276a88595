"""Train → evaluate → record, for one or more rows: what `repro run` does.

Rows that share a training key train once; each row is then evaluated with its own sampler and
protocol and gets its own record.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from repro.io import ReproError
from repro.paths import runs_root
from repro.specs import Row

DEMO_METRICS = ("w2_pixels", "fd_pixels")


def run_dir_for(row: Row, root=None) -> Path:
    return runs_root(root) / row.training_key


def evaluate_row(row: Row, f, out_dir, num=None, device="cpu", progress=True, seed=None,
                 save_images=False) -> dict:
    """Sample `f` with the row's sampler and score it with the row's protocol."""
    import dataclasses

    from repro.data import open_train_set
    from repro.eval.evaluate import evaluate

    from repro.eval.sample import uniform_class_sampler

    spec = row.eval if seed is None else dataclasses.replace(row.eval, seed=seed)
    if row.loss.objective == "diffusion":
        # The whole Euler trajectory is one call of the sampler, started at sigma_max * z.
        f = EulerTrajectory(f, spec.nfe, row.loss)
        spec = dataclasses.replace(spec, sigmas=(row.loss.sigma_max,))
    data = open_train_set(row.data)
    real = _real_images(row, data) if spec.metric in DEMO_METRICS else None
    decode = data.decoder if row.data.latent or row.data.name == "digits" else None
    classes = uniform_class_sampler(row.model.label_dim, spec.seed) if row.model.label_dim else None
    return evaluate(f, spec, data.shape, out_dir, decode=decode, real=real, num=num, device=device,
                    progress=progress, class_sampler=classes, save_images=save_images)


class EulerTrajectory(torch.nn.Module):
    """A denoiser run through `steps` Euler steps on the Karras grid (LDM-8† baseline, sLCT Table 1)."""

    def __init__(self, d, steps: int, loss):
        super().__init__()
        from repro.core.samplers import diffusion_sigmas

        self.d = d
        self.sigmas = diffusion_sigmas(steps, loss.sigma_min, loss.sigma_max, loss.rho)

    def forward(self, x, sigma, class_labels=None):
        from repro.core.samplers import euler_sampler

        return euler_sampler(self.d, x / self.sigmas[0], self.sigmas, class_labels=class_labels)


def _real_images(row: Row, data):
    """Held-out real images as uint8 NHWC, through the same decode as the samples."""
    if row.data.name == "synthetic":
        # Smoke runs: a second synthetic draw stands in for held-out data, so the path runs.
        from repro.data.toy import synthetic_arrays
        from repro.data.trainset import pixels_to_model

        raw, _ = synthetic_arrays(data.shape, max(len(data), 2), row.data.latent, seed=1)
        return data.decode(torch.from_numpy(raw) if row.data.latent else pixels_to_model(raw))
    if row.data.name != "digits":
        raise ReproError(f"EvalSpec.metric='{row.eval.metric}' needs held-out images; only the 'digits' "
                         f"dataset provides them; use metric 'fid' for {row.data.name}")
    from repro.data.toy import DIGITS_LEVELS, digits_split

    _, heldout = digits_split()
    x = torch.from_numpy(heldout).float().div(DIGITS_LEVELS / 2).sub(1.0).unsqueeze(1)
    return data.decode(x)


def demo_baselines(row: Row, out_dir, device="cpu") -> dict:
    """Untrained network and real held-out data, scored exactly like the trained model."""
    from repro.data import open_train_set
    from repro.eval import demo_metrics
    from repro.train.build import initial_function

    untrained = initial_function(row).to(device).eval()
    u = evaluate_row(row, untrained, Path(out_dir) / "untrained", device=device, progress=False)
    data = open_train_set(row.data)
    real = _real_images(row, data)
    n = min(len(real), len(data))
    train_imgs = data.decode(data.batch(torch.arange(n))[0])
    metric = getattr(demo_metrics, row.eval.metric)
    return {f"{row.eval.metric}_untrained": u["metrics"][row.eval.metric],
            f"{row.eval.metric}_heldout_baseline": float(metric(train_imgs[:n], real[:n]))}


def run_rows(rows: list[Row], max_steps=None, num=None, runs=None, tables=None, record=True,
             device=None, progress=True, log=print) -> list[dict]:
    from repro.train import load_for_eval, train_row
    from repro.train.loop import resolve_device

    dev = resolve_device(device or "auto")
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.training_key, []).append(r)
    results = []
    for key, members in groups.items():
        run_dir = run_dir_for(members[0], runs)
        log(f"== training {key} for {', '.join(r.id for r in members)} -> {run_dir}")
        t0 = time.perf_counter()
        train_row(members[0], run_dir, max_steps=max_steps, progress=progress, device=str(dev))
        log(f"   trained in {time.perf_counter() - t0:.1f} s")
        for row in members:
            out = run_dir / "eval" / row.id.replace("/", "__")
            f = load_for_eval(run_dir, row, device=dev)
            t1 = time.perf_counter()
            res = evaluate_row(row, f, out, num=num, device=dev, progress=progress)
            ours = dict(res["metrics"])
            if row.eval.metric in DEMO_METRICS:
                ours.update(demo_baselines(row, out, device=dev))
            log(f"   {row.id}: {_fmt(ours)}  ({time.perf_counter() - t1:.1f} s; grid {out / 'grid.png'})")
            entry = {"row": row, "ours": ours, "protocol": res["protocol"], "run_dir": run_dir,
                     "eval_dir": out}
            if record:
                entry["record_path"] = write_result(row, run_dir, res, ours, tables, eval_dir=out)
            results.append(entry)
    return results


def write_result(row: Row, run_dir, res, ours, tables=None, eval_dir=None) -> Path:
    """The row's result record: into the registry at `tables`, except for a smoke run, whose
    record goes to `<eval_dir>/record.json` (default `<run_dir>/eval/<row>/`) and never into
    the registry, so smoke numbers can never reach a table."""
    from repro.io import atomic_write_json
    from repro.registry import make_record, validate_record, write_record
    from repro.train.checkpoint import checkpoints, load_checkpoint

    ckpt = checkpoints(run_dir)[0]
    state = load_checkpoint(ckpt, row.training_key, mmap=True)   # metadata only
    wall = float(state.get("wall_s", 0.0))
    world = int(state.get("world", 1))
    on_gpu = torch.cuda.is_available()
    training = {"wall_s": wall, "steps": int(state["step"]), "total_steps": row.total_steps,
                "gpu_hours": wall * world / 3600.0 if on_gpu else 0.0, "processes": world}
    rec = make_record(row, ours, res["protocol"], ckpt, training,
                      extra={"throughput": res.get("throughput"), "runtime": _asdict(row.runtime),
                             "row_args": {"overrides": list(row.overrides), "smoke": row.smoke}})
    if row.smoke:
        validate_record(rec)
        path = Path(eval_dir or Path(run_dir) / "eval" / row.id.replace("/", "__")) / "record.json"
        atomic_write_json(path, rec)
        return path
    return write_record(rec, tables)


def record_line(path) -> str:
    """One terminal line: where a record went and whether the tables can show it."""
    from repro.registry import hidden_reason, is_smoke, read_record

    rec = read_record(path)
    if is_smoke(rec):
        return f"smoke record: {path} (kept beside its run; smoke records never enter tables)"
    why = hidden_reason(rec)
    if why:
        return f"record: {path} (kept in the registry, NOT shown in the tables: {why})"
    return f"record: {path} (clean provenance: the tables show it)"


def _asdict(x):
    import dataclasses

    return dataclasses.asdict(x)


def _fmt(d: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in d.items())
