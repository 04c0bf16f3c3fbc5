"""Short training runs pinned to the last digit, per engine.

Engines round differently (the compiled engine's tanh is a rational approximation, its sums run in
another order, and each instruction set orders them differently again), so a run's numbers depend on
the engine that computed it, and RESULTS.md's rows on the engine they were measured with. These runs
pin the validation losses of a few short adding-problem runs per engine, so that any change to an
engine's rounding shows here first; when such a change is intended, the RESULTS rows near a threshold
are rerun and these numbers are updated (run the runs below and paste the new values).
"""
import pytest

from rnnlab import engine
from rnnlab.train import Config, train

RUNS = {
    "lstm": dict(task="adding", model="lstm", T=20, train_size=256, hidden=8, epochs=2, batch_size=32, lr=0.01, seed=0),
    "gru": dict(task="adding", model="gru", T=20, train_size=256, hidden=8, epochs=2, batch_size=32, lr=0.01, seed=0),
    "rnn": dict(task="adding", model="rnn", T=20, train_size=256, hidden=8, epochs=2, batch_size=32, lr=0.01, seed=0),
}
# validation loss after each epoch, as float(), per engine (rnnlab.engine.info()["engine"]) and run
PINNED = {
    'numpy': {"lstm": [0.2389291226863861, 0.20266398787498474], "gru": [0.1784726083278656, 0.1901034265756607], "rnn": [0.22614479064941406, 0.17638438940048218]},
    'c-avx512': {"lstm": [0.23892910033464432, 0.20266396552324295], "gru": [0.1784726306796074, 0.1901034414768219], "rnn": [0.22614479809999466, 0.17638438194990158]},
    'c-avx2': {"lstm": [0.23892910033464432, 0.20266398042440414], "gru": [0.1784726232290268, 0.1901034414768219], "rnn": [0.22614478319883347, 0.17638438194990158]},
    'c-generic': {"lstm": [0.23892909288406372, 0.20266398787498474], "gru": [0.1784726232290268, 0.1901034414768219], "rnn": [0.22614478319883347, 0.17638438194990158]},
}


@pytest.mark.parametrize("name", ["numpy", "c-avx512", "c-avx2", "c-generic"])
def test_short_runs_reproduce_their_pinned_numbers(name, monkeypatch):
    monkeypatch.setenv("RNNLAB_ENGINE", name)
    if engine.active() != name:
        pytest.skip(f"engine {name} does not run here (this build and CPU give {engine.active()})")
    for run, kw in RUNS.items():
        result = train(Config(**kw), progress=False, echo=lambda *a: None)
        assert [float(h["valid_loss"]) for h in result["history"]] == PINNED[name][run], (name, run)
