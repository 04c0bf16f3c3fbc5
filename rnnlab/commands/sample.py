"""``rnnlab sample``: text from a character-level model trained with ``rnnlab train --task text``.

The prime text runs through the model to set its state; then, one character at a time, the next
character is drawn from softmax(logits / temperature) and fed back (temperature -> 0: the argmax).

    rnnlab sample runs/shakespeare/model.npz --prime "ROMEO:" --length 500 --temperature 0.8
"""
from __future__ import annotations

import numpy as np

from ..layers import Dense, Dropout, Embedding, Recurrent
from ..models import predicting
from ..checks import check_int, check_real
from ..saving import load, read_meta
from ._flags import check_flag_int, check_flag_real, check_model_file


def add_parser(sub):
    p = sub.add_parser("sample", help="generate text from a trained character-level model")
    p.add_argument("model", help="model.npz written by rnnlab train --task text")
    p.add_argument("--prime", default="\n", help="text to start from (default: a newline)")
    p.add_argument("--length", type=int, default=500, help="characters to generate (default 500)")
    p.add_argument("--temperature", type=float, default=0.8, help="softmax temperature; 0: greedy (default 0.8)")
    p.add_argument("--seed", type=int, default=0)
    return p


def generate(model, chars: str, prime: str, length: int, temperature: float = 0.8, seed: int = 0) -> str:
    """``length`` characters continuing ``prime`` (the model: recurrent layer(s), then a per-step Dense),
    drawn with Dropout off. ``length`` an integer >= 0, ``temperature`` a finite number >= 0, ``seed``
    an integer >= 0 (ValueError naming the argument otherwise)."""
    length = check_int("length", length, low=0)
    temperature = check_real("temperature", temperature, low=0)
    seed = check_int("seed", seed, low=0)
    if not isinstance(prime, str) or not prime:
        raise ValueError("prime: expected at least one character")
    unknown = sorted(set(prime) - set(chars))
    if unknown:
        raise ValueError(f"prime: characters {unknown} are not in the model's vocabulary")
    index = {c: i for i, c in enumerate(chars)}
    eye = np.eye(len(chars), dtype=model.dtype)
    if isinstance(getattr(model, "layers", [model])[0], Embedding):
        eye = np.arange(len(chars))                                       # the model reads ids (--embed-dim)
    rng = np.random.default_rng(seed)
    states = None
    x = eye[[index[c] for c in prime]][None]                              # (1, T, V)
    out = []
    with predicting(model):
        for _ in range(length):
            logits, cache = model.forward(x, states=states)               # (1, T, V)
            states = cache.states
            z = logits[0, -1].astype(np.float64)
            if temperature == 0:
                k = int(z.argmax())
            else:
                p = np.exp((z - z.max()) / temperature)
                k = int(rng.choice(len(chars), p=p / p.sum()))
            out.append(chars[k])
            x = eye[[k]][None]                                            # (1, 1, V)
    return "".join(out)


def run(args) -> int:
    check_flag_int("--length", args.length, low=0)
    check_flag_real("--temperature", args.temperature, low=0)
    check_flag_int("--seed", args.seed, low=0)
    if not args.prime:
        raise ValueError("--prime: expected at least one character, got ''")
    check_model_file(args.model, "sample")
    meta = read_meta(args.model)
    chars = meta.get("task", {}).get("chars")
    if not chars:
        raise ValueError(f"model: {args.model!r} is not a character-level model (no vocabulary in it; "
                         "train one with rnnlab train --task text)")
    model = load(args.model)
    layers = getattr(model, "layers", [model])
    body, head = layers[:-1], layers[-1]
    if body and isinstance(body[0], Embedding):                           # trained with --embed-dim
        body = body[1:]
    if not body or not isinstance(body[0], Recurrent) or not isinstance(head, Dense) \
            or not all(isinstance(l, (Recurrent, Dropout)) for l in body):
        raise ValueError(f"model: {args.model!r} expected recurrent layer(s) (Dropout between them allowed, an "
                         "Embedding before them) followed by a per-step Dense head")
    unknown = sorted(set(args.prime) - set(chars))
    if unknown:
        raise ValueError(f"--prime: characters {unknown} are not in the model's vocabulary")
    print(args.prime + generate(model, chars, args.prime, args.length, args.temperature, args.seed))
    return 0
