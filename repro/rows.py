"""Rows: one gin file under gin/ per table row; id = path without `.gin`.

`load_row` parses a row file (plus the smoke file and overrides) into a `repro.specs.Row`,
turning gin's multi-line exceptions into one line that names the file, the line and the fix.
"""
from __future__ import annotations

import fnmatch
import logging
import os
import re
import threading
from pathlib import Path

from repro.io import ReproError
from repro.specs import Row

GIN_DIR = Path(os.environ.get("REPRO_GIN", Path(__file__).resolve().parent.parent / "gin"))
SMOKE_FILE = "smoke.gin"
# Files under gin/ that are not rows.
NON_ROW_DIRS = ("base",)
NON_ROW_FILES = (SMOKE_FILE,)

_lock = threading.Lock()  # gin's config is process-global


def gin_dir() -> Path:
    return Path(os.environ.get("REPRO_GIN", GIN_DIR))


def all_row_ids() -> list[str]:
    root = gin_dir()
    ids = []
    for p in sorted(root.rglob("*.gin")):
        rel = p.relative_to(root)
        if rel.parts[0] in NON_ROW_DIRS or str(rel) in NON_ROW_FILES:
            continue
        ids.append(str(rel.with_suffix("")))
    return ids


def expand(patterns) -> list[str]:
    """Row ids or shell globs (e.g. 'slct/t2*') to row ids, in order, without duplicates."""
    ids = all_row_ids()
    out = []
    for pat in patterns:
        pat = pat[:-4] if pat.endswith(".gin") else pat
        hits = [i for i in ids if fnmatch.fnmatch(i, pat) or fnmatch.fnmatch(i, pat + "/*")] \
            if any(ch in pat for ch in "*?[") else ([pat] if pat in ids else [i for i in ids if i.startswith(pat + "/")])
        if not hits:
            raise ReproError(f"{_row_path(pat)}: unknown row '{pat}'; `repro list` shows the {len(ids)} rows")
        out += [h for h in hits if h not in out]
    return out


def _row_path(row_id: str) -> Path:
    return gin_dir() / f"{row_id}.gin"


def _unbalanced_source(files, overrides) -> str | None:
    """Which file or override leaves a bracket open (gin's tokenizer does not say)."""
    import io
    import tokenize

    sources = [(f, Path(f).read_text()) for f in files if Path(f).is_file()]
    sources += [(f"override '{o}'", o + "\n") for o in overrides]
    for name, text in sources:
        try:
            list(tokenize.generate_tokens(io.StringIO(text).readline))
        except (tokenize.TokenError, SyntaxError):
            return name
    return None


def _one_line(e: Exception, row_file: Path, files=(), overrides=()) -> str:
    """gin says 'message\\n  In file "x", line N\\n    text'; keep the file, line and message."""
    import tokenize

    if isinstance(e, tokenize.TokenError):
        where = _unbalanced_source(files, overrides) or str(row_file)
        return f"{where}: unbalanced bracket or unfinished value (the file ends inside it); close it"
    loc = e.args[1] if isinstance(e, SyntaxError) and len(e.args) > 1 else None
    if loc is not None and hasattr(loc, "line_num"):
        detail = str(e.args[0]).splitlines()[-1].strip()
        where = f"{loc.filename}:{loc.line_num}" if loc.filename else f"override '{loc.line_content.strip()}'"
        return f"{where}: cannot parse '{loc.line_content.strip()}' ({detail}); values are Python literals, " \
               f"references are @Name() and macros %NAME"
    text = str(e).strip()
    loc = re.search(r'In file "([^"]+)", line (\d+)', text)
    msg = text.splitlines()[0] if text else type(e).__name__
    where = f"{loc.group(1)}:{loc.group(2)}" if loc else str(row_file)
    if "bindings string" in text:
        m = re.search(r"In bindings string line \d+\n\s+(.*)", text)
        where = f"override '{m.group(1).strip()}'" if m else "overrides"
    if msg.startswith("No configurable matching"):
        from repro.configurables import SPEC_CLASSES
        known = ", ".join(c.__name__ for c in SPEC_CLASSES) + ", recipe"
        msg += f" — known configurables: {known}"
    elif "doesn't have a parameter named" in msg:
        msg += " — `repro show ROW` lists the parameters in use; see repro/specs.py for all of them"
    elif msg.startswith("Unable to open file"):
        msg = msg.split(" Searched")[0] + f" (includes are relative to {gin_dir()})"
    elif "Required bindings" in text or "REQUIRED" in text:
        msg = text.replace("\n", " ").strip()
        msg = re.sub(r"\s+", " ", msg)[:300] + " — bind it in the row file"
    return f"{where}: {msg}"


def load_row(row_id: str, overrides=(), smoke: bool = False) -> Row:
    """Parse gin/<row_id>.gin (+ gin/smoke.gin if smoke, + override bindings) into a Row."""
    import gin

    import repro.configurables  # noqa: F401  (registers the configurables)

    row_file = _row_path(row_id)
    if not row_file.is_file():
        raise ReproError(f"{row_file}: no such row file; `repro list` shows the rows")
    files = [str(row_file)] + ([str(gin_dir() / SMOKE_FILE)] if smoke else [])
    with _lock:
        gin.clear_config()
        # gin logs every failed search-path probe at ERROR level; the errors that matter are raised.
        logging.disable(logging.ERROR)
        try:
            gin.add_config_file_search_path(str(gin_dir()))
            gin.parse_config_files_and_bindings(files, list(overrides), finalize_config=False,
                                                skip_unknown=False)
            parts = gin.get_configurable("repro.recipe")()
            operative = gin.operative_config_str()
        except ReproError:
            raise
        except (ValueError, TypeError, OSError, SyntaxError, KeyError, RuntimeError) as e:
            raise ReproError(_one_line(e, row_file, files, overrides)) from None
        except Exception as e:  # gin's tokenizer raises its own types for malformed files
            raise ReproError(_one_line(e, row_file, files, overrides)) from None
        finally:
            logging.disable(logging.NOTSET)
            gin.clear_config()
    row = Row(id=row_id, operative_config=operative, overrides=tuple(overrides), smoke=bool(smoke), **parts)
    row = _with_switches(row)
    _validate(row, row_file)
    return row


def all_rows(smoke: bool = False) -> list[Row]:
    return [load_row(i, smoke=smoke) for i in all_row_ids()]


def _with_switches(row: Row) -> Row:
    """The paper-vs-code switches (docs/FIDELITY.md) in force for this row, for the record."""
    import dataclasses

    l, d = row.loss, row.data
    sw = {
        "loss_reduction": l.reduction,
        "adaptive_c.coeffs": l.c_form if l.c_kind == "adaptive" else None,
        "diff_term.weight": (f"{l.diff_weight} x {l.diff_weighting}" if l.diff_r > 0 else None),
        "diff_term.index_rule": l.diff_index_rule if l.diff_r > 0 else None,
        "dropout_rng_sync": l.dropout_rng_sync,
        "sampler.mid_sigma": row.eval.sigmas[1] if len(row.eval.sigmas) > 1 else None,
        "eval.ema": row.eval.ema,
        "eval.fid_impl": f"{row.eval.metric}:{row.eval.fid_mode}:{row.eval.gen_format}",
        "e_latentlpips.data_norm": d.latent_norm if l.distance == "e_latent_lpips" else None,
        # Exact either way (same permutation when the optimum is unique); LCT used ot.emd.
        "ot_coupling.solver": _ot_solver() if l.coupling == "ot" else None,
    }
    return dataclasses.replace(row, switches=tuple((k, v) for k, v in sw.items() if v is not None))


def _ot_solver() -> str:
    import inspect

    from repro.core.coupling import ot_coupling

    return inspect.signature(ot_coupling).parameters["solver"].default


def _validate(row: Row, row_file: Path) -> None:
    c = row.claim
    if c.nfe != row.eval.nfe or len(row.eval.sigmas) != row.eval.nfe:
        if row.loss.objective == "ct":
            raise ReproError(f"{row_file}: Claim.nfe={c.nfe} but EvalSpec.nfe={row.eval.nfe} with "
                             f"{len(row.eval.sigmas)} sampler sigmas; make them agree")
    if row.train.batch_size <= 0:
        raise ReproError(f"{row_file}: TrainSpec.batch_size must be positive")
    try:
        row.total_steps
    except ValueError as e:
        raise ReproError(f"{row_file}: {e}") from None
