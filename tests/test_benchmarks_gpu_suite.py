"""benchmarks/gpu_suite.py runs end to end on the CPU (--cpu-dry-run) and prints its result lines.

The suite is meant for a GPU, where nobody watches it fail; this keeps its plumbing (our step
builders, the random-weight Inception and VAE, the OT timing) working between GPU sessions.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^(\w+) = (\S+)(?:  # (.*))?$")


@pytest.mark.slow
def test_gpu_suite_cpu_dry_run():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--cpu-dry-run"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    results = {}
    for line in p.stdout.splitlines():
        m = LINE.match(line)
        if m:
            results[m[1]] = m[2]
    names = ["step_bf16_over_fp32", "step_ours_fp32_over_ref", "step_ours_bf16_over_ref",
             "eval_generate_share", "eval_decode_share", "eval_jpeg_share", "eval_features_share",
             "ot_share_of_step"]
    assert list(results) == names, p.stdout
    # Without --lct-src the reference comparisons say why they did not run.
    assert results["step_ours_fp32_over_ref"] == results["step_ours_bf16_over_ref"] == "skipped"
    step = float(results["step_bf16_over_fp32"])
    assert 0.2 < step < 5.0          # on the CPU both variants are fp32: same work, load noise only
    shares = [float(results[f"eval_{k}_share"]) for k in ("generate", "decode", "jpeg", "features")]
    assert all(0.0 < s < 1.0 for s in shares) and sum(shares) == pytest.approx(1.0, abs=1e-3)
    assert 0.0 < float(results["ot_share_of_step"]) < 1.0
    assert re.search(r"^gpu_suite: done in \d+ s$", p.stdout, re.M)
