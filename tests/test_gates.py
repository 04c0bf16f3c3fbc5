"""rnnlab's gate order (rnnlab.layers.gates.ORDER) and its helpers block and split, which the cells and
the converters slice every fused matrix with."""
import numpy as np
import pytest

from rnnlab.interop._layout import ORDERS
from rnnlab.layers import GRU, LSTM
from rnnlab.layers.gates import ORDER, block, split


@pytest.mark.parametrize("cell", sorted(ORDER))
def test_split_is_every_block_in_order_as_views(cell):
    H = 3
    a = np.arange(2 * len(ORDER[cell]) * H, dtype=float).reshape(2, -1)
    parts = split(a, cell)
    assert len(parts) == len(ORDER[cell])
    for k, (letter, part) in enumerate(zip(ORDER[cell], parts)):
        np.testing.assert_array_equal(part, a[:, k * H:(k + 1) * H])
        np.testing.assert_array_equal(block(a, cell, letter), part)
        assert np.shares_memory(part, a)
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), a)


def test_block_takes_adjacent_gates_along_any_axis_and_writes_through():
    b = np.zeros(12)                                     # an LSTM bias of H = 3: (i, f, o, g)
    block(b, "LSTM", "f")[...] += 1.0
    np.testing.assert_array_equal(b, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    U = np.arange(4 * 9).reshape(4, 9)                   # a GRU's U of H = 3 seen along axis 1, and its transpose
    np.testing.assert_array_equal(block(U, "GRU", "rz"), U[:, :6])
    np.testing.assert_array_equal(block(U.T, "GRU", "n", axis=0), U[:, 6:].T)
    np.testing.assert_array_equal(block(np.arange(6), "peepholes", "o"), [4, 5])
    for bad in ("io", "fi", "", "x"):
        with pytest.raises(ValueError, match=f"{bad!r}.*'ifog'"):
            block(b, "LSTM", bad)


def test_converters_read_the_cells_order():
    assert ORDERS["rnnlab"] is ORDER


def test_forget_bias_lands_on_the_f_block():
    """LSTM(forget_bias=x) equals an LSTM whose b has x added to the block that block(b, "LSTM", "f") names."""
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    biased = LSTM(3, 4, forget_bias=1.5, dtype="float64", seed=1)
    folded = LSTM(3, 4, dtype="float64", seed=1)
    block(folded.params["l0.b"], "LSTM", "f")[...] += 1.5
    np.testing.assert_allclose(biased.forward(x)[0], folded.forward(x)[0], rtol=1e-12, atol=1e-12)
    assert not np.allclose(biased.forward(x)[0], LSTM(3, 4, dtype="float64", seed=1).forward(x)[0])
    assert GRU(3, 4).gates == len(ORDER["GRU"]) and LSTM(3, 4).gates == len(ORDER["LSTM"])
