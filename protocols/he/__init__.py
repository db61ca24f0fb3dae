"""Homomorphic linear layers: Nimbus' client-side outer product (COP) on an RLWE engine in numpy,
with the server-side inner-product baseline, shared x shared products and embedding lookup.

Design (DESIGN.md §3; details in each module's docstring):

* :mod:`.params` -- ciphertext modulus Q = 2^ell * P (P: odd primes < 2^21), so the BFV scale is
  exactly P and every product is exact mod 2^ell for any ell in 1..64 (ell = 64 included);
  the fewest primes meeting the worst-case noise + flooding bound; asserted against SEAL's
  ``CoeffModulus.MaxBitCount(N, tc128)``.  Knobs: ``Config.he_n``, ``he_stat_bits``,
  ``he_union_bits``, ``he_max_terms``; the plaintext ring is the caller's ``ell``.
* :mod:`.rlwe` -- keys, seeded secret-key encryption (a from AES-CTR seeds), exact products with
  ternary polynomials (float FFT on balanced digits), the client's multiply-accumulate as float64
  BLAS products per RNS limb, negacyclic packing, re-randomisation, modulus switching,
  flooding, decryption, bit-packed wire format.
* :mod:`.core` -- keys/public keys, ``finish_product`` / ``open_product``, ``matmul_mod``.
* :mod:`.cop` -- ``COPServer`` / ``COPClient`` (setup with a verified, resumable disk cache).
* :mod:`.embedding`, :mod:`.mmul_aa`, :mod:`.baseline`, :mod:`.cache`.
* :mod:`.simd_mul` -- elementwise ``mul_aa`` of shares by batched BFV: our own RNS BFV on the
  compiled negacyclic NTT (:mod:`.ntt`) by default; :mod:`.simd_mul_seal` runs the same protocol
  on SEAL's BFV (tenseal.sealapi), with :mod:`.seal_io` converting SEAL's serialised ciphertexts
  to numpy residues and back.

Public API (one object per party and session; ``mpc`` is a :class:`protocols.context.MPC`, only
``mpc.ch`` and ``mpc.prg`` are used, so ``MPC(ch=ch, ot=None)`` is enough)::

    srv = COPServer(mpc, weights={"qkv": W_qkv, "o": W_o, ...},   # (n_in, M) uint64 mod 2^ell, M <= N
                    biases={"qkv": b_qkv, ...}, ell=None, key=None)  # key: HEKey to reuse across sessions
    cli = COPClient(mpc, ell=None, cache_dir=None, keep_prepared=True)
    srv.setup(); cli.setup()                         # both, same order; streams only missing chunks
    y = srv.mmul_ap("qkv", x_share)                  # (T, n_in) -> (T, M) shares of x @ W + b
    y = cli.mmul_ap("qkv", x_share)                  #   NOT truncated; 1 message client -> server
    e = srv.embed("tok_emb", T); e = cli.embed("tok_emb", token_ids)   # rows of a table, by selection
    z = srv.mmul_aa(a, b); z = cli.mmul_aa(a, b)     # (..., T, n) x (..., n, M) shares, batched heads

Fuse Q/K/V by concatenating their columns into one matrix (M = 2304 <= N = 8192).
"""
from .cop import COPClient, COPServer, model_hash  # noqa: F401
from .core import HEKey, PublicKey, matmul_mod  # noqa: F401
from .params import HEParams, choose_params  # noqa: F401
