"""Section 1, BN fusion: inference latency of the 784-300-100-10 MLP with Batch Normalization,
the same model after ``dnnkit.batchnorm.fold_batchnorm``, and the same network built without BN,
at several batch sizes, in eager mode, under ``tf.function`` and under XLA.

Ratios are to the no-BN network of the same batch size and mode, measured in the same
repetitions. Target: folded within 5% of no-BN (ratio <= 1.05) and faster than unfolded.
"""

from __future__ import annotations

import numpy as np

from benchmarks import harness

TITLE = "BN fusion: inference latency relative to the same network without BN"
TOLERANCE = 1.05


def build_models(hidden=(300, 100), n_in=784, n_out=10, seed=0):
    """The BN model (BN on the input and after each hidden activation, as in Hands-On ML), its
    folded copy, and the no-BN network with the folded weights (so all three compute the same
    function). BN statistics are random, as after training, so folding is not a no-op."""
    import keras

    from dnnkit.batchnorm import fold_batchnorm

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    layers = [keras.Input(shape=(n_in,)), keras.layers.BatchNormalization()]
    for units in hidden:
        layers += [keras.layers.Dense(units, activation="relu"), keras.layers.BatchNormalization()]
    layers.append(keras.layers.Dense(n_out, activation="softmax"))
    with_bn = keras.Sequential(layers, name="with_bn")
    for layer in with_bn.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, n),  # gamma
                    rng.normal(0.0, 0.1, n),  # beta
                    rng.normal(0.0, 0.5, n),  # moving mean
                    rng.uniform(0.5, 2.0, n),  # moving variance
                ]
            )
    folded = fold_batchnorm(with_bn)
    no_bn = keras.Sequential(
        [keras.Input(shape=(n_in,))]
        + [keras.layers.Dense(u, activation="relu") for u in hidden]
        + [keras.layers.Dense(n_out, activation="softmax")],
        name="no_bn",
    )
    no_bn.set_weights(folded.get_weights())
    return {"with BN": with_bn, "folded": folded, "no BN": no_bn}


def _runner(model, x, mode):
    import tensorflow as tf

    if mode == "eager":
        return lambda: model(x, training=False)
    fn = tf.function(lambda t: model(t, training=False), jit_compile=(mode == "XLA"))
    return lambda: fn(x)


def run(quick: bool = False) -> dict:
    import tensorflow as tf

    if quick:
        hidden, n_in, batches, repeats, target_s = (16, 8), 32, (4,), 5, 0.002
    else:
        hidden, n_in, batches, repeats, target_s = (300, 100), 784, (1, 32, 1024), 11, 0.1
    models = build_models(hidden=hidden, n_in=n_in)
    rng = np.random.default_rng(1)
    modes = ("eager", "tf.function", "XLA")
    data, rows, agree = [], [], []
    for batch in batches:
        x = tf.constant(rng.normal(size=(batch, n_in)).astype("float32"))
        ref = np.asarray(models["with BN"](x, training=False))
        agree.append(float(np.abs(np.asarray(models["folded"](x, training=False)) - ref).max()))
        for mode in modes:
            variants = {name: _runner(m, x, mode) for name, m in models.items()}
            samples = harness.interleaved(variants, repeats=repeats, target_s=target_s)
            for row in harness.compare(samples, baseline="no BN"):
                vs_bn = harness.ratio_stats(samples[row["variant"]], samples["with BN"])
                row.update(batch=batch, mode=mode, **{f"vs_bn_{k}": v for k, v in vs_bn.items()})
                data.append(row)
                rows.append(
                    [
                        str(batch),
                        mode,
                        row["variant"],
                        harness.fmt_ms(row),
                        harness.fmt_ratio(row),
                        harness.fmt_ratio(vs_bn),
                    ]
                )
    return {
        "title": TITLE,
        "tables": [
            {
                "columns": [
                    "batch",
                    "mode",
                    "model",
                    "ms / call",
                    "vs no BN: median (min-max)",
                    "vs with BN: median (min-max)",
                ],
                "rows": rows,
            }
        ],
        "data": data,
        "targets": _targets(data),
        "notes": [
            f"Model {n_in}-{'-'.join(map(str, hidden))}-10, BN on the input and after each hidden "
            "activation (folded into the next Dense); float32; "
            f"{repeats} interleaved repetitions of about {target_s * 1e3:.0f} ms per variant.",
            f"Folded model's largest output difference from the BN model: {max(agree):.1e}.",
        ],
    }


def _targets(data: list[dict]) -> list[dict]:
    cases = {(r["batch"], r["mode"]): {} for r in data}
    for r in data:
        cases[(r["batch"], r["mode"])][r["variant"]] = r

    def name(case):
        return f"batch {case[0]}, {case[1]}"

    close = [c for c, v in cases.items() if v["folded"]["ratio"] <= TOLERANCE]
    faster = [c for c, v in cases.items() if v["folded"]["vs_bn_ratio"] < 1.0]
    worst = max(cases.items(), key=lambda kv: kv[1]["folded"]["ratio"])
    least = max(cases.items(), key=lambda kv: kv[1]["folded"]["vs_bn_ratio"])
    speedups = ", ".join(
        f"{name(c)} {1 / v['folded']['vs_bn_ratio']:.2f}x" for c, v in cases.items()
    )
    return [
        {
            "target": "folded model within 5% of the no-BN network",
            "met": len(close) == len(cases),
            "why": f"{len(close)} of {len(cases)} cases within 5%; worst: {name(worst[0])} at "
            f"{harness.fmt_ratio(worst[1]['folded'])}",
        },
        {
            "target": "folded model faster than the unfolded (BN) model",
            "met": len(faster) == len(cases),
            "why": f"{len(faster)} of {len(cases)} cases faster (median per-repetition ratio "
            f"folded / BN below 1); least gain: {name(least[0])}, folded / BN "
            f"{least[1]['folded']['vs_bn_ratio']:.2f}; speed-up from folding: {speedups}",
        },
    ]
