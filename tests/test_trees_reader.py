"""PTB tree reader, vocabulary, height-ordered batches, SST paths."""
import os

import numpy as np
import pytest

from rnnlab.data import paths
from rnnlab.trees import Vocabulary, encode, make_batch, parse_tree, read_trees
from rnnlab.trees.batch import BINARY_LABELS
from rnnlab.trees.data import sst_dir
from rnnlab.trees.vocab import UNK


def test_parse_leaves_labels_and_round_trip():
    text = "(3 (2 (2 The) (2 Rock)) (4 (3 is) (2 .)))"
    t = parse_tree(text)
    assert t.label == 3 and t.word is None and len(t.children) == 2
    assert t.leaves() == ["The", "Rock", "is", "."]
    assert [n.label for n in t.nodes()] == [3, 2, 2, 2, 4, 3, 2]
    assert t.height() == 2
    assert t.to_ptb() == text
    assert parse_tree("  (1 word)\n") == parse_tree("(1 word)")
    assert parse_tree("(2 (1 a) (0 b) (4 c))").children[2].word == "c"     # any number of children


@pytest.mark.parametrize("text, col, words", [
    ("(3 (2 The) (2 Rock)", 1, "unbalanced brackets"),
    ("(3 (2 The) (2 Rock)))", 21, "unbalanced brackets: ')' without"),
    ("(3 (2 The) ((2 Rock))", 13, "missing label"),
    ("(3 (The) (2 Rock))", 5, "missing label: expected an integer after '(', got 'The'"),
    ("(3 (2 The) (2 ))", 15, "empty leaf"),
    ("(3 (2 The) (2", 12, "unbalanced brackets"),
    ("(3 (2 The Rock))", 11, "expected ')' after the word 'The'"),
    ("(3 (2 The) Rock)", 12, "unexpected word 'Rock' among child nodes"),
    ("(3 (2 The) (2 Rock)) (1 x)", 22, "unexpected text after the tree"),
    ("word", 1, "outside any bracket"),
    ("(7 a)", 2, "label 7 out of range"),
])
def test_malformed_trees_name_line_and_column(text, col, words):
    with pytest.raises(ValueError) as err:
        parse_tree(text, "f.txt", 12, num_classes=5)
    assert f"f.txt:12:{col}:" in str(err.value) and words in str(err.value)


def test_read_trees_reports_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("(3 (2 a) (2 b))\n\n(2 (2 a) (2 b)\n")
    with pytest.raises(ValueError, match=r"bad.txt:3:1: unbalanced brackets"):
        read_trees(path)
    with pytest.raises(FileNotFoundError, match="no tree file"):
        read_trees(tmp_path / "missing.txt")


def test_vocabulary_from_train_with_unknown_token():
    trees = [parse_tree("(3 (2 a) (2 (1 b) (2 a)))"), parse_tree("(1 (2 c) (2 b))")]
    v = Vocabulary.build(trees)
    assert v.words == [UNK, "a", "b", "c"]                   # by count, then alphabetical
    assert v.ids(["a", "zzz", "c"]) == [1, 0, 3]
    assert len(Vocabulary.build(trees, min_count=2)) == 3
    low = Vocabulary.build([parse_tree("(3 (2 The) (2 the))")], lowercase=True)
    assert low.words == [UNK, "the"] and low.id("THE") == 1 and "The" in low
    with pytest.raises(ValueError, match="start with"):
        Vocabulary(["a"])
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.build(trees, min_count=0)


def test_batch_orders_nodes_by_height_and_keeps_structure():
    texts = ["(1 (2 (3 a) (4 (0 b) (2 (1 c) (3 d)))) (0 e))", "(4 good)", "(3 (2 x) (1 y))"]
    trees = [parse_tree(t) for t in texts]
    v = Vocabulary.build(trees)
    b = make_batch([encode(t, v) for t in trees])
    M, L = b.num_nodes, b.num_leaves
    assert M == 9 + 1 + 3 and L == 5 + 1 + 2
    assert b.levels[0] == (0, L) and b.levels[-1][1] == M
    height = np.zeros(M + 1, int)
    for n in range(L, M):                                    # every child sits in a lower level
        kids = b.children[n - L]
        assert all(k < n for k in kids if k < M)
        height[n] = 1 + height[kids].max()
    for h, (s, e) in enumerate(b.levels):
        assert (height[s:e] == h).all()

    def rebuild(n):                                          # the batch encodes the original trees
        if n < L:
            return f"({b.labels[n]} {v.words[b.words[n]]})"
        return f"({b.labels[n]} " + " ".join(rebuild(k) for k in b.children[n - L] if k < M) + ")"
    assert [rebuild(r) for r in b.roots] == texts
    binary = make_batch([encode(t, v) for t in trees], BINARY_LABELS)
    assert set(binary.labels[b.labels == 2]) == {-1} and set(binary.labels[b.labels == 4]) == {1}


def test_sst_dir_flag_env_and_errors(tmp_path, monkeypatch):
    (tmp_path / "sst").mkdir()
    (tmp_path / "sst" / "train.txt").write_text("(2 a)\n")
    assert sst_dir(tmp_path) == tmp_path / "sst"
    assert sst_dir(tmp_path / "sst") == tmp_path / "sst"
    monkeypatch.setenv("RNNLAB_DATA", str(tmp_path))
    assert sst_dir() == tmp_path / "sst"
    (tmp_path / "other").mkdir()
    assert sst_dir(tmp_path / "other") == tmp_path / "sst"      # --data-dir first, then $RNNLAB_DATA
    with pytest.raises(FileNotFoundError, match="data_dir .*nowhere"):
        sst_dir(tmp_path / "nowhere")
    monkeypatch.setenv("RNNLAB_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setattr(paths, "SHARED", tmp_path / "no-shared")
    with pytest.raises(FileNotFoundError, match=r"sst: no train.txt in .*other.*RNNLAB_OFFLINE"):
        sst_dir(tmp_path / "other")


def test_default_path_finds_the_shared_treebank(monkeypatch):
    monkeypatch.delenv("RNNLAB_DATA", raising=False)
    here = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "sst", "train.txt")
    if not os.path.isfile(here):
        pytest.skip("no ../shared/data/sst beside the repository")
    assert (sst_dir() / "dev.txt").is_file()
