"""dnnkit._checks: the one argument-checking style of the library.

The oracle is the message format written out here: ``{name}={value!r} is not allowed;
expected ...``, always a ValueError (never a TypeError), whatever the type of the value.
"""

import math

import numpy as np
import pytest

from dnnkit import _checks as checks

NOT_NUMBERS = ["1", None, True, [1.0], float("nan")]


@pytest.mark.parametrize("value", NOT_NUMBERS)
@pytest.mark.parametrize(
    "check",
    [checks.check_number, checks.check_positive, checks.check_nonnegative],
)
def test_number_checks_raise_value_error_naming_argument_and_value(check, value):
    with pytest.raises(ValueError) as info:
        check("alpha", value)
    assert str(info.value).startswith(f"alpha={value!r} is not allowed; expected ")


@pytest.mark.parametrize(
    "check, good, bad",
    [
        (checks.check_positive, [1e-9, 3, np.float32(2.0)], [0, -1.0, math.inf]),
        (checks.check_nonnegative, [0, 0.5, np.int64(4)], [-1e-9, math.inf]),
        (checks.check_number, [-3, 0.0, np.float64(2.5)], [math.inf, -math.inf]),
    ],
)
def test_number_checks_return_floats_and_refuse_out_of_range(check, good, bad):
    for value in good:
        result = check("x", value)
        assert type(result) is float and result == float(value)
    for value in bad:
        with pytest.raises(ValueError, match="x="):
            check("x", value)


def test_infinity_is_allowed_only_when_asked():
    assert checks.check_positive("scale", math.inf, finite=False) == math.inf
    assert checks.check_number("beta", -math.inf, finite=False) == -math.inf


def test_in_range_respects_open_and_closed_ends():
    assert checks.check_in_range("momentum", 1, 0, 1) == 1.0
    with pytest.raises(ValueError, match=r"momentum=1 .*\(0, 1\)"):
        checks.check_in_range("momentum", 1, 0, 1, low_open=True, high_open=True)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        checks.check_in_range("momentum", "0.5", 0, 1)


def test_interval_names_both_ends():
    assert checks.check_interval("lower", 0.1, "upper", 0.3, minimum=0) == (0.1, 0.3)
    for low, high in [(0.3, 0.1), (-0.1, 0.2), (0.1, math.nan), ("a", 1)]:
        with pytest.raises(ValueError, match="lower=.*upper=.*0 <= lower <= upper"):
            checks.check_interval("lower", low, "upper", high, minimum=0)


def test_integer_check_refuses_bools_floats_and_out_of_bounds():
    assert checks.check_integer("n", np.int64(3), minimum=1) == 3
    for value in [True, 2.0, "2", None]:
        with pytest.raises(ValueError, match="n=.*expected an integer"):
            checks.check_integer("n", value)
    with pytest.raises(ValueError, match=r"n=5 .*\[0, 4\]"):
        checks.check_integer("n", 5, minimum=0, maximum=4)


def test_one_of_lists_the_options_and_survives_unhashable_values():
    assert checks.check_one_of("mode", "fan_in", ("fan_in", "fan_out")) == "fan_in"
    with pytest.raises(ValueError, match=r"mode='FAN_IN' .*\('fan_in', 'fan_out'\)"):
        checks.check_one_of("mode", "FAN_IN", ("fan_in", "fan_out"))
    with pytest.raises(ValueError, match="mode=\\[\\]"):
        checks.check_one_of("mode", [], frozenset({"a"}))


def test_bool_check_accepts_numpy_booleans_only_besides_bool():
    assert checks.check_bool("training", np.bool_(True)) is True
    for value in [1, "yes", None]:
        with pytest.raises(ValueError, match="training=.*True or False"):
            checks.check_bool("training", value)


def test_instance_check_names_the_type():
    with pytest.raises(ValueError, match="model of type str is not allowed; expected a model"):
        checks.check_instance("model", "m", dict, "a model")
