"""Fidelity of the real secure run: held-out reviews through `party serve` + client over gRPC + TLS.

    python -m bench.secure_fidelity [--n 30] [--embed 0] [--ot ferret] [--json FILE]

Starts ``party serve --model minilm-l6`` as a separate process with a temporary TLS pair, runs the
first ``n`` sentences of the held-out test split in ONE ``bert-classify`` session (one setup, one
forward pass per sentence), and compares with the float64 plaintext model and with the fixed-point
simulator: prediction agreement, accuracy of each against the labels, max |Δlogit|.  With
``--embed K`` the first K sentences also go through ``bert-embed`` and the cosine similarity of
the secure and plaintext embeddings is reported.  Acceptance (issue 6): agreement ≥ 99 %, accuracy
within 0.5 points, mean cosine ≥ 0.99.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np


def main(argv=None) -> int:
    from party.tuning import configure_numpy

    configure_numpy()
    ap = argparse.ArgumentParser(prog="python -m bench.secure_fidelity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--embed", type=int, default=0)
    ap.add_argument("--ot", default="ferret")
    ap.add_argument("--json")
    a = ap.parse_args(argv)

    from nn.backend import SimBackend
    from nn.data import sentiment_split
    from nn.hf import load_model
    from nn.model import BertEncoder, fixed_weights, load_tables, model_config
    from nn.plain import PlainBert
    from party.client import PartyClient
    from party.commands.demo import start_server, stop_server
    from party.tls import make_self_signed
    from protocols.config import override
    from protocols.ring import Ring

    test = sentiment_split().test
    texts, labels = test.texts[: a.n], np.asarray(test.labels[: a.n])
    m = load_model("minilm-l6")
    plain = PlainBert(m.weights)
    with tempfile.TemporaryDirectory(prefix="party-fid-") as d:
        cert, key = make_self_signed(d)
        proc, port = start_server(["--model", "minilm-l6", "--tls-cert", str(cert), "--tls-key", str(key)])
        try:
            with PartyClient(f"127.0.0.1:{port}", tls_ca=cert.read_bytes()) as c:
                t0 = time.time()
                qr = c.run("bert-classify", texts, model="minilm-l6", params={"ot": a.ot})
                t_cls = time.time() - t0
                emb = None
                if a.embed:
                    qe = c.run("bert-embed", texts[: a.embed], model="minilm-l6", params={"ot": a.ot})
                    emb = [np.array(r["embedding"]) for r in qe.result["results"]]
        finally:
            stop_server(proc)
    mc = model_config()
    rows = []
    with override(ell=mc.ell, frac=mc.frac, ell_nl=mc.ell_nl, frac_nl=mc.frac_nl):
        fw = fixed_weights(m.weights, mc.frac)
        net = BertEncoder(m.config, load_tables())
        R = Ring(mc.ell)
        for i, (t, r) in enumerate(zip(texts, qr.result["results"])):
            enc = m.encode(t)
            ids = enc.input_ids[0, : int(enc.lengths[0])]
            out = plain(ids[None])
            sim = R.decode(net(SimBackend(fw, mc.ell, mc.frac), ids, ids.size), mc.frac)
            got = np.array(r["logits"])
            row = {"tokens": int(ids.size), "plain": int(np.argmax(out.logits[0])), "secure": int(np.argmax(got)),
                   "sim": int(np.argmax(sim)), "dlogit_plain": float(np.abs(got - out.logits[0]).max()),
                   "dlogit_sim": float(np.abs(got - sim).max()), "time_s": r["time_s"]}
            if emb is not None and i < len(emb):
                p = out.pooled[0]
                row["cosine"] = float(emb[i] @ p / np.linalg.norm(emb[i]) / np.linalg.norm(p))
            rows.append(row)
    pl = np.array([r["plain"] for r in rows])
    se = np.array([r["secure"] for r in rows])
    res = {
        "n": len(rows), "agreement": float(np.mean(pl == se)),
        "accuracy_plain": float(np.mean(pl == labels)), "accuracy_secure": float(np.mean(se == labels)),
        "max_dlogit_plain": max(r["dlogit_plain"] for r in rows), "max_dlogit_sim": max(r["dlogit_sim"] for r in rows),
        "mean_tokens": float(np.mean([r["tokens"] for r in rows])),
        "mean_online_s": float(np.mean([r["time_s"] for r in rows])), "session_s": t_cls,
        "setup": qr.result.get("setup"), "layers": qr.result.get("layers"),
        "bytes_c2s": qr.channel.total.bytes_sent, "bytes_s2c": qr.channel.total.bytes_recv,
        "rows": rows,
    }
    if emb is not None:
        cs = [r["cosine"] for r in rows if "cosine" in r]
        res["cosine_mean"], res["cosine_min"] = float(np.mean(cs)), float(np.min(cs))
    print(f"| n | agreement | acc plain | acc secure | max |Δlogit| vs plain | vs simulator | cos mean | mean tokens | mean online s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {res['n']} | {res['agreement']:.1%} | {res['accuracy_plain']:.1%} | {res['accuracy_secure']:.1%} | "
          f"{res['max_dlogit_plain']:.4f} | {res['max_dlogit_sim']:.4f} | {res.get('cosine_mean', float('nan')):.5f} | "
          f"{res['mean_tokens']:.1f} | {res['mean_online_s']:.1f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
