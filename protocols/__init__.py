"""2PC building blocks of party: ring/fixed point, PRG, channel, OT, arithmetic kernels, HE.

Conventions every kernel follows
--------------------------------
* **Context first.**  Every 2PC kernel takes an :class:`protocols.context.MPC` (channel + COT pair
  + private PRG + shared PRG) as its first argument: ``z = mul_aa(mpc, x, y, ell=32)``.
* **Lock-step.**  Both parties call the same kernels in the same order with the same shapes and
  public arguments; the role of each party inside a kernel is decided by ``mpc.party``
  (0 = server, 1 = client).  COTs are always drawn direction 0→1 first, then 1→0.
* **Arithmetic shares**: ``uint64`` arrays reduced mod 2^ell, x = x0 + x1 mod 2^ell, signed values
  in two's complement.  ``ell`` is an explicit keyword argument defaulting to
  ``get_config().ell``; fixed-point fraction bits (``frac`` / ``f``) likewise default to the config
  (``frac``, or ``frac_nl`` when ``ell == ell_nl``; see :func:`protocols.fixed.ring_defaults`).
* **Boolean shares of single bits**: ``uint8`` arrays in {0, 1}, b = b0 ⊕ b1.
* **Wire format**: all messages of one kernel invocation are batched into as few rounds as the
  protocol allows (most kernels here: one simultaneous exchange per ``ot_batch`` COTs); bits are
  packed with ``np.packbits``; ring elements with ``Ring.pack`` or, for short corrections,
  bit-exactly with :func:`protocols.ot.extensions.pack_fields`.
* **Costs**: each kernel's docstring states inputs, outputs, rounds and traffic; the ``*_cost``
  function next to it returns the exact payload bytes a party sends, and the tests assert the
  measured channel bytes equal it.  Each kernel also has a plaintext twin (``*_ideal``).
* **Randomness**: shares, masks and keys come from :class:`protocols.prg.PRG` / ``secrets``,
  never numpy's RNG.

Arithmetic kernels (per element; "bits" = both directions together)
-------------------------------------------------------------------
==========================  =======================  ===============================  ==========
kernel                      module                   traffic                          rounds
==========================  =======================  ===============================  ==========
``mul_aa``                  :mod:`protocols.mul`     2·(ell + ell(ell+1)/2) bits      1
``mul_aa(bound=b)``         :mod:`protocols.mul`     2·(k + Σ_{i<k}(ell−i) + 2(1+ell−k))  1
``square_a``                :mod:`protocols.mul`     (ell−1)(ell+2)/2 bits            1
``square_a(bound=b)``       :mod:`protocols.mul`     k + Σ_{i<k}(ell−1−i) + 2(ell−k)  1
``mul_ap``                  :mod:`protocols.mul`     0                                0
``trunc_a`` faithful        :mod:`protocols.trunc`   1 + f bits (|x| < 2^(ell−2))     1
``trunc_a`` unbounded       :mod:`protocols.trunc`   wrap cmp (ell bits) + f bits     cmp + 1
``trunc_a`` exact           :mod:`protocols.trunc`   + cmp on f bits + ell bits       + cmp
``trunc_a`` probabilistic   :mod:`protocols.trunc`   0                                0
``b2a``                     :mod:`protocols.convert` ell bits (1 COT)                 1
``ring_up``                 :mod:`protocols.convert` 1 + ell_to − ell_from bits       1
``ring_down``               :mod:`protocols.convert` 0                                0
``select`` / ``mul_ba``     :mod:`protocols.select`  2(ell + 1) bits (2 COTs)         1
``reciprocal_a``            :mod:`protocols.newton`  K cmp + K b2a + (2 + 2·it) mul   ~22 (64b)
``rsqrt_a``                 :mod:`protocols.newton`  K cmp + K b2a + (2 + 3·it) mul   ~22 (64b)
``reciprocal_gs_a``         :mod:`protocols.goldschmidt`  J cmp + J mul_ba (2 values) + 3 mul  cmp + 4
``rsqrt_gs_a`` (clamped)    :mod:`protocols.goldschmidt`  32 cmp + 32 mul_ba (5 values) + 3 mul + 2 trunc  cmp + 6
``lut_ab`` / ``lut_ge_ab``  :mod:`protocols.lut`     m + 2^m·nbits bits (1-of-2^m OT)  1 (+ cmp)
``lut_ge_aa``               :mod:`protocols.lut`     m + 2^m·(w + 1) bits + cmp digits   cmp
``exp_lut_a``               :mod:`protocols.exp_lut` lut_ge_aa + q COTs of ≤ K bits + mux  cmp + 1
==========================  =======================  ===============================  ==========

(ell = 64: mul_aa 536 B, + trunc (f = 18) 538.4 B; with |x|, |y| < 2^31 (k = 33) 420.25 B, + trunc
422.6 B; ell = 32: 140 B, + trunc (f = 13) 141.75 B.
"bits" = both directions together; COTs from the OT engine are extra: ~0 with Ferret, 16 B each
with IKNP.  Exact per-party figures: the ``*_cost`` functions, asserted by the tests.)
"""
