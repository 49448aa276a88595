"""Loading the LCT reference code (quandao10/LCT at 5e7d492) from a checkout the user passes, for
benchmarks/lct_step.py: its modules imported from PATH (packages it imports but never calls on the
sLCT CelebA-HQ path stubbed when missing), and its training script's own argument parser fed the
flags of a launch script. Nothing of the reference is copied here.
"""
from __future__ import annotations

import argparse
import contextlib
import ast
import importlib
import importlib.abc
import importlib.machinery
import io
import re
import shlex
import sys
import types
from pathlib import Path

import torch

DEFAULT_SCRIPT = "scripts/old/train_lct_ot_newc_allnonscalinglayernorm.sh"
# Imported at module level by the reference's files but not called on the sLCT CelebA path
# (LPIPS loss, adaptive robust loss, MPI/blob I/O, DiT, E-LatentLPIPS, the VAE used for plots).
STUBBABLE = ("piq", "robust_loss_pytorch", "mpi4py", "blobfile", "timm", "elatentlpips", "diffusers",
             "cv2", "lmdb")
MODULES = ("models.network_karras", "models.karras_diffusion", "models.optimal_transport",
           "models.script_util", "train_cm_latent")


# ----------------------------------------------------------------------------- loading the reference

class _Unavailable:
    """Stands in for anything from a stubbed package; any use fails loudly."""
    _pkg = "?"

    def __init__(self, *a, **k):
        raise RuntimeError(f"lct_step: the reference used stubbed package {self._pkg!r}; install it")

    def __init_subclass__(cls, **k):
        pass


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots):
        self.roots = set(roots)

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        m = types.ModuleType(spec.name)
        m.__path__ = []
        stub = type("Unavailable", (_Unavailable,), {"_pkg": spec.name})

        def getattr_(attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return stub
        m.__getattr__ = getattr_
        return m

    def exec_module(self, module):
        pass


def _missing(pkg: str) -> bool:
    try:
        importlib.import_module(pkg)
        return False
    except Exception:
        return True


def load_reference(src) -> types.SimpleNamespace:
    """Import the reference's modules from `src`; returns them and the list of stubbed packages."""
    src = Path(src).resolve()
    if not (src / "train_cm_latent.py").is_file() or not (src / "models" / "network_karras.py").is_file():
        raise SystemExit(f"--lct-src {src}: not an LCT checkout (train_cm_latent.py, models/network_karras.py "
                         f"missing); use quandao10/LCT at commit 5e7d492")
    stubbed = [p for p in STUBBABLE if _missing(p)]
    finder = _StubFinder(stubbed)
    sys.path.insert(0, str(src))
    sys.meta_path.append(finder)
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            mods = {m: importlib.import_module(m) for m in MODULES}
    finally:
        sys.meta_path.remove(finder)
    # train_cm_latent sets TF32 at import; keep it, it is the reference's setting, but say so.
    tf32_after = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    return types.SimpleNamespace(src=src, stubbed=stubbed, tf32_before=tf32, tf32_after=tf32_after,
                                 nk=mods["models.network_karras"], kd=mods["models.karras_diffusion"],
                                 ot=mods["models.optimal_transport"], su=mods["models.script_util"],
                                 script=mods["train_cm_latent"])


def _script_parser(script_path: Path) -> argparse.ArgumentParser:
    """The reference script's own argparse parser: its `__main__` block up to `parse_args`."""
    tree = ast.parse(script_path.read_text())
    main = next(n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))
    body = []
    for stmt in main.body:
        if "parse_args" in ast.unparse(stmt):
            break
        body.append(stmt)
    ns = {"argparse": argparse}
    script = sys.modules["train_cm_latent"]
    ns.update({k: getattr(script, k) for k in ("DiT_models", "EDM2_models", "none_or_str")})
    exec(compile(ast.Module(body=body, type_ignores=[]), str(script_path), "exec"), ns)
    return ns["parser"]


def _script_flags(sh: Path) -> list:
    """The flags a launch script passes to train_cm_latent.py (continuations joined, comments and
    $((a*b)) arithmetic resolved)."""
    text = re.sub(r"\\\n", " ", sh.read_text())
    line = next(l for l in text.splitlines() if "train_cm_latent.py" in l)
    line = line.split("train_cm_latent.py", 1)[1].split("#", 1)[0]
    line = re.sub(r"\$\(\((\d+)\s*\*\s*(\d+)\)\)", lambda m: str(int(m[1]) * int(m[2])), line)
    return shlex.split(line)


def reference_args(ref, width: int, script: str = DEFAULT_SCRIPT):
    flags = _script_flags(ref.src / script)
    i = flags.index("--num-channels")
    flags[i + 1] = str(width)
    args = _script_parser(ref.src / "train_cm_latent.py").parse_args(flags)
    return args, flags
