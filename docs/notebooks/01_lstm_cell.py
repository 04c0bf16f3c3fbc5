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
# # From the note to code: one LSTM step
#
# The LSTM cell has three inputs (the input $x_t$, the previous output $h_{t-1}$ and the previous cell
# state $c_{t-1}$), two outputs ($h_t$ and $c_t$) and three gates (input $i$, forget $f$, output $o$),
# plus the candidate state $g$ (the note's $\tilde c_t$):
#
# $$
# \begin{aligned}
# i_t &= \sigma(x_t W_i + h_{t-1} U_i + b_i) &
# f_t &= \sigma(x_t W_f + h_{t-1} U_f + b_f) \\
# o_t &= \sigma(x_t W_o + h_{t-1} U_o + b_o) &
# g_t &= \tanh(x_t W_g + h_{t-1} U_g + b_g) \\
# c_t &= f_t \odot c_{t-1} + i_t \odot g_t &
# h_t &= o_t \odot \tanh(c_t)
# \end{aligned}
# $$
#
# rnnlab fuses the four gates into one input matrix `W` (D, 4H), one recurrent matrix `U` (H, 4H)
# and one bias `b` (4H,), with the blocks in the order (i, f, o, g). Here we compute one step by hand
# in NumPy and check it against `rnnlab.LSTM`.

# %%
import matplotlib.pyplot as plt
import numpy as np

import rnnlab
from rnnlab.models import Dense, LastStep, Sequential, mlp

D, H, N = 3, 4, 2                                   # input features, hidden units, batch
lstm = rnnlab.LSTM(input_size=D, hidden_size=H, dtype="float64", seed=0)
W, U, b = lstm.params["l0.W"], lstm.params["l0.U"], lstm.params["l0.b"]
print({k: v.shape for k, v in lstm.params.items()})

# %% [markdown]
# The eight parameter groups of the note, $W_f, b_f, W_i, b_i, W_o, b_o, W_c, b_c$, are column blocks
# of the fused arrays. The note's $W_f$ acts on the concatenation $[h_{t-1}, x_t]$, so it is the
# stacked block $[U_f; W_f]$.

# %%
def block(A, gate):
    """Columns of gate ("i", "f", "o", "g") in a fused (.., 4H) array."""
    k = "ifog".index(gate)
    return A[..., k * H:(k + 1) * H]


groups = {}
for gate, note_name in zip("fiog", "fioc"):           # the note calls the candidate's weights W_c, b_c
    groups[f"W_{note_name}"] = np.vstack([block(U, gate), block(W, gate)])   # acts on [h_{t-1}, x_t]
    groups[f"b_{note_name}"] = block(b, gate)
for name, value in groups.items():
    print(f"{name}: {value.shape}")
assert sum(v.size for v in groups.values()) == lstm.num_params()

# %% [markdown]
# One step by hand, with the note's names, from a non-zero state:

# %%
sigmoid = lambda z: 1 / (1 + np.exp(-z))
rng = np.random.default_rng(1)
x_t = rng.standard_normal((N, D))
h_prev, c_prev = rng.standard_normal((N, H)), rng.standard_normal((N, H))
hx = np.hstack([h_prev, x_t])                         # [h_{t-1}, x_t]

f_t = sigmoid(hx @ groups["W_f"] + groups["b_f"])
i_t = sigmoid(hx @ groups["W_i"] + groups["b_i"])
o_t = sigmoid(hx @ groups["W_o"] + groups["b_o"])
c_tilde = np.tanh(hx @ groups["W_c"] + groups["b_c"])
c_t = f_t * c_prev + i_t * c_tilde
h_t = o_t * np.tanh(c_t)

y, (h_lib, c_lib), _ = lstm.forward(x_t[:, None, :], (h_prev[None], c_prev[None]))   # one time step
print("max |h_t - rnnlab| =", np.abs(h_t - h_lib[0]).max())
print("max |c_t - rnnlab| =", np.abs(c_t - c_lib[0]).max())
assert np.allclose(h_t, h_lib[0], atol=1e-12) and np.allclose(c_t, c_lib[0], atol=1e-12)
assert np.allclose(y[:, 0], h_t, atol=1e-12)

# %% [markdown]
# The gates are numbers between 0 and 1 per unit: the forget gate decides how much of $c_{t-1}$ is
# kept, the input gate how much of the candidate is written.

# %%
fig, axes = plt.subplots(1, 6, figsize=(11, 2.2))
for ax, (name, value) in zip(axes, [("f", f_t), ("i", i_t), ("o", o_t), ("c~", c_tilde), ("c", c_t), ("h", h_t)]):
    ax.imshow(value, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_title(name)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("one LSTM step: gates and states (batch rows x hidden units)")
fig.tight_layout()
fig.savefig("lstm_step.png", dpi=80)
plt.show()

# %% [markdown]
# ## Counting parameters: TensorFlow's BasicLSTMCell and PyTorch
#
# The note's MNIST classifier reads an image row by row (28 features per step) with 128 units, and a
# 10-way softmax head reads the last output. TensorFlow's `BasicLSTMCell` holds one kernel of shape
# $(28 + 128) \times 512$ and one bias of 512: that is rnnlab's layout too. PyTorch's `nn.LSTM` keeps
# two bias vectors, `b_ih` and `b_hh`, although only their sum enters the equations, so it counts
# 512 more.

# %%
classifier = Sequential([rnnlab.LSTM(28, 128), LastStep(), Dense(128, 10)])
print(classifier.summary())
tf_count = (28 + 128) * 512 + 512 + 128 * 10 + 10
torch_count = 28 * 512 + 128 * 512 + 2 * 512 + 128 * 10 + 10    # W_ih, W_hh, b_ih, b_hh + head
print(f"TF BasicLSTMCell + head: {tf_count:,}   PyTorch nn.LSTM + nn.Linear: {torch_count:,}")
assert classifier.num_params() == tf_count == 81_674
assert torch_count - tf_count == 4 * 128

try:
    import torch
    t_count = sum(p.numel() for p in torch.nn.LSTM(28, 128).parameters()) + \
        sum(p.numel() for p in torch.nn.Linear(128, 10).parameters())
    print("counted by torch itself:", t_count)
    assert t_count == torch_count
except ImportError:
    print("torch is not installed: PyTorch's count is the formula above")

# %% [markdown]
# ## The note's 100-300-10 network
#
# A fully connected net with sigmoid units: $100 \times 300 + 300$ and $300 \times 10 + 10$.

# %%
net = mlp([100, 300, 10], seed=0)
print(net.summary(torch=False))
assert net.num_params() == 100 * 300 + 300 + 300 * 10 + 10 == 33_310
out, _ = net.forward(np.random.default_rng(0).standard_normal((5, 100)).astype("float32"))
assert out.shape == (5, 10) and ((out > 0) & (out < 1)).all()          # sigmoid outputs
