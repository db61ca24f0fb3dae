"""proto/: generated modules are current; the hand-written Chunk codec matches protobuf."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from party.grpc_channel import decode_chunk, encode_chunk
from proto import party_pb2 as pb

PROTO_DIR = Path(__file__).resolve().parents[1] / "proto"


def _normalized(path: Path) -> str:
    """The module text without the generator's version stamps (a newer grpcio-tools changes only
    those lines; any change of the .proto changes the rest)."""
    text = path.read_text()
    text = re.sub(r"# Protobuf Python Version: .*", "", text)
    text = re.sub(r"ValidateProtobufRuntimeVersion\([^)]*\)", "", text)
    text = re.sub(r"GRPC_GENERATED_VERSION = .*", "", text)
    return text


def _generate(out):
    """Run the generator in a subprocess: grpc_tools' bundled libprotobuf must not be loaded into
    the test process (importing tenseal after grpc_tools.protoc aborts the interpreter)."""
    pytest.importorskip("grpc_tools")
    subprocess.run([sys.executable, "-m", "proto.generate", "--out", str(out)], check=True, capture_output=True, timeout=120)


def test_generated_modules_are_current(tmp_path):
    _generate(tmp_path)
    for name in ("party_pb2.py", "party_pb2_grpc.py"):
        assert _normalized(tmp_path / name) == _normalized(PROTO_DIR / name), (
            f"proto/{name} is stale: run `python -m proto.generate`"
        )


def test_stale_module_is_detected(tmp_path):
    _generate(tmp_path)
    stale = tmp_path / "stale.py"
    stale.write_text((PROTO_DIR / "party_pb2.py").read_text().replace("total_size", "total_sizf"))
    assert _normalized(stale) != _normalized(tmp_path / "party_pb2.py")


@pytest.mark.parametrize(
    "fid,idx,last,total,data",
    [(0, 0, True, 5, b"hello"), (7, 3, False, 1 << 33, b"x" * 1000), (1, 0, False, 0, b""), (2**63, 2**31, True, 1, b"\0")],
)
def test_chunk_codec_matches_protobuf(fid, idx, last, total, data):
    ref = pb.Chunk(frame_id=fid, index=idx, last=last, total_size=total, data=data).SerializeToString()
    mine = encode_chunk(fid, idx, last, total, [data[:3], memoryview(data)[3:]])
    assert mine == ref
    c = decode_chunk(ref)
    assert c.error is None
    assert (c.frame_id, c.index, c.last, c.total_size, bytes(c.data)) == (fid, idx, last, total, data)
    back = pb.Chunk.FromString(mine)
    assert (back.frame_id, back.index, back.last, back.total_size, back.data) == (fid, idx, last, total, data)


def test_decode_skips_unknown_fields_and_reports_garbage():
    raw = pb.Chunk(frame_id=3, data=b"ab").SerializeToString() + b"\x32\x02zz" + b"\x3d\x00\x00\x00\x00"
    c = decode_chunk(raw)
    assert c.error is None and c.frame_id == 3 and bytes(c.data) == b"ab"
    for bad in (b"\xff\xff\xff", b"\x2a\x10abc", b"\x0f", b"\x08"):
        assert decode_chunk(bad).error is not None, bad
    assert "malformed chunk" in decode_chunk(b"\x2a\x10abc").error
