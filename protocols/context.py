"""Per-session protocol context: the channel, the OT engine and this party's private randomness.

Every 2PC kernel takes an :class:`MPC` as its first argument::

    mpc = MPC.setup(ch)            # both parties, same arguments; runs COT setup both ways
    z = mul_aa(mpc, x, y, ell=32)  # arithmetic shares in, arithmetic shares out

``ot_kind`` defaults to primal-LPN silent OT (``ferret``: fastest per COT in steady state);
``silent`` (dual-LPN, protocols/ot/silent.py) needs ~8.6× fewer bytes for a fresh 10^6-COT batch
(0.95 vs 8.2 bit/COT with bootstrap) at ~0.7× Ferret's CPU rate; ``iknp`` is the
bootstrap/baseline engine and
``insecure-dealer`` is for unit tests only (no security).
"""
from __future__ import annotations

import time

from dataclasses import dataclass, field

from .channel import Channel
from .config import Config, get_config
from .ot.cot import OTPair, make_cot
from .prg import PRG, common_prg


@dataclass
class MPC:
    ch: Channel
    ot: OTPair
    prg: PRG = field(default_factory=PRG)  # private randomness of this party
    shared_prg: PRG | None = None  # common to both parties (public coins)
    ot_kind: str = "ferret"

    @property
    def party(self) -> int:
        return self.ch.party

    @property
    def config(self) -> Config:
        return get_config()

    @classmethod
    def setup(cls, ch: Channel, ot_kind: str = "ferret") -> "MPC":
        with ch.scope("ot_setup"):
            ot = make_cot(ch, ot_kind)
            shared = common_prg(ch)
        return cls(ch=ch, ot=ot, shared_prg=shared, ot_kind=ot_kind)

    def warm_up_ot(self) -> float:
        """Both parties: run the COT engine's one-time bootstrap in both directions now (silent
        engines otherwise bootstrap lazily inside the first kernel that draws COTs), so that a
        session can prepare while idle and a benchmark can time kernels without it.  Draws one
        COT per direction, in the order of ``make_cot`` (party 0 sends first).  Returns the
        seconds it took (the benches report them as ``ot_warmup_s``)."""
        t0 = time.perf_counter()
        with self.ch.scope("ot_setup"):
            if self.party == 0:
                self.ot.sender.get(1)
                self.ot.receiver.get(1)
            else:
                self.ot.receiver.get(1)
                self.ot.sender.get(1)
        return time.perf_counter() - t0
