"""A parse tree drawn as SVG, every node coloured by its sentiment, as the Stanford Sentiment
Treebank's demo shows it (Socher et al. 2013).

Layout: leaves left to right in reading order, each as wide as its word; an internal node sits above
the middle of its children, one row per depth. Each node is a circle of class ``node sent-K`` (K the
class shown: the argmax of its probabilities, or its label) holding the class's sign (-- - 0 + ++),
with a ``<title>`` tooltip giving the phrase and the probabilities. Five classes use SST's names
(very negative .. very positive); two classes (the binary task) use negative / positive.
"""
from __future__ import annotations

import html

import numpy as np

from ..trees.ptb import Tree

FINE_NAMES = ("very negative", "negative", "neutral", "positive", "very positive")
FINE_SIGNS = ("--", "-", "0", "+", "++")
FINE_COLOURS = ("#b2182b", "#ef8a62", "#e0e0e0", "#67a9cf", "#2166ac")   # red .. grey .. blue (ColorBrewer RdBu)
BINARY_NAMES = ("negative", "positive")
BINARY_SIGNS = ("-", "+")
BINARY_COLOURS = ("#ef8a62", "#67a9cf")

ROW = 56           # vertical distance between depths, px
RADIUS = 11        # node circle radius, px
CHAR = 7.2         # approximate width of one character of the 12 px word font, px
MIN_LEAF = 34      # narrowest leaf slot, px
MARGIN = 16
LEGEND_H = 34


def classes_of(n: int) -> tuple:
    """(names, signs, colours) for n = 5 (fine-grained) or n = 2 (binary) classes."""
    if n == 5:
        return FINE_NAMES, FINE_SIGNS, FINE_COLOURS
    if n == 2:
        return BINARY_NAMES, BINARY_SIGNS, BINARY_COLOURS
    raise ValueError(f"probs: expected 5 (fine-grained) or 2 (binary) classes, got {n}")


def node_classes(tree: Tree, probs=None, labels=None) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(class per node in pre-order, probabilities (n, C) or None, C), from ``probs``, else ``labels``,
    else the tree's own labels."""
    if not isinstance(tree, Tree):
        raise ValueError(f"tree: expected an rnnlab.trees.ptb.Tree, got {type(tree).__name__}")
    n = sum(1 for _ in tree.nodes())
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[0] != n:
            raise ValueError(f"probs: expected shape ({n}, C), one row per node in pre-order, got {probs.shape}")
        classes_of(probs.shape[1])
        return probs.argmax(axis=1), probs, probs.shape[1]
    if labels is None:
        labels = [node.label for node in tree.nodes()]
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels: expected {n} class indices, one per node in pre-order, got shape {labels.shape}")
    if labels.min() < 0 or labels.max() > 4:
        raise ValueError(f"labels: expected classes 0..4, got values in [{labels.min()}, {labels.max()}]")
    return labels.astype(int), None, 5


def layout(tree: Tree) -> tuple[list[tuple[Tree, float, int, int | None]], float]:
    """((node, x, depth, parent index) per node in pre-order, total width of the leaves); x in px from
    the left margin."""
    out = []
    cursor = [0.0]

    def place(node, depth, parent):
        k = len(out)
        out.append(None)
        if node.is_leaf:
            width = max(MIN_LEAF, CHAR * len(node.word) + 10)
            x = cursor[0] + width / 2
            cursor[0] += width
        else:
            xs = [place(child, depth + 1, k) for child in node.children]
            x = (xs[0] + xs[-1]) / 2
        out[k] = (node, x, depth, parent)
        return x
    place(tree, 0, None)
    return out, cursor[0]


def tree_svg(tree: Tree, probs=None, labels=None, title: str | None = None) -> str:
    """The tree as one ``<svg>`` element (a string), every node coloured by its class.

    tree: an ``rnnlab.trees.ptb.Tree``. probs: (n, C) class probabilities of the n nodes in pre-order
    (the order of ``tree.nodes()``), C = 5 or 2; or labels: n class indices 0..4; with neither, the
    tree's own labels. Raises ValueError naming the argument when a shape or value does not fit.
    """
    cls, probs, C = node_classes(tree, probs, labels)
    names, signs, colours = classes_of(C)
    nodes, leaves_width = layout(tree)
    depth = max(d for _, _, d, _ in nodes)
    width = max(leaves_width, 120 * C) + 2 * MARGIN
    top = MARGIN + LEGEND_H + (22 if title else 0)
    height = top + depth * ROW + 2 * RADIUS + 24 + MARGIN
    pos = [(MARGIN + x, top + RADIUS + d * ROW) for _, x, d, _ in nodes]
    e = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="rnnlab-tree" width="{width:.0f}" '
             f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">',
             "<style>"
             + "".join(f".sent-{k}{{fill:{c}}}" for k, c in enumerate(colours))
             + ".edge{stroke:#888;stroke-width:1.2}.node{stroke:#333;stroke-width:1}"
             ".sign{font-size:10px;text-anchor:middle;dominant-baseline:central;pointer-events:none}"
             ".word{font-size:12px;text-anchor:middle}.legend{font-size:12px}</style>"]
    if title:
        parts.append(f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="14" font-weight="bold">{e(title)}</text>')
    legend_y = top - LEGEND_H + 6
    parts.append('<g class="legend">')
    for k, name in enumerate(names):
        lx = MARGIN + k * 120
        parts.append(f'<rect class="sent-{k}" x="{lx}" y="{legend_y}" width="14" height="14" stroke="#333"/>'
                     f'<text x="{lx + 19}" y="{legend_y + 11}">{e(name)}</text>')
    parts.append("</g>")
    for k, (_, _, _, parent) in enumerate(nodes):
        if parent is not None:
            (x1, y1), (x2, y2) = pos[parent], pos[k]
            parts.append(f'<line class="edge" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>')
    for k, (node, _, _, _) in enumerate(nodes):
        x, y = pos[k]
        c = int(cls[k])
        phrase = " ".join(node.leaves())
        tip = f"{names[c]}: {phrase}"
        if probs is not None:
            tip += " (" + ", ".join(f"{names[j]} {probs[k, j]:.2f}" for j in range(C)) + ")"
        parts.append(f'<g><title>{e(tip)}</title><circle class="node sent-{c}" cx="{x:.1f}" cy="{y:.1f}" '
                     f'r="{RADIUS}" data-class="{c}"/><text class="sign" x="{x:.1f}" y="{y:.1f}">{e(signs[c])}</text>')
        if node.is_leaf:
            parts.append(f'<text class="word" x="{x:.1f}" y="{y + RADIUS + 15:.1f}">{e(node.word)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def tree_html(tree: Tree, probs=None, labels=None, title: str | None = None) -> str:
    """A complete HTML page holding ``tree_svg(tree, probs, labels, title)`` inline: no script, no
    stylesheet or font from the network. Hovering a node shows its phrase and probabilities."""
    sentence = " ".join(tree.leaves())
    heading = title or sentence
    svg = tree_svg(tree, probs, labels, title=None)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(heading)}</title>\n"
            "<style>body{font-family:sans-serif;margin:1.5em}.wrap{overflow-x:auto}</style>\n</head>\n<body>\n"
            f"<h1 style=\"font-size:1.2em\">{html.escape(heading)}</h1>\n"
            "<p>Every phrase of the sentence, coloured by the sentiment the model gives it; hover a node "
            "for its phrase and class probabilities.</p>\n"
            f"<div class=\"wrap\">\n{svg}\n</div>\n</body>\n</html>\n")
