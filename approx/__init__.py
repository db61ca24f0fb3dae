"""Distribution-aware polynomial approximations of GELU and exp (DESIGN.md section 4), plain numpy.

For the secure layer (``nn``/``protocols``)
-------------------------------------------
Load a table::

    from approx import load_table
    gelu_t = load_table("minilm-l6", "gelu")      # newest approx/tables/minilm-l6/gelu.v<N>.json
    exp_t  = load_table("minilm-l6", "exp")       # for x <= 0 (after max subtraction)

A :class:`PiecewisePoly` ``t`` has

* ``t.breakpoints`` — sorted floats b_0 < ... < b_{m-1} (b_0 may be ``-inf``: no zero region);
* ``t.pieces`` — m coefficient lists in *increasing* degree (float); piece i covers [b_i, b_{i+1});
  below b_0 the value is 0;
* ``t.fixed(frac)`` -> :class:`FixedTable` with integer ``breakpoints`` / ``pieces``
  (round(v 2^frac)), ``integer_pieces`` flags and exact ``int_pieces`` for pieces whose
  coefficients are integers (the identity piece ``x``);
* ``t.evaluate_float(x)`` and ``t.evaluate_fixed(x_ring, ell, frac, trunc="floor"|"prob")`` twins.

The secure evaluation must follow :func:`approx.fixed.evaluate_fixed` step by step (its docstring is
the specification): powers X_k = trunc_f(X_{k-1} X) shared by all pieces; per non-integer piece one
public-coefficient combination sum_{k>=1} C_k X_k and ONE truncation, then + C_0; integer pieces
exact; selection result = sum_i [X >= B_i] (T_i - T_{i-1}) with T_{-1} = 0.  Cost per element:
one comparison + one multiplexer per finite breakpoint, D-1 products + truncations for the powers
(D = highest degree), one truncation per non-integer piece (:func:`approx.fit.secure_cost`).
Every piece of a committed table is checked to run at ell=32, f=13 without overflow for inputs in
its own interval (:func:`approx.fit.piece_fits_ring`); outside it, overflowed powers cancel in the
telescoping sum.

Baselines (:mod:`approx.baselines`): :func:`bumblebee_gelu` (a ``PiecewisePoly``) and
:class:`ExpSquaring` ((1 + x/2^n)^(2^n), n = ``get_config().exp_squarings``) with the same
``evaluate_float`` / ``evaluate_fixed`` interface.

softmax's exp in the secure model is by default not a polynomial but :class:`ExpLookup`
(:mod:`approx.exp_lookup`): one lookup on the coarse part and the chooser's low factor, exact up
to rounding; the fitted exp table stays available (config ``softmax_exp="fitted"``).

Making tables: ``party calibrate --model minilm-l6`` (see :mod:`approx.calibrate`), which records
the inputs with ``nn.plain.Recorder`` and fits them with :mod:`approx.fit`.  Accuracy side by side:
``python -m bench.approx_accuracy``.

Import rule: nothing in ``approx`` imports ``nn`` or ``protocols`` at module level (``approx`` sits
below ``nn``); ``protocols.config`` is read lazily inside functions for defaults (truncation mode,
exp squarings).  The one exception allowed by the design, ``approx.calibrate`` importing ``nn``, is
not needed: the recording glue lives in ``party/commands/calibrate.py`` and ``approx.calibrate``
consumes a plain ``{"kind/layer/site": array}`` dict.
"""
from .baselines import ExpSquaring, bumblebee_gelu
from .exp_lookup import ExpLookup
from .fixed import decode, encode, evaluate_fixed, evaluate_fixed_real
from .tables import FixedTable, PiecewisePoly, load_table, table_path

__all__ = ["PiecewisePoly", "FixedTable", "load_table", "table_path", "evaluate_fixed", "evaluate_fixed_real",
           "encode", "decode", "bumblebee_gelu", "ExpSquaring", "ExpLookup"]
