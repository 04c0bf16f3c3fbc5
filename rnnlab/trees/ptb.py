"""Bracketed trees in Penn Treebank format, as the Stanford Sentiment Treebank writes them.

One tree per line, a label on every node, words at the leaves:

    (3 (2 The) (2 Rock))          node  = "(" LABEL WORD ")" | "(" LABEL node node* ")"

LABEL is an integer (0-4 in SST: very negative .. very positive), WORD any run of characters
without whitespace or brackets (SST writes brackets inside text as -LRB- / -RRB-). Malformed input
(unbalanced brackets, a missing or non-integer label, an empty leaf, a word beside child nodes,
text after the tree) raises ``ValueError`` naming ``source:line:column`` (1-based).
"""
from __future__ import annotations

import os
from typing import Iterator, NamedTuple


class Tree(NamedTuple):
    label: int
    word: str | None           # set at leaves, None at internal nodes
    children: tuple = ()       # () at leaves

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def leaves(self) -> list[str]:
        """Words left to right."""
        out, stack = [], [self]
        while stack:
            node = stack.pop()
            if node.is_leaf:
                out.append(node.word)
            else:
                stack.extend(reversed(node.children))
        return out

    def nodes(self) -> Iterator["Tree"]:
        """Every node, parents before children (pre-order)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def height(self) -> int:
        """0 at a leaf, 1 + the highest child otherwise."""
        return 0 if self.is_leaf else 1 + max(c.height() for c in self.children)

    def to_ptb(self) -> str:
        if self.is_leaf:
            return f"({self.label} {self.word})"
        return f"({self.label} " + " ".join(c.to_ptb() for c in self.children) + ")"


_SPACE = " \t\r\n"
_DELIM = _SPACE + "()"


def _fail(source, line, col, message):
    raise ValueError(f"{source}:{line}:{col}: {message}")


def _token(text: str, i: int) -> int:
    """End of the token (run of non-space, non-bracket characters) starting at i."""
    j = i
    while j < len(text) and text[j] not in _DELIM:
        j += 1
    return j


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _SPACE:
        i += 1
    return i


def parse_tree(text: str, source: str = "<string>", line: int = 1, num_classes: int | None = None) -> Tree:
    """One bracketed tree; ``num_classes`` (if given) bounds the labels to 0 .. num_classes - 1."""
    # Each open frame: [label, children list, column of its "("]; a stack, so depth is unlimited.
    stack: list[list] = []
    root = None
    i = _skip(text, 0)
    if i == len(text):
        _fail(source, line, 1, "empty line: expected a tree '(LABEL ...)'")
    while i < len(text):
        ch = text[i]
        if root is not None and ch == ")":
            _fail(source, line, i + 1, "unbalanced brackets: ')' without a matching '('")
        if root is not None:
            _fail(source, line, i + 1, f"unexpected text after the tree: {text[i:i + 20]!r}")
        if ch == "(":
            open_col = i + 1
            i = _skip(text, i + 1)
            end = _token(text, i)
            if end == i:
                _fail(source, line, i + 1, "missing label: expected an integer after '('")
            try:
                label = int(text[i:end])
            except ValueError:
                _fail(source, line, i + 1, f"missing label: expected an integer after '(', got {text[i:end]!r}")
            if num_classes is not None and not 0 <= label < num_classes:
                _fail(source, line, i + 1, f"label {label} out of range: expected 0 .. {num_classes - 1}")
            i = _skip(text, end)
            if i == len(text):
                _fail(source, line, open_col, "unbalanced brackets: '(' is never closed")
            if text[i] == ")":
                _fail(source, line, i + 1, f"empty leaf: node '({label}' has neither a word nor children")
            if text[i] == "(":
                stack.append([label, [], open_col])
                continue
            end = _token(text, i)
            word = text[i:end]
            i = _skip(text, end)
            if i == len(text):
                _fail(source, line, open_col, "unbalanced brackets: '(' is never closed")
            if text[i] != ")":
                _fail(source, line, i + 1, f"expected ')' after the word {word!r}, got {text[i]!r}")
            node = Tree(label, word)
            i += 1
        elif ch == ")":
            if not stack:
                _fail(source, line, i + 1, "unbalanced brackets: ')' without a matching '('")
            label, children, _ = stack.pop()
            node = Tree(label, None, tuple(children))
            i += 1
        else:
            end = _token(text, i)
            where = "among child nodes" if stack else "outside any bracket"
            _fail(source, line, i + 1, f"unexpected word {text[i:end]!r} {where}")
        if stack:
            stack[-1][1].append(node)
        else:
            root = node
        i = _skip(text, i)
    if stack:
        _fail(source, line, stack[-1][2], f"unbalanced brackets: {len(stack)} '(' never closed")
    return root


def read_trees(path: str | os.PathLike, num_classes: int | None = None) -> list[Tree]:
    """Every tree of a file, one per non-blank line."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no tree file at {path!r}")
    with open(path, encoding="utf-8") as f:
        return [parse_tree(text, path, n, num_classes) for n, text in enumerate(f, 1) if text.strip()]
