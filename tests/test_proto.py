"""proto/: generated modules are current; the hand-written Chunk codec matches protobuf."""
import filecmp
from pathlib import Path

import pytest

from party.grpc_channel import decode_chunk, encode_chunk
from proto import party_pb2 as pb

PROTO_DIR = Path(__file__).resolve().parents[1] / "proto"


def test_generated_modules_are_current(tmp_path):
    pytest.importorskip("grpc_tools")
    from proto.generate import generate

    generate(tmp_path)
    for name in ("party_pb2.py", "party_pb2_grpc.py"):
        assert filecmp.cmp(tmp_path / name, PROTO_DIR / name, shallow=False), (
            f"proto/{name} is stale: run `python -m proto.generate`"
        )


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
