"""Text generation, offline on a CPU in seconds, reporting its phases and tokens to aicarbon.

A character-level language model (an order-N Markov chain: counts of which character follows
each N-character context) is trained on text that ships with Python itself (the docstrings of
the standard library: nothing is downloaded), then generates text one token (character) at a
time, as a language model decodes. The phases ("load-corpus", "train", "generate") and the
tokens (aicarbon.add_units) reach aicarbon's report:

    aicarbon run examples/generate_text.py --tokens 20000
"""

from __future__ import annotations

import argparse
import pydoc
import random
import time
from collections import Counter, defaultdict

import aicarbon

MODULES = ["collections", "json", "pathlib", "random", "statistics", "string", "textwrap", "typing"]


def corpus() -> str:
    texts = []
    for name in MODULES:
        module = pydoc.locate(name)
        texts.append(pydoc.getdoc(module))
        texts += [pydoc.getdoc(getattr(module, a)) for a in dir(module) if not a.startswith("_")]
    return " ".join(" ".join(t.split()) for t in texts if t)


def train(text: str, order: int) -> dict[str, Counter[str]]:
    model: dict[str, Counter[str]] = defaultdict(Counter)
    for i in range(len(text) - order):
        model[text[i : i + order]][text[i + order]] += 1
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20000, help="characters to generate (default 20000)")
    parser.add_argument("--order", type=int, default=6, help="context length (default 6)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with aicarbon.phase("load-corpus"):
        text = corpus()
    with aicarbon.phase("train"):
        model = train(text, args.order)
    start = time.perf_counter()
    with aicarbon.phase("generate"):
        context = text[: args.order]
        out = [context]
        for _ in range(args.tokens):
            followers = model.get(context)
            if not followers:
                context = text[: args.order]  # restart at a known context
                followers = model[context]
            token = rng.choices(list(followers), weights=list(followers.values()))[0]
            out.append(token)
            context = context[1:] + token
            aicarbon.add_units(1, unit="output tokens")
    took = time.perf_counter() - start
    sample = "".join(out)[:160]
    print(
        f"trained on {len(text):,} characters ({len(model):,} contexts); generated {args.tokens:,} tokens "
        f"in {took:.1f} s ({args.tokens / took:,.0f}/s): {sample!r}"
    )


if __name__ == "__main__":
    main()
