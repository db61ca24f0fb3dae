"""Plots of a fit over the histogram of its calibration inputs (matplotlib, Agg backend, small PNGs)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from .functions import reference


def plot_fit(table, samples, path: str | Path, others: Mapping[str, object] | None = None,
             lo: float | None = None, hi: float | None = None, dpi: int = 80) -> Path:
    """Top: f, our table and the ``others`` (anything with ``evaluate_float``) over the input
    histogram; bottom: absolute errors (log scale) with the breakpoints marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = np.asarray(samples, np.float64).reshape(-1)
    fin = [b for b in table.breakpoints if np.isfinite(b)] or [float(np.median(s))]
    lo = min(fin[0] - 1.5, float(np.quantile(s, 0.01))) if lo is None else lo
    hi = max(fin[-1] + 1.5, float(np.quantile(s, 0.99))) if hi is None else hi
    if table.domain[1] is not None:
        hi = min(hi, float(table.domain[1]))
    if table.domain[0] is not None:
        lo = max(lo, float(table.domain[0]))
    f = reference(table.function)
    logx = table.fit.get("spacing") == "log" and lo > 0
    x = np.geomspace(lo, hi, 2000) if logx else np.linspace(lo, hi, 2000)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    axh = ax.twinx()
    sel = s[(s >= lo) & (s <= hi)]
    axh.hist(sel, bins=np.geomspace(lo, hi, 201) if logx else 200, density=True, color="0.85")
    if logx:
        ax2.set_xscale("log")
    axh.set_ylabel("input density")
    ax.set_zorder(axh.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(x, f(x), "k-", lw=1.2, label=table.function)
    ax.plot(x, table.evaluate_float(x), "C0--", lw=1.2, label=f"ours v{table.version}")
    ax2.semilogy(x, np.abs(table.evaluate_float(x) - f(x)) + 1e-12, "C0-", lw=1, label="ours")
    for i, (name, o) in enumerate((others or {}).items()):
        ax.plot(x, o.evaluate_float(x), f"C{i + 1}:", lw=1.2, label=name)
        ax2.semilogy(x, np.abs(o.evaluate_float(x) - f(x)) + 1e-12, f"C{i + 1}-", lw=0.8, alpha=0.8, label=name)
    for b in table.breakpoints:
        if np.isfinite(b):
            ax2.axvline(b, color="C0", lw=0.5, ls=":")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{table.function} ({table.model or 'synthetic'}): {table.fit.get('shape', '')}", fontsize=9)
    ax2.set_ylabel("|error|")
    ax2.set_ylim(1e-6, 1)
    ax2.legend(loc="lower left", fontsize=8)
    ax2.set_xlabel("x")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
