"""Tree models: level batching equals the per-node reference, and every gradient passes a
central-difference check (float64, trees of depth >= 4 with leaf and internal children)."""
import numpy as np
import pytest

from rnnlab.optim import SparseGrad
from rnnlab.trees import TreeModel, TreeModelConfig, Vocabulary, encode, make_batch, parse_tree
from rnnlab.trees.batch import BINARY_LABELS
from rnnlab.trees.gradcheck import tree_gradcheck

BINARY_TREES = [
    "(1 (2 (3 a) (4 (0 b) (2 (1 c) (3 d)))) (0 e))",         # depth 4; nodes with a leaf and an internal child
    "(2 (2 (2 (1 a) (2 b)) (3 c)) (4 (1 d) (0 (2 e) (2 (3 f) (1 g)))))",
    "(3 (2 x) (1 y))",
    "(4 good)",                                              # a one-word sentence: a lone leaf
]
NARY_TREES = ["(1 (2 a) (3 b) (4 (1 c) (2 d) (0 e)))",           # three children
              "(3 (2 (1 x) (4 (2 y) (1 (0 q) (2 (3 r) (4 s) (1 t))))))",   # a unary node, depth 5
              "(2 (3 (1 a) (2 b) (3 c) (4 d) (0 e)) (1 (2 f) (3 (2 g) (1 h) (0 i) (4 j) (2 k))))"]   # five children
CELLS = ["recursive", "treelstm", "childsum", "childsum-recursive"]
NONLINEAR = [(cell, "tanh") for cell in CELLS] + [("recursive", "identity"), ("childsum-recursive", "identity")]


def batch_for(cell, label_map=None, vocab_from=2):
    texts = BINARY_TREES + (NARY_TREES if cell in ("childsum", "childsum-recursive") else [])
    trees = [parse_tree(t) for t in texts]
    vocab = Vocabulary.build(trees[:vocab_from])                   # leaves some words unknown
    return make_batch([encode(t, vocab) for t in trees], label_map), len(vocab)


def model_for(cell, V, classes=5, dtype="float64", seed=0, nonlinearity="tanh"):
    model = TreeModel(TreeModelConfig(cell, V, 6, 6, classes, dtype, nonlinearity), seed=seed)
    rng = np.random.default_rng(seed + 7)
    for k, v in model.params.items():                              # non-zero biases, larger weights
        if k != "E":
            model.params[k] = v + 0.3 * rng.standard_normal(v.shape)
    return model


def dense(g, shape):
    return g.dense(shape, np.float64) if isinstance(g, SparseGrad) else g


@pytest.mark.parametrize("cell, nonlinearity", NONLINEAR)
@pytest.mark.parametrize("binary", [False, True])
def test_level_batching_equals_per_node_reference(cell, nonlinearity, binary):
    batch, V = batch_for(cell, BINARY_LABELS if binary else None)
    model = model_for(cell, V, classes=2 if binary else 5, nonlinearity=nonlinearity)
    emb_mask, hid_mask = model.dropout_masks(batch, 0.3, np.random.default_rng(1))
    loss_l, z_l, g_l = model.loss_and_grads(batch, emb_mask, hid_mask, schedule="level")
    loss_n, z_n, g_n = model.loss_and_grads(batch, emb_mask, hid_mask, schedule="node")
    assert loss_l == pytest.approx(loss_n, rel=1e-13)
    np.testing.assert_allclose(z_l, z_n, rtol=1e-12, atol=1e-14)
    assert sorted(g_l) == sorted(g_n) == sorted(model.params)
    for k, p in model.params.items():
        np.testing.assert_allclose(dense(g_l[k], p.shape), dense(g_n[k], p.shape), rtol=1e-11, atol=1e-14,
                                   err_msg=k)
    assert isinstance(g_l["E"], SparseGrad) and set(g_l["E"].rows) <= set(batch.words)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_gradcheck_every_model(cell, dropout):
    batch, V = batch_for(cell)
    assert len(batch.levels) >= 5                                   # depth >= 4
    report = tree_gradcheck(model_for(cell, V), batch, dropout=dropout, eps=1e-5, max_checks=25)
    assert report.worst < 1e-6, report.format()
    assert {r.name for r in report.rows} == {f"param {k}" for k in model_for(cell, V).params}


def test_leaf_and_internal_children_are_both_exercised():
    batch, _ = batch_for("treelstm")
    L, M = batch.num_leaves, batch.num_nodes
    kinds = {(bool(a < L), bool(b < L)) for a, b in batch.children}
    assert {(True, False), (False, True), (True, True), (False, False)} <= kinds
    assert len(batch.levels) - 1 >= 4


@pytest.mark.parametrize("cell", ["recursive", "treelstm"])
def test_binary_cells_reject_other_arities(cell):
    batch, V = batch_for("childsum")
    with pytest.raises(ValueError, match="exactly 2 children"):
        model_for(cell, V).forward(batch)


def test_config_errors_name_the_argument():
    with pytest.raises(ValueError, match="cell"):
        TreeModelConfig("gru", 10).check()
    with pytest.raises(ValueError, match="embed_dim"):
        TreeModel(TreeModelConfig("recursive", 10, embed_dim=8, hidden=6))
    with pytest.raises(ValueError, match="hidden"):
        TreeModelConfig("treelstm", 10, hidden=0).check()
    batch, V = batch_for("treelstm")
    with pytest.raises(ValueError, match="dropout"):
        model_for("treelstm", V).dropout_masks(batch, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="schedule"):
        model_for("treelstm", V).loss_and_grads(batch, schedule="fast")
    with pytest.raises(ValueError, match="label 4 out of range for 2 classes"):
        model_for("childsum", V, classes=2).forward(batch)
    with pytest.raises(ValueError, match="word id"):
        model_for("treelstm", 2).forward(batch)


def test_float32_model_matches_float64():
    batch, V = batch_for("treelstm")
    m64 = model_for("treelstm", V)
    m32 = TreeModel(TreeModelConfig("treelstm", V, 6, 6, 5, "float32"))
    m32.params = {k: v.astype(np.float32) for k, v in m64.params.items()}
    np.testing.assert_allclose(m32.predict(batch), m64.predict(batch), atol=1e-5)
    assert m32.predict(batch).dtype == np.float32
