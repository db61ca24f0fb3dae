"""Other implementations measured on the same machine in the same run (DESIGN.md §8).

* :mod:`bench.peers.spu` — SecretFlow SPU 0.9.5, protocol CHEETAH (``impl = "spu-cheetah"``):
  ``spu_rows(workload, cases, profile, repeat) -> list[dict]``.  SPU runs in its own venv
  (``bash bench/peers/setup_spu.sh``) as two processes (``spu_worker.py``), shaped by
  :mod:`bench.netrelay`.
"""
