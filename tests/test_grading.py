"""Unit tests of ``dnnkit.grading``, the helpers that the exercises' test cells call.

Oracles: values and derivatives written out by hand in each test; messages checked for the
parts a student needs (which input, expected vs got, where, the hint).
"""

import subprocess
import sys
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest

from dnnkit import grading
from dnnkit.grading import IntegrityError
from dnnkit_autograde import cells, checker, scope, submission
from dnnkit_autograde.policy import load_policy, parse_policy

REPO = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------ check_close


def test_check_close_accepts_values_within_tolerance():
    expected = np.array([1.0, -2.0, 3.0])
    grading.check_close("f(x)", expected * (1 + 5e-7), expected)
    grading.check_close("list", [1.0, -2.0, 3.0], expected)
    grading.check_close("scalar", 0.1 + 0.2, 0.3)


def test_check_close_message_names_input_index_values_and_hint():
    expected = np.array([[0.0, 1.0], [2.0, 3.0]])
    got = expected.copy()
    got[1, 0] = 2.5
    with pytest.raises(AssertionError) as info:
        grading.check_close("relu(z) for z in [-1, 1]", got, expected, hint="did you clip at zero?")
    message = str(info.value)
    assert message.startswith("relu(z) for z in [-1, 1]: 1 of 4 values differ")
    assert "at index [1, 0]: expected 2, got 2.5" in message
    assert "absolute error 0.5" in message
    assert message.endswith("Hint: did you clip at zero?")


def test_check_close_reports_the_largest_error_not_the_first():
    got = np.array([1.1, 2.0, 7.0, 4.0])
    with pytest.raises(AssertionError, match=r"at index \[2\]: expected 3, got 7"):
        grading.check_close("x", got, [1.0, 2.0, 3.0, 4.0])


def test_check_close_uses_rtol_and_atol_like_allclose():
    # |got - expected| <= atol + rtol * |expected|: 1e-3 <= 0 + 1e-3 * 1 passes, 1.1e-3 fails.
    grading.check_close("x", 1.001, 1.0, rtol=1e-3, atol=0.0)
    with pytest.raises(AssertionError):
        grading.check_close("x", 1.0011, 1.0, rtol=1e-3, atol=0.0)
    grading.check_close("near zero", 5e-9, 0.0)  # atol=1e-8 by default
    with pytest.raises(AssertionError):
        grading.check_close("near zero", 2e-8, 0.0)


def test_check_close_wrong_shape_says_both_shapes():
    with pytest.raises(AssertionError) as info:
        grading.check_close("dW", np.zeros((3, 4)), np.zeros((4, 3)), hint="transpose?")
    assert "dW: expected shape (4, 3), got shape (3, 4)." in str(info.value)
    assert "Hint: transpose?" in str(info.value)


def test_check_close_none_suggests_a_missing_return():
    with pytest.raises(AssertionError, match="got None. Did you forget the `return`"):
        grading.check_close("sigmoid(0)", None, 0.5)


def test_check_close_rejects_non_numeric_values():
    with pytest.raises(AssertionError, match="expected an array of numbers, got a str"):
        grading.check_close("x", "0.5", 0.5)
    with pytest.raises(AssertionError, match="NumPy cannot turn into one"):
        grading.check_close("x", [[1.0], [2.0, 3.0]], [1.0, 2.0])


def test_check_close_reports_nan_and_inf_where_finite_values_are_expected():
    with pytest.raises(AssertionError) as info:
        grading.check_close("softplus(z)", [0.1, np.inf, np.nan], [0.1, 1000.0, 2.0])
    message = str(info.value)
    assert "2 of 3 values are not finite" in message
    assert "got inf at index [1], expected 1000" in message
    assert "overflow" in message


def test_check_close_accepts_matching_nan_and_inf():
    grading.check_close("x", [np.nan, np.inf, -np.inf], [np.nan, np.inf, -np.inf])
    with pytest.raises(AssertionError):
        grading.check_close("x", [1.0, np.inf], [1.0, -np.inf])


def test_check_close_accepts_objects_that_numpy_converts():
    class Tensor:  # stands for a Keras/TF tensor: converts through __array__
        def __array__(self, dtype=None, copy=None):
            return np.array([1.0, 2.0])

    grading.check_close("layer(x)", Tensor(), [1.0, 2.0])


def test_check_close_compares_the_data_not_a_subclass_equality():
    class Liar(np.ndarray):
        def __sub__(self, other):  # would make every difference zero
            return np.zeros(self.shape)

    got = np.array([0.0, 0.0]).view(Liar)
    with pytest.raises(AssertionError):
        grading.check_close("x", got, [1.0, 1.0])


def test_check_close_rejects_complex_values():
    with pytest.raises(AssertionError, match="expected real numbers, got complex ones"):
        grading.check_close("x", np.array([1.0 + 0j]), [1.0])


def test_check_close_rejects_negative_tolerances():
    with pytest.raises(ValueError, match="rtol=-1"):
        grading.check_close("x", 1.0, 1.0, rtol=-1)


# ------------------------------------------------------------------------------ check_equal


def test_check_equal_numbers_tuples_strings_and_dicts():
    grading.check_equal("compute_fans((3, 4))", (3, 4), (3, 4))
    grading.check_equal("compute_fans((3, 4))", [3.0, 4.0], (3, 4))  # list or tuple, 3.0 == 3
    grading.check_equal("name", "he_normal", "he_normal")
    grading.check_equal("flag", np.True_, True)
    grading.check_equal("d", {"a": 1, "b": (2, "x")}, {"a": 1, "b": (2, "x")})
    grading.check_equal("array", np.arange(3), np.arange(3))
    grading.check_equal("none", None, None)


def test_check_equal_message_points_at_the_wrong_item():
    with pytest.raises(AssertionError) as info:
        grading.check_equal("compute_fans((3, 3, 16, 32))", (144, 288), (144, 289), hint="h")
    assert str(info.value) == "compute_fans((3, 3, 16, 32)): expected 289 at [1], got 288.\nHint: h"


@pytest.mark.parametrize(
    ("got", "expected", "fragment"),
    [
        ("glorot", "he_normal", "expected 'he_normal', got 'glorot'"),
        (1, True, "expected the boolean True, got a int"),
        ("3", 3, "expected the number 3, got a str"),
        (3.5, 3, "expected 3, got 3.5"),
        ((1, 2, 3), (1, 2), "expected 2 items, got 3"),
        ({"a": 1}, {"b": 1}, "missing [\"'b'\"], unexpected [\"'a'\"]"),
        (np.array([1, 2, 4]), np.array([1, 2, 3]), "first difference at index [2]: expected 3"),
        (np.zeros((2, 2)), np.zeros(4), "expected shape (4,), got shape (2, 2)"),
        (0, None, "expected None, got 0"),
    ],
)
def test_check_equal_failures(got, expected, fragment):
    with pytest.raises(AssertionError) as info:
        grading.check_equal("value", got, expected)
    assert fragment in str(info.value)


def test_check_equal_ignores_equality_overridden_by_a_str_subclass():
    class AlwaysEqual(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    with pytest.raises(AssertionError, match="expected 'relu', got 'tanh'"):
        grading.check_equal("recommended", AlwaysEqual("tanh"), "relu")


# ------------------------------------------------------------------- check_shape, check_true


def test_check_shape_with_wildcards():
    grading.check_shape("out", np.zeros((5, 10)), (5, 10))
    grading.check_shape("out", np.zeros((7, 10)), (None, 10))
    with pytest.raises(AssertionError, match=r"expected shape \(any, 10\), got \(7, 3\)"):
        grading.check_shape("out", np.zeros((7, 3)), (None, 10))
    with pytest.raises(AssertionError, match="got None"):
        grading.check_shape("out", None, (2,))
    with pytest.raises(AssertionError, match=r"expected shape \(3,\), got \(3, 1\)\.$"):
        grading.check_shape("b", np.zeros((3, 1)), (3,))  # a 1-tuple written as Python does


def test_check_true_needs_a_boolean():
    grading.check_true(True, "unused")
    grading.check_true(np.bool_(True), "unused")
    with pytest.raises(AssertionError, match="^the original model changed$"):
        grading.check_true(False, "the original model changed")
    with pytest.raises(TypeError, match="needs a bool, got a int"):
        grading.check_true(1, "x")


# -------------------------------------------------------------------------------- rel_error


def test_rel_error_is_the_cs231n_definition():
    # max |x - y| / max(1e-8, |x| + |y|): entries give 0.1/2.1 and 0/4, so 0.1/2.1.
    x = np.array([1.0, 2.0])
    y = np.array([1.1, 2.0])
    assert grading.rel_error(x, y) == pytest.approx(0.1 / 2.1, rel=1e-12)
    assert grading.rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert grading.rel_error(1e-9, 0.0) == pytest.approx(1e-9 / 1e-8)  # the 1e-8 floor
    with pytest.raises(ValueError, match=r"\(2,\) and \(3,\)"):
        grading.rel_error(np.zeros(2), np.zeros(3))


# ------------------------------------------------------------------------ numeric_gradient


def test_numeric_gradient_of_a_cubic_matches_3x_squared():
    x = np.array([[-1.5, 0.0], [0.5, 2.0]])
    grad = grading.numeric_gradient(lambda v: v**3, x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-9, atol=1e-9)


def test_numeric_gradient_with_upstream_gradient_matches_cos_times_df():
    # d/dx sum(sin(x) * df) = cos(x) * df
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    df = rng.normal(size=(3, 4))
    grad = grading.numeric_gradient(np.sin, x, df)
    np.testing.assert_allclose(grad, np.cos(x) * df, rtol=1e-8, atol=1e-10)


def test_numeric_gradient_of_a_matrix_product_matches_x_transpose_df():
    # d/dW sum((x @ W) * df) = x.T @ df
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3))
    w = rng.normal(size=(3, 2))
    df = rng.normal(size=(5, 2))
    grad = grading.numeric_gradient(lambda v: x @ v, w, df)
    np.testing.assert_allclose(grad, x.T @ df, rtol=1e-8, atol=1e-10)


def test_numeric_gradient_restores_x_and_copes_with_views():
    x = np.array([1.0, 2.0, 3.0])
    before = x.copy()
    grad = grading.numeric_gradient(lambda v: v, x)  # f returns x itself, not a copy
    np.testing.assert_allclose(grad, np.ones(3), rtol=1e-9)
    np.testing.assert_array_equal(x, before)


def test_numeric_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])

    def broken(v):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        grading.numeric_gradient(broken, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_numeric_gradient_needs_float64():
    with pytest.raises(ValueError, match="float64 ndarray.*got float32"):
        grading.numeric_gradient(np.sin, np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="got list"):
        grading.numeric_gradient(np.sin, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"shape of f\(x\), \(2,\)"):
        grading.numeric_gradient(np.sin, np.zeros(2), df=np.ones(3))


# -------------------------------------------------------------------------- check_gradient


def test_check_gradient_accepts_the_analytic_derivative_of_tanh():
    x = np.linspace(-2.0, 2.0, 9)
    # None, not the error: a number as a test cell's last value is partial credit in nbgrader
    assert grading.check_gradient("dtanh", np.tanh, x, 1 - np.tanh(x) ** 2) is None


def test_check_gradient_accepts_zero_gradients_where_numeric_noise_remains():
    # relu has a zero gradient for negative inputs; finite differences give ~0 there.
    x = np.array([-2.0, -0.5, 0.7, 3.0])
    grading.check_gradient("drelu", lambda v: np.maximum(v, 0.0) * 1.3, x, 1.3 * (x > 0))


def test_check_gradient_failure_names_the_worst_entry_and_the_sign():
    x = np.array([0.5, 1.0, 2.0])
    with pytest.raises(AssertionError) as info:
        grading.check_gradient("dx of x**2", lambda v: v**2, x, -2 * x)
    message = str(info.value)
    assert message.startswith("dx of x**2: the gradient does not match finite differences")
    assert "at index [2]: numeric 4, yours -4" in message
    assert "check the sign" in message


def test_check_gradient_detects_a_missing_factor_of_two():
    x = np.array([0.5, 1.0, 2.0])
    with pytest.raises(AssertionError, match="relative error 3.33e-01"):
        grading.check_gradient("dx", lambda v: v**2, x, x)


def test_check_gradient_checks_the_shape():
    with pytest.raises(AssertionError, match=r"shape of the input \(3,\), got \(1, 3\)"):
        grading.check_gradient("dx", np.sin, np.zeros(3), np.ones((1, 3)))


# ------------------------------------------------------------------------ integrity guards


def test_patched_numpy_is_refused(monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *args, **kwargs: True)
    with pytest.raises(
        IntegrityError, match=r"numpy\.allclose was replaced by code in the notebook"
    ):
        grading.check_close("x", 1.0, 2.0)


def test_patched_builtin_is_refused(monkeypatch):
    import builtins

    monkeypatch.setattr(builtins, "abs", lambda value: 0)
    with pytest.raises(IntegrityError, match=r"builtins\.abs"):
        grading.check_true(True, "x")


def test_function_defaults_changed_in_place_are_refused(monkeypatch):
    monkeypatch.setattr(
        grading.check_close, "__kwdefaults__", {"rtol": 1e9, "atol": 1e9, "hint": None}
    )
    with pytest.raises(IntegrityError, match=r"check_close"):
        grading.check_equal("x", 1, 1)


def test_patched_grading_helper_is_detected_by_the_next_check(monkeypatch):
    monkeypatch.setattr(grading, "_compare_close", lambda *args, **kwargs: None)
    with pytest.raises(IntegrityError, match=r"dnnkit\.grading\._compare_close"):
        grading.check_close("x", 1.0, 2.0)


def test_function_added_to_numpy_from_outside_the_library_is_refused(monkeypatch):
    monkeypatch.setattr(np, "helper_from_notebook", lambda: 0, raising=False)
    with pytest.raises(IntegrityError, match="helper_from_notebook was added"):
        grading.verify_integrity()


def test_verify_integrity_passes_on_an_untouched_session():
    grading.verify_integrity({"__name__": "__main__", "np": np, "grading": grading})


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("abs", lambda value: 0, "hides Python's built-in `abs`"),
        ("np", types.SimpleNamespace(allclose=lambda *a: True), "`np` is not the real module"),
        ("grading", types.SimpleNamespace(), "`grading` is not the real module"),
        ("fake", types.ModuleType("numpy"), "`fake` is not the real module 'numpy'"),
    ],
)
def test_notebook_namespace_checks(name, value, fragment):
    namespace = {"__name__": "__main__", "np": np, "grading": grading, name: value}
    with pytest.raises(IntegrityError) as info:
        grading.verify_integrity(namespace)
    assert fragment in str(info.value)


def test_helpers_check_the_calling_notebook_namespace():
    namespace = {"__name__": "__main__", "grading": grading, "len": lambda value: 0}
    code = compile("grading.check_true(True, 'x')", "<notebook cell>", "exec")
    with pytest.raises(IntegrityError, match="built-in `len`"):
        exec(code, namespace)


def test_importing_grading_does_not_import_tensorflow_or_keras():
    code = (
        "import sys, dnnkit.grading; "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ======================================================================================
# dnnkit_autograde.checker: the static check that the autograder runs outside the kernel
# ======================================================================================

SETUP_NAMES = {
    "os": "os",
    "subprocess": "subprocess",
    "sys": "sys",
    "source": None,
    "np": "numpy",
    "grading": "dnnkit.grading",
    "keras": "keras",
    "ops": "keras.ops",
    "tf": "tensorflow",
    "reference_gelu": "dnnkit.activations.gelu",
    "x": None,
    "expected": None,
}
NUMPY_TASK = parse_policy('[base]\nuse = ["python", "numpy"]').base
KERAS_TASK = parse_policy('[base]\nuse = ["python", "numpy", "keras"]').base


def violations(source, policy=NUMPY_TASK, protected=None):
    context = scope.NotebookContext(
        protected=dict(SETUP_NAMES if protected is None else protected),
        module_names={"os", "subprocess", "sys", "np"},
    )
    return checker.check_source(source, policy, context)


@pytest.mark.parametrize(
    "source",
    [
        # a NumPy answer with the usual idioms
        "import numpy as np\nfrom math import sqrt, pi\n\n"
        "def gelu(z, approximate='none'):\n"
        '    """Uses __init__-like words in a docstring: fine."""\n'
        "    z = np.asarray(z, dtype=np.float64)\n"
        "    out = np.empty_like(z)\n"
        "    out[z > 0] = z[z > 0]\n"
        "    grads = [g * 2 for g in (z, z) if g is not None]\n"
        "    scale = (lambda v: v * sqrt(2 / pi))(1.0)\n"
        "    try:\n        pass\n    except (ValueError, TypeError) as err:\n        raise ValueError(str(err))\n"
        "    return out * scale + sum(grads)[0]\n",
        # a Keras layer: attributes on self, super().__init__, keras.ops through `ops`
        "class Swish(keras.layers.Layer):\n"
        "    def __init__(self, beta=1.0, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.beta0 = beta\n"
        "    def build(self, input_shape):\n"
        "        self.beta = self.add_weight(shape=(), name='beta')\n"
        "    def call(self, x):\n"
        "        return x * ops.sigmoid(self.beta * x)\n",
        # changing the objects an answer receives (Keras layers), not library ones
        "def freeze(model, n):\n"
        "    for i, layer in enumerate(model.layers):\n"
        "        layer.trainable = i >= n\n"
        "    model.layers[0].trainable = False\n",
        # a class of one's own: made, used through its objects, checked with isinstance
        "class Counter:\n"
        "    def __init__(self):\n"
        "        self._n = 0\n"
        "    def add(self):\n"
        "        self._n += 1\n"
        "        return self._n\n\n"
        "def count(k):\n"
        "    counter = Counter()\n"
        "    return k if isinstance(counter, (Counter, list)) else 0\n",
        # a class with a docstring, a constant, a property and attributes of its own
        'class Scaler:\n    """Scales by k."""\n    factor = 2.0\n\n'
        "    def __init__(self, k):\n        self.k = k\n\n"
        "    @property\n    def double(self):\n        return self.k * self.factor\n\n"
        "def scaled(k):\n    return Scaler(k)\n",
        # private helpers of one's own, and a top-level list of one's own
        "def _helper(v):\n    return v + 1\n\nRESULTS = []\nRESULTS.append(_helper(1))\nRESULTS[0] = 3\n",
    ],
)
def test_static_check_accepts_honest_answers(source):
    policy = KERAS_TASK if "keras" in source or "model" in source else NUMPY_TASK
    assert violations(source, policy) == []


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("from dnnkit.activations import gelu", "the reference implementation"),
        ("import dnnkit.activations as A\ndef f(z):\n    return A.gelu(z)", "reference"),
        ("def f(z):\n    return reference_gelu(z)", "the reference implementation"),
        ("def f(z):\n    return x", "belongs to the set-up or test cells"),
        ("def f(z):\n    return expected", "belongs to the set-up or test cells"),
        ("def f(z):\n    return __import__('dnnkit')", "`__import__` may not be used"),
        ("import importlib", "`importlib` may not be imported"),
        ("def f(z):\n    return eval('z')", "built-in `eval`"),
        ("exec('1')", "built-in `exec`"),
        ("open('/etc/passwd')", "`open` may not be used"),
        ("g = getattr(np, 'allclose')", "built-in `getattr`"),
        ("setattr(np, 'allclose', None)", "built-in `setattr`"),
        ("globals()['np'] = None", "built-in `globals`"),
        ("sys.exit(1)", "`sys.exit` is not on this task's list"),
        ("os._exit(1)", "private attributes such as `._exit`"),
        ("import os\nos._exit(1)", "`os` may not be imported"),
        ("np.allclose = lambda *a, **k: True", "changing an attribute of `np`"),
        ("grading.check_close = lambda *a, **k: None", "changing an attribute of `grading`"),
        ("def f():\n    m = np.linalg\n    m.norm = abs", "refers to a library object"),
        ("def f():\n    return np.__dict__", "`.__dict__` may not be used"),
        ("def f(g):\n    return g.gi_frame.f_globals", "`.f_globals` is not on this task's list"),
        # the allow-list: names nobody listed are refused, whatever library they come from
        ("def f(x):\n    return np.fromfile(x)", "`numpy.fromfile` is not on this task's list"),
        ("def f(x):\n    return np.load(x, allow_pickle=True)", "`numpy.load` is not on"),
        ("def f(x):\n    return x.tofile('/tmp/x')", "`.tofile` is not on this task's list"),
        ("def f(x):\n    return np.ctypeslib.as_array(x)", "`numpy.ctypeslib.as_array`"),
        ("def f(x):\n    return np.random.bit_generator", "`numpy.random.bit_generator`"),
        ("import pickle", "`pickle` may not be imported"),
        ("import ctypes", "`ctypes` may not be imported"),
        ("from numpy import lib", "`numpy.lib` is not on this task's list"),
        ("import numpy.f2py as f", "`numpy.f2py` is not on this task's list"),
        ("class A:\n    def __eq__(self, other):\n        return True", "defining `__eq__`"),
        ("class A:\n    def __array_function__(self, *a):\n        return True", "defining"),
        ("class A(metaclass=type):\n    pass", "class keywords"),
        ("def f():\n    global np\n    np = None", "`global`/`nonlocal`"),
        ("try:\n    pass\nexcept:\n    pass", "bare except"),
        ("try:\n    pass\nexcept KeyboardInterrupt:\n    pass", "catching KeyboardInterrupt"),
        ("sum = 0", "hides Python's built-in `sum`"),
        ("def abs(v):\n    return 0", "hides Python's built-in `abs`"),
        ("np = None", "a name that the set-up or test cells use"),
        ("grading = None", "a name that the set-up or test cells use"),
        ("import numpy as grading", "a name that the set-up or test cells use"),
        ("%time x = 1", "`get_ipython` may not be used"),
        ("!ls", "`get_ipython` may not be used"),
        ("def f(z):\n    return keras.ops.relu(z)", "`keras.ops.relu` is not on this task's list"),
        (
            "def f(z):\n    return np.lib.stride_tricks.as_strided(z)",
            "`numpy.lib.stride_tricks.as_strided` is not on",
        ),
        ("def f(m):\n    return type('X', (), {'__eq__': m})", "the string '__eq__'"),
        ("def f():\n    return np\n", "use the module `np` only through its functions"),
        # syntax the checker does not read is refused, not trusted (`match` reads attributes)
        (
            "def f(g):\n    match g:\n        case object(__globals__=d):\n            return d",
            "`match`",
        ),
        ("async def f():\n    pass", "`async def`"),
        ("try:\n    pass\nexcept* ValueError:\n    pass", "`except*`"),
        # a class's methods only through its objects: `self` is never a module or a test object
        (
            "class P:\n    def m(self, f):\n        self.allclose = f\nP.m(np, abs)",
            "class `P` only",
        ),
        ("class P:\n    pass\nQ = [P]", "use your class `P` only to make objects"),
        ("class P:\n    pass\ndef f():\n    return P", "use your class `P` only to make objects"),
        ("def f(x):\n    return type(x)", "the built-in `type`"),
        ("class P:\n    @staticmethod\n    def m(o):\n        return o", "`staticmethod`"),
        ("class P:\n    @classmethod\n    def m(cls):\n        return cls", "`classmethod`"),
        (
            "class A:\n    pass\nclass B(A):\n    def f(self):\n        return super(A, self)",
            "`super()`",
        ),
        ("def f():\n    class A:\n        pass\n    return A()", "define classes at the top level"),
        ("class A:\n    __eq__ = lambda s, o: True", "defining `__eq__`"),
        # on `self`, one attribute is free; what follows it is checked like any attribute
        ("class A:\n    def f(self):\n        return self.g.gi_frame", "`.gi_frame` is not on"),
        ("class A(list):\n    def f(self):\n        return self._hidden", "`._hidden`"),
        # `self` is the method's own object: never rebound, whatever the binding form
        ("class W:\n    def get(self, g):\n        self = g\n        return 1", "assign to `self`"),
        ("class W:\n    def get(s, g):\n        for s in [g]:\n            pass", "assign to `s`"),
        ("class W:\n    def get(self, g):\n        return (self := g)", "assign to `self`"),
        ("class W:\n    def get(self, g):\n        with g as self:\n            pass", "`self`"),
        (
            "class W:\n    def get(self):\n        try:\n            pass\n"
            "        except ValueError as self:\n            pass",
            "may not assign to `self`",
        ),
        ("class W:\n    def get(*, self):\n        return self.gi_frame", "`.gi_frame` is not"),
        ("class W:\n    def get(self):\n        return self.gi_frame", "`.gi_frame` is not"),
        # ... and never called in the class body with another object
        ("class L:\n    def get(self):\n        return 1\n    found = get(0)", "a class body"),
        (
            "class L:\n    def get(self):\n        return 1\n    def m(self, x=get):\n        return x",
            "inside its class body",
        ),
        ("class L:\n    get = lambda self: self.gi_frame", "a class body may hold only"),
        ("def deco(f):\n    return f\n@deco\ndef g():\n    return 1", "only `@property`"),
        ("class A(np.ndarray):\n    pass", "may derive from `object`"),
        # code in annotations runs when the function is defined
        ("def h() -> open('/etc/passwd').read():\n    pass", "`open` may not be used"),
        ("def h(*a: eval('1'), **k: exec('1')):\n    pass", "built-in `eval`"),
        ("def h(a: (grading := 1)):\n    pass", "a name that the set-up or test cells use"),
        # what does not parse is not run: IPython could make a magic of it (`time <code>`)
        ("time get_ipython().run_cell('1')", "is not valid Python (line 1: invalid syntax)"),
        # setting an attribute of an object the answer is given (a test's model) is refused
        ("def f(model):\n    model.evaluate = lambda *a: 0.99", "setting `.evaluate`"),
        ("def f(x):\n    x.shape = (1, -1)", "setting `.shape`"),
        # str.format reads attributes named in a string
        ("def f(g):\n    return '{0.__globals__}'.format(g)", "`.format` is not on"),
    ],
)
def test_static_check_refuses(source, fragment):
    found = violations(source)
    assert any(fragment in str(v) for v in found), [str(v) for v in found]


KERAS_NO_CLIPPING = parse_policy(
    '[base]\nuse = ["python", "numpy", "keras"]\nforbid_keywords = ["clipnorm"]'
).base


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        # a layer's private names read Keras' own internals when the class never sets them
        (
            "class S(keras.layers.Layer):\n    def f(self, x):\n        if False:\n"
            "            self._inbound_nodes = 0\n        self._inbound_nodes.append(x)",
            "private attributes such as `._inbound_nodes`",
        ),
        # `**` could carry a forbidden keyword
        ("def f(c):\n    return keras.optimizers.SGD(**c)", "`**` arguments are not allowed"),
        # a module imported inside a function, used as a value
        (
            "def f():\n    from keras import optimizers as found\n    return found",
            "`keras.optimizers` is not on this task's list",
        ),
    ],
)
def test_static_check_refuses_in_a_keras_task(source, fragment):
    found = violations(source, KERAS_NO_CLIPPING)
    assert any(fragment in str(v) for v in found), [str(v) for v in found]


def test_a_layer_may_forward_its_keyword_arguments_to_its_base():
    source = (
        "class S(keras.layers.Layer):\n    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n        self.scale = 2.0\n"
    )
    assert violations(source, KERAS_NO_CLIPPING) == []


def test_the_clipping_task_uses_the_optimizer_it_is_given():
    """Making an optimizer would let the clipping options in by position (SGD's fifth
    parameter is clipnorm), so the 05 policy refuses the constructors in train_step."""
    policy = load_policy(REPO / "solutions" / "05_clipping").tasks["train_step_solution"]
    found = violations(
        "def f():\n    return keras.optimizers.SGD(0.1, 0.0, False, None, 1.0)", policy
    )
    assert any("`keras.optimizers.SGD` is not on" in str(v) for v in found), found


def test_static_check_resolves_aliases_to_forbidden_names():
    policy = load_policy(REPO / "solutions" / "03_activations").tasks["swish_layer_solution"]
    for source in [
        "from keras import ops as K\ndef f(z):\n    return K.gelu(z)",
        "import keras.activations as A\ndef f(z):\n    return A.silu(z)",
        "def f(z):\n    K = keras.activations\n    return K.swish(z)",
        "def f(z):\n    return tf.keras.activations.gelu(z)",
        "def f(z):\n    return keras.layers.Dense(3, activation='silu')(z)",
        "def f():\n    return keras.saving.get_registered_object('dnnkit>Swish')",
    ]:
        assert violations(source, policy), source


def test_policy_follows_the_function_a_cell_defines():
    """An answer moved to a cell the student added is checked by its task's rules."""
    v4 = nbformat.v4
    setup = v4.new_code_cell(
        "import numpy as np\nimport keras\nfrom dnnkit import grading",
        metadata={
            "nbgrader": {"grade_id": "setup", "locked": True, "grade": False, "solution": False}
        },
    )
    answer = v4.new_code_cell(
        "def gelu_tanh(z):\n    raise NotImplementedError()",
        metadata={
            "nbgrader": {
                "grade_id": "gelu_tanh_solution",
                "solution": True,
                "grade": False,
                "locked": False,
            }
        },
    )
    layer = v4.new_code_cell(
        "class Swish(keras.layers.Layer):\n    pass",
        metadata={
            "nbgrader": {
                "grade_id": "swish_layer_solution",
                "solution": True,
                "grade": False,
                "locked": False,
            }
        },
    )
    moved = v4.new_code_cell("def gelu_tanh(z):\n    return keras.ops.tanh(z)")
    helper = v4.new_code_cell(  # a NumPy answer may not call a helper that may use Keras
        "class Swish(keras.layers.Layer):\n    pass\n\ndef _t(z):\n    return keras.ops.tanh(z)"
    )
    uses_helper = v4.new_code_cell("def gelu_tanh(z):\n    return _t(z)")
    nb = v4.new_notebook(cells=[setup, answer, layer, moved, helper, uses_helper])
    found = checker.check_notebook(nb, load_policy(REPO / "solutions" / "03_activations"))
    assert sorted(found) == [3, 5]
    assert "`keras.ops.tanh` is not on this task's list" in str(found[3][0])
    assert "defined in a cell that may use keras" in str(found[5][0])


def test_replacement_keeps_the_code_as_comments_and_fails_only_when_called():
    cell = nbformat.v4.new_code_cell(
        "from dnnkit.activations import gelu as g\n\ndef gelu(z):\n    return g(z)\n",
        metadata={"nbgrader": {"grade_id": "gelu_solution", "solution": True}},
    )
    found = checker.check_source(cell.source, NUMPY_TASK)
    source = cells.replacement_for(cell, found)
    assert "# | def gelu(z):" in source
    namespace = {}
    with pytest.raises(IntegrityError, match="answer `gelu_solution` was not run"):
        exec(compile(source, "<replacement>", "exec"), namespace)
    with pytest.raises(IntegrityError, match="the reference implementation"):
        namespace["gelu"](1.0)


def test_static_check_of_planted_cheats_and_bugs_of_every_assignment():
    """Every planted cheat is refused; no planted bug and no reference solution is."""
    import grading_support as gs

    for assignment in gs.assignments():
        bugs, cheats = gs.load_planted(assignment)
        source = nbformat.read(gs.SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
        tasks = checker.task_names(source)
        rules = load_policy(gs.SOLUTIONS / assignment)
        solved = gs.copy_nb(source)
        for cell in solved.cells:
            if gs.nbgrader_meta(cell).get("solution"):
                cell.source = gs.strip_solution_markers(cell.source)
        assert checker.check_notebook(solved, rules, tasks) == {}, assignment
        for name, bug in bugs.items():
            assert checker.check_notebook(gs.with_bug(solved, bug), rules, tasks) == {}, name
        for name, cheat in cheats.items():
            variant = gs.with_cell_source(solved, cheat["cell"], cheat["source"])
            assert checker.check_notebook(variant, rules, tasks), f"{assignment}: {name}"


def test_check_submission_reports_malformed_submissions(tmp_path):
    folder = tmp_path / "submitted" / "alice" / "01_gradients"
    folder.mkdir(parents=True)
    (folder / "Copy of 01_gradients.ipynb").write_text('{"cells": [')
    problems = submission.check_submission(folder, ["01_gradients"])
    assert [p.kind for p in problems] == ["missing-notebook", "unexpected-file"]
    assert "rename it to '01_gradients.ipynb'" in str(problems[0])
    (folder / "01_gradients.ipynb").write_text('{"cells": [')
    problems = submission.check_submission(folder, ["01_gradients"])
    assert [p.kind for p in problems] == ["unexpected-file", "invalid-json"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nbformat.write(nb, folder / "01_gradients.ipynb")
    (folder / "Copy of 01_gradients.ipynb").unlink()
    assert [p.kind for p in submission.check_submission(folder, ["01_gradients"])] == [
        "no-nbgrader-cells"
    ]


@pytest.mark.parametrize(
    "source",
    [
        "def f(layer, config):\n    return layer.from_config(config)",  # deserialization
        "def f(model):\n    return model.save('/tmp/m.keras')",
        "def f(x):\n    return keras.saving.load_model(x)",
    ],
)
def test_keras_vocabulary_refuses_serialization_routes(source):
    found = violations(source, KERAS_TASK)
    assert any("is not on this task's list" in str(v) for v in found), [str(v) for v in found]


def _test_cell(outputs):
    import grading_support as gs

    meta = gs.cell_metadata("square_tests", grade=True, locked=True, points=2)
    return nbformat.v4.new_code_cell("assert square(3.0) == 9.0", metadata=meta, outputs=outputs)


@pytest.mark.parametrize("status", ["error", "ok"])
def test_a_value_displayed_during_a_test_is_shown_but_never_scored(status):
    """nbgrader scores a test cell by its first ``execute_result`` (partial credit; text counts
    as full marks) and reads no further, so answer code that calls ``sys.displayhook`` during
    the test would score a failing test. Oracle: nbgrader's own ``determine_grade``, before
    (the forged value wins) and after ``settle_test_outputs`` (the kernel's reply decides)."""
    from nbgrader.utils import determine_grade

    v4 = nbformat.v4
    forged = v4.new_output("execute_result", {"text/plain": "'full marks'"}, execution_count=3)
    outputs = [forged]
    if status == "error":
        outputs.append(v4.new_output("error", ename="NotImplementedError", evalue="", traceback=[]))
    cell = _test_cell(outputs)
    assert determine_grade(cell) == (2.0, 2.0)  # what plain nbgrader gives, passing or not

    reply = {"status": status, "ename": "NotImplementedError", "evalue": ""}
    cells.settle_test_outputs(cell, reply)
    assert determine_grade(cell) == ((0.0 if status == "error" else 2.0), 2.0)
    shown = [out for out in cell.outputs if out.output_type == "display_data"]
    assert [out.data["text/plain"] for out in shown] == ["'full marks'"]
    nbformat.validate(v4.new_notebook(cells=[cell]))
