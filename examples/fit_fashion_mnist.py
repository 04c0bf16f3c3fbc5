"""Fashion-MNIST handed to ``rnnlab.fit`` as plain arrays: each 28 x 28 image a sequence of 28 rows of
28 pixels in [0, 1], its class read at the last step.

    python examples/fit_fashion_mnist.py --hidden 64 --epochs 3
    python examples/fit_fashion_mnist.py --train-size 20000 --batch-size 128    # a smaller budget

The images are read with rnnlab's IDX reader (rnnlab.data.idx; the Debian package
dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist). The last 5,000 training images
validate (as ``rnnlab train --task fashion-mnist`` does), the first ``--train-size`` of the others
train (default all 55,000); the parameters of the best validation loss
are scored on the 10,000 test images with ``rnnlab.evaluate``.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

import rnnlab
from rnnlab.data.idx import load_images
from rnnlab.models import LastStep, Sequential


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--train-size", type=int, default=55_000, help="training images, the first ones")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    images = load_images("fashion-mnist", args.data_dir)
    x = (images["train_images"] / 255.0).astype(np.float32)       # (60000, 28, 28): N, T, D
    y = images["train_labels"].astype(np.int64)
    test_x = (images["test_images"] / 255.0).astype(np.float32)
    test_y = images["test_labels"].astype(np.int64)
    model = Sequential([rnnlab.LSTM(28, args.hidden, seed=0), LastStep(), rnnlab.Dense(args.hidden, 10, seed=1)])
    start = time.perf_counter()
    n = min(args.train_size, len(x) - 5000)
    history = rnnlab.fit(model, x[:n], y[:n], validation_data=(x[-5000:], y[-5000:]), epochs=args.epochs,
                         batch_size=args.batch_size, lr=args.lr, progress=False)
    test = rnnlab.evaluate(model, test_x, test_y)
    print(json.dumps({"train_size": n, "hidden": args.hidden, "epochs": args.epochs, "best_epoch": history.best_epoch,
                      "valid_accuracy": history.valid["accuracy"], "test_accuracy": test["accuracy"],
                      "test_loss": test["loss"], "seconds": round(time.perf_counter() - start, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
