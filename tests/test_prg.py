import numpy as np
import pytest

from protocols.prg import PRG, keystream_blocks


def test_keystream_blocks_are_the_prg_stream():
    """Random access equals the sequential stream (block j = AES(j)), including block 0, repeats
    and blocks past a 1 MiB chunk boundary of the sequential writer."""
    seed = bytes(range(16))
    stream = PRG(seed).bytes_into(np.empty((70000, 2), dtype=np.uint64))
    idx = np.array([0, 1, 65535, 65536, 69999, 5, 5])
    assert np.array_equal(keystream_blocks(seed, idx), stream[idx])
    assert keystream_blocks(seed, np.zeros(0, np.uint64)).shape == (0, 2)
    with pytest.raises(ValueError):
        keystream_blocks(b"short", idx)
