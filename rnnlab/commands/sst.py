"""``rnnlab sst``: the sentiment a trained tree model gives every phrase of a sentence, or its
accuracy on a treebank split.

    rnnlab sst MODEL.npz "a gorgeous , witty , seductive movie ."     (right-branching tree)
    rnnlab sst MODEL.npz --tree "(4 (2 a) (4 (3 gorgeous) (2 movie)))" (gold labels shown beside)
    rnnlab sst MODEL.npz --evaluate test [--data-dir PATH]              (or --evaluate FILE.txt)
    rnnlab sst MODEL.npz "a witty movie ." --html tree.html [--svg tree.svg]   (the tree, coloured)

Training: ``rnnlab train --task sst --model treelstm`` (see rnnlab.trees.train).
"""
from __future__ import annotations

import json
import os
import re

from ..trees import data
from ..trees.batch import BINARY_LABELS, encode, make_batch
from ..trees.ptb import Tree, parse_tree, read_trees
from ..trees.saving import load_model
from ..trees.train import evaluate
from ._flags import check_flag_output

BINARY_NAMES = ("negative", "positive")


def add_parser(sub):
    p = sub.add_parser("sst", help="sentiment of every phrase of a sentence by a trained tree model")
    p.add_argument("model", help="a tree model saved by training (.npz, e.g. RUN/best.npz)")
    p.add_argument("sentence", nargs="*", help="words of a sentence, read as a right-branching tree")
    p.add_argument("--tree", help="a bracketed tree with labels, e.g. '(3 (2 The) (3 rock))'")
    p.add_argument("--evaluate", metavar="SPLIT_OR_FILE",
                   help="report accuracy on train, dev, test (from --data-dir) or a tree file")
    p.add_argument("--data-dir", default=None, help="SST folder, looked in first (then $RNNLAB_DATA, the user cache, ../shared/data; fetched if missing)")
    p.add_argument("--html", metavar="FILE", help="also write the tree, nodes coloured by sentiment, as an HTML page")
    p.add_argument("--svg", metavar="FILE", help="also write the coloured tree as an SVG image")
    return p


def write_pictures(args, model, vocab, tree: Tree) -> None:
    """--html / --svg: the tree with every node coloured by its predicted class (rnnlab.viz.tree)."""
    from ..saving import atomic_write
    from ..viz.tree import tree_html, tree_svg
    binary = model.config.classes == 2
    batch = make_batch([encode(tree, vocab)], BINARY_LABELS if binary else None)
    probs = model.predict(batch)[batch.rank]                            # (n, C) in pre-order
    for flag, path, draw in (("--html", args.html, tree_html), ("--svg", args.svg, tree_svg)):
        if path:
            text = draw(tree, probs)
            atomic_write(path, lambda f: f.write(text.encode("utf-8")))
            print(f"wrote {path}")


def tokenize(text: str) -> list[str]:
    """Words and punctuation, splitting clitics as the treebank does (does n't, it 's)."""
    text = re.sub(r"(\w)(n't)\b", r"\1 \2", text)
    text = re.sub(r"(\w)('s|'re|'ve|'ll|'d|'m)\b", r"\1 \2", text)
    return re.findall(r"n't|'\w+|[\w-]+|[^\w\s]", text)


def right_branching(words: list[str]) -> Tree:
    """(w1 (w2 (... (w_{n-1} w_n)))) with placeholder labels 2."""
    tree = Tree(2, words[-1])
    for w in reversed(words[:-1]):
        tree = Tree(2, None, (Tree(2, w), tree))
    return tree


def show(model, vocab, tree: Tree, gold: bool) -> str:
    binary = model.config.classes == 2
    batch = make_batch([encode(tree, vocab)], BINARY_LABELS if binary else None)
    prob = model.predict(batch)
    names = BINARY_NAMES if binary else data.LABEL_NAMES
    lines = []
    stack = [(tree, 0)]                      # iterative pre-order: k counts nodes as encode() numbers them
    k = 0
    while stack:
        node, depth = stack.pop()
        row = prob[batch.rank[k]]
        c = int(row.argmax())
        unk = "" if not node.is_leaf or node.word in vocab else " (unknown word)"
        label = ""
        if gold:
            target = BINARY_LABELS[node.label] if binary else node.label
            label = f"  gold {names[target] if target >= 0 else 'neutral'}"
        lines.append(f"{'  ' * depth}{c} {names[c]:<13} p={row[c]:.2f}{label}  {' '.join(node.leaves())}{unk}")
        k += 1
        stack.extend((child, depth + 1) for child in reversed(node.children))
    return "\n".join(lines)


def run(args) -> int:
    check_flag_output("--html", args.html, ".html", {"model": args.model})
    check_flag_output("--svg", args.svg, ".svg", {"model": args.model})
    if args.tree is not None and not args.tree.strip():
        raise ValueError(f"--tree: expected a bracketed tree such as '(3 (2 a) (3 film))', got an empty tree {args.tree!r}")
    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"model: no file at {args.model!r}")
    model, vocab, _ = load_model(args.model)
    binary = model.config.classes == 2
    given = [bool(args.sentence), bool(args.tree), bool(args.evaluate)]
    if sum(given) != 1:
        raise ValueError("expected exactly one of: a sentence, --tree, --evaluate")
    if args.evaluate and (args.html or args.svg):
        raise ValueError(f"{'--html' if args.html else '--svg'}: draws the tree of a sentence or --tree, "
                         "not an --evaluate split")
    if args.evaluate:
        if args.evaluate in data.SPLITS:
            trees = data.load_split(args.evaluate, args.data_dir)
        elif os.path.isfile(args.evaluate):
            trees = read_trees(args.evaluate, data.NUM_CLASSES)
        else:
            raise ValueError(f"--evaluate: expected one of {data.SPLITS} or a tree file, got {args.evaluate!r}")
        if binary:
            trees = [t for t in trees if data.is_polar(t)]
        print(json.dumps(evaluate(model, [encode(t, vocab) for t in trees], binary), indent=2))
        return 0
    if args.tree:
        tree = parse_tree(args.tree, "--tree", 1, data.NUM_CLASSES)
        print(show(model, vocab, tree, gold=True))
        write_pictures(args, model, vocab, tree)
        return 0
    words = tokenize(" ".join(args.sentence))
    if not words:
        raise ValueError("sentence: expected at least one word")
    tree = right_branching(words)
    print(show(model, vocab, tree, gold=False))
    write_pictures(args, model, vocab, tree)
    return 0
