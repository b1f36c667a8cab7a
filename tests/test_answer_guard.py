"""``dnnkit.answer_guard``: answers called on inputs they cannot turn against the test.

Oracles: hand-made answers whose misbehaviour is known (in-place changes, array subclasses,
subclassed numbers), the same answers called unwrapped, and plain NumPy comparisons written
out here.
"""

from __future__ import annotations

import functools
import types

import numpy as np

from dnnkit.answer_guard import guard_answer, guard_answers, plain, uncopied


def test_an_honest_answer_returns_the_same_object_and_value():
    out = np.arange(3.0)
    f = guard_answer(lambda x: out)
    assert f(np.ones(2)) is out


def test_an_answer_that_changes_its_inputs_changes_only_copies():
    """The attack: zero the input, return zeros; the test's ``x.mean(axis=0)`` afterwards
    would then agree. Guarded, the test's arrays stay as they were."""

    def cheat(x, stats):
        x[...] = 0.0
        stats["mean"] += 5.0
        return x.mean(axis=0)

    x, stats = np.arange(6.0).reshape(2, 3), {"mean": np.array([0.0])}
    got = guard_answer(cheat)(x, stats)
    np.testing.assert_array_equal(x, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(stats["mean"], [0.0])
    assert not np.allclose(got, x.mean(axis=0))  # the expected value is the real one
    unguarded_x = x.copy()
    assert np.allclose(cheat(unguarded_x, {"mean": np.zeros(1)}), unguarded_x.mean(axis=0))


def test_lists_tuples_and_dicts_of_arrays_are_copied_item_by_item():
    def clip(grads, pair, named):
        grads[1][:] = 0.0
        grads.append(np.zeros(1))
        pair[0][:] = 7.0
        named["w"][:] = 3.0
        return len(grads)

    grads, pair, named = [np.ones(2), np.ones(3)], (np.ones(1), "label"), {"w": np.ones(2)}
    first, second = grads
    assert guard_answer(clip)(grads, pair, named=named) == 3
    assert len(grads) == 2 and grads[0] is first and grads[1] is second
    np.testing.assert_array_equal(second, np.ones(3))
    np.testing.assert_array_equal(pair[0], [1.0])
    np.testing.assert_array_equal(named["w"], [1.0, 1.0])


def test_other_objects_are_shared_not_copied():
    class Model:
        weights = np.zeros(2)

    model = Model()
    got = guard_answer(lambda m: m)(model)
    assert got is model


def test_uncopied_gives_the_answer_the_callers_objects_and_plain_values():
    class Sneaky(np.ndarray):
        pass

    def update(running_mean):
        running_mean *= 0.9
        return running_mean.view(Sneaky)

    guarded = guard_answer(update)
    running_mean = np.ones(2)
    got = uncopied(guarded)(running_mean)
    np.testing.assert_array_equal(running_mean, [0.9, 0.9])  # the change is seen
    assert type(got) is np.ndarray
    assert uncopied(update) is update  # not wrapped: the student's own run
    assert uncopied(np.mean) is np.mean


def test_arrays_handed_over_by_uncopied_cannot_be_changed_after_the_call():
    """An answer that keeps the arrays a test handed it through ``uncopied`` and writes into
    them during a later call would change what the test computes its next expected value
    from. The arrays it got were views, read-only once the call returned. Oracle: the
    caller's arrays, and the error of the later write."""
    kept = []

    def answer(x, pair, *, scale):
        x *= 2.0  # during the call: reaches the caller's array, as a test of in-place must see
        kept.extend([x, *pair, scale])
        return x

    def later(fill):
        refused = 0
        for array in kept:
            try:
                array.fill(fill)
            except ValueError as error:  # "assignment destination is read-only"
                refused += "read-only" in str(error)
        return refused

    x, pair, scale = np.ones(2), (np.ones(3), np.ones(1)), np.ones(1)
    got = uncopied(guard_answer(answer))(x, pair, scale=scale)
    np.testing.assert_array_equal(x, [2.0, 2.0])
    assert np.shares_memory(got, x) and type(got) is np.ndarray  # returned its input: visible
    assert guard_answer(later)(0.0) == 4
    for array in (x, *pair, scale):
        assert array.min() >= 1.0 and array.flags.writeable  # unchanged and still the caller's


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


def zero_and_mean(x):
    x[...] = 0.0
    return x.mean(axis=0)


def test_every_way_to_bind_an_answer_is_wrapped():
    """A lambda, a partial, a bound method, a callable instance of a notebook class, and a
    function that claims to be wrapped already: none of them reaches the caller's array."""

    class Holder:
        def method(self, x):
            return zero_and_mean(x)

    notebook_class = type("Answer", (), {"__call__": lambda self, x: zero_and_mean(x)})
    notebook_class.__module__ = "__main__"  # as a class defined in a notebook cell is
    fake = functools.partial(zero_and_mean)
    claims = types.FunctionType(zero_and_mean.__code__, globals(), "claims")
    claims._dnnkit_guarded = True  # the attribute the guard once trusted
    namespace = {
        "as_lambda": lambda x: zero_and_mean(x),
        "as_partial": fake,
        "as_method": Holder().method,
        "as_instance": notebook_class(),
        "claims": claims,
    }
    assert sorted(guard_answers(namespace, list(namespace))) == sorted(namespace)
    for name, answer in namespace.items():
        x = np.arange(6.0).reshape(2, 3)
        answer(x)
        np.testing.assert_array_equal(x, np.arange(6.0).reshape(2, 3), err_msg=name)
    x = np.arange(6.0).reshape(2, 3)
    claims(x)  # the original, unwrapped: the attack works
    assert not x.any()


def test_objects_that_resist_inspection_are_wrapped_all_the_same():
    def refuse(*args):
        raise ValueError("no")

    hostile = type(
        "Hostile",
        (),
        {
            "__call__": lambda self, x: zero_and_mean(x),
            "__hash__": refuse,
            "__class__": property(refuse),
            "__module__": "__main__",
        },
    )
    namespace = {"answer": hostile(), "after": lambda x: zero_and_mean(x)}
    assert guard_answers(namespace, ["answer", "after"]) == ["answer", "after"]
    for answer in namespace.values():
        x = np.ones((2, 2))
        answer(x)
        np.testing.assert_array_equal(x, np.ones((2, 2)))


def test_classes_and_library_objects_are_not_wrapped():
    class Layer:  # a class the tests instantiate (a Keras layer, say)
        def __call__(self, x):
            return x

    namespace = {"Layer": Layer, "layer": Layer(), "np": np, "mean": np.mean}
    assert guard_answers(namespace, list(namespace)) == []
