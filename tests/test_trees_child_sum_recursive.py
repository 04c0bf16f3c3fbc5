"""The Child-Sum recursive NN and the recursive NNs' identity nonlinearity: central-difference checks
of the cells (nodes with 1, 2, 3 and 5 children) and of whole models in float64, a broken backward
caught, agreement with PyTorch autograd, level batching equal to the per-node reference, training,
saving and loading, and the command line."""
import json

import numpy as np
import pytest

from conftest import require_torch
from rnnlab.cli import main
from rnnlab.optim import SparseGrad
from rnnlab.trees import TreeModel, TreeModelConfig, Vocabulary, encode, make_batch, parse_tree
from rnnlab.trees import child_sum_recursive, recursive
from rnnlab.trees.gradcheck import tree_gradcheck
from rnnlab.trees.saving import load_model, save_model

BINARY_TREES = [
    "(1 (2 (3 a) (4 (0 b) (2 (1 c) (3 d)))) (0 e))",         # depth 4; leaf and internal children mixed
    "(2 (2 (2 (1 a) (2 b)) (3 c)) (4 (1 d) (0 (2 e) (2 (3 f) (1 g)))))",
    "(3 (2 x) (1 y))",
    "(4 good)",                                              # a lone leaf
]
NARY_TREES = [
    "(1 (2 a) (3 b) (4 (1 c) (2 d) (0 e)))",                                 # three children
    "(3 (2 (1 x) (4 (2 y) (1 (0 q) (2 (3 r) (4 s) (1 t))))))",                # a unary node, depth 5
    "(2 (3 (1 a) (2 b) (3 c) (4 d) (0 e)) (1 (2 f) (3 (2 g) (1 h) (0 i) (4 j) (2 k))))",   # five children
]
VARIANTS = [("childsum-recursive", "tanh"), ("childsum-recursive", "identity"), ("recursive", "identity")]


def texts_for(cell):
    return BINARY_TREES + (NARY_TREES if cell == "childsum-recursive" else [])


def batch_for(cell, label_map=None):
    trees = [parse_tree(t) for t in texts_for(cell)]
    vocab = Vocabulary.build(trees[:2])                              # leaves some words unknown
    return make_batch([encode(t, vocab) for t in trees], label_map), len(vocab), trees, vocab


def model_for(cell, nonlinearity, V, classes=5, H=6, seed=0):
    model = TreeModel(TreeModelConfig(cell, V, H, H, classes, "float64", nonlinearity), seed=seed)
    rng = np.random.default_rng(seed + 7)
    for k, v in model.params.items():                                # non-zero biases, larger weights
        if k != "E":
            model.params[k] = v + 0.3 * rng.standard_normal(v.shape)
    model.params["E"] = model.params["E"] * 5                        # leaves of size ~0.5, tanh not linear
    return model


def dense(g, shape):
    return g.dense(shape, np.float64) if isinstance(g, SparseGrad) else g


# ---- the cells alone ------------------------------------------------------------------------------

def cell_gradcheck(module, K, nonlinearity, eps=1e-6, seed=0):
    """Worst relative error of node_backward against central differences of L = sum(h * P) over the
    children's h and every parameter, for 3 nodes of K children (H = 4)."""
    rng = np.random.default_rng(seed)
    H, N = 4, 3
    p = module.init_params(H, H, rng, np.float64)
    p = {k: v + 0.5 * rng.standard_normal(v.shape) for k, v in p.items()}
    hk = rng.standard_normal((N, K, H))
    P = rng.standard_normal((N, H))

    def loss():
        (h,), _ = module.node_forward((hk,), p, nonlinearity)
        return float(np.sum(h * P))

    _, cache = module.node_forward((hk,), p, nonlinearity)
    (dhk,), grads = module.node_backward((P,), cache)
    worst = 0.0
    for name, array, analytic in [("kids", hk, dhk)] + [(k, p[k], grads[k]) for k in p]:
        numeric = np.zeros_like(array)
        for j in range(array.size):
            old = array.flat[j]
            array.flat[j] = old + eps
            up = loss()
            array.flat[j] = old - eps
            down = loss()
            array.flat[j] = old
            numeric.flat[j] = (up - down) / (2 * eps)
        err = np.abs(analytic - numeric).max() / max(np.abs(numeric).max(), 1e-8)
        worst = max(worst, err)
    return worst


@pytest.mark.parametrize("nonlinearity", ["tanh", "identity"])
@pytest.mark.parametrize("K", [1, 2, 3, 5])
def test_child_sum_cell_gradcheck(K, nonlinearity):
    assert cell_gradcheck(child_sum_recursive, K, nonlinearity) < 1e-7


@pytest.mark.parametrize("nonlinearity", ["tanh", "identity"])
def test_binary_recursive_cell_gradcheck(nonlinearity):
    assert cell_gradcheck(recursive, 2, nonlinearity) < 1e-7


def test_leaf_is_the_word_vector_and_passes_its_gradient():
    x = np.random.default_rng(0).standard_normal((3, 4))
    (h,), cache = child_sum_recursive.leaf_forward(x, {})
    np.testing.assert_array_equal(h, x)
    dx, grads = child_sum_recursive.leaf_backward((2 * x,), cache)
    np.testing.assert_array_equal(dx, 2 * x)
    assert grads == {}


def test_child_sum_equations_by_hand():
    """h = phi((sum_k h_k) U + b), and with two children the binary recursive NN with W = [U; U]."""
    rng = np.random.default_rng(3)
    H = 4
    p = {"U": rng.standard_normal((H, H)), "b": rng.standard_normal(H)}
    kids = rng.standard_normal((2, 3, H))
    for phi, f in (("tanh", np.tanh), ("identity", lambda a: a)):
        (h,), _ = child_sum_recursive.node_forward((kids,), p, phi)
        np.testing.assert_allclose(h, f(kids.sum(axis=1) @ p["U"] + p["b"]), rtol=1e-14)
        two = kids[:, :2]
        (h2,), _ = child_sum_recursive.node_forward((two,), p, phi)
        (hb,), _ = recursive.node_forward((two,), {"W": np.concatenate([p["U"], p["U"]]), "b": p["b"]}, phi)
        np.testing.assert_allclose(h2, hb, rtol=1e-13)
    (h_id,), _ = recursive.node_forward((two,), {"W": np.concatenate([p["U"], p["U"]]), "b": p["b"]}, "identity")
    assert np.abs(h_id).max() > 1.5                                   # not squashed: identity is not tanh


# ---- whole models --------------------------------------------------------------------------------

@pytest.mark.parametrize("cell, nonlinearity", VARIANTS)
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_model_gradcheck(cell, nonlinearity, dropout):
    batch, V, _, _ = batch_for(cell)
    assert len(batch.levels) >= 5                                     # depth >= 4
    model = model_for(cell, nonlinearity, V)
    report = tree_gradcheck(model, batch, dropout=dropout, eps=1e-5, max_checks=30)
    assert report.worst < 1e-6, report.format()
    assert {r.name for r in report.rows} == {f"param {k}" for k in model.params}


def test_nary_batch_has_nodes_of_1_2_3_and_5_children():
    batch, _, _, _ = batch_for("childsum-recursive")
    counts = set((batch.children < batch.num_nodes).sum(axis=1).tolist())
    assert {1, 2, 3, 5} <= counts


CHILD_SUM_BACKWARD, RECURSIVE_BACKWARD = child_sum_recursive.node_backward, recursive.node_backward


def _broken_tanh_derivative(dstates, cache):
    """The backward with phi' dropped (identity's derivative where tanh ran)."""
    return CHILD_SUM_BACKWARD(dstates, cache._replace(nonlinearity="identity"))


def _first_child_only(dstates, cache):
    """The backward that sends h~'s gradient to the first child only."""
    (dhk,), grads = CHILD_SUM_BACKWARD(dstates, cache)
    dhk = dhk.copy()
    dhk[:, 1:] = 0
    return (dhk,), grads


def _identity_with_tanh_derivative(dstates, cache):
    """The binary recursive NN's backward with tanh' where identity ran."""
    return RECURSIVE_BACKWARD(dstates, cache._replace(nonlinearity="tanh"))


@pytest.mark.parametrize("cell, nonlinearity, broken", [
    ("childsum-recursive", "tanh", _broken_tanh_derivative),
    ("childsum-recursive", "identity", _first_child_only),
    ("recursive", "identity", _identity_with_tanh_derivative)])
def test_broken_backward_fails(cell, nonlinearity, broken, monkeypatch):
    module = child_sum_recursive if cell == "childsum-recursive" else recursive
    batch, V, _, _ = batch_for(cell)
    model = model_for(cell, nonlinearity, V)
    assert tree_gradcheck(model, batch, eps=1e-5).worst < 1e-6
    monkeypatch.setattr(module, "node_backward", broken)       # the gradcheck's float64 copy builds its cell anew
    report = tree_gradcheck(model, batch, eps=1e-5)
    assert report.worst > 1e-3, report.format()


# level batching against the per-node reference: tests/test_trees_models.py (both nonlinearities)


def torch_reference(torch, cell, nonlinearity, params, trees, vocab, B):
    """Loss and logits of the trees, written directly with torch ops: h = x at leaves, h = phi(a) with
    a = (sum_k h_k) U + b (Child-Sum) or [h_1; h_2] W + b (binary); z = h Ws + bs at every node; the
    cross-entropy summed over nodes, divided by the number of trees."""
    phi = torch.tanh if nonlinearity == "tanh" else (lambda a: a)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    zs, ys = [], []

    def node(tree):
        if tree.is_leaf:
            h = t["E"][vocab.id(tree.word)]
        else:
            kids = [node(c) for c in tree.children]
            if cell == "childsum-recursive":
                h = phi(torch.stack(kids).sum(0) @ t["U"] + t["b"])
            else:
                h = phi(torch.cat(kids) @ t["W"] + t["b"])
        zs.append(h @ t["Ws"] + t["bs"])
        ys.append(tree.label)
        return h

    for tree in trees:
        node(tree)
    z = torch.stack(zs)
    loss = torch.nn.functional.cross_entropy(z, torch.tensor(ys), reduction="sum") / B
    loss.backward()
    return float(loss.detach()), z.detach().numpy(), {k: v.grad.numpy() for k, v in t.items()}


@pytest.mark.parametrize("cell, nonlinearity", VARIANTS)
def test_agrees_with_torch_autograd(cell, nonlinearity):
    torch = require_torch()
    batch, V, trees, vocab = batch_for(cell)
    model = model_for(cell, nonlinearity, V)
    loss, z, grads = model.loss_and_grads(batch)
    t_loss, t_z, t_grads = torch_reference(torch, cell, nonlinearity, model.params, trees, vocab, len(trees))
    # the torch nodes come in post-order per tree; match them to the batch rows by logits
    order = [int(batch.rank[offset + k]) for offset, tree in zip(_offsets(trees), trees)
             for k in _post_order_positions(tree)]
    assert abs(loss - t_loss) <= 1e-9 * max(1.0, abs(t_loss))
    assert np.abs(z[order] - t_z).max() <= 1e-9
    for k, p in model.params.items():
        assert np.abs(dense(grads[k], p.shape) - t_grads[k]).max() <= 1e-9, k


def _offsets(trees):
    sizes = [len(list(t.nodes())) for t in trees]
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)


def _post_order_positions(tree):
    """The pre-order positions (encode's numbering) of the nodes in post-order (torch_reference's)."""
    position = {id(n): k for k, n in enumerate(tree.nodes())}
    out = []

    def visit(n):
        for c in n.children:
            visit(c)
        out.append(position[id(n)])
    visit(tree)
    return out


# ---- options, saving, training -------------------------------------------------------------------

def test_identity_differs_from_tanh_and_is_affine_in_the_leaves():
    batch, V, _, _ = batch_for("childsum-recursive")
    lin = model_for("childsum-recursive", "identity", V)
    tanh = model_for("childsum-recursive", "tanh", V)
    assert np.abs(lin.forward(batch)[1] - tanh.forward(batch)[1]).max() > 1e-2
    # h of every node is affine in E: h(2E) - h(E) = h(E) - h(0)
    h = {}
    for scale in (0, 1, 2):
        m = model_for("childsum-recursive", "identity", V)
        m.params["E"] = m.params["E"] * scale
        h[scale] = m.forward(batch)[1]
    np.testing.assert_allclose(h[2] - h[1], h[1] - h[0], atol=1e-12)


def test_save_and_load_keep_the_nonlinearity(tmp_path):
    batch, V, _, vocab = batch_for("childsum-recursive")
    for cell, nonlinearity in VARIANTS:
        b = batch if cell == "childsum-recursive" else batch_for(cell)[0]
        model = model_for(cell, nonlinearity, V)
        save_model(tmp_path / "m.npz", model, vocab)
        again, _, _ = load_model(tmp_path / "m.npz")
        assert again.config == model.config and again.config.nonlinearity == nonlinearity
        np.testing.assert_array_equal(again.predict(b), model.predict(b))
        assert repr(again).endswith("nonlinearity=identity)") == (nonlinearity == "identity")


def test_old_files_without_nonlinearity_load_as_tanh(tmp_path):
    from rnnlab.trees.saving import HEADER
    from rnnlab.training.checkpoint import write_npz
    batch, V, _, vocab = batch_for("recursive")
    model = model_for("recursive", "tanh", V)
    save_model(tmp_path / "m.npz", model, vocab)
    header = {"format": "rnnlab-tree", "version": 1, "vocab": vocab.words, "lowercase": False, "meta": {},
              "model": {k: v for k, v in model.to_dict().items() if k != "nonlinearity"}}
    write_npz(tmp_path / "old.npz", HEADER, header, {f"param/{k}": v for k, v in model.params.items()})
    again, _, _ = load_model(tmp_path / "old.npz")
    assert again.config.nonlinearity == "tanh"
    np.testing.assert_array_equal(again.predict(batch), model.predict(batch))


def test_tree_lstms_refuse_another_nonlinearity():
    for cell in ("treelstm", "childsum"):
        with pytest.raises(ValueError, match=f"^nonlinearity: expected 'tanh' for the {cell} cell"):
            TreeModelConfig(cell, 10, nonlinearity="identity").check()
    with pytest.raises(ValueError, match=r"^nonlinearity: expected one of \['tanh', 'identity'\], got 'relu'"):
        TreeModelConfig("childsum-recursive", 10, 6, 6, nonlinearity="relu").check()
    with pytest.raises(ValueError, match="^embed_dim"):
        TreeModel(TreeModelConfig("childsum-recursive", 10, embed_dim=8, hidden=6))


POS = ["(4 (3 (2 a) (4 great)) (3 (2 fun) (2 film)))", "(3 (2 the) (3 good) (2 story))",
       "(4 (4 great) (3 (2 the) (4 film)))", "(3 (3 good) (2 fun) (2 film) (2 a))"]
NEG = ["(0 (1 (2 a) (0 awful)) (1 (2 dull) (2 film)))", "(1 (2 the) (1 bad) (2 story))",
       "(0 (0 awful) (1 (2 the) (1 film)))", "(1 (1 bad) (1 dull) (2 the) (2 story) (2 a))"]
NEU = ["(2 (2 the) (2 film))", "(2 (2 a) (2 story))"]


@pytest.fixture
def nary_sst(tmp_path):
    """A treebank in SST's layout whose trees have 2 to 5 children per node."""
    folder = tmp_path / "sst"
    folder.mkdir()
    (folder / "train.txt").write_text("\n".join(POS + NEG + NEU) + "\n")
    (folder / "dev.txt").write_text("\n".join(POS[:2] + NEG[:2] + NEU[:1]) + "\n")
    (folder / "test.txt").write_text("\n".join(POS[2:] + NEG[2:] + NEU[1:]) + "\n")
    return folder


@pytest.mark.parametrize("nonlinearity", ["tanh", "identity"])
def test_cli_trains_on_nary_trees_saves_and_loads(nary_sst, tmp_path, nonlinearity, capsys):
    out = tmp_path / "run"
    code = main(["train", "--task", "sst", "--model", "childsum-recursive", "--nonlinearity", nonlinearity,
                 "--hidden", "8", "--epochs", "8", "--batch-size", "4", "--lr", "0.1", "--dropout", "0",
                 "--data-dir", str(nary_sst), "--out", str(out), "--metrics-json", str(tmp_path / "m.json")])
    assert code == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    losses = [row["train_loss"] for row in metrics["history"]]
    assert losses[-1] < 0.7 * losses[0]
    assert metrics["model"] == "childsum-recursive" and metrics["settings"]["nonlinearity"] == nonlinearity
    assert metrics["settings"]["embed_dim"] == 8                       # D = H by default
    model, vocab, meta = load_model(out / "best.npz")
    assert model.config.cell == "childsum-recursive" and model.config.nonlinearity == nonlinearity
    capsys.readouterr()
    assert main(["sst", str(out / "best.npz"), "--tree", "(3 (3 good) (2 fun) (2 film) (2 a))"]) == 0
    lines = capsys.readouterr().out.splitlines()                     # the root, then its four children
    assert len(lines) == 5 and lines[0].endswith("good fun film a") and all(l.startswith("  ") for l in lines[1:])
    assert main(["sst", str(out / "best.npz"), "--evaluate", str(nary_sst / "test.txt")]) == 0


def test_resume_keeps_the_nonlinearity(tmp_path):
    from rnnlab.trees import train
    out = tmp_path / "run"
    cfg = train.TreeConfig(model="recursive", nonlinearity="identity", hidden=6, epochs=1, batch_size=4, dropout=0)
    binary_dir = tmp_path / "binary"
    binary_dir.mkdir()
    for name in ("train", "dev", "test"):
        (binary_dir / f"{name}.txt").write_text("(3 (2 a) (3 good))\n(1 (2 a) (1 bad))\n")
    train.train(cfg, out=out, data_dir=binary_dir, echo=lambda s: None)
    metrics = train.train(train.TreeConfig(model="recursive", epochs=2), out=out, resume=True, data_dir=binary_dir,
                          echo=lambda s: None)
    assert metrics["epochs_run"] == 2 and metrics["settings"]["nonlinearity"] == "identity"
    assert load_model(out / "last.npz")[0].config.nonlinearity == "identity"


def test_sst_run_through_the_cli_trains_evaluates_and_loads(tmp_path, capsys):
    """`rnnlab train --task sst --model childsum-recursive` on 200 treebank sentences, then `rnnlab sst`."""
    from rnnlab.trees import data as tree_data
    try:
        tree_data.sst_dir(None)
    except FileNotFoundError:
        pytest.skip("no ../shared/data/sst beside the repository")
    out = tmp_path / "sst"
    assert main(["train", "--task", "sst", "--model", "childsum-recursive", "--nonlinearity", "identity",
                 "--max-train", "200", "--epochs", "1", "--hidden", "8", "--lowercase", "--out", str(out),
                 "--metrics-json", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["model"] == "childsum-recursive" and metrics["settings"]["max_train"] == 200
    assert metrics["test_sentences"] == 2210 and 0.0 <= metrics["test_root_accuracy"] <= 1.0
    model, vocab, meta = load_model(out / "best.npz")
    assert model.config.nonlinearity == "identity" and model.config.embed_dim == 8 and vocab.lowercase
    capsys.readouterr()
    assert main(["sst", str(out / "best.npz"), "--evaluate", "test"]) == 0
    printed = json.loads(capsys.readouterr().out)                    # the saved model scores as training did
    assert printed["root_accuracy"] == metrics["test_root_accuracy"] and printed["sentences"] == 2210
