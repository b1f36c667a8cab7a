"""``dnnkit.answer_guard``: answers called on inputs they cannot turn against the test.

Oracles: hand-made answers whose misbehaviour is known (in-place changes, array subclasses,
subclassed numbers) and plain NumPy comparisons written out here.
"""

from __future__ import annotations

import numpy as np
import pytest

from dnnkit.answer_guard import guard_answer, guard_answers, plain


def test_an_honest_answer_returns_the_same_object_and_value():
    out = np.arange(3.0)
    f = guard_answer(lambda x: out, "f")
    assert f(np.ones(2)) is out


def test_an_answer_that_changes_its_input_in_place_fails_and_the_input_is_put_back():
    def shift(x, stats):
        x -= 1.0
        stats["mean"] += 5.0
        return x

    x, stats = np.array([1.0, 2.0]), {"mean": np.array([0.0])}
    with pytest.raises(AssertionError, match=r"shift changed its argument 1, argument 2 in place"):
        guard_answer(shift, "shift")(x, stats)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    np.testing.assert_array_equal(stats["mean"], [0.0])


def test_lists_of_arrays_are_checked_item_by_item_and_restored():
    def clip(grads):
        grads[1][:] = 0.0
        grads.append(np.zeros(1))
        return grads

    grads = [np.ones(2), np.ones(3)]
    first, second = grads
    with pytest.raises(AssertionError, match="argument 1 in place"):
        guard_answer(clip, "clip")(grads)
    assert len(grads) == 2 and grads[0] is first and grads[1] is second
    np.testing.assert_array_equal(second, np.ones(3))


def test_keyword_arguments_are_named_in_the_message():
    def bump(x, *, running_mean):
        running_mean *= 0.9
        return x

    with pytest.raises(AssertionError, match="argument `running_mean` in place"):
        guard_answer(bump)(np.ones(1), running_mean=np.ones(2))


def test_returned_subclasses_become_plain_values():
    class Always(np.ndarray):
        pass

    class Number(float):
        pass

    weird = np.zeros(3).view(Always)
    got = guard_answer(lambda: (weird, Number(2.5), [weird]))()
    assert type(got[0]) is np.ndarray and got[0] is not weird
    assert type(got[1]) is float and got[1] == 2.5
    assert type(got[2]) is list and type(got[2][0]) is np.ndarray


def test_plain_keeps_exact_types_and_other_objects():
    a, marker = np.ones(2), object()
    value = [a, {"k": 1.0}, (2, "s"), marker]
    assert plain(value) is value


def test_guard_answers_wraps_functions_only_and_only_once():
    namespace = {"f": lambda x: x, "K": type("K", (), {}), "n": 3}
    assert guard_answers(namespace, ["f", "K", "n", "missing"]) == ["f"]
    wrapped = namespace["f"]
    assert guard_answers(namespace, ["f"]) == [] and namespace["f"] is wrapped
    assert namespace["K"].__name__ == "K" and namespace["n"] == 3
