"""rnnlab.data.text_classes and ``rnnlab train --text-classes`` / ``rnnlab predict --text-classes``:
the vocabulary comes from the training split only, the split is drawn from the seed per class, a tiny
corpus is learnt end to end, predictions name the classes, and bad folders and files are named."""
import os
import re

import numpy as np

from rnnlab.cli import main
from rnnlab.data import text_classes
from rnnlab.models import Embedding
from rnnlab.saving import load, read_meta


def write_files(folder, texts: dict):
    """texts: {"class/name.txt": text}."""
    for name, text in texts.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def corpus(folder, n=80, seed=0):
    """Two classes of word sequences over the same filler words; a review is "pos" when it holds
    "good" and "neg" when it holds "bad", anywhere among 4-14 fillers."""
    rng = np.random.default_rng(seed)
    texts = {}
    for cls, marker in (("pos", "good"), ("neg", "bad")):
        for i in range(n):
            words = list(rng.choice(["the", "film", "was", "a", "plot", "very", "actor", "and"], rng.integers(4, 15)))
            words.insert(int(rng.integers(0, len(words) + 1)), marker)
            texts[f"{cls}/{i:03d}.txt"] = " ".join(words) + "\n"
    return write_files(folder, texts)


def test_vocabulary_comes_from_the_training_split_only(tmp_path):
    root = write_files(tmp_path / "d", {**{f"a/{i}.txt": "x x y" for i in range(8)},
                                        **{f"b/{i}.txt": "y z" for i in range(8)}})
    c = text_classes.load(root, tokens="words", valid_split=0.25, test_split=0.25, seed=0)
    held = next(f for f in c.files[2] if "/b/" in f)               # the split depends on the names only
    with open(held, "w") as f:
        f.write("onlyhere z")
    c = text_classes.load(root, tokens="words", valid_split=0.25, test_split=0.25, seed=0)
    assert held in c.files[2] and c.meta["classes"] == ["a", "b"]
    train_files = set(c.files[0])
    assert len(train_files) == 8 and sum("/a/" in f for f in train_files) == 4   # a quarter each to valid, test
    # counts over the training files only: x twice per "a" file, y once per "a" and "b" file, z once per "b"
    assert c.meta["vocab"] == ["<unk>", "x", "y", "z"]                          # 8 x, 8 y, 4 z
    assert c.test[0][c.files[2].index(held)].tolist() == [0, 3]     # the held-out word reads as <unk>
    rare = text_classes.load(root, tokens="words", min_count=5, valid_split=0.25, test_split=0.25, seed=0)
    assert rare.meta["vocab"] == ["<unk>", "x", "y"]                 # z seen 4 times: below the min count


def test_split_is_drawn_per_class_from_the_seed(tmp_path):
    root = corpus(tmp_path / "d", n=20)
    a = text_classes.load(root, tokens="words", seed=3)
    b = text_classes.load(root, tokens="words", seed=3)
    assert a.files == b.files
    assert sorted(a.files[0] + a.files[1] + a.files[2]) == sorted(text_classes.files_of(str(root)))
    for part, n in zip(a.files, (16, 2, 2)):                        # 20 per class: 16 / 2 / 2
        assert sum("/pos/" in f for f in part) == n and sum("/neg/" in f for f in part) == n
    assert text_classes.load(root, tokens="words", seed=4).files[1] != a.files[1]


def test_given_train_and_test_folders_are_kept(tmp_path):
    corpus(tmp_path / "d" / "train", n=10)
    corpus(tmp_path / "d" / "test", n=3, seed=1)
    c = text_classes.load(tmp_path / "d", tokens="words", valid_split=0.2)
    assert len(c.files[2]) == 6 and all("/test/" in f for f in c.files[2])
    assert len(c.files[1]) == 4 and all("/train/" in f for f in c.files[1])     # drawn from train


def test_chars_and_max_len():
    assert text_classes.tokenize("ab c\n", "chars") == ["a", "b", " ", "c", "\n"]
    assert text_classes.tokenize(" ab  c\n", "words") == ["ab", "c"]
    index = {"<unk>": 0, "a": 1, "b": 2}
    np.testing.assert_array_equal(text_classes.encode(list("abcab"), index, 3), [1, 2, 0])


def test_cli_learns_a_tiny_corpus_and_predicts_class_names(tmp_path, capsys):
    root = corpus(tmp_path / "d")
    run = str(tmp_path / "run")
    assert main(["train", "--text-classes", str(root), "--tokens", "words", "--hidden", "16", "--embed-dim", "8",
                 "--epochs", "6", "--lr", "0.02", "--batch-size", "16", "--quiet", "--out", run,
                 "--metrics-json", str(tmp_path / "m.json")]) == 0
    import json
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["task"] == "text-classes" and metrics["test_accuracy"] >= 0.9     # chance: 0.5
    meta = read_meta(os.path.join(run, "model.npz"))["task"]["text_classes"]
    assert meta["classes"] == ["neg", "pos"] and meta["tokens"] == "words" and meta["vocab"][0] == "<unk>"
    model = load(os.path.join(run, "model.npz"))
    assert isinstance(model.layers[0], Embedding) and model.layers[0].params["W"].shape == (len(meta["vocab"]), 8)
    new = write_files(tmp_path / "new", {"1.txt": "the film was good and very unseenword",
                                         "2.txt": "a bad plot", "sub/3.txt": "bad bad actor"})
    out = tmp_path / "p.csv"
    assert main(["predict", os.path.join(run, "model.npz"), "--text-classes", str(new), "--out", str(out)]) == 0
    rows = [line.split(",") for line in out.read_text().splitlines()]
    assert rows[0] == ["file", "class"]
    assert rows[1:] == [[str(new / "1.txt"), "pos"], [str(new / "2.txt"), "neg"], [str(new / "sub" / "3.txt"), "neg"]]
    # one file, probabilities: one column per class, rows summing to one
    assert main(["predict", os.path.join(run, "model.npz"), "--text-classes", str(new / "2.txt"), "--proba",
                 "--out", str(tmp_path / "q.csv")]) == 0
    lines = (tmp_path / "q.csv").read_text().splitlines()
    assert lines[0] == "file,neg,pos" and len(lines) == 2
    p = np.array(lines[1].split(",")[1:], float)
    assert abs(p.sum() - 1) < 1e-5 and p[0] > 0.5


def test_cli_bad_folders_and_files_are_named(tmp_path, capsys):
    write_files(tmp_path / "one", {"only/a.txt": "x"})
    bad = corpus(tmp_path / "bad", n=10)
    (bad / "pos" / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    empty = corpus(tmp_path / "empty", n=10)
    (empty / "neg" / "blank.txt").write_text("  \n")
    small = corpus(tmp_path / "small", n=2)
    good = corpus(tmp_path / "good", n=10)
    cases = [
        (["--text-classes", str(tmp_path / "none")], r"--text-classes: no folder at"),
        (["--text-classes", str(tmp_path / "one")], r"--text-classes: '.*one' holds 1 class subfolder"),
        (["--text-classes", str(bad)], r"--text-classes: '.*latin1.txt' is not UTF-8 text \(byte 3"),
        (["--text-classes", str(empty), "--tokens", "words"], r"--text-classes: '.*blank.txt' holds no words"),
        (["--text-classes", str(small)], r"--valid-split: the valid split of '.*small' is empty"),
        (["--text-classes", str(good), "--max-len", "0"], r"--max-len: expected an integer >= 1, got 0"),
        (["--text-classes", str(good), "--min-count", "0"], r"--min-count: expected an integer >= 1, got 0"),
        (["--text-classes", str(good), "--tokens", "words", "--min-count", "100000"],
         r"--min-count: no training token occurs 100000 times \(the most frequent occurs \d+ times\), so every "
         r"token would become <unk>; expected at most \d+"),
        (["--text-classes", str(good), "--window", "3"], r"--window: needs --csv"),
        (["--max-len", "3"], r"--max-len: needs --text-classes \(your own data\), got --task adding"),
    ]
    for argv, message in cases:
        assert main(["train", *argv, "--quiet"]) == 2, argv
        err = capsys.readouterr().err
        assert re.search(message, err), (argv, err)


def test_fit_on_a_corpus_learns(tmp_path):
    import rnnlab
    from rnnlab.models import LastStep, Sequential
    c = text_classes.load(corpus(tmp_path / "d"), tokens="words")
    V = len(c.meta["vocab"])
    model = Sequential([Embedding(V, 8, seed=2), rnnlab.LSTM(8, 16, seed=0), LastStep(), rnnlab.Dense(16, 2, seed=1)])
    rnnlab.fit(model, *c.train, validation_data=c.valid, epochs=6, lr=0.02, batch_size=16, progress=False)
    assert rnnlab.evaluate(model, *c.test)["accuracy"] >= 0.9                       # chance: 0.5
    names = [c.meta["classes"][k] for k in rnnlab.predict(model, c.test[0]).argmax(-1)]
    folders = [os.path.basename(os.path.dirname(f)) for f in c.files[2]]           # the true class of each file
    assert np.mean([a == b for a, b in zip(names, folders)]) >= 0.9


def test_a_run_records_its_text_classes_folder_and_refuses_a_changed_one(tmp_path, capsys):
    """--text-classes is fingerprinted as a whole (file names, sizes, bytes): --resume and rnnlab evaluate
    refuse, naming the flag, when a file was edited, renamed or added, and go on once it is back."""
    root = corpus(tmp_path / "d", n=20)
    run = str(tmp_path / "run")
    assert main(["train", "--text-classes", str(root), "--tokens", "words", "--hidden", "4", "--embed-dim", "4",
                 "--epochs", "1", "--quiet", "--out", run]) == 0
    files = read_meta(os.path.join(run, "model.npz"))["config"]["files"]
    assert set(files) == {"text_classes"} and files["text_classes"] == text_classes.fingerprint_folder(str(root))
    one = root / "pos" / "000.txt"
    original = one.read_text()
    capsys.readouterr()
    for change, how in ((lambda: one.write_text(original.replace("the", "bad", 1) if "the" in original
                                                else "the " + original[4:]), r"the same size, other bytes or file names"),
                        (lambda: one.rename(root / "pos" / "zzz.txt"), r"the same size, other bytes or file names"),
                        (lambda: (root / "neg" / "new.txt").write_text("bad film\n"), r"bytes of its files then")):
        change()
        assert main(["train", "--out", run, "--resume", "--epochs", "2", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert re.search(rf"--text-classes: '.*d' has changed since the run read it \(.*{how}", err), err
        assert main(["evaluate", os.path.join(run, "model.npz")]) == 2
        assert "--text-classes:" in capsys.readouterr().err
        for path in (root / "pos" / "zzz.txt", root / "neg" / "new.txt"):
            if path.exists():
                path.unlink()
        one.write_text(original)
    assert main(["evaluate", os.path.join(run, "model.npz")]) == 0
    assert main(["train", "--out", run, "--resume", "--epochs", "2", "--quiet"]) == 0


def test_the_fingerprint_covers_the_examples_the_loader_reads(tmp_path):
    """The fingerprint follows a class folder that is a link (the loader reads its files) and ignores
    files beside the class folders (the loader never reads them)."""
    root = corpus(tmp_path / "d", n=6)
    (tmp_path / "elsewhere").mkdir()
    os.rename(root / "neg", tmp_path / "elsewhere" / "neg")
    os.symlink(tmp_path / "elsewhere" / "neg", root / "neg")
    before = text_classes.fingerprint_folder(str(root))
    assert text_classes.example_files(str(root)) == [f for c in ("neg", "pos")
                                                     for f in text_classes.files_of(str(root / c))]
    (root / "README").write_text("not an example\n")
    assert text_classes.fingerprint_folder(str(root)) == before
    (tmp_path / "elsewhere" / "neg" / "000.txt").write_text("edited through the link\n")
    assert text_classes.fingerprint_folder(str(root)) != before


def test_a_broken_link_among_the_examples_is_named_by_the_flag(tmp_path, capsys):
    root = corpus(tmp_path / "d", n=12)
    os.symlink(tmp_path / "nowhere.txt", root / "pos" / "broken.txt")
    assert main(["train", "--text-classes", str(root), "--epochs", "1", "--hidden", "2", "--quiet"]) == 2
    assert re.search(r"--text-classes: cannot read '.*broken.txt' \(No such file or directory\)", capsys.readouterr().err)
