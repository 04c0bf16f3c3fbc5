"""The Stanford Sentiment Treebank's sentences as class folders for ``rnnlab train --text-classes``.

    python examples/make_sst_folders.py --out runs/sst-folders            # 5 classes
    python examples/make_sst_folders.py --out runs/sst-binary --binary    # negative / positive

Reads the PTB trees of train.txt, dev.txt and test.txt (Socher et al. 2013; the folder ``sst`` under
the data root, see rnnlab.trees.data) and writes each sentence, its words joined by single spaces,
to OUT/<split>/<class>/<line>.txt with split train, valid (from dev.txt) or test and the class of the
tree's root label: 0-very-negative .. 4-very-positive, or with --binary negative (0, 1) and
positive (3, 4), neutral sentences dropped. rnnlab keeps these given splits.
"""
from __future__ import annotations

import argparse
import os
import shutil

from rnnlab.trees.data import load_split

FINE = ("0-very-negative", "1-negative", "2-neutral", "3-positive", "4-very-positive")
SPLITS = {"train": "train", "valid": "dev", "test": "test"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write (replaced whole)")
    parser.add_argument("--binary", action="store_true", help="negative / positive, neutral dropped")
    parser.add_argument("--data-dir", default=None, help="where the sst folder is looked for first")
    args = parser.parse_args(argv)
    tmp = args.out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for split, name in SPLITS.items():
        counts = {}
        for i, tree in enumerate(load_split(name, args.data_dir)):
            if args.binary and tree.label == 2:
                continue
            label = ("negative" if tree.label < 2 else "positive") if args.binary else FINE[tree.label]
            folder = os.path.join(tmp, split, label)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{i:05d}.txt"), "w", encoding="utf-8") as f:
                f.write(" ".join(tree.leaves()) + "\n")
            counts[label] = counts.get(label, 0) + 1
        print(f"{split}: {sum(counts.values())} sentences {dict(sorted(counts.items()))}")
    shutil.rmtree(args.out, ignore_errors=True)
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
