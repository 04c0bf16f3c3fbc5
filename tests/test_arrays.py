"""rnnlab.data.arrays: the accepted forms of x and y, the kind read from them, the validation split,
batches cut to their longest sequence, and clear errors that name the argument and the index."""
import numpy as np
import pytest

from rnnlab.data.arrays import split_rows, task_from_arrays


def test_forms_and_kinds():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4, 2)).astype(np.float32)
    assert task_from_arrays(x, np.arange(6) % 3).kind == "classify"
    assert task_from_arrays(x, np.arange(6) % 3).output_size == 3
    reg = task_from_arrays(x, rng.standard_normal(6))
    assert reg.kind == "regression" and reg.output_size == 1 and reg.train.y.shape == (6, 1)
    assert task_from_arrays(x, rng.standard_normal((6, 3))).output_size == 3
    assert task_from_arrays(x, np.zeros((6, 4), np.int64)).kind == "classify_steps"
    ml = task_from_arrays(x, np.ones((6, 4, 5)))
    assert ml.kind == "multilabel_steps" and ml.output_size == 5
    assert task_from_arrays(x, np.arange(6), kind="regression").kind == "regression"
    uni = task_from_arrays(x[:, :, 0], np.arange(6))             # (N, T) floats: one feature
    assert uni.input_size == 1 and uni.train.x.shape == (6, 4, 1)
    ids = task_from_arrays(np.arange(24).reshape(6, 4), np.arange(6) % 2)
    assert ids.meta["inputs"] == "ids" and ids.train.x.dtype == np.int64


def test_a_ragged_list_is_padded_and_batches_are_cut_to_their_longest():
    xs = [np.ones((n, 3), np.float32) * n for n in (2, 5, 3)]
    task = task_from_arrays(xs, [0, 1, 0])
    np.testing.assert_array_equal(task.train.lengths, [2, 5, 3])
    assert task.train.x.shape == (3, 5, 3) and not task.train.x[0, 2:].any()
    batch = task.train.take(np.array([0, 2]))
    assert batch.x.shape == (2, 3, 3) and batch.mask.shape == (2, 3)
    steps = task_from_arrays([np.arange(n) for n in (2, 4)], [np.arange(n) % 2 for n in (2, 4)])
    assert steps.kind == "classify_steps" and steps.train.y.shape == (2, 4)
    assert steps.train.take(np.array([0])).y.shape == (1, 2)


def test_padding_is_zeroed_so_its_contents_never_matter():
    x = np.full((2, 4, 1), np.nan, np.float32)
    x[0, :2], x[1, :4] = 1, 2
    y = np.full((2, 4), -1)
    y[0, :2], y[1] = 1, 0
    task = task_from_arrays(x, y, lengths=[2, 4])
    assert np.isfinite(task.train.x).all() and (task.train.y >= 0).all()


def test_validation_split_is_drawn_from_the_seed():
    train, valid = split_rows(10, 0.3, seed=4)
    assert len(valid) == 3 and sorted(np.concatenate([train, valid]).tolist()) == list(range(10))
    np.testing.assert_array_equal(split_rows(10, 0.3, seed=4)[1], valid)
    assert not np.array_equal(split_rows(100, 0.3, seed=5)[1], split_rows(100, 0.3, seed=4)[1])
    x = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((10, 2, 1), np.float32)
    task = task_from_arrays(x, np.arange(10), validation_split=0.3, seed=4)
    np.testing.assert_array_equal(task.valid.x[:, 0, 0], valid)
    np.testing.assert_array_equal(task.train.y, train)


def test_without_validation_the_training_data_is_evaluated():
    task = task_from_arrays(np.zeros((3, 2, 1)), [0, 1, 1])
    assert task.valid is task.train and task.test is task.valid


@pytest.mark.parametrize("call, message", [
    (lambda: task_from_arrays(np.zeros((5, 3, 2)), np.zeros(4, np.int64)),
     r"y: expected 5 targets \(one per sequence of x\), got 4"),
    (lambda: task_from_arrays(np.where(np.arange(30).reshape(5, 3, 2) == 13, np.nan, 0.0), np.zeros(5, np.int64)),
     r"x: expected finite values, got nan at index \(2, 0, 1\)"),
    (lambda: task_from_arrays(np.zeros((5, 3, 2)), np.array([0, 0, np.inf, 0, 0])),
     r"y: expected finite values, got inf at index \(2,\)"),
    (lambda: task_from_arrays(np.zeros((5, 3, 2)), np.array([0, 1, -1, 0, 0])),
     r"y: expected class ids >= 0, got -1 at index \(2,\)"),
    (lambda: task_from_arrays(np.zeros((5, 3, 2)), np.zeros(5, np.int64), lengths=[3, 3, 4, 1, 1]),
     r"lengths: expected values in \[1, 3\] \(the time steps of x\), got 4 at index 2"),
    (lambda: task_from_arrays(np.zeros((5, 3, 2)), np.zeros(5, np.int64), lengths=[3, 3, 0, 1, 1]),
     r"got 0 at index 2"),
    (lambda: task_from_arrays(np.zeros((5, 3, 2)), np.zeros(5, np.int64), lengths=[3, 3]),
     r"lengths: expected shape \(5,\)"),
    (lambda: task_from_arrays([np.zeros((3, 2)), np.zeros((4, 3))], [0, 1]),
     r"x\[1\]: expected shape \(T_i, 2\) like x\[0\], got \(4, 3\)"),
    (lambda: task_from_arrays([np.zeros((3, 2)), np.zeros((4, 2, 1))], [0, 1]),
     r"x\[1\]: expected shape \(T_i, D\) or \(T_i,\), got \(4, 2, 1\)"),
    (lambda: task_from_arrays([np.zeros((3, 2)), np.zeros((0, 2))], [0, 1]),
     r"x\[1\]: expected at least one time step"),
    (lambda: task_from_arrays([np.arange(3), np.zeros(2)], [0, 1]),
     r"x\[1\]: expected integer token ids like x\[0\], got dtype float64"),
    (lambda: task_from_arrays([], []), r"x: expected at least one sequence"),
    (lambda: task_from_arrays(np.array([[0, -2]]), [0]), r"x: expected token ids >= 0, got -2 at index \(0, 1\)"),
    (lambda: task_from_arrays(np.zeros((2, 3, 2, 2)), [0, 1]), r"x: expected a float array \(N, T, D\) or \(N, T\)"),
    (lambda: task_from_arrays(np.zeros((2, 3, 4), np.int32), [0, 1]),
     r"x: expected token ids of shape \(N, T\), got shape \(2, 3, 4\) of int32; features are floats \(N, T, D\): "
     r"cast them with x.astype\('float32'\)"),
    (lambda: task_from_arrays(np.array([["a", "b"]]), [0]), r"x: expected floats \(N, T, D\) or integer token ids"),
    (lambda: task_from_arrays([np.zeros((3, 2)), np.zeros((2, 2))], [np.zeros(3, int), np.zeros(3, int)]),
     r"y\[1\]: expected 2 steps like x\[1\], got 3"),
    (lambda: task_from_arrays(np.zeros((2, 3, 1)), np.zeros((2, 4), np.int64)),
     r"y: expected one class id per step, shape \(2, 3\), got \(2, 4\)"),
    (lambda: task_from_arrays(np.zeros((2, 3, 1)), np.zeros((2, 1), np.int64)),
     r"y: class ids of shape \(2, 1\): one per sequence is \(N,\) = \(2,\) \(pass y.ravel\(\)\), one per step"),
    (lambda: task_from_arrays(np.zeros((2, 3, 1)), np.full((2, 3, 2), 0.5)),
     r"y: expected labels 0 or 1, got 0.5 at index \(0, 0, 0\)"),
    (lambda: task_from_arrays(np.zeros((2, 3, 1)), [0.5, 1.0], kind="classify"),
     r"y: expected integer class ids, got 0.5 at index \(0,\)"),
    (lambda: task_from_arrays(np.zeros((4, 3, 1)), [0, 1, 0, 1], validation_split=0.1),
     r"validation_split: 0.1 of 4 sequences leaves the validation split empty"),
    (lambda: task_from_arrays(np.zeros((4, 3, 1)), [0, 1, 0, 1], validation_split=0.9),
     r"leaves the training split empty"),
    (lambda: task_from_arrays(np.zeros((4, 3, 1)), [0, 1, 0, 1], validation_split=1.5),
     r"validation_split: expected a fraction in \(0, 1\)"),
    (lambda: task_from_arrays(np.zeros((4, 3, 1)), [0, 1, 0, 1], validation_split=0.5,
                              validation_data=(np.zeros((1, 3, 1)), [0])), r"not both"),
    (lambda: task_from_arrays(np.zeros((4, 3, 1)), [0, 1, 0, 1], validation_data=(np.zeros((1, 3, 2)), [0])),
     r"validation_data\[0\]: expected inputs like x \(1 feature per step\)"),
    (lambda: task_from_arrays(np.zeros((4, 3, 1)), [0, 1, 0, 1], validation_data=(np.zeros((2, 3, 1)), [0])),
     r"validation_data\[1\]: expected 2 targets"),
    (lambda: task_from_arrays(np.zeros((4, 3, 1)), np.zeros((4, 2)),
                              validation_data=(np.zeros((2, 3, 1)), np.zeros((2, 3)))),
     r"validation_data\[1\]: expected targets with trailing shape \(2,\) like y, got shape \(2, 3\)"),
    (lambda: task_from_arrays(np.zeros((4, 3, 1)), [0, 1, 0, 1], validation_data=np.zeros(3)),
     r"validation_data: expected a pair \(x, y\) or a triple"),
    (lambda: task_from_arrays(np.zeros((4, 3, 1)), [0, 1, 0, 1], kind="ranking"), r"kind: expected one of"),
    (lambda: task_from_arrays([np.zeros((2, 1))], [0], lengths=[2]), r"lengths: a list of sequences carries"),
])
def test_bad_inputs_name_the_argument_and_index(call, message):
    with pytest.raises(ValueError, match=message):
        call()
