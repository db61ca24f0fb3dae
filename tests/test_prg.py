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


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 1000, (1 << 20) - 3, 1 << 20, (1 << 20) + 7, 3 << 20])
def test_bytes_into_is_aes_ctr(n):
    """The PRG writes AES-128-CTR keystream (counter from 0) straight into the output, any length
    (the tail within 15 bytes of the end goes through a bounce buffer), and continues the stream
    across calls."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    seed = bytes(range(16, 32))
    ref = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor().update(bytes(n + 10))
    g = PRG(seed)
    head = g.bytes_into(np.empty(10, np.uint8)).tobytes()
    assert head + g.bytes_into(np.empty(n, np.uint8)).tobytes() == ref
