"""Bracketed trees in Penn Treebank format, as the Stanford Sentiment Treebank writes them.

One tree per line, a label on every node, words at the leaves:

    (3 (2 The) (2 Rock))          node  = "(" LABEL WORD ")" | "(" LABEL node node* ")"

LABEL is a class number written in ASCII digits (0-4 in SST: very negative .. very positive; no
sign, no underscore, no other script's digits), WORD any run of characters without whitespace or
brackets (SST writes brackets inside text as -LRB- / -RRB-). Files are UTF-8; a byte-order mark at the
start is skipped. Malformed input (bytes that are not UTF-8, unbalanced brackets, a missing or
non-digit label, an empty leaf, a word beside child nodes, text after the tree) raises
``rnnlab.errors.FormatError`` (a ``ValueError``) naming ``source:line:column`` (1-based).

Every traversal here (parsing, ``leaves``, ``nodes``, ``height``, ``to_ptb``, equality, hashing, repr)
is iterative, so a tree nested thousands of levels deep works as a shallow one does.
"""
from __future__ import annotations

import os
from typing import Iterator, NamedTuple

from ..errors import FormatError, decode_utf8


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
        height: dict[int, int] = {}
        for node in reversed(list(self.nodes())):            # children before parents
            height[id(node)] = 1 + max(height[id(c)] for c in node.children) if node.children else 0
        return height[id(self)]

    def to_ptb(self) -> str:
        """The bracketed text this tree is read from (single spaces)."""
        parts, stack = [], [self]
        while stack:
            node = stack.pop()
            if isinstance(node, str):                        # a closing bracket queued after the children
                parts.append(node)
            elif node.is_leaf:
                parts.append(f"({node.label} {node.word})")
            else:
                parts.append(f"({node.label} ")
                stack.append(")")
                for k, child in enumerate(reversed(node.children)):
                    stack.append(child)
                    if k < len(node.children) - 1:
                        stack.append(" ")
        return "".join(parts)

    # Tuple equality, hashing and repr recurse in C; these walk the tree with a stack instead.
    def __eq__(self, other) -> bool:
        if not isinstance(other, Tree):
            return NotImplemented
        stack = [(self, other)]
        while stack:
            a, b = stack.pop()
            if a is b:
                continue
            if a.label != b.label or a.word != b.word or len(a.children) != len(b.children):
                return False
            stack.extend(zip(a.children, b.children))
        return True

    def __ne__(self, other) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self.to_ptb())

    def __repr__(self) -> str:
        text = self.to_ptb()
        return f"Tree({text if len(text) <= 200 else text[:200] + ' ...'})"


_SPACE = " \t\r\n"
_DELIM = _SPACE + "()"


def _fail(source, line, col, message):
    raise FormatError(source, f"{line}:{col}", message)


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
            token = text[i:end]
            if not (token.isascii() and token.isdigit()):     # int() would take '+3', '1_0', '३'
                _fail(source, line, i + 1, f"missing label: expected an integer after '(', got {token!r} "
                                           f"(labels are ASCII digits 0-9)")
            if len(token) > 18:                               # int() refuses over 4,300 digits
                _fail(source, line, i + 1, f"label {token[:20]}... has {len(token)} digits: expected a class number")
            label = int(token)
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
    """Every tree of a UTF-8 file, one per non-blank line (lines end in \\n or \\r\\n).

    Raises ``FileNotFoundError`` when ``path`` is not a file and ``rnnlab.errors.FormatError`` naming
    ``path:line:column`` on bytes that are not UTF-8 or a malformed tree."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no tree file at {path!r}")
    with open(path, "rb") as f:
        text = decode_utf8(f.read(), path)
    lines = text.split("\n")
    return [parse_tree(line, path, n, num_classes) for n, line in enumerate(lines, 1) if line.strip(_SPACE)]
