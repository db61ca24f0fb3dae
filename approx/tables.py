"""Versioned piecewise-polynomial tables (:class:`PiecewisePoly`) and their JSON files.

A table approximates f on the real line by

    f(x) ~ 0                 for x <  b_0
           p_i(x)            for b_i <= x < b_{i+1}      (i = 0 .. m-1, b_m = +inf)

with ``breakpoints = [b_0, ..., b_{m-1}]`` (sorted; ``b_0`` may be ``-inf``, meaning "no zero
region, no comparison") and ``pieces = [p_0, ..., p_{m-1}]``, each a list of float coefficients in
*increasing* degree (``[c0, c1, c2]`` is c0 + c1 x + c2 x^2).

The secure evaluation (and its bit-exact twin :func:`approx.fixed.evaluate_fixed`) computes the
result as  sum_i [x >= b_i] * (p_i(x) - p_{i-1}(x))  with p_{-1} = 0, which needs one comparison
per finite breakpoint.  See :mod:`approx.fixed` for the exact fixed-point order of operations.

JSON file layout (``format = "party-approx-table"``, ``format_version = 1``)::

    {
      "format": "party-approx-table", "format_version": 1,
      "function": "gelu", "version": 1, "model": "minilm-l6",
      "domain": [null, null],              # declared input range (null = unbounded), e.g. exp: [null, 0]
      "breakpoints": [-3.1, 2.9],          # null = -inf
      "pieces": [[c0, c1, c2], [0.0, 1.0]],
      "fixed": {"13": {"breakpoints": [..ints..], "pieces": [[..ints..], ...], "integer_pieces": [...]},
                "18": {...}},              # round(v * 2^frac), checked on load
      "calibration": {...},                # where the inputs came from (model, data, counts, quantiles)
      "errors": {...},                     # fit errors (mean/max abs on calibration data, worst case)
      "fit": {...}                         # fitting parameters (degrees, weights, search grid)
    }

Tables are public parameters of the protocol (both parties load the same file; its hash can go into
the session fingerprint via :meth:`PiecewisePoly.digest`).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

FORMAT = "party-approx-table"
FORMAT_VERSION = 1
TABLES_DIR = Path(__file__).resolve().parent / "tables"

# Frac-bit settings whose fixed-point encodings are written into every table file
# (ell=32/f=13 for non-linear layers, ell=64/f=18 for linear ones; DESIGN.md section 1).
DEFAULT_FRACS = (13, 18)


def _clean(o: Any) -> Any:
    """JSON-safe metadata: numpy scalars to Python, non-finite floats to "inf"/"-inf"/None."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None if math.isnan(o) else ("inf" if o > 0 else "-inf")
    return o


def _is_int(c: float) -> bool:
    return float(c).is_integer()


@dataclass(frozen=True)
class FixedTable:
    """A table encoded for fixed point with ``frac`` fractional bits.

    ``breakpoints[i] = round(b_i * 2^frac)`` (``None`` for -inf), ``pieces[i][k] =
    round(c_ik * 2^frac)`` as Python ints (signed; reduce mod 2^ell at use).  ``integer_pieces[i]``
    is True when every float coefficient of piece i is an integer (e.g. the identity piece ``x``):
    such a piece is evaluated exactly, with the *integer* coefficients ``int_pieces[i]`` and no
    truncation (see :mod:`approx.fixed`).
    """

    frac: int
    breakpoints: tuple[int | None, ...]
    pieces: tuple[tuple[int, ...], ...]
    integer_pieces: tuple[bool, ...]
    int_pieces: tuple[tuple[int, ...] | None, ...]

    @property
    def degree(self) -> int:
        return max(len(p) for p in self.pieces) - 1

    def to_json(self) -> dict[str, Any]:
        return {
            "breakpoints": list(self.breakpoints),
            "pieces": [list(p) for p in self.pieces],
            "integer_pieces": list(self.integer_pieces),
        }


@dataclass
class PiecewisePoly:
    """Piecewise polynomial approximation of one function (see the module docstring)."""

    function: str
    breakpoints: list[float]
    pieces: list[list[float]]
    version: int = 1
    model: str = ""
    domain: tuple[float | None, float | None] = (None, None)
    calibration: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.breakpoints = [float(b) for b in self.breakpoints]
        self.pieces = [[float(c) for c in p] for p in self.pieces]
        if len(self.breakpoints) != len(self.pieces):
            raise ValueError(f"{len(self.breakpoints)} breakpoints for {len(self.pieces)} pieces")
        if not self.pieces:
            raise ValueError("a table needs at least one piece")
        if any(len(p) == 0 for p in self.pieces):
            raise ValueError("empty coefficient list")
        if any(math.isnan(b) or b == math.inf for b in self.breakpoints):
            raise ValueError("breakpoints must be finite or -inf (first only)")
        if any(b == -math.inf for b in self.breakpoints[1:]):
            raise ValueError("only the first breakpoint may be -inf")
        if any(not (a < b) for a, b in zip(self.breakpoints, self.breakpoints[1:])):
            raise ValueError(f"breakpoints must be strictly increasing: {self.breakpoints}")
        if any(not math.isfinite(c) for p in self.pieces for c in p):
            raise ValueError("coefficients must be finite")

    # --- structure -----------------------------------------------------------------------------
    @property
    def degree(self) -> int:
        return max(len(p) for p in self.pieces) - 1

    @property
    def n_comparisons(self) -> int:
        """Secure comparisons per input: one per finite breakpoint."""
        return sum(1 for b in self.breakpoints if b != -math.inf)

    def integer_piece(self, i: int) -> bool:
        return all(_is_int(c) for c in self.pieces[i])

    def describe(self) -> str:
        parts = []
        for b, p in zip(self.breakpoints, self.pieces):
            kind = ("int" if all(_is_int(c) for c in p) else "deg") + str(len(p) - 1)
            parts.append(f"[{b:+.3f}: {kind}]")
        return f"{self.function} v{self.version}: 0 " + " ".join(parts)

    # --- evaluation ----------------------------------------------------------------------------
    def piece_index(self, x) -> np.ndarray:
        """Index of the piece that covers each x (-1 for the zero region below b_0)."""
        return np.searchsorted(np.asarray(self.breakpoints), np.asarray(x, dtype=np.float64), side="right") - 1

    def evaluate_float(self, x) -> np.ndarray:
        """Exact real-valued evaluation (float64)."""
        x = np.asarray(x, dtype=np.float64)
        idx = self.piece_index(x)
        out = np.zeros_like(x)
        for i, p in enumerate(self.pieces):  # a handful of pieces, each on a whole array
            m = idx == i
            if np.any(m):
                out[m] = np.polynomial.polynomial.polyval(x[m], p)
        return out

    def evaluate_fixed(self, x_ring, ell: int, frac: int, trunc: str | None = None, **kw) -> np.ndarray:
        """Bit-exact plaintext twin of the secure evaluation; see :func:`approx.fixed.evaluate_fixed`."""
        from .fixed import evaluate_fixed

        return evaluate_fixed(self, x_ring, ell, frac, trunc=trunc, **kw)

    # --- fixed point -----------------------------------------------------------------------------
    def fixed(self, frac: int) -> FixedTable:
        """Integer encodings at ``frac`` fractional bits: round(v * 2^frac) (round half to even)."""
        scale = float(1 << frac)
        bps = tuple(None if b == -math.inf else int(np.rint(b * scale)) for b in self.breakpoints)
        pcs = tuple(tuple(int(np.rint(c * scale)) for c in p) for p in self.pieces)
        ints = tuple(self.integer_piece(i) for i in range(len(self.pieces)))
        ipcs = tuple(tuple(int(c) for c in p) if ok else None for p, ok in zip(self.pieces, ints))
        return FixedTable(frac, bps, pcs, ints, ipcs)

    # --- files ---------------------------------------------------------------------------------
    def to_json(self, fracs: Sequence[int] = DEFAULT_FRACS) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "function": self.function,
            "version": self.version,
            "model": self.model,
            "domain": [None if d is None else float(d) for d in self.domain],
            "breakpoints": [None if b == -math.inf else b for b in self.breakpoints],
            "pieces": self.pieces,
            "fixed": {str(f): self.fixed(f).to_json() for f in fracs},
            "calibration": _clean(self.calibration),
            "errors": _clean(self.errors),
            "fit": _clean(self.fit),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "PiecewisePoly":
        if d.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file (format={d.get('format')!r})")
        if int(d.get("format_version", -1)) != FORMAT_VERSION:
            raise ValueError(f"unsupported table format_version {d.get('format_version')}")
        bps = [-math.inf if b is None else float(b) for b in d["breakpoints"]]
        dom = d.get("domain") or [None, None]
        t = cls(
            function=str(d["function"]),
            breakpoints=bps,
            pieces=[[float(c) for c in p] for p in d["pieces"]],
            version=int(d.get("version", 1)),
            model=str(d.get("model", "")),
            domain=(dom[0], dom[1]),
            calibration=dict(d.get("calibration", {})),
            errors=dict(d.get("errors", {})),
            fit=dict(d.get("fit", {})),
        )
        # The stored integer encodings are a convenience for the secure layer; they must agree
        # with the float coefficients or the file was edited by hand.
        for f, enc in (d.get("fixed") or {}).items():
            if t.fixed(int(f)).to_json() != enc:
                raise ValueError(f"fixed-point encoding at frac={f} does not match the float coefficients")
        return t

    def save(self, path: str | Path, fracs: Sequence[int] = DEFAULT_FRACS) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(fracs), indent=1, allow_nan=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "PiecewisePoly":
        return cls.from_json(json.loads(Path(path).read_text()))

    def digest(self) -> str:
        """Hash of what the protocol depends on (breakpoints and coefficients only)."""
        blob = json.dumps({"f": self.function, "b": [None if b == -math.inf else b for b in self.breakpoints],
                           "p": self.pieces}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def table_path(model: str, function: str, version: int | None = None, root: str | Path | None = None) -> Path:
    """``approx/tables/<model>/<function>.v<version>.json``; the newest version if ``version`` is None."""
    base = Path(root) if root is not None else TABLES_DIR
    d = base / model
    if version is not None:
        return d / f"{function}.v{version}.json"
    found = sorted(d.glob(f"{function}.v*.json"), key=lambda p: int(p.name.rsplit(".v", 1)[1].split(".")[0]))
    if not found:
        raise FileNotFoundError(f"no table for {function!r} under {d}")
    return found[-1]


def load_table(model: str, function: str, version: int | None = None, root: str | Path | None = None) -> PiecewisePoly:
    """Load ``approx/tables/<model>/<function>.v<version>.json`` (newest version by default)."""
    return PiecewisePoly.load(table_path(model, function, version, root))


def next_version(model: str, function: str, root: str | Path | None = None) -> int:
    try:
        p = table_path(model, function, None, root)
    except FileNotFoundError:
        return 1
    return int(p.name.rsplit(".v", 1)[1].split(".")[0]) + 1
