"""rnnlab.viz and its commands: the coloured parse tree (tree_svg / tree_html, rnnlab sst --html/--svg)
and the character model's activations page (rnnlab viz activations)."""
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from rnnlab import LSTM, RNN, Dense
from rnnlab.cli import main
from rnnlab.models import Sequential
from rnnlab.saving import save
from rnnlab.trees.model import TreeModel, TreeModelConfig
from rnnlab.trees.ptb import parse_tree
from rnnlab.trees.saving import save_model
from rnnlab.trees.vocab import Vocabulary
from rnnlab.viz import tree_html, tree_svg
from rnnlab.viz.activations import feature_correlations, hidden_activations, text_features

SVG = "{http://www.w3.org/2000/svg}"
TREE = "(3 (2 not) (3 (2 a) (3 (4 (3 very) (4 good)) (2 film))))"


class Tags(HTMLParser):
    """Every start tag with its attributes; fails on unbalanced end tags."""

    def __init__(self):
        super().__init__()
        self.tags, self.open = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "img", "input", "link", "rect", "circle", "line"):
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, (tag, self.open[-3:])
        self.open.pop()


def parse_html(text: str) -> Tags:
    p = Tags()
    p.feed(text)
    p.close()
    assert not p.open, p.open
    return p


def circles(svg: str) -> list:
    root = ET.fromstring(svg)
    return [c for c in root.iter(SVG + "circle")]


def test_tree_svg_one_node_per_tree_node_coloured_by_argmax():
    tree = parse_tree(TREE, "t", 1, 5)
    n = sum(1 for _ in tree.nodes())
    probs = np.random.default_rng(0).dirichlet(np.ones(5), size=n)
    svg = tree_svg(tree, probs)
    nodes = circles(svg)
    assert len(nodes) == n == 9
    classes = [int(c.get("data-class")) for c in nodes]
    assert classes == list(probs.argmax(axis=1))
    for c, k in zip(nodes, classes):
        assert c.get("class") == f"node sent-{k}"
    legend = [r for r in ET.fromstring(svg).iter(SVG + "rect")]
    assert [r.get("class") for r in legend] == [f"sent-{k}" for k in range(5)]
    texts = [t.text for t in ET.fromstring(svg).iter(SVG + "text")]
    for word in ("not", "very", "good", "film", "very negative", "very positive"):
        assert word in texts


def test_tree_svg_gold_labels_binary_and_escaping():
    tree = parse_tree("(1 (0 <bad>) (3 &amp))", "t", 1, 5)
    svg = tree_svg(tree)                                             # the tree's own labels
    assert [int(c.get("data-class")) for c in circles(svg)] == [1, 0, 3]
    assert "&lt;bad&gt;" in svg and "&amp;amp" in svg
    binary = tree_svg(tree, np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
    assert [int(c.get("data-class")) for c in circles(binary)] == [0, 1, 0]
    assert len([r for r in ET.fromstring(binary).iter(SVG + "rect")]) == 2


def test_tree_svg_bad_arguments_name_them():
    tree = parse_tree(TREE, "t", 1, 5)
    with pytest.raises(ValueError, match=r"^probs: expected shape \(9, C\)"):
        tree_svg(tree, np.ones((8, 5)))
    with pytest.raises(ValueError, match="^probs: expected 5 .* or 2"):
        tree_svg(tree, np.ones((9, 3)))
    with pytest.raises(ValueError, match="^labels: expected classes 0..4"):
        tree_svg(tree, labels=[7] * 9)
    with pytest.raises(ValueError, match="^tree: expected an rnnlab.trees.ptb.Tree"):
        tree_svg("(2 a)")


def test_tree_html_is_self_contained_and_well_formed():
    tree = parse_tree(TREE, "t", 1, 5)
    page = tree_html(tree, title="a <title>")
    tags = parse_html(page)
    names = [t for t, _ in tags.tags]
    assert names.count("svg") == 1 and names.count("circle") == 9
    assert "script" not in names and "link" not in names and "img" not in names
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert "a &lt;title&gt;" in page


@pytest.fixture
def tree_model(tmp_path):
    trees = [parse_tree(TREE, "t", 1, 5)]
    vocab = Vocabulary.build(trees)
    model = TreeModel(TreeModelConfig("treelstm", len(vocab), 6, 5, 5), seed=0)
    path = tmp_path / "tree.npz"
    save_model(path, model, vocab)
    return path


def test_sst_command_writes_html_and_svg(tree_model, tmp_path, capsys):
    html_path, svg_path = tmp_path / "out" / "t.html", tmp_path / "t.svg"
    assert main(["sst", str(tree_model), "not a very good film", "--html", str(html_path),
                 "--svg", str(svg_path)]) == 0
    svg = svg_path.read_text()
    assert len(circles(svg)) == 9                                     # 5 words, right-branching: 9 nodes
    assert [t for t, _ in parse_html(html_path.read_text()).tags].count("circle") == 9
    assert main(["sst", str(tree_model), "--tree", TREE, "--svg", str(svg_path)]) == 0
    assert len(circles(svg_path.read_text())) == 9
    assert f"wrote {svg_path}" in capsys.readouterr().out


def test_sst_pictures_are_written_atomically(tree_model, tmp_path, monkeypatch, capsys):
    import rnnlab.saving
    target = tmp_path / "t.html"
    target.write_text("kept")
    real = rnnlab.saving.atomic_write

    def failing(path, write):
        def half(f):
            f.write(b"<!DOCTYPE")
            raise OSError("disk full")
        real(path, half)
    monkeypatch.setattr(rnnlab.saving, "atomic_write", failing)
    assert main(["sst", str(tree_model), "a film", "--html", str(target)]) == 2     # one line, no traceback
    assert "disk full" in capsys.readouterr().err
    assert target.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.html", "tree.npz"]


@pytest.mark.parametrize("argv, flag", [
    (["--evaluate", "dev", "--html", "x.html"], "--html"),
    (["a", "film", "--svg", ""], "--svg"),
    (["a", "film", "--html", "."], "--html"),
])
def test_sst_bad_picture_flags(tree_model, argv, flag, capsys):
    assert main(["sst", str(tree_model)] + argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"rnnlab sst: error: {flag}: ")


CHARS = '\n "(),.:;ABCTabcdeiorst'
TEXT = 'A cat said: "a dot, a bed".\nBe (a cat).\n"Tea" or "coast"; a toast.\n' * 3


@pytest.fixture
def char_model(tmp_path):
    V = len(CHARS)
    model = Sequential([LSTM(V, 6, num_layers=2, seed=0), Dense(6, V, seed=1)])
    path = tmp_path / "char.npz"
    save(path, model, {"task": {"chars": CHARS}})
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    return model, path, text


def test_hidden_activations_match_the_layer_outputs(char_model):
    model, _, _ = char_model
    acts = hidden_activations(model, CHARS, TEXT)
    assert sorted(acts) == sorted(f"layer {l}.{g}" for l in (1, 2) for g in "hifog")
    eye = np.eye(len(CHARS), dtype=model.dtype)
    y, _, _ = model.layers[0].forward(eye[[CHARS.index(c) for c in TEXT]][None])
    np.testing.assert_allclose(acts["layer 2.h"], y[0], atol=1e-6)
    assert acts["layer 1.f"].shape == (len(TEXT), 6)
    assert ((acts["layer 1.f"] > 0) & (acts["layer 1.f"] < 1)).all()
    assert (np.abs(acts["layer 1.g"]) < 1).all() and (acts["layer 1.g"] < 0).any()
    assert sorted(hidden_activations(Sequential([RNN(len(CHARS), 3), Dense(3, len(CHARS))]), CHARS, "abc")) \
        == ["layer 1.h"]
    with pytest.raises(ValueError, match=r"^text: characters \['x'\]"):
        hidden_activations(model, CHARS, "ax")


def test_feature_correlations_find_a_planted_unit():
    feats = text_features('ab "cd" e\nfg')
    assert list(feats["inside quotes"]) == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert list(feats["position in line"][8:]) == [9, 0, 1, 2]
    rng = np.random.default_rng(0)
    acts = rng.standard_normal((12, 4))
    acts[:, 2] = 3 * feats["inside quotes"] - 1 + 0.01 * rng.standard_normal(12)
    top = feature_correlations(acts, feats, top=2)
    quotes = [(k, r) for name, k, r in top if name == "inside quotes"]
    assert quotes[0][0] == 2 and quotes[0][1] > 0.99 and len(quotes) == 2
    assert not [t for t in feature_correlations(acts, {"none": np.zeros(12)})]


def test_viz_activations_command(char_model, tmp_path, capsys):
    _, path, text = char_model
    out = tmp_path / "a.html"
    assert main(["viz", "activations", str(path), "--text", str(text), "--html", str(out), "--top", "2"]) == 0
    printed = capsys.readouterr().out
    assert "inside quotes: unit" in printed and "position in line: unit" in printed
    page = out.read_text()
    spans = [a for t, a in parse_html(page).tags if t == "span" and a.get("class") == "c"]
    assert len(spans) == len(TEXT) + 3                                # one per character, and the legend
    assert main(["viz", "activations", str(path), "--text", str(text), "--html", str(out),
                 "--layer", "1", "--gate", "f", "--unit", "4"]) == 0
    page = out.read_text()
    assert "layer 1, gate f of unit 4" in page
    acts = hidden_activations(char_model[0], CHARS, TEXT)["layer 1.f"][:, 4]
    assert f'title="{acts[0]:+.3f}"' in page


@pytest.mark.parametrize("extra, flag", [
    (["--top", "0"], "--top"),
    (["--unit", "6"], "--unit"),
    (["--gate", "z", "--unit", "1"], "--gate"),
    (["--gate", "f"], "--unit"),
    (["--layer", "3"], "--layer"),
    (["--max-chars", "0"], "--max-chars"),
])
def test_viz_bad_flags(char_model, tmp_path, extra, flag, capsys):
    _, path, text = char_model
    out = tmp_path / "a.html"
    assert main(["viz", "activations", str(path), "--text", str(text), "--html", str(out)] + extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"rnnlab viz: error: {flag}: "), err
    assert not out.exists()


def test_viz_refuses_other_inputs(char_model, tmp_path, capsys):
    _, path, text = char_model
    other = tmp_path / "other.txt"
    other.write_text("xyz")
    out = str(tmp_path / "a.html")
    assert main(["viz", "activations", str(path), "--text", str(other), "--html", out]) == 2
    assert capsys.readouterr().err.startswith("rnnlab viz: error: --text: characters ['x', 'y', 'z']")
    assert main(["viz", "activations", str(path), "--text", str(tmp_path / "missing.txt"), "--html", out]) == 2
    assert capsys.readouterr().err.startswith("rnnlab viz: error: --text: no file")
    plain = tmp_path / "plain.npz"
    save(plain, Sequential([LSTM(3, 2), Dense(2, 3)]))
    assert main(["viz", "activations", str(plain), "--text", str(text), "--html", out]) == 2
    assert "is not a character-level model" in capsys.readouterr().err


def test_pictures_never_replace_the_files_they_are_drawn_from(tree_model, char_model, tmp_path, capsys):
    model_bytes = tree_model.read_bytes()
    log = tmp_path / "train.log"
    log.write_text("epoch 1\n")
    for argv, words in ((["a", "film", "--html", str(tree_model)], "--html: expected a file name ending in .html"),
                        (["a", "film", "--svg", str(log)], "--svg: expected a file name ending in .svg")):
        assert main(["sst", str(tree_model)] + argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rnnlab sst: error: {words}, got ") and err.count("\n") == 1, err
    assert tree_model.read_bytes() == model_bytes and log.read_text() == "epoch 1\n"
    alias = tmp_path / "tree.html"                                     # a model saved under a picture's name
    alias.symlink_to(tree_model)
    assert main(["sst", str(tree_model), "a", "film", "--html", str(alias)]) == 2
    assert "--html: " + repr(str(alias)) + " is the model file" in capsys.readouterr().err
    _, path, text = char_model
    page = tmp_path / "text.html"
    page.write_text(TEXT)
    assert main(["viz", "activations", str(path), "--text", str(page), "--html", str(page)]) == 2
    assert "--html: " + repr(str(page)) + " is the --text file" in capsys.readouterr().err
    assert page.read_text() == TEXT and tree_model.read_bytes() == model_bytes
