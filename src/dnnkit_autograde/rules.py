"""The rules of the static check: one table, an id and a sentence for the student each.

A :class:`Violation` names the rule it broke; ``str(violation)`` is what the student reads in
the graded notebook (the line, the sentence with the refused name, and the rule id).
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

#: rule id -> the message a student reads; ``{fields}`` are filled in by the checker.
RULES: dict[str, str] = {
    # what an answer may use: the allow-list of its assignment and task (policy.toml)
    "not-allowed": (
        "`{path}` is not on this task's list of allowed names: write this part yourself "
        "with what the task allows (see the assignment's policy.toml)."
    ),
    "attribute-not-allowed": (
        "`.{attr}` is not on this task's list of allowed attributes and methods "
        "(see the assignment's policy.toml)."
    ),
    "import": (
        "`{module}` may not be imported in this answer (allowed: {allowed}). Write the code "
        "yourself instead of calling a library's version."
    ),
    "relative-import": "relative imports are not allowed in an answer.",
    "star-import": "`from {module} import *` is not allowed.",
    "reference": (
        "`{path}` is part of the course's library `dnnkit` (the reference implementation): "
        "an answer may not use it. Write the code yourself."
    ),
    "reference-string": "the string {value} refers to the course's reference implementation.",
    "forbidden-keyword": (
        "the argument `{keyword}=` would use the library's own implementation; write the "
        "computation yourself."
    ),
    "unpacked-keywords": (
        "`**` arguments are not allowed in this task: they could pass {forbidden}, which would "
        "use the library's own implementation."
    ),
    "module-mix": (
        "`{name}` is defined in a cell that may use {modules}, which this answer may not use."
    ),
    # names that belong to the notebook, IPython or Python itself
    "protected": "`{name}` belongs to the set-up or test cells; an answer may not use it.",
    "shadow-protected": (
        "this cell defines `{name}`, a name that the set-up or test cells use; rename it."
    ),
    "shadow-builtin": "this cell defines `{name}`, which hides Python's built-in `{name}`; rename it.",
    "magic": (
        "`get_ipython` may not be used in an answer: no magics (`%...`) or shell commands "
        "(`!...`) in graded notebooks."
    ),
    "name": "`{name}` may not be used in an answer.",
    "builtin": "the built-in `{name}` may not be used in an answer.",
    "module-value": (
        "use the module `{name}` only through its functions (`{name}.something(...)`); do not "
        "pass it around or store it."
    ),
    # reaching inside objects
    "dunder-def": (
        "defining `{name}` is not allowed in an answer (only `__init__`): special methods can "
        "change how the tests compare values."
    ),
    "dunder-attribute": "`.{attr}` may not be used in an answer.",
    "dunder-string": "the string {value} may not appear in an answer.",
    "private-attribute": "private attributes such as `.{attr}` may not be used.",
    "class-keywords": "class keywords (such as `metaclass=`) are not allowed.",
    "class-value": (
        "use your class `{name}` only to make objects (`{name}(...)`), as a base class or in "
        "isinstance(): its methods are called on its objects, never through the class."
    ),
    "nested-class": "define classes at the top level of a cell, not inside a function or class.",
    "class-body": (
        "a class body may hold only methods, constants (`units = 8`) and a docstring; put other "
        "code in a method."
    ),
    "class-body-name": (
        "`{name}` is used inside its class body: call methods on an object of the class."
    ),
    "base-class": (
        "a class may derive from `object`, an exception, a class of this notebook or {allowed}, "
        "not from `{base}`."
    ),
    "self-rebound": "a method may not assign to `{name}`, its first parameter; use another name.",
    "decorator": "only `@property` may decorate a function or method in an answer.",
    "super-arguments": "call `super()` without arguments.",
    "syntax": "{what} may not be used in an answer: write it with if/for/while and functions.",
    # changing what is not the answer's own
    "patch": (
        "changing an {what} of `{name}` is not allowed: an answer may change only the objects "
        "it creates (inside its functions), never modules or test objects."
    ),
    "patch-library": "`{name}` refers to a library object; changing its {what}s is not allowed.",
    "patch-computed": "assigning an {what} of a computed object is not allowed.",
    "attribute-store": (
        "setting `.{attr}` is not allowed here (only on `self`, and {settable}): an answer may "
        "not change the methods or data of the objects it is given."
    ),
    "global": "`global`/`nonlocal` statements are not allowed in an answer.",
    "except": (
        "catching {name} is not allowed (it would swallow the autograder's time limit); catch "
        "a specific exception such as ValueError."
    ),
    "syntax-error": (
        "this cell is not valid Python ({error}), so the autograder cannot check it and does not "
        "run it; fix the error."
    ),
    "checker": (
        "the autograder could not check this cell ({error}); ask your instructor to review it."
    ),
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, which rule, and the sentence for the student."""

    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message} [rule: {self.rule}]"


def violation(line: int, rule: str, **fields: object) -> Violation:
    """The :class:`Violation` of rule ``rule`` at ``line``, its message filled with ``fields``."""
    return Violation(line, rule, RULES[rule].format(**fields))


# Built-ins an answer may use. Everything else in ``builtins`` (eval, exec, open, getattr,
# setattr, globals, vars, __import__, breakpoint, input, exit, compile, memoryview...) is refused,
# and so are ``type``, ``staticmethod`` and ``classmethod``: each hands out a class or a method
# that can be called with any object as ``self`` (``type(obj).method(np, ...)``).
SAFE_BUILTINS = frozenset(
    {
        "abs", "all", "any", "bin", "bool", "bytes", "callable", "chr",
        "complex", "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset",
        "hasattr", "hash", "hex", "id", "int", "isinstance", "issubclass", "iter", "len",
        "list", "map", "max", "min", "next", "object", "oct", "ord", "pow", "print",
        "property", "range", "repr", "reversed", "round", "set", "slice", "sorted",
        "str", "sum", "super", "tuple", "zip", "display",
        "NotImplemented", "Ellipsis",
    }
    | {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
)  # fmt: skip
#: Exceptions an answer may not catch (they would swallow the autograder's interrupt).
UNCATCHABLE = frozenset({"BaseException", "KeyboardInterrupt", "SystemExit", "GeneratorExit"})
#: Names IPython puts in the notebook's namespace.
IPYTHON_NAMES = frozenset({"get_ipython", "In", "Out", "exit", "quit", "open"})
ALLOWED_DUNDER_ATTRIBUTES = frozenset({"__init__", "__name__"})
ALLOWED_DUNDER_METHODS = frozenset({"__init__"})
DUNDER = re.compile(r"^__\w+__$")

#: The syntax an answer may use: every node the checker reads. Anything else (``match``
#: patterns, which read attributes by name; ``async``/``await``; ``except*``; syntax of later
#: Pythons) is refused, so a construct the checker was not written for is never trusted.
ALLOWED_SYNTAX: tuple[type, ...] = (
    ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return, ast.Delete,
    ast.Pass, ast.Break, ast.Continue, ast.If, ast.For, ast.While, ast.With, ast.withitem,
    ast.Raise, ast.Try, ast.ExceptHandler, ast.Assert, ast.Import, ast.ImportFrom, ast.alias,
    ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.arguments, ast.arg, ast.keyword,
    ast.Global, ast.Nonlocal, ast.Yield, ast.YieldFrom,
    ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Compare, ast.Call, ast.NamedExpr,
    ast.Dict, ast.Set, ast.List, ast.Tuple, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp, ast.comprehension, ast.Constant, ast.Attribute, ast.Subscript,
    ast.Slice, ast.Starred, ast.Name, ast.JoinedStr, ast.FormattedValue,
    ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop,
)  # fmt: skip
#: How the refusal of a node names it for the student.
SYNTAX_NAMES = {
    "Match": "`match` statements",
    "AsyncFunctionDef": "`async def`",
    "AsyncFor": "`async for`",
    "AsyncWith": "`async with`",
    "Await": "`await`",
    "TryStar": "`except*`",
}
