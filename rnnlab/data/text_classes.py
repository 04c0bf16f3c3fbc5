"""A folder of text files, one subfolder per class, as a sequence classification task.

    rnnlab train --text-classes reviews/ --tokens words --max-len 100 --min-count 2 --out runs/rev
    corpus = rnnlab.data.text_classes.load("reviews/", tokens="words")
    rnnlab.fit(model, *corpus.train, validation_data=corpus.valid)   # model: Embedding(V, E) first

Layout, either
    DIR/<class>/<file>                          the splits are drawn (below), or
    DIR/train/<class>/<file>, DIR/valid/... (or DIR/dev/...), DIR/test/...   the splits are given;
                                                a missing valid or test part is drawn from train
Every file is one example, read as UTF-8; names starting with "." are skipped. Classes are the
subfolder names in sorted order, ids 0 .. C-1.

Tokens: "chars", every character (newlines included); "words", the whitespace-separated pieces
(str.split). A sequence is the first ``max_len`` tokens of its file.

Vocabulary, from the training split only: id 0 is "<unk>", which stands for every token seen fewer
than ``min_count`` times in the training files, or not at all; then the other tokens by count,
most frequent first, ties in code-point order. V = its size is the Embedding's input size.

Drawn splits, deterministic from ``seed``: each class's files, in name order, are permuted by a
generator seeded with (seed, class id); the first round(valid_split n_c) go to validation, the next
round(test_split n_c) to test, the rest to training (so every split keeps the class proportions).

``Corpus.meta`` (tokens, max_len, vocabulary, class names) is kept in the model file, so that
``rnnlab predict --text-classes`` encodes new files the same way and writes class names.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..checks import check_int, check_real
from .arrays import as_inputs, as_targets, dataset
from .dataset import Task

TOKENS = ("chars", "words")
UNK = "<unk>"
SPLIT_FOLDERS = {"train": ("train",), "valid": ("valid", "dev"), "test": ("test",)}
PYTHON_NAMES = {k: k for k in ("text_classes", "tokens", "max_len", "min_count", "valid_split", "test_split")}


def files_of(folder: str) -> list[str]:
    """The example files under ``folder`` (recursively), in sorted path order, hidden ones skipped."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [os.path.join(root, f) for f in sorted(files) if not f.startswith(".")]
    return sorted(out)


def split_folders(root: str) -> dict:
    """{"train" | "valid" | "test": the split's folder under ``root`` (SPLIT_FOLDERS), or None}."""
    return {part: next((os.path.join(root, d) for d in folders if os.path.isdir(os.path.join(root, d))), None)
            for part, folders in SPLIT_FOLDERS.items()}


def example_files(root: str, name: str = "text_classes") -> list[str]:
    """The files ``load`` reads under ``root``: each class folder's files, split folder by split folder
    (train, valid, test) where ``root`` has a train folder, else those of ``root``'s class folders.
    Files beside the class folders are not examples; a class folder may be a link."""
    given = split_folders(root)
    groups = [class_folders(f, name) for f in given.values() if f] if given["train"] else [class_folders(root, name)]
    return [f for group in groups for files in group.values() for f in files]


def fingerprint_folder(folder: str, name: str = "text_classes") -> dict:
    """{"bytes": total size, "sha256": hex digest} of the example files ``load`` reads under ``folder``
    (``example_files``): each file's path relative to ``folder``, its size and its bytes, in that
    order, so that a renamed, added, removed or edited example changes it (a run records it to
    confirm, on --resume or rnnlab evaluate, that it reads the same examples)."""
    import hashlib
    digest, total = hashlib.sha256(), 0
    for path in example_files(folder, name):
        size = os.path.getsize(path)
        digest.update(f"{os.path.relpath(path, folder)}\0{size}\0".encode("utf-8", "surrogateescape"))
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        total += size
    return {"bytes": total, "sha256": digest.hexdigest()}


def class_folders(root: str, name: str) -> dict[str, list[str]]:
    """{class name: its files} of a folder holding one subfolder per class."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{name}: no folder at {root!r}")
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    if len(classes) < 2:
        raise ValueError(f"{name}: {root!r} holds {len(classes)} class subfolder(s) "
                         f"{classes}; expected one subfolder of text files per class, at least two")
    out = {c: files_of(os.path.join(root, c)) for c in classes}
    for c, files in out.items():
        if not files:
            raise ValueError(f"{name}: the class folder {os.path.join(root, c)!r} holds no files")
    return out


def tokenize(text: str, tokens: str) -> list[str]:
    return list(text) if tokens == "chars" else text.split()


def read_tokens(path: str, tokens: str, name: str) -> list[str]:
    """The tokens of one UTF-8 file; an empty, unreadable or non-UTF-8 file is a ValueError naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise ValueError(f"{name}: {path!r} is not UTF-8 text (byte {err.start}: {err.reason})") from err
    except OSError as err:                        # a link to nothing, a file without read permission
        raise ValueError(f"{name}: cannot read {path!r} ({err.strerror or err})") from None
    out = tokenize(text, tokens)
    if not out:
        raise ValueError(f"{name}: {path!r} holds no {'characters' if tokens == 'chars' else 'words'}; "
                         "every example needs at least one token")
    return out


def vocabulary(docs, min_count: int = 1) -> list[str]:
    """["<unk>", tokens seen at least ``min_count`` times in ``docs`` by count descending, ties in
    code-point order]."""
    counts = Counter(t for doc in docs for t in doc)
    kept = sorted((t for t, k in counts.items() if k >= min_count and t != UNK), key=lambda t: (-counts[t], t))
    return [UNK] + kept


def encode(doc: list[str], index: dict, max_len: int) -> np.ndarray:
    """(min(len(doc), max_len),) int64 ids of the first ``max_len`` tokens; unknown tokens -> 0."""
    return np.array([index.get(t, 0) for t in doc[:max_len]], np.int64)


@dataclass
class Corpus:
    """Text files as token-id sequences (module docstring).

    train, valid, test  (list of (T_i,) int64 id arrays, (N,) int64 class ids)
    files               (train, valid, test): the file of each example
    meta                tokens, max_len, min_count, vocab (id -> token), classes (id -> name)
    """
    train: tuple
    valid: tuple
    test: tuple
    files: tuple
    meta: dict


def draw_split(per_class: dict, fractions: dict, seed: int) -> dict:
    """{"train" | "valid" | "test": [(file, class id)]}: each class's files permuted by (seed, class id)."""
    out = {"train": [], "valid": [], "test": []}
    for c, files in enumerate(per_class.values()):
        order = np.random.default_rng([seed, c]).permutation(len(files))
        start = 0
        for part in ("valid", "test"):
            k = int(round(fractions.get(part, 0) * len(files)))
            out[part] += [(files[i], c) for i in order[start:start + k]]
            start += k
        out["train"] += [(files[i], c) for i in sorted(order[start:])]
    return out


def load(root, tokens: str = "chars", max_len: int = 200, min_count: int = 1, valid_split: float = 0.1,
         test_split: float = 0.1, seed: int = 0, names: dict | None = None) -> Corpus:
    """The folder ``root`` as token-id sequences and class ids, split and encoded as the module
    docstring says. ``names`` maps the arguments to the names errors use (the command line passes
    its flags). Raises FileNotFoundError, or ValueError naming the argument or the file."""
    n_ = {**PYTHON_NAMES, **(names or {})}
    if tokens not in TOKENS:
        raise ValueError(f"{n_['tokens']}: expected one of {TOKENS}, got {tokens!r}")
    check_int(n_["max_len"], max_len, 1)
    check_int(n_["min_count"], min_count, 1)
    check_real(n_["valid_split"], valid_split, 0, 1, low_open=True, high_open=True)
    check_real(n_["test_split"], test_split, 0, 1, low_open=True, high_open=True)
    root = os.fspath(root)
    given = split_folders(root)
    if given["train"]:
        per_split = {part: class_folders(folder, n_["text_classes"]) for part, folder in given.items() if folder}
        classes = list(per_split["train"])
        for part, per_class in per_split.items():
            if list(per_class) != classes:
                raise ValueError(f"{n_['text_classes']}: {given[part]!r} has the classes {list(per_class)}, "
                                 f"{given['train']!r} has {classes}; expected the same class folders")
        missing = {part: f for part, f in (("valid", valid_split), ("test", test_split)) if not given[part]}
        split = draw_split(per_split["train"], missing, seed)
        for part in ("valid", "test"):
            if given[part]:
                split[part] = [(f, c) for c, files in enumerate(per_split[part].values()) for f in files]
    else:
        per_class = class_folders(root, n_["text_classes"])
        classes = list(per_class)
        split = draw_split(per_class, {"valid": valid_split, "test": test_split}, seed)
    for part, flag in (("train", "text_classes"), ("valid", "valid_split"), ("test", "test_split")):
        if not split[part]:
            raise ValueError(f"{n_[flag]}: the {part} split of {root!r} is empty (too few files per class)")
    docs = {part: [read_tokens(f, tokens, n_["text_classes"]) for f, _ in pairs] for part, pairs in split.items()}
    vocab = vocabulary(docs["train"], min_count)                   # the training split only
    if len(vocab) == 1:
        top = max(Counter(t for doc in docs["train"] for t in doc).values())
        raise ValueError(f"{n_['min_count']}: no training token occurs {min_count} times (the most frequent occurs "
                         f"{top} times), so every token would become <unk>; expected at most {top}")
    index = {t: i for i, t in enumerate(vocab)}
    data = tuple(([encode(d, index, max_len) for d in docs[p]], np.array([c for _, c in split[p]], np.int64))
                 for p in ("train", "valid", "test"))
    meta = {"text_classes": os.path.abspath(root), "tokens": tokens, "max_len": max_len, "min_count": min_count,
            "vocab": vocab, "classes": classes}
    return Corpus(*data, tuple([f for f, _ in split[p]] for p in ("train", "valid", "test")), meta)


def text_task(root, tokens: str = "chars", max_len: int = 200, min_count: int = 1, valid_split: float = 0.1,
              test_split: float = 0.1, seed: int = 0, names: dict | None = None) -> Task:
    """``load`` as a classification Task of token ids (the trainer puts an Embedding(V, E) first);
    ``task.meta["text_classes"]`` is ``Corpus.meta`` (kept in the model file)."""
    corpus = load(root, tokens, max_len, min_count, valid_split, test_split, seed, names)
    splits = []
    for ids, y in (corpus.train, corpus.valid, corpus.test):
        inputs = as_inputs(ids)
        splits.append(dataset(inputs, as_targets(y, inputs, "classify")[0], "classify"))
    V, C = len(corpus.meta["vocab"]), len(corpus.meta["classes"])
    meta = {"inputs": "ids", "input_size": V, "valid_size": len(splits[1]), "text_classes": corpus.meta}
    return Task("text-classes", "classify", V, C, *splits, meta)


def prediction_inputs(path, meta: dict, name: str = "--text-classes") -> tuple[list, list[str]]:
    """(id sequences, files) for a file or a folder of files (read recursively, in sorted order),
    encoded with the vocabulary in ``meta`` (``Corpus.meta``) as at training."""
    path = os.fspath(path)
    if os.path.isfile(path):
        files = [path]
    elif os.path.isdir(path):
        files = files_of(path)
        if not files:
            raise ValueError(f"{name}: the folder {path!r} holds no files")
    else:
        raise FileNotFoundError(f"{name}: no file or folder at {path!r}")
    index = {t: i for i, t in enumerate(meta["vocab"])}
    return [encode(read_tokens(f, meta["tokens"], name), index, meta["max_len"]) for f in files], files


__all__ = ["Corpus", "TOKENS", "load", "prediction_inputs", "text_task", "vocabulary"]
