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
# # Recursive networks: sentiment on a parse tree
#
# The Stanford Sentiment Treebank (Socher et al. 2013) labels every phrase of every sentence with one
# of five classes, from very negative (0) to very positive (4). A tree network computes a vector for
# every node from its children's, and a softmax on every node predicts the phrase's sentiment. Here:
# a binary Tree-LSTM (Tai et al. 2015), whose node has one forget gate per child,
#
# $$
# c = i \odot u + f_1 \odot c_1 + f_2 \odot c_2, \qquad h = o \odot \tanh(c),
# $$
#
# trained for a few seconds on a random slice of SST's training split.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from rnnlab.trees import data
from rnnlab.trees.batch import encode, make_batch
from rnnlab.trees.model import TreeModel, TreeModelConfig
from rnnlab.trees.ptb import parse_tree
from rnnlab.trees.train import TreeConfig, evaluate, make_optimizers, train_epoch
from rnnlab.trees.vocab import Vocabulary
from rnnlab.viz import tree_html, tree_svg

# %% [markdown]
# ## A parse tree
#
# SST writes its trees in Penn Treebank brackets, a label on every node:

# %%
tree = parse_tree("(3 (2 It) (4 (4 (2 's) (4 (3 (2 a) (4 (3 lovely) (2 film))) (3 (2 with) (4 (3 (3 lovely) "
                  "(2 performances)) (2 (2 by) (2 (2 (2 Buy) (2 and)) (2 Accorsi))))))) (2 .)))",
                  "example", 1, data.NUM_CLASSES)
print(" ".join(tree.leaves()))
print(f"{sum(1 for _ in tree.nodes())} nodes, height {tree.height()}")
with open("gold_tree.html", "w", encoding="utf-8") as f:
    f.write(tree_html(tree, title="SST's own labels"))

# %% [markdown]
# ## Training on a slice
#
# The treebank's files are ordered by sentiment, so the slice is drawn at random. The data folder is
# found as `rnnlab data list` shows (`$RNNLAB_DATA`, the user cache, `../shared/data`; see `rnnlab.data.paths`).

# %%
rng = np.random.default_rng(0)
train_all, dev_all = data.load_split("train"), data.load_split("dev")
train_trees = [train_all[k] for k in rng.choice(len(train_all), 2000, replace=False)]
dev_trees = [dev_all[k] for k in rng.choice(len(dev_all), 300, replace=False)]
vocab = Vocabulary.build(train_trees, lowercase=True)
train_enc = [encode(t, vocab) for t in train_trees]
dev_enc = [encode(t, vocab) for t in dev_trees]

settings = TreeConfig(lowercase=True, dropout=0.3, lr=0.05, emb_lr=0.1)
model = TreeModel(TreeModelConfig("treelstm", vocab_size=len(vocab), embed_dim=100, hidden=50, classes=5), seed=0)
optimizers = make_optimizers(settings)
history = [evaluate(model, dev_enc, binary=False)]
losses = []
start = time.perf_counter()
for epoch in range(1, 5):
    stats = train_epoch(model, optimizers, train_enc, settings, rng, epoch=epoch)
    losses.append(stats["loss"])
    history.append(evaluate(model, dev_enc, binary=False))
    print(f"epoch {epoch}: train loss {stats['loss']:.2f}, dev node accuracy {history[-1]['node_accuracy']:.3f}, "
          f"dev root accuracy {history[-1]['root_accuracy']:.3f} ({time.perf_counter() - start:.1f} s)")

# %%
neutral_share = np.mean([node.label == 2 for t in dev_trees for node in t.nodes()])
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(range(len(history)), [h["node_accuracy"] for h in history], marker="o", label="dev node accuracy")
ax.plot(range(len(history)), [h["root_accuracy"] for h in history], marker="o", label="dev root accuracy (5 classes)")
ax.axhline(neutral_share, color="k", linestyle=":", label="always 'neutral' (nodes)")
ax.set_xlabel("epoch")
ax.set_ylim(0, 1)
ax.legend(fontsize=8)
ax.set_title("Tree-LSTM on 2,000 SST sentences")
fig.tight_layout()
fig.savefig("tree_lstm_training.png", dpi=80)
plt.show()

# %% [markdown]
# ## The model's sentiment on every phrase
#
# `rnnlab.viz.tree_svg` draws the tree with every node coloured by its predicted class; hover a node
# for its phrase and probabilities. `rnnlab sst MODEL "sentence" --html out.html` does the same
# from the command line.

# %%
sentence = parse_tree("(2 (2 (2 The) (2 acting)) (2 (2 (2 is) (2 (2 not) (2 (2 very) (2 good)))) (2 .)))",
                      "sentence", 1, data.NUM_CLASSES)
batch = make_batch([encode(sentence, vocab)])
probs = model.predict(batch)[batch.rank]                          # (nodes, 5), nodes in pre-order
svg = tree_svg(sentence, probs)
with open("predicted_tree.html", "w", encoding="utf-8") as f:
    f.write(tree_html(sentence, probs, title="Tree-LSTM, 4 epochs on 2,000 sentences"))
with open("predicted_tree.svg", "w", encoding="utf-8") as f:
    f.write(svg)
try:
    from IPython.display import SVG, display
    display(SVG(svg))
except ImportError:
    pass
for node, p in zip(sentence.nodes(), probs):
    print(f"{data.LABEL_NAMES[p.argmax()]:>14} {p.max():.2f}  {' '.join(node.leaves())}")

# %%
assert history[-1]["node_accuracy"] > neutral_share + 0.02          # beats always answering 'neutral'
assert history[-1]["node_accuracy"] > history[0]["node_accuracy"] + 0.2
assert losses[-1] < losses[0]
assert svg.count("<circle") == sum(1 for _ in sentence.nodes())
assert np.allclose(probs.sum(axis=1), 1)
