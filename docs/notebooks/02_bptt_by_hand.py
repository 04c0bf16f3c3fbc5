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
# # Backpropagation through time, by hand
#
# The LSTM's backward pass, written out in about thirty lines: the deltas flow back in time through
# $h$ and $c$, and down the layers through $dx$. From the forward equations
# $c_t = f_t c_{t-1} + i_t g_t$ and $h_t = o_t \tanh(c_t)$, at each step, from the last back:
#
# $$
# \begin{aligned}
# do &= dh \odot \tanh c_t, \qquad dc \mathrel{+}= dh \odot o \odot (1 - \tanh^2 c_t) \\
# di &= dc \odot g, \quad df = dc \odot c_{t-1}, \quad dg = dc \odot i, \quad
# dc_{t-1} = dc \odot f \\
# da &= [di\, i(1-i),\ df\, f(1-f),\ do\, o(1-o),\ dg\,(1-g^2)], \qquad dh_{t-1} = da\, U^\top
# \end{aligned}
# $$
#
# and the weight gradients are sums over all steps: $dW = \sum_t x_t^\top da_t$,
# $dU = \sum_t h_{t-1}^\top da_t$, $db = \sum_t da_t$, $dx_t = da_t W^\top$.

# %%
import matplotlib.pyplot as plt
import numpy as np

import rnnlab
from rnnlab.gradcheck import check_entries

sigmoid = lambda z: 1 / (1 + np.exp(-z))


def forward(x, p, h0, c0):
    """x (T, N, D) -> h (T+1, N, H) with h[0] = h0, and the cache of every step."""
    H = p["U"].shape[0]
    hs, cs, gates = [h0], [c0], []
    for x_t in x:
        a = x_t @ p["W"] + hs[-1] @ p["U"] + p["b"]
        i, f, o, g = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
        cs.append(f * cs[-1] + i * g)
        hs.append(o * np.tanh(cs[-1]))
        gates.append((i, f, o, g))
    return np.array(hs), (x, np.array(cs), gates)


def backward(dhs, p, hs, cache, mistake=None):
    """dhs (T, N, H): dL/dh_t from above. Returns dx, and grads of W, U, b (summed over steps)."""
    x, cs, gates = cache
    T, N, H = dhs.shape
    dh_next, dc_next = np.zeros((N, H)), np.zeros((N, H))
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dx = np.zeros_like(x)
    for t in reversed(range(T)):
        i, f, o, g = gates[t]
        tanh_c = np.tanh(cs[t + 1])
        dh = dhs[t] + dh_next                                   # from the output and from step t+1
        do = dh * tanh_c                                        # h_t = o * tanh(c_t)
        dc = dc_next + dh * o * (1 - tanh_c ** 2)
        di, df, dg = dc * g, dc * cs[t], dc * i                 # c_t = f * c_{t-1} + i * g
        da = np.hstack([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)])
        dc_next = dc * f if mistake != "cell path" else np.zeros_like(dc)
        dh_next = da @ p["U"].T                                 # a = x_t W + h_{t-1} U + b
        dx[t] = da @ p["W"].T
        if mistake != "last step only" or t == T - 1:
            grads["W"] += x[t].T @ da
        grads["U"] += hs[t].T @ da
        db = da.sum(axis=0)
        if mistake == "bias from another gate":
            db[H:2 * H] = db[:H]                                # db_f taken from the input gate's delta
        grads["b"] += db
    return dx, grads


# %% [markdown]
# ## Two layers, checked against rnnlab
#
# Stack two layers: the first layer's output is the second's input, and the second layer's $dx$ is the
# delta sent down to the first. We use rnnlab's own initialisation and check the hand-written result
# against `rnnlab.LSTM(num_layers=2).backward` on the loss $L = \sum_t \sum y_t \odot P_t$ for a random
# probe $P$.

# %%
T, N, D, H = 6, 3, 4, 5
net = rnnlab.LSTM(D, H, num_layers=2, dtype="float64", seed=0)
rng = np.random.default_rng(0)
x = rng.standard_normal((T, N, D))
h0, c0 = 0.5 * rng.standard_normal((2, 2, N, H))               # non-zero initial states hide fewer bugs
P = rng.standard_normal((T, N, H))
params = [{k: net.params[f"l{l}.{k}"] for k in "WUb"} for l in range(2)]


def run_two_layers(mistake=None):
    hs1, cache1 = forward(x, params[0], h0[0], c0[0])
    hs2, cache2 = forward(hs1[1:], params[1], h0[1], c0[1])
    loss = float((hs2[1:] * P).sum())
    d1, grads2 = backward(P, params[1], hs2, cache2, mistake)   # top layer first
    dx, grads1 = backward(d1, params[0], hs1, cache1, mistake)   # then its delta goes down
    return loss, dx, [grads1, grads2]


loss, dx, grads = run_two_layers()
y, _, lib_cache = net.forward(x.transpose(1, 0, 2), (h0, c0))
lib_dx, _, lib_grads = net.backward(P.transpose(1, 0, 2), None, lib_cache)
worst = max(np.abs(grads[l][k] - lib_grads[f"l{l}.{k}"]).max() for l in range(2) for k in "WUb")
print(f"loss {loss:.6f} vs rnnlab {float((y * P.transpose(1, 0, 2)).sum()):.6f}; "
      f"max |grad - rnnlab grad| = {worst:.1e}, max |dx - rnnlab dx| = {np.abs(dx.transpose(1, 0, 2) - lib_dx).max():.1e}")
assert worst < 1e-12 and np.allclose(dx.transpose(1, 0, 2), lib_dx, atol=1e-12)

# %% [markdown]
# ## The gradient check
#
# `rnnlab.gradcheck.check_entries` perturbs entries of an array in place, takes central differences of
# the loss and reports the worst error relative to the array's largest gradient.

# %%
def gradcheck_errors(mistake=None):
    """Relative error of every parameter's hand-written gradient against central differences."""
    _, _, grads = run_two_layers(mistake)
    loss_fn = lambda: run_two_layers()[0]
    return {f"l{l}.{k}": check_entries(f"l{l}.{k}", params[l][k], grads[l][k],
                                       np.arange(params[l][k].size), loss_fn, 1e-6, 1e-8).max_rel_err
            for l in range(2) for k in "WUb"}


correct = gradcheck_errors()
print("correct backward:", {k: f"{v:.1e}" for k, v in correct.items()})
assert max(correct.values()) < 1e-7

# %% [markdown]
# ## Three classic mistakes
#
# Each of these has been made in real published code. Each passes a casual look (the shapes are right,
# the loss goes down) and each fails the gradient check:
#
# 1. **Dropping the cell-state path**: forgetting $dc_{t-1} \mathrel{+}= dc_t \odot f_t$, so the gradient
#    reaches earlier steps only through $h$, never along the cell's "constant error carousel".
# 2. **A bias gradient from another gate's delta**: $db_f$ computed from $di$ (a copy-paste slip
#    between gate blocks).
# 3. **The input-weight gradient from the last step only**: $dW = x_T^\top da_T$ instead of the sum
#    over all steps.

# %%
errors = {}
for mistake in ("cell path", "bias from another gate", "last step only"):
    errors[mistake] = gradcheck_errors(mistake)
    worst_name = max(errors[mistake], key=errors[mistake].get)
    print(f"{mistake:>24}: worst relative error {errors[mistake][worst_name]:.2f} in {worst_name}")

assert min(errors["cell path"][k] for k in ("l0.W", "l0.U", "l1.W", "l1.U")) > 1e-2
assert errors["bias from another gate"]["l0.b"] > 1e-2 and errors["bias from another gate"]["l1.b"] > 1e-2
assert errors["bias from another gate"]["l1.W"] < 1e-7                   # only the biases are wrong
assert errors["last step only"]["l0.W"] > 1e-2 and errors["last step only"]["l1.W"] > 1e-2
assert errors["last step only"]["l1.U"] < 1e-7

# %%
names = list(correct)
fig, ax = plt.subplots(figsize=(8, 3.5))
width = 0.2
for j, (label, errs) in enumerate([("correct", correct)] + list(errors.items())):
    ax.bar(np.arange(len(names)) + (j - 1.5) * width, [max(errs[n], 1e-16) for n in names], width, label=label)
ax.set_yscale("log")
ax.set_xticks(np.arange(len(names)), names)
ax.set_ylabel("gradcheck relative error")
ax.axhline(1e-7, color="k", linewidth=0.8, linestyle=":")
ax.legend(fontsize=8)
ax.set_title("hand-written BPTT against central differences")
fig.tight_layout()
fig.savefig("bptt_mistakes.png", dpi=80)
plt.show()
