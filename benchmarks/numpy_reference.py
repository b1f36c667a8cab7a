"""Section 3, NumPy reference code: ``dnnkit.batchnorm.batchnorm_forward/backward`` and the
``dnnkit.activations`` functions and their gradients, at a realistic size, relative to a plain
NumPy baseline of the same maths written inline here.

A ratio near 1 means the library adds no Python loop and no needless copy; a ratio well above
1 points at one. Each baseline is also checked against the library (same values), so the two
really compute the same thing.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erfc

from benchmarks import harness

TITLE = "NumPy reference code: dnnkit vs the same maths inline in NumPy"


# ------------------------------------------------------------------------- inline baselines
def _sig(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(z):
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def _bn_forward(x, gamma, beta, eps=1e-3):
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mu) * inv_std
    return gamma * x_hat + beta, x_hat, inv_std


def _bn_backward(dout, x_hat, gamma, inv_std):
    m = dout.shape[0]
    g = dout * gamma
    dx = inv_std / m * (m * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


PHI = 1.0 / math.sqrt(2.0 * math.pi)
C_TANH = math.sqrt(2.0 / math.pi)

BASELINES = {
    # name: (dnnkit function name, kwargs, inline forward, inline gradient)
    "relu": ("relu", {}, lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(z.dtype)),
    "leaky_relu": (
        "leaky_relu",
        {},
        lambda z: np.where(z >= 0, z, 0.2 * z),
        lambda z: np.where(z > 0, 1.0, 0.2),
    ),
    "elu": (
        "elu",
        {},
        lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
        lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0))),
    ),
    "sigmoid": ("sigmoid", {}, _sig, lambda z: (s := _sig(z)) * (1.0 - s)),
    "tanh": ("tanh", {}, np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "softplus": ("softplus", {}, _softplus, _sig),
    "gelu exact": (
        "gelu",
        {"approximate": "none"},
        lambda z: z * 0.5 * erfc(-z / math.sqrt(2.0)),
        lambda z: 0.5 * erfc(-z / math.sqrt(2.0)) + z * PHI * np.exp(-0.5 * z * z),
    ),
    "gelu tanh": (
        "gelu",
        {"approximate": "tanh"},
        lambda z: 0.5 * z * (1.0 + np.tanh(C_TANH * (z + 0.044715 * z**3))),
        None,
    ),
    "gelu sigmoid": ("gelu", {"approximate": "sigmoid"}, lambda z: z * _sig(1.702 * z), None),
    "swish": (
        "swish",
        {},
        lambda z: z * _sig(z),
        lambda z: (s := _sig(z)) * (1.0 + z * (1.0 - s)),
    ),
    "mish": ("mish", {}, lambda z: z * np.tanh(_softplus(z)), None),
}


def _check_same(name, got, expected):
    if not np.allclose(got, expected, rtol=1e-6, atol=1e-9):
        err = float(np.max(np.abs(np.asarray(got) - np.asarray(expected))))
        raise AssertionError(f"{name}: the inline baseline disagrees with dnnkit (max {err:.2e})")


def _cases(m: int, n: int) -> dict:
    """Name -> (dnnkit callable, baseline callable), each checked to agree once."""
    from dnnkit import activations as act
    from dnnkit import batchnorm as bn

    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=(m, n))
    dout = rng.normal(size=(m, n))
    gamma, beta = rng.uniform(0.5, 1.5, n), rng.normal(size=n)
    rm, rv = np.zeros(n), np.ones(n)

    def lib_forward():
        return bn.batchnorm_forward(x, gamma, beta, rm, rv, training=True)

    _, _, _, cache = lib_forward()
    _, x_hat, inv_std = _bn_forward(x, gamma, beta)
    cases = {
        "batchnorm_forward (training)": (lib_forward, lambda: _bn_forward(x, gamma, beta)),
        "batchnorm_backward": (
            lambda: bn.batchnorm_backward(dout, cache),
            lambda: _bn_backward(dout, x_hat, gamma, inv_std),
        ),
    }
    _check_same(
        "batchnorm_forward", lib_forward()[0], cases["batchnorm_forward (training)"][1]()[0]
    )
    for got, expected in zip(*(f() for f in cases["batchnorm_backward"]), strict=True):
        _check_same("batchnorm_backward", got, expected)

    for name, (fname, kwargs, forward, grad) in BASELINES.items():
        f, df = getattr(act, fname), getattr(act, f"{fname}_grad")
        cases[name] = (lambda f=f, kw=kwargs: f(x, **kw), lambda g=forward: g(x))
        _check_same(name, cases[name][0](), cases[name][1]())
        if grad is not None:
            cases[f"{name} grad"] = (lambda df=df, kw=kwargs: df(x, **kw), lambda g=grad: g(x))
            _check_same(f"{name} grad", cases[f"{name} grad"][0](), cases[f"{name} grad"][1]())
    return cases


def run(quick: bool = False) -> dict:
    if quick:
        m, n, repeats, target_s = 16, 32, 5, 0.002
    else:
        m, n, repeats, target_s = 256, 1024, 7, 0.05
    data, rows = [], []
    for name, (lib, base) in _cases(m, n).items():
        samples = harness.interleaved(
            {"dnnkit": lib, "inline NumPy": base}, repeats=repeats, target_s=target_s
        )
        row, baseline = harness.compare(samples, baseline="inline NumPy")
        row.update(operation=name, baseline_ms=baseline["ms"])
        data.append(row)
        rows.append([name, harness.fmt_ms(baseline), harness.fmt_ms(row), harness.fmt_ratio(row)])
    worst = max(data, key=lambda r: r["ratio"])
    return {
        "title": TITLE,
        "tables": [
            {
                "columns": [
                    "operation",
                    "inline ms",
                    "dnnkit ms",
                    "dnnkit / inline: median (min-max)",
                ],
                "rows": rows,
            }
        ],
        "data": data,
        "targets": [
            {
                "target": "no accidental Python loops or needless copies (ratio close to 1)",
                "met": None,
                "why": f"no numeric target in the issue; largest ratio: {worst['operation']} at "
                f"{harness.fmt_ratio(worst)}",
            }
        ],
        "notes": [
            f"x of shape ({m}, {n}), float64; every baseline checked equal to dnnkit's result; "
            f"{repeats} interleaved repetitions of about {target_s * 1e3:.0f} ms per variant. "
            "dnnkit's functions also validate their arguments and, for BN, update the running "
            "statistics and build the cache; the inline baselines do the arithmetic only.",
        ],
    }
