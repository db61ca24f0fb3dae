"""Regenerate ``party_pb2.py`` and ``party_pb2_grpc.py`` from ``party.proto`` with grpc_tools.

Usage: ``python -m proto.generate [--out DIR]`` (default: this package's directory).
The generated modules are committed; ``tests/test_proto.py`` regenerates into a temporary
directory and fails if the committed files differ (run this after editing the .proto).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = HERE / "party.proto"


def generate(out_dir: str | Path = HERE) -> list[Path]:
    """Write the two modules into ``out_dir``; returns their paths."""
    from grpc_tools import protoc
    import grpc_tools

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    include = Path(grpc_tools.__file__).resolve().parent / "_proto"
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{HERE}",
            f"-I{include}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            str(PROTO),
        ]
    )
    if rc != 0:
        raise RuntimeError(f"protoc failed with exit code {rc}")
    grpc_mod = out_dir / "party_pb2_grpc.py"
    # protoc emits "import party_pb2"; make it a package-relative import so `proto` is a package.
    text = grpc_mod.read_text()
    text = re.sub(r"^import party_pb2 as party__pb2$", "from . import party_pb2 as party__pb2", text, flags=re.M)
    grpc_mod.write_text(text)
    return [out_dir / "party_pb2.py", grpc_mod]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m proto.generate", description=__doc__)
    ap.add_argument("--out", default=str(HERE), help="output directory (default: the proto package)")
    args = ap.parse_args(argv)
    for p in generate(args.out):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
