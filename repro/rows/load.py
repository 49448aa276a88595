"""Rows: one gin file under gin/ per table row; id = path without `.gin`.

`load_row` parses a row file (plus the smoke file and overrides) into a `repro.specs.Row`,
turning gin's multi-line exceptions into one line that names the file, the line and the fix.
"""
from __future__ import annotations

import fnmatch
# gin-config 0.5 resolves includes through importlib.util without importing it; an editable
# install's finder happens to import it, a wheel install does not (AttributeError on `include`).
import importlib.util  # noqa: F401
import logging
import re
import threading
from pathlib import Path

from repro.io import ReproError
from repro.paths import gin_dir
from repro.specs import Row

SMOKE_FILE = "smoke.gin"
# Files under gin/ that are not rows.
NON_ROW_DIRS = ("base",)
NON_ROW_FILES = (SMOKE_FILE,)

_lock = threading.Lock()  # gin's config is process-global


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
            raise ReproError(f"{_row_path(pat)}: unknown row '{pat}'; {did_you_mean(pat, ids)}"
                             f"`repro list` shows the {len(ids)} rows")
        out += [h for h in hits if h not in out]
    return out


def did_you_mean(name: str, ids, prefixes: bool = True) -> str:
    """"did you mean 'x'? " for the row ids nearest `name` (with `prefixes`, also the id prefixes
    that `expand` accepts, e.g. a table 'slct/t2c'), else ""."""
    import difflib

    names = set(ids)
    if prefixes:
        names |= {"/".join(i.split("/")[:k]) for i in ids for k in range(1, i.count("/") + 1)}
    near = difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.75)
    return f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""


def _row_path(row_id: str) -> Path:
    """The row file, always inside the rows directory: a row file may `import` modules, so an id
    must never reach a gin file elsewhere (`..`, absolute paths, symlinks out)."""
    root = gin_dir()
    parts = row_id.split("/")
    if not row_id or row_id.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in row_id:
        raise ReproError(f"row '{row_id}': a row id is a relative path under {root} without '..', e.g. "
                         f"slct/t2c/cauchy; `repro list` shows the rows")
    path = root / f"{row_id}.gin"
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except OSError:
        inside = False
    if not inside:
        raise ReproError(f"{path}: resolves outside the rows directory {root}; refused")
    return path


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
        from repro.rows.configurables import SPEC_CLASSES
        known = ", ".join(c.__name__ for c in SPEC_CLASSES) + ", recipe"
        msg += f" — known configurables: {known}"
    elif "doesn't have a parameter named" in msg:
        msg += " — `repro show ROW` lists the parameters in use; see repro/specs.py for all of them"
    elif msg.startswith("Unable to open file"):
        msg = msg.split(" Searched")[0] + f" (includes are relative to {gin_dir()})"
    elif unbound := re.match(r"(\w+Spec)\.__init__\(\) missing \d+ required \w* ?arguments?: (.*)", msg):
        names = [f"{unbound.group(1)}.{n}" for n in re.findall(r"'(\w+)'", unbound.group(2))]
        one = len(names) == 1
        msg = (f"{', '.join(names)} {'is' if one else 'are'} not bound and {'has' if one else 'have'} no "
               f"default (each paper chooses {'it' if one else 'them'}); bind {'it' if one else 'them'} "
               f"in the row's base file (repro/specs.py lists the fields)")
    elif "Required bindings" in text or "REQUIRED" in text:
        msg = text.replace("\n", " ").strip()
        msg = re.sub(r"\s+", " ", msg)[:300] + " — bind it in the row file"
    return f"{where}: {msg}"


def load_row(row_id: str, overrides=(), smoke: bool = False, with_config: bool = True) -> Row:
    """Parse gin/<row_id>.gin (+ gin/smoke.gin if smoke, + override bindings) into a Row.

    with_config=False leaves Row.operative_config empty: rendering it is half the parse time,
    and `repro list` never shows it."""
    import gin

    import repro.rows.configurables  # noqa: F401  (registers the configurables)

    row_file = _row_path(row_id)
    if not row_file.is_file():
        raise ReproError(f"{row_file}: no such row file; "
                         f"{did_you_mean(row_id, all_row_ids(), prefixes=False)}`repro list` shows the rows")
    files = [str(row_file)] + ([str(gin_dir() / SMOKE_FILE)] if smoke else [])
    with _lock:
        gin.clear_config()
        # gin logs every failed search-path probe at ERROR level; the errors that matter are raised.
        logging.disable(logging.ERROR)
        # Includes resolve against the rows directory only: gin also tries the cwd first (a
        # `base/` folder there would be read instead) and keeps every directory ever added.
        prefixes = gin.config._LOCATION_PREFIXES
        saved = list(prefixes)
        prefixes[:] = [str(gin_dir())]
        try:
            gin.parse_config_files_and_bindings(files, list(overrides), finalize_config=False,
                                                skip_unknown=False)
            parts = gin.get_configurable("repro.recipe")()
            operative = gin.operative_config_str() if with_config else ""
        except ReproError:
            raise
        except (ValueError, TypeError, OSError, SyntaxError, KeyError, RuntimeError) as e:
            raise ReproError(_one_line(e, row_file, files, overrides)) from None
        except Exception as e:  # gin's tokenizer raises its own types for malformed files
            raise ReproError(_one_line(e, row_file, files, overrides)) from None
        finally:
            prefixes[:] = saved
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
    # The constant ot_coupling's default is bound to; reading it here keeps torch out of
    # `repro list/show/tables`.
    from repro.core.defaults import OT_SOLVER

    return OT_SOLVER


def _validate(row: Row, row_file: Path) -> None:
    """Every field's type, range and choice, then the cross-field checks; one line for the first
    problem, naming the override that set it when one did, else the row file."""
    from repro.specs import row_problems

    problems = row_problems(row)
    c = row.claim
    if not problems and row.loss.objective == "ct" and (c.nfe != row.eval.nfe or len(row.eval.sigmas) != row.eval.nfe):
        problems.append(("Claim.nfe", f"{c.nfe} but EvalSpec.nfe={row.eval.nfe} with {len(row.eval.sigmas)} "
                                      f"sampler sigmas; make them agree"))
    if not problems:
        return
    binding, what = problems[0]
    where = next((f"override '{o}'" for o in row.overrides if o.split("=")[0].strip().endswith(binding)),
                 str(row_file))
    more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    raise ReproError(f"{where}: {binding} = {what}{more}")
