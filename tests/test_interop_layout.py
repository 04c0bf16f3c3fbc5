"""The gate-order table ORDERS and its two helpers, reorder (move blocks between libraries) and block
(take one gate's block), which every converter uses."""
import numpy as np
import pytest

from rnnlab.interop._layout import ORDERS, block, reorder


@pytest.mark.parametrize("library, cell", [(lib, cell) for lib in sorted(ORDERS) for cell in ORDERS[lib]])
def test_each_gate_keeps_its_block_across_libraries(library, cell):
    H, rows = 3, 2
    a = np.random.default_rng(0).standard_normal((rows, len(ORDERS["rnnlab"][cell]) * H))
    theirs = reorder(a, cell, "rnnlab", library, 1)
    assert theirs.flags.c_contiguous and theirs.shape == a.shape
    for gate in ORDERS["rnnlab"][cell]:
        np.testing.assert_array_equal(block(theirs, library, cell, gate, 1), block(a, "rnnlab", cell, gate, 1))
    np.testing.assert_array_equal(reorder(theirs, cell, library, "rnnlab", 1), a)


def test_block_is_a_view_and_adjacent_letters_only():
    b = np.arange(12.0)                                  # an LSTM bias of H = 3 in rnnlab's (i, f, o, g)
    block(b, "rnnlab", "LSTM", "f")[...] += 100.0
    np.testing.assert_array_equal(b[3:6], [103.0, 104.0, 105.0])
    np.testing.assert_array_equal(block(np.arange(9), "torch", "GRU", "rz"), np.arange(6))
    np.testing.assert_array_equal(block(np.arange(9), "keras", "GRU", "n"), [6, 7, 8])
    with pytest.raises(ValueError, match="'io'.*'ifog'"):
        block(b, "rnnlab", "LSTM", "io")
