"""Word vocabulary: index 0 is the unknown token, then words by falling count (ties alphabetical),
built from the training trees only, so dev and test words unseen in training map to ``<unk>``. With
``lowercase`` every word is lowercased before lookup (fewer, better-trained rows for random vectors)."""
from __future__ import annotations

from collections import Counter

UNK = "<unk>"


class Vocabulary:
    def __init__(self, words, lowercase: bool = False):
        words = list(words)
        self.lowercase = bool(lowercase)
        if not words or words[0] != UNK:
            raise ValueError(f"words: expected the list to start with {UNK!r}, got {words[:1]!r}")
        if len(set(words)) != len(words):
            raise ValueError("words: expected distinct words, got duplicates")
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}

    @classmethod
    def build(cls, trees, min_count: int = 1, lowercase: bool = False) -> "Vocabulary":
        """Words appearing at least ``min_count`` times in the leaves of ``trees``."""
        if min_count < 1:
            raise ValueError(f"min_count: expected an integer >= 1, got {min_count!r}")
        counts = Counter(w.lower() if lowercase else w for t in trees for w in t.leaves())
        counts.pop(UNK, None)
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls([UNK] + kept, lowercase)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word) -> bool:
        return (word.lower() if self.lowercase else word) in self.index

    def id(self, word: str) -> int:
        return self.index.get(word.lower() if self.lowercase else word, 0)

    def ids(self, words) -> list[int]:
        return [self.id(w) for w in words]
