"""Plain values are encoded by the C pickler: the bytes must be joblib's, so that a worker (or
an earlier submit's inputs) sees no difference."""

from __future__ import annotations

import io
import random

import joblib
import pytest

from superbatch.contract.codec import get_codec

SHARED = "shared" * 10


def joblib_bytes(value) -> bytes:
    buf = io.BytesIO()
    joblib.dump(value, buf)
    return buf.getvalue()


def random_value(rng: random.Random, depth: int = 0):
    kinds = ["int", "float", "str", "bytes", "none", "bool", "big", "complex"]
    if depth < 3:
        kinds += ["list", "tuple", "dict", "set"] * 2
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.randint(-(2**31), 2**31)
    if kind == "big":
        return rng.randint(2**64, 2**200)
    if kind == "float":
        return rng.choice([rng.uniform(-1e9, 1e9), float("inf"), float("nan"), -0.0])
    if kind == "str":
        return "".join(rng.choice("abcé€😀 ") for _ in range(rng.randint(0, 300)))
    if kind == "bytes":
        return rng.randbytes(rng.randint(0, 300))
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "complex":
        return complex(rng.random(), rng.random())
    items = [random_value(rng, depth + 1) for _ in range(rng.randint(0, 6))]
    if kind == "list":
        return items + [SHARED, SHARED]  # a repeated object: memoised alike
    if kind == "tuple":
        return tuple(items)
    if kind == "set":
        return {rng.randint(0, 100) for _ in items} | {SHARED}
    return {f"k{i}": v for i, v in enumerate(items)} | {"seed": rng.randint(0, 10**6)}


@pytest.mark.parametrize("seed", range(20))
def test_plain_values_encode_to_the_bytes_joblib_writes(seed):
    rng = random.Random(seed)
    codec = get_codec("joblib")
    for _ in range(25):
        value = random_value(rng)
        assert codec.dumps(value) == joblib_bytes(value)


def test_large_plain_values_too():
    codec = get_codec("joblib")
    for value in ("x" * 200_000, list(range(20_000)), {"k": [1.5] * 50_000}):
        assert codec.dumps(value) == joblib_bytes(value)
