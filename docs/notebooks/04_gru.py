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
# # The GRU: two gates, one state
#
# The gated recurrent unit (Cho et al. 2014) merges the LSTM's cell and output into one state $h$ and
# uses two gates: the update gate $z$ (how much of $h_{t-1}$ is kept) and the reset gate $r$ (how much
# of $h_{t-1}$ enters the candidate $n$):
#
# $$
# r_t = \sigma(x_t W_r + h_{t-1} U_r + b_r), \quad z_t = \sigma(x_t W_z + h_{t-1} U_z + b_z), \quad
# h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}
# $$
#
# Two forms of the candidate are in use. **Reset before** (Cho et al. 2014):
# $n_t = \tanh(x_t W_n + b_n + (r_t \odot h_{t-1}) U_n)$. **Reset after** (cuDNN, PyTorch, Keras's
# default): $n_t = \tanh(x_t W_n + b_n + r_t \odot (h_{t-1} U_n + b_{hn}))$, which lets $h_{t-1} U$ be
# computed for all three gates in one product, and needs its own bias $b_{hn}$.

# %%
import matplotlib.pyplot as plt
import numpy as np

import rnnlab
from rnnlab.gradcheck import gradcheck
from rnnlab.summary import summary

D, H, N = 3, 4, 2
after = rnnlab.GRU(D, H, reset_after=True, dtype="float64", seed=0)
before = rnnlab.GRU(D, H, reset_after=False, dtype="float64", seed=0)
for k in before.params:                                   # the same W, U, b in both
    before.params[k][...] = after.params[k]
print({k: v.shape for k, v in after.params.items()})
print({k: v.shape for k, v in before.params.items()})

# %% [markdown]
# One step by hand, both forms, checked against the layers:

# %%
sigmoid = lambda z: 1 / (1 + np.exp(-z))
rng = np.random.default_rng(1)
x_t, h_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H))
W, U, b = after.params["l0.W"], after.params["l0.U"], after.params["l0.b"]
b_hn = after.params["l0.b_hn"]
Wr, Wz, Wn = W[:, :H], W[:, H:2 * H], W[:, 2 * H:]
Ur, Uz, Un = U[:, :H], U[:, H:2 * H], U[:, 2 * H:]
br, bz, bn = b[:H], b[H:2 * H], b[2 * H:]

r = sigmoid(x_t @ Wr + h_prev @ Ur + br)
z = sigmoid(x_t @ Wz + h_prev @ Uz + bz)
n_after = np.tanh(x_t @ Wn + bn + r * (h_prev @ Un + b_hn))
n_before = np.tanh(x_t @ Wn + bn + (r * h_prev) @ Un)
h_after = (1 - z) * n_after + z * h_prev
h_before = (1 - z) * n_before + z * h_prev

_, h_lib_after, _ = after.forward(x_t[:, None], h_prev[None])
_, h_lib_before, _ = before.forward(x_t[:, None], h_prev[None])
assert np.allclose(h_after, h_lib_after[0], atol=1e-12)
assert np.allclose(h_before, h_lib_before[0], atol=1e-12)
print("max |h_after - h_before| =", np.abs(h_after - h_before).max())

# %% [markdown]
# Even with $b_{hn} = 0$ the two forms differ: $r \odot (h U_n)$ scales the *products*, while
# $(r \odot h) U_n$ scales the *inputs* of the product, and the two are equal only when all entries
# of $r$ are equal. Over a sequence the difference grows:

# %%
after.params["l0.b_hn"][...] = 0.0
x = rng.standard_normal((N, 20, D))
y_after, _, _ = after.forward(x)
y_before, _, _ = before.forward(x)
gap = np.abs(y_after - y_before).max(axis=(0, 2))                 # per step
print("max difference per step:", np.round(gap, 3))
assert gap.max() > 1e-2

# %% [markdown]
# Both backward passes are checked against central differences, on sequences of 5 steps with
# non-zero initial states and ragged lengths:

# %%
reports = {name: gradcheck(layer, lengths=[5, 2, 4]) for name, layer in
           (("reset after", rnnlab.GRU(3, 4, reset_after=True, seed=0)),
            ("reset before", rnnlab.GRU(3, 4, reset_after=False, seed=0)))}
for name, report in reports.items():
    print(f"{name}: worst relative error {report.worst:.1e} ({report.worst_name})")
    assert report.worst < 1e-6

# %% [markdown]
# ## GRU against LSTM: parameters
#
# With $G$ gate blocks, a layer holds $(D + H) \cdot GH$ weights and $GH$ biases: $G = 4$ for the LSTM,
# 3 for the GRU (plus $b_{hn}$ for reset-after). For the same $H$ the GRU has three quarters of the
# LSTM's parameters.

# %%
sizes = [16, 32, 64, 128, 256]
counts = {"LSTM": [rnnlab.LSTM(28, h).num_params() for h in sizes],
          "GRU reset-after": [rnnlab.GRU(28, h).num_params() for h in sizes],
          "GRU reset-before": [rnnlab.GRU(28, h, reset_after=False).num_params() for h in sizes],
          "RNN": [rnnlab.RNN(28, h).num_params() for h in sizes]}
for h, lstm_n, gru_n in zip(sizes, counts["LSTM"], counts["GRU reset-after"]):
    assert lstm_n == (28 + h) * 4 * h + 4 * h
    assert gru_n == (28 + h) * 3 * h + 3 * h + h
print(summary(rnnlab.GRU(28, 128)))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
for name, c in counts.items():
    ax1.plot(sizes, c, marker="o", label=name)
ax1.set_xscale("log", base=2)
ax1.set_yscale("log")
ax1.set_xlabel("hidden units H (D = 28)")
ax1.set_ylabel("parameters")
ax1.legend(fontsize=8)
ax1.set_title("parameter counts")
ax2.plot(np.arange(1, 21), gap, marker=".")
ax2.set_xlabel("time step")
ax2.set_ylabel("max |h_after - h_before|")
ax2.set_title("reset-after vs reset-before, same weights")
fig.tight_layout()
fig.savefig("gru.png", dpi=80)
plt.show()
