# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Deploying: a PyTorch model run with NumPy alone
#
# A model trained in PyTorch is a `state_dict` of arrays; `rnnlab.interop.torch.load_model` maps them
# to rnnlab's layout (PyTorch's gate order (i, f, g, o) to rnnlab's (i, f, o, g), and its two bias
# vectors `b_ih + b_hh` to one), and `rnnlab.saving.save` writes an `.npz` that needs only NumPy to
# run: no torch on the machine that serves the model. ONNX goes the same way, both directions.

# %%
import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import torch

import rnnlab
import rnnlab.interop.torch
from rnnlab.saving import save

torch.manual_seed(0)


class Classifier(torch.nn.Module):
    """Two LSTM layers read the sequence, a linear head reads the last step."""

    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.LSTM(8, 16, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(16, 3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y[:, -1])


net = Classifier().eval()
torch.save(net.state_dict(), "model.pt")
x = np.random.default_rng(0).standard_normal((5, 12, 8)).astype("float32")
with torch.no_grad():
    expected = net(torch.from_numpy(x)).numpy()

model = rnnlab.interop.torch.load_model("model.pt")               # rnn.* and head.* -> LSTM, LastStep, Dense
print(model.summary())
save("model.npz", model)

# %% [markdown]
# ## In a process without torch
#
# A fresh Python process in which `import torch` fails loads the `.npz` and computes the outputs.

# %%
script = """
import sys
sys.modules["torch"] = None                 # any import of torch now raises ImportError
import numpy as np
from rnnlab.saving import load
model = load("model.npz")
y, _ = model.forward(np.load("x.npy"))
np.save("y_numpy.npy", y)
print("computed with", sorted(m for m in ("numpy", "torch") if sys.modules.get(m) is not None))
"""
np.save("x.npy", x)
root = os.path.dirname(os.path.dirname(os.path.abspath(rnnlab.__file__)))
env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
print(done.stdout, done.stderr)
assert done.returncode == 0 and "['numpy']" in done.stdout
y_numpy = np.load("y_numpy.npy")
err_torch = np.abs(y_numpy - expected).max()
print(f"max |NumPy - PyTorch| = {err_torch:.1e}")
assert err_torch < 1e-5

# %% [markdown]
# ## ONNX
#
# The same model exported as a graph of ONNX's standard `LSTM` operators, run by onnxruntime, and read
# back into rnnlab.

# %%
errors = {"NumPy vs PyTorch": err_torch}
try:
    import onnxruntime

    import rnnlab.interop.onnx
    rnnlab.interop.onnx.save_model(model, "model.onnx")
    session = onnxruntime.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
    y_onnx = session.run(["y"], {"x": x, "lengths": np.full(len(x), x.shape[1], np.int32)})[0]
    back = rnnlab.interop.onnx.load_model("model.onnx")
    y_back, _ = back.forward(x)
    errors["onnxruntime vs PyTorch"] = np.abs(y_onnx - expected).max()
    errors["NumPy (from .onnx) vs PyTorch"] = np.abs(y_back - expected).max()
    for name, e in errors.items():
        print(f"{name}: max abs error {e:.1e}")
    assert max(errors.values()) < 1e-5
except ImportError as err:
    print(f"ONNX part skipped: {err}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
ax1.scatter(expected.ravel(), y_numpy.ravel(), s=12)
ax1.plot([expected.min(), expected.max()], [expected.min(), expected.max()], "k:", linewidth=0.8)
ax1.set_xlabel("PyTorch logits")
ax1.set_ylabel("rnnlab (NumPy) logits")
ax1.set_title("same model, two runtimes")
ax2.barh(list(errors), [max(e, 1e-12) for e in errors.values()])
ax2.set_xscale("log")
ax2.set_xlabel("max abs error (float32)")
fig.tight_layout()
fig.savefig("deploy.png", dpi=80)
plt.show()

# %% [markdown]
# ## A TensorFlow 1 checkpoint, without TensorFlow
#
# The classic TF1 model, `BasicLSTMCell(128, forget_bias=1.0)` under `dynamic_rnn` over 28 rows of
# 28 pixels with a 10-way dense head, saved by `tf.train.Saver` as `model.ckpt.index`,
# `model.ckpt.data-00000-of-00001` and `model.ckpt.meta`. `rnnlab.interop.tf1.load_checkpoint` reads
# the tensor-bundle files with NumPy (checking every checksum), finds the cell by its scope, reads
# `forget_bias` from the `.meta` graph (a checkpoint does not store it), and builds the model. The
# checkpoint and the logits TensorFlow 2.21 computed from it come from the repository's test fixtures
# (`tests/fixtures/tf1/make_fixtures.py` made them).

# %%
from pathlib import Path

import rnnlab.interop.tf1

fixtures = Path(rnnlab.__file__).resolve().parents[1] / "tests" / "fixtures" / "tf1"
tf_model = rnnlab.interop.tf1.load_checkpoint(str(fixtures / "mnist.ckpt"))
reference = np.load(fixtures / "mnist.npz")
print(tf_model.summary(torch=False))
print("forget_bias read from the graph:", tf_model.layers[0].forget_bias)
tf_logits, _ = tf_model.forward(reference["x"])
err_tf = np.abs(tf_logits - reference["logits"]).max()
print(f"rnnlab vs TensorFlow logits: max abs error {err_tf:.1e}")
assert tf_model.layers[0].forget_bias == 1.0
assert err_tf < 1e-5
