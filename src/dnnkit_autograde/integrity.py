"""Integrity of autograding: what a student's answer may do, checked outside the kernel.

A student's code runs in the kernel that runs the tests, so nothing in that kernel can be
trusted. This module adds three layers to ``nbgrader autograde`` (wired in nbgrader_config.py):

1. :class:`RestoreCells` (before nbgrader's ``OverwriteCells``): puts back deleted read-only
   cells (set-up, tests) from the gradebook, runs the set-up first, and resets the metadata of
   every tracked cell to the gradebook's (a ``skip-execution`` tag cannot skip a test).
2. :class:`IntegrityCheck` (after ``OverwriteCells``): parses every cell a student can edit
   with :mod:`ast` and applies :data:`POLICIES` (allowed imports per assignment and answer cell,
   forbidden names such as the ``dnnkit`` reference or Keras' own implementation, no patching,
   no ``exec``/``sys``/``os``...). A cell that breaks a rule is not run: it is replaced by stubs
   that raise :class:`dnnkit.grading.IntegrityError` naming the rule, so only its tests fail.
3. :class:`GuardedExecute` (replaces nbgrader's ``Execute``): a per-cell timeout, and when a
   cell hangs or kills the kernel, a fresh kernel that re-runs the cells above and goes on, so
   the rest of the notebook is graded; ``dnnkit.grading.verify_integrity`` runs around every
   test cell, and a test cell that was not run always scores 0.

Plus :func:`check_submission`, a report on malformed submissions (invalid JSON, wrong file
name, missing cells) for the batch grader. The policy lives here, keyed by assignment and
``grade_id``, never in the notebook's (student-editable) metadata.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = [
    "POLICIES",
    "AssignmentPolicy",
    "GuardedExecute",  # noqa: F822  (defined on first use, see __getattr__)
    "IntegrityCheck",  # noqa: F822
    "Policy",
    "RestoreCells",  # noqa: F822
    "Violation",
    "check_notebook",
    "check_source",
    "check_submission",
]

NUMPY_ONLY = frozenset({"numpy", "math"})
WITH_KERAS = NUMPY_ONLY | {"keras", "tensorflow"}


# ===================================================================================== policy
@dataclass(frozen=True)
class Policy:
    """What the code of one cell may use.

    Parameters
    ----------
    modules : set of str
        Top-level packages the cell may import and use (``np`` included).
    forbidden : set of str
        Dotted names the cell may not reference, with everything under them, e.g.
        ``"keras.activations"`` or ``"tensorflow.nn.silu"`` (aliases are resolved).
    forbidden_attributes : set of str
        Attribute names the cell may not read on any object but ``self`` (``x.gelu``).
    forbidden_keywords : set of str
        Keyword arguments the cell may not pass, e.g. ``"activation"`` (``Dense(...,
        activation="gelu")`` would use Keras' implementation) or ``"clipnorm"``.
    """

    modules: frozenset = NUMPY_ONLY
    forbidden: frozenset = frozenset()
    forbidden_attributes: frozenset = frozenset()
    forbidden_keywords: frozenset = frozenset()


def strictest(policies) -> Policy:
    """The rules of a cell that defines several tasks' functions: all of them at once."""
    policies = list(policies)
    return Policy(
        frozenset.intersection(*(p.modules for p in policies)),
        frozenset().union(*(p.forbidden for p in policies)),
        frozenset().union(*(p.forbidden_attributes for p in policies)),
        frozenset().union(*(p.forbidden_keywords for p in policies)),
    )


@dataclass(frozen=True)
class AssignmentPolicy:
    """The rules of one assignment.

    A cell's rules follow the *functions it defines*, not the cell it is in: a cell that
    defines the function (or class) of the answer cell ``grade_id`` gets ``tasks[grade_id]``
    (``base`` when the task has no entry), and a cell that defines none (a helper, a
    scratch cell) gets ``base``. So an answer moved to another cell, or to a cell the student
    added, is checked by the same rules, and ``grade_id`` metadata (which a student can edit)
    decides nothing.
    """

    base: Policy = Policy()
    tasks: dict = field(default_factory=dict)

    def for_tasks(self, grade_ids) -> Policy:
        grade_ids = list(grade_ids)
        if not grade_ids:
            return self.base
        return strictest(self.tasks.get(g, self.base) for g in grade_ids)


def _with_keras(policy: Policy, **changes) -> Policy:
    return replace(policy, modules=WITH_KERAS, **changes)


_ACTIVATIONS = ("gelu", "elu", "selu", "silu", "swish", "mish", "softplus", "leaky_relu", "rrelu")

# Forbidden everywhere (matched after resolving aliases): the course's reference, and
# library corners that read files, run foreign code, crash the kernel or reach internals.
COMMON_FORBIDDEN = frozenset(
    {"dnnkit", "numpy.lib", "numpy.ctypeslib", "numpy.f2py", "numpy.testing", "numpy.memmap"}
    | {f"numpy.{name}" for name in ("load", "save", "savez", "savez_compressed", "savetxt")}
    | {f"numpy.{name}" for name in ("loadtxt", "genfromtxt", "fromfile", "DataSource")}
    | {"keras.src", "keras.config", "keras.utils.get_file", "keras.models.load_model"}
    | {"keras.saving.load_model", "keras.layers.TFSMLayer", "keras.layers.Lambda"}
    | {f"tensorflow.{name}" for name in ("io", "compat", "raw_ops", "saved_model", "sysconfig")}
    | {f"tensorflow.{name}" for name in ("py_function", "numpy_function", "experimental")}
    | {"tensorflow.load_library", "tensorflow.load_op_library"}
)

_ACTIVATIONS_BASE = Policy(
    forbidden=frozenset(
        {"keras.activations", "keras.layers.Activation"}
        | {f"keras.ops.{a}" for a in _ACTIVATIONS}
        | {f"keras.layers.{name}" for name in ("ELU", "LeakyReLU", "PReLU", "ReLU")}
        | {f"tensorflow.{m}.{a}" for m in ("nn", "math") for a in _ACTIVATIONS}
    ),
    forbidden_attributes=frozenset(_ACTIVATIONS),
    forbidden_keywords=frozenset({"activation"}),
)
_CLIPPING_BASE = Policy(forbidden_keywords=frozenset({"clipnorm", "clipvalue", "global_clipnorm"}))

POLICIES: dict[str, AssignmentPolicy] = {
    "01_gradients": AssignmentPolicy(),
    "02_initializers": AssignmentPolicy(),
    "03_activations": AssignmentPolicy(
        base=_ACTIVATIONS_BASE,
        tasks={"swish_layer_solution": _with_keras(_ACTIVATIONS_BASE)},
    ),
    "04_batchnorm": AssignmentPolicy(),
    "05_clipping": AssignmentPolicy(
        base=_CLIPPING_BASE,
        # The training step may use TensorFlow's clipping, not the optimizer's own options.
        tasks={"train_step_solution": _with_keras(_CLIPPING_BASE)},
    ),
    "06_transfer": AssignmentPolicy(base=Policy(modules=WITH_KERAS)),
}
DEFAULT_POLICY = AssignmentPolicy()


def policy_for(assignment: str) -> AssignmentPolicy:
    """The rules of ``assignment`` (NumPy and ``math`` only when it has none of its own)."""
    return POLICIES.get(assignment, DEFAULT_POLICY)


# ====================================================================== static check: rules
# Built-ins an answer may use. Everything else in ``builtins`` (eval, exec, open, getattr,
# setattr, globals, vars, __import__, breakpoint, input, exit...) is refused.
SAFE_BUILTINS = frozenset(
    {
        "abs", "all", "any", "bin", "bool", "bytes", "callable", "chr", "classmethod",
        "complex", "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset",
        "hasattr", "hash", "hex", "id", "int", "isinstance", "issubclass", "iter", "len",
        "list", "map", "max", "min", "next", "object", "oct", "ord", "pow", "print",
        "property", "range", "repr", "reversed", "round", "set", "slice", "sorted",
        "staticmethod", "str", "sum", "super", "tuple", "type", "zip", "display",
        "NotImplemented", "Ellipsis",
    }
    | {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
)  # fmt: skip
# Exceptions an answer may not catch (they would swallow the autograder's interrupt).
UNCATCHABLE = frozenset({"BaseException", "KeyboardInterrupt", "SystemExit", "GeneratorExit"})
# Names IPython puts in the notebook's namespace.
IPYTHON_NAMES = frozenset({"get_ipython", "In", "Out", "exit", "quit", "open"})
# Attribute names refused on any object: introspection that reaches frames, globals, modules.
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "f_lasti",
        "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code",
        "tb_frame", "tb_next", "co_code", "co_consts", "func_globals",
        "modules", "builtins", "sys", "os", "subprocess", "importlib", "system", "popen",
        "exec", "eval", "getattr", "setattr", "delattr", "globals", "locals",
        "vars", "as_strided", "ctypes", "load_library", "load_op_library",
        "deserialize", "deserialize_keras_object", "get_registered_object",
        "get_custom_objects", "model_from_json", "model_from_config", "load_model",
        "tofile", "dump", "save", "save_weights", "export",  # writing files
    }
)  # fmt: skip
ALLOWED_DUNDER_ATTRIBUTES = frozenset({"__init__", "__name__"})
ALLOWED_DUNDER_METHODS = frozenset({"__init__"})
_DUNDER = re.compile(r"^__\w+__$")


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, which rule, and a sentence for the student."""

    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class NotebookContext:
    """What the check of one cell needs to know about the rest of the notebook.

    ``protected`` are the names the read-only cells (set-up and tests) bind, mapped to the
    module path they are bound to (``np`` -> ``"numpy"``) or None (test variables, the
    reference functions the tests import). ``student_globals`` are the names bound at the top
    level of the cells a student can edit; ``student_modules`` those bound to modules;
    ``defined_with`` maps each of them to the modules that the cells defining it may use (a
    NumPy-only answer may not call a helper written in a cell allowed to use Keras).
    """

    protected: dict = field(default_factory=dict)
    student_globals: set = field(default_factory=set)
    student_modules: dict = field(default_factory=dict)
    defined_with: dict = field(default_factory=dict)
    module_names: set = field(default_factory=set)  # names bound by `import x` (modules)


def _transform(source: str) -> str:
    """The Python that IPython would run for a cell (magics become ``get_ipython()`` calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - nbgrader always brings IPython
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - IPython could not transform it: parse the raw text
        return source


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(_transform(source))
    except (SyntaxError, ValueError):
        return None


def _import_bindings(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    """(bound name, dotted path of what it is bound to) for an import statement."""
    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                out.append((alias.asname, alias.name))
            else:
                top = alias.name.split(".")[0]
                out.append((top, top))
    else:
        base = node.module or ""
        for alias in node.names:
            out.append((alias.asname or alias.name, f"{base}.{alias.name}" if base else alias.name))
    return out


def _top_level_bindings(tree: ast.Module, modules: set | None = None) -> dict[str, str | None]:
    """Names bound at the top level of a cell -> the dotted path of an import, or None.

    ``modules``, when given, receives the names bound by ``import x`` (surely modules).
    """
    bound: dict[str, str | None] = {}

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.setdefault(node.name, None)
            for deco in node.decorator_list:
                visit(deco)
            return  # the body is another scope
        if isinstance(
            node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
        ):
            for sub in ast.walk(node):  # walrus targets inside comprehensions leak out
                if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                    bound.setdefault(sub.target.id, None)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name, path in _import_bindings(node):
                bound[name] = path
                if modules is not None and isinstance(node, ast.Import):
                    modules.add(name)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.setdefault(node.id, None)
        if isinstance(node, ast.ExceptHandler) and node.name:
            bound.setdefault(node.name, None)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return bound


def _module_root(path: str) -> str:
    path = _normalise(path)
    return path.split(".")[0]


def _normalise(path: str) -> str:
    """``tensorflow.keras.x`` is Keras: check it as ``keras.x``."""
    for prefix in ("tensorflow.keras", "tensorflow.python.keras", "tf_keras"):
        if path == prefix or path.startswith(prefix + "."):
            return "keras" + path[len(prefix) :]
    return path


def _matches(path: str, prefixes) -> str | None:
    path = _normalise(path)
    for prefix in prefixes:
        if path == prefix or path.startswith(prefix + "."):
            return prefix
    return None


class _Scope:
    def __init__(self, kind: str, parent: _Scope | None):
        self.kind = kind  # "module", "function", "class"
        self.parent = parent
        self.names: set[str] = set()  # names local to this scope
        self.params: list[str] = []
        self.aliases: dict[str, str] = {}  # local name -> dotted path (imports, `K = keras.ops`)
        self.module_names: set[str] = set()  # locals bound by `import x`
        self.tainted: set[str] = set()  # locals that may hold a module or library object


def _local_names(node) -> set[str]:
    """Names bound in the body of a function/lambda/comprehension (not in nested scopes)."""
    names: set[str] = set()

    def visit(n, top):
        if not top and isinstance(
            n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
        ):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(n.name)
                for deco in n.decorator_list:
                    visit(deco, False)
            if not isinstance(n, ast.ClassDef):
                for default in n.args.defaults + [d for d in n.args.kw_defaults if d]:
                    visit(default, False)
            return
        if not top and isinstance(n, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            for sub in ast.walk(n):
                if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                    names.add(sub.target.id)
            return
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            names.add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names.update(name for name, _ in _import_bindings(n))
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            names.add(n.name)
        for child in ast.iter_child_nodes(n):
            visit(child, False)

    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        for gen in node.generators:
            for sub in ast.walk(gen.target):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
        return names
    body = node.body if isinstance(node.body, list) else [node.body]
    for stmt in body:
        visit(stmt, False)
    return names


def _chain(node) -> tuple[ast.AST, list[str]]:
    """``a.b.c`` -> (Name a, ["b", "c"]); the root may be any expression."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    return node, attrs[::-1]


def _target_root(node) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node


class _Checker(ast.NodeVisitor):
    """Walks one cell and records every :class:`Violation` of ``policy``."""

    def __init__(self, policy: Policy, context: NotebookContext):
        self.policy = policy
        self.context = context
        self.violations: list[Violation] = []
        self.scope = _Scope("module", None)
        self.attribute_roots: set[int] = set()  # ids of Name nodes used as `name.attr`
        self.docstrings: set[int] = set()
        forbidden = COMMON_FORBIDDEN | policy.forbidden
        self.forbidden = tuple(sorted(forbidden))

    # ------------------------------------------------------------------------ reporting
    def flag(self, node, rule: str, message: str) -> None:
        self.violations.append(Violation(getattr(node, "lineno", 0), rule, message))

    # ------------------------------------------------------------------------ resolution
    def resolve(self, name: str) -> _Scope | None:
        """The scope that binds ``name`` as seen from the current scope (None: global)."""
        scope, first = self.scope, True
        while scope.kind != "module":
            if (scope.kind != "class" or first) and name in scope.names:
                return scope
            scope, first = scope.parent, False
        return None

    def module_path(self, name: str) -> str | None:
        """The dotted path a name stands for when it is a module alias (or an alias of
        something in a module), else None."""
        scope = self.resolve(name)
        if scope is not None:
            return scope.aliases.get(name)
        if name in self.context.student_modules:
            return self.context.student_modules[name]
        return self.context.protected.get(name)

    def chain_path(self, node) -> str | None:
        root, attrs = _chain(node)
        if not isinstance(root, ast.Name):
            return None
        base = self.module_path(root.id)
        return ".".join([base, *attrs]) if base else None

    def is_tainted(self, node) -> bool:
        """May ``node`` evaluate to a module or an object taken from one (not a call result)?"""
        if isinstance(node, ast.Name):
            scope = self.resolve(node.id)
            if scope is not None:
                return node.id in scope.tainted or node.id in scope.aliases
            return self.module_path(node.id) is not None or node.id not in (
                self.context.student_globals
            )
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
            return self.is_tainted(node.value)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(self.is_tainted(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            return any(self.is_tainted(v) for v in node.values if v is not None)
        if isinstance(node, ast.IfExp):
            return self.is_tainted(node.body) or self.is_tainted(node.orelse)
        if isinstance(node, ast.BoolOp):
            return any(self.is_tainted(v) for v in node.values)
        if isinstance(node, ast.NamedExpr):
            return self.is_tainted(node.value)
        return False

    # ------------------------------------------------------------------------ scopes
    def enter(self, kind: str, node, params: list[str]) -> _Scope:
        scope = _Scope(kind, self.scope)
        if kind == "class":
            for stmt in node.body:
                scope.names |= set(_top_level_bindings(ast.Module(body=[stmt], type_ignores=[])))
        else:
            scope.names = _local_names(node) | set(params)
            scope.params = params
        self.scope = scope
        if kind == "function":
            self.find_taint(node)
        return scope

    def leave(self) -> None:
        self.scope = self.scope.parent

    def find_taint(self, node) -> None:
        """Locals assigned (anywhere in the function) from a module or something in one."""
        pairs = []
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            body = [
                ast.For(target=g.target, iter=g.iter, body=[], orelse=[]) for g in node.generators
            ]
        else:
            body = node.body if isinstance(node.body, list) else [node.body]
        for stmt in body:
            for sub in ast.walk(stmt):
                if isinstance(sub, ast.Assign):
                    pairs += [(t, sub.value) for t in sub.targets]
                elif isinstance(sub, (ast.AnnAssign, ast.AugAssign)) and sub.value is not None:
                    pairs.append((sub.target, sub.value))
                elif isinstance(sub, (ast.For, ast.AsyncFor, ast.comprehension)):
                    pairs.append((sub.target, sub.iter))
                elif isinstance(sub, ast.withitem) and sub.optional_vars is not None:
                    pairs.append((sub.optional_vars, sub.context_expr))
                elif isinstance(sub, ast.NamedExpr):
                    pairs.append((sub.target, sub.value))
                elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                    for name, path in _import_bindings(sub):
                        self.scope.aliases[name] = path
                        if isinstance(sub, ast.Import):
                            self.scope.module_names.add(name)
        changed = True
        while changed:  # tainted names taint the names assigned from them
            changed = False
            for target, value in pairs:
                if not self.is_tainted(value):
                    continue
                path = (
                    self.chain_path(value) if isinstance(value, (ast.Attribute, ast.Name)) else None
                )
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name) and sub.id not in self.scope.tainted:
                        self.scope.tainted.add(sub.id)
                        if path:
                            self.scope.aliases.setdefault(sub.id, path)
                        changed = True

    # ------------------------------------------------------------------------ statements
    def visit_Module(self, node: ast.Module) -> None:
        self.mark_docstring(node)
        self.generic_visit(node)

    def mark_docstring(self, node) -> None:
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            self.docstrings.add(id(body[0].value))

    def visit_Import(self, node) -> None:
        self.check_import(node)

    def visit_ImportFrom(self, node) -> None:
        if node.level:
            self.flag(node, "import", "relative imports are not allowed in an answer.")
            return
        if any(alias.name == "*" for alias in node.names):
            self.flag(node, "import", f"`from {node.module} import *` is not allowed.")
            return
        self.check_import(node)

    def check_import(self, node) -> None:
        allowed = ", ".join(sorted(self.policy.modules))
        for name, path in _import_bindings(node):
            modules = [path] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for module in modules:
                root = _module_root(module)
                if root == "dnnkit":
                    self.flag(node, "forbidden", self.forbidden_message(module, "dnnkit"))
                    return
                if root not in self.policy.modules:
                    self.flag(
                        node,
                        "import",
                        f"`{module}` may not be imported in this answer (allowed: {allowed}). "
                        "Write the code yourself instead of calling a library's version.",
                    )
                    return
            hit = _matches(path, self.forbidden)
            if hit:
                self.flag(node, "forbidden", self.forbidden_message(path, hit))
                return
            if self.scope.kind == "module":
                self.check_binding(node, name, path)

    def check_binding(self, node, name: str, path: str | None = None) -> None:
        """A name bound at the top level of the notebook by an editable cell."""
        if name in self.context.protected:
            if path is not None and self.context.protected[name] == path:
                return  # e.g. `import numpy as np` again
            self.flag(
                node,
                "shadow",
                f"this cell defines `{name}`, a name that the set-up or test cells use; rename it.",
            )
        elif name in vars(builtins) or name in IPYTHON_NAMES:
            self.flag(
                node,
                "shadow",
                f"this cell defines `{name}`, which hides Python's built-in `{name}`; rename it.",
            )

    def visit_FunctionDef(self, node) -> None:
        self.check_def(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def check_def(self, node) -> None:
        if _DUNDER.match(node.name) and node.name not in ALLOWED_DUNDER_METHODS:
            self.flag(
                node,
                "dunder",
                f"defining `{node.name}` is not allowed in an answer (only `__init__`): "
                "special methods can change how the tests compare values.",
            )
        if self.scope.kind == "module":
            self.check_binding(node, node.name)
        for deco in node.decorator_list:
            self.visit(deco)
        self.visit_arguments_defaults(node.args)
        params = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
        params += [a.arg for a in (node.args.vararg, node.args.kwarg) if a is not None]
        self.enter("function", node, params)
        self.mark_docstring(node)
        for stmt in node.body:
            self.visit(stmt)
        self.leave()

    def visit_arguments_defaults(self, args: ast.arguments) -> None:
        for default in args.defaults + [d for d in args.kw_defaults if d is not None]:
            self.visit(default)
        for arg in args.posonlyargs + args.args + args.kwonlyargs:
            if arg.annotation is not None:
                self.visit(arg.annotation)

    def visit_Lambda(self, node) -> None:
        self.visit_arguments_defaults(node.args)
        params = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
        params += [a.arg for a in (node.args.vararg, node.args.kwarg) if a is not None]
        self.enter("function", node, params)
        self.visit(node.body)
        self.leave()

    def visit_comprehension_scope(self, node, parts) -> None:
        self.visit(node.generators[0].iter)  # evaluated in the enclosing scope
        self.enter("function", node, [])
        for gen in node.generators:
            self.visit(gen.target)
            if gen is not node.generators[0]:
                self.visit(gen.iter)
            for cond in gen.ifs:
                self.visit(cond)
        for part in parts:
            self.visit(part)
        self.leave()

    def visit_ListComp(self, node) -> None:
        self.visit_comprehension_scope(node, [node.elt])

    visit_SetComp = visit_ListComp
    visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node) -> None:
        self.visit_comprehension_scope(node, [node.key, node.value])

    def visit_ClassDef(self, node) -> None:
        if node.keywords:
            self.flag(node, "class", "class keywords (such as `metaclass=`) are not allowed.")
        if self.scope.kind == "module":
            self.check_binding(node, node.name)
        for expr in node.decorator_list + node.bases:
            self.visit(expr)
        self.enter("class", node, [])
        self.mark_docstring(node)
        for stmt in node.body:
            self.visit(stmt)
        self.leave()

    def visit_Global(self, node) -> None:
        self.flag(node, "global", "`global`/`nonlocal` statements are not allowed in an answer.")

    visit_Nonlocal = visit_Global

    def visit_ExceptHandler(self, node) -> None:
        names = []
        if node.type is None:
            names = ["(bare except)"]
        else:
            for sub in ast.walk(node.type):
                if isinstance(sub, ast.Name) and sub.id in UNCATCHABLE:
                    names.append(sub.id)
        if names:
            self.flag(
                node,
                "except",
                f"catching {names[0]} is not allowed (it would swallow the autograder's "
                "time limit); catch a specific exception such as ValueError.",
            )
        if node.name and self.scope.kind == "module":
            self.check_binding(node, node.name)
        self.generic_visit(node)

    # ------------------------------------------------------------------------ expressions
    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        scope = self.resolve(name)
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            if scope is None and self.scope.kind == "module":
                self.check_binding(node, name)
            return
        if scope is not None:  # a local: its own rules apply through aliases
            if name in scope.module_names and id(node) not in self.attribute_roots:
                self.check_bare_module(node, name)
            return
        self.check_global_read(node, name)

    def check_global_read(self, node, name: str) -> None:
        path = self.module_path(name)
        if path is not None:
            hit = _matches(path, self.forbidden)
            if hit:
                self.flag(node, "forbidden", self.forbidden_message(path, hit))
                return
            if _module_root(path) not in self.policy.modules:
                allowed = ", ".join(sorted(self.policy.modules))
                self.flag(
                    node,
                    "module",
                    f"`{name}` ({path}) may not be used in this answer (allowed: {allowed}).",
                )
                return
            if name in self.context.module_names and id(node) not in self.attribute_roots:
                self.check_bare_module(node, name)
            return
        if name in self.context.student_globals and name not in self.context.protected:
            beyond = self.context.defined_with.get(name, frozenset()) - self.policy.modules
            if beyond:
                self.flag(
                    node,
                    "module",
                    f"`{name}` is defined in a cell that may use {', '.join(sorted(beyond))}, "
                    "which this answer may not use.",
                )
            return  # the student's own function, class or constant
        if name in self.context.protected:
            self.flag(
                node,
                "protected",
                f"`{name}` belongs to the set-up or test cells; an answer may not use it.",
            )
        elif name == "get_ipython":  # what IPython turns `%magic` and `!command` into
            self.flag(
                node,
                "name",
                "`get_ipython` may not be used in an answer: no magics (`%...`) or shell "
                "commands (`!...`) in graded notebooks.",
            )
        elif name in IPYTHON_NAMES or name.startswith("_"):
            self.flag(node, "name", f"`{name}` may not be used in an answer.")
        elif name in vars(builtins) and name not in SAFE_BUILTINS:
            self.flag(node, "builtin", f"the built-in `{name}` may not be used in an answer.")

    def check_bare_module(self, node, name: str) -> None:
        self.flag(
            node,
            "module-value",
            f"use the module `{name}` only through its functions (`{name}.something(...)`); "
            "do not pass it around or store it.",
        )

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        root, _ = _chain(node)
        on_self = isinstance(root, ast.Name) and self.is_self(root.id)
        if isinstance(node.value, ast.Name):
            self.attribute_roots.add(id(node.value))
        if _DUNDER.match(attr) and attr not in ALLOWED_DUNDER_ATTRIBUTES:
            self.flag(node, "dunder", f"`.{attr}` may not be used in an answer.")
        elif attr in FORBIDDEN_ATTRIBUTES:
            self.flag(node, "attribute", f"`.{attr}` may not be used in an answer.")
        elif attr.startswith("_") and not on_self and not _DUNDER.match(attr):
            self.flag(node, "attribute", f"private attributes such as `.{attr}` may not be used.")
        elif attr in self.policy.forbidden_attributes and not on_self:
            self.flag(
                node,
                "forbidden",
                f"`.{attr}` refers to a library's own `{attr}`: write it yourself.",
            )
        if isinstance(node.ctx, ast.Load):
            path = self.chain_path(node)
            if path is not None:
                hit = _matches(path, self.forbidden)
                if hit:
                    self.flag(node, "forbidden", self.forbidden_message(path, hit))
        else:
            self.check_store(node, "attribute")
        self.visit(node.value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load):
            self.check_store(node, "item")
        self.generic_visit(node)

    def check_store(self, node, what: str) -> None:
        """``x.attr = ...`` / ``x[i] = ...`` / ``del ...``: only on the answer's own objects."""
        root = _target_root(node)
        if not isinstance(root, ast.Name):
            self.flag(node, "patch", f"assigning an {what} of a computed object is not allowed.")
            return
        scope = self.resolve(root.id)
        if scope is not None and scope.kind == "function":
            if root.id in scope.tainted or root.id in scope.aliases:
                self.flag(
                    node,
                    "patch",
                    f"`{root.id}` refers to a library object; changing its {what}s is not allowed.",
                )
            return
        if (
            what == "item"
            and scope is None
            and root.id in self.context.student_globals
            and root.id not in self.context.protected
            and root.id not in self.context.student_modules
        ):
            return  # an item of the answer's own top-level list, dict or array
        self.flag(
            node,
            "patch",
            f"changing an {what} of `{root.id}` is not allowed: an answer may change only "
            "the objects it creates (inside its functions), never modules or test objects.",
        )

    def is_self(self, name: str) -> bool:
        scope = self.scope
        while scope is not None and scope.kind == "function":
            if scope.params and scope.params[0] == name and scope.parent.kind == "class":
                return name not in scope.tainted
            scope = scope.parent
        return False

    def visit_Call(self, node: ast.Call) -> None:
        for keyword in node.keywords:
            if keyword.arg in self.policy.forbidden_keywords and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is None
            ):
                self.flag(
                    node,
                    "forbidden",
                    f"the argument `{keyword.arg}=` would use the library's own implementation; "
                    "write the computation yourself.",
                )
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if not isinstance(value, str) or id(node) in self.docstrings:
            return
        if _DUNDER.match(value):
            self.flag(node, "dunder", f"the string {value!r} may not appear in an answer.")
        elif "dnnkit" in value.lower():  # e.g. Keras' registry name "dnnkit>Swish"
            self.flag(
                node,
                "forbidden",
                f"the string {value!r} refers to the course's reference implementation.",
            )

    def forbidden_message(self, path: str, hit: str) -> str:
        if hit == "dnnkit":
            return (
                f"`{path}` is part of the course's library `dnnkit` (the reference "
                "implementation): an answer may not use it. Write the code yourself."
            )
        return f"`{path}` may not be used in this answer: write this part yourself."


def check_source(source: str, policy: Policy, context: NotebookContext | None = None):
    """The rules that the code of one editable cell breaks (an empty list when none).

    Parameters
    ----------
    source : str
        The cell's source as the student wrote it (IPython syntax allowed).
    policy : Policy
        The rules of this cell.
    context : NotebookContext, optional
        The names bound by the notebook's other cells; empty when omitted.

    Returns
    -------
    list of Violation
        A cell that does not parse returns no violation: it fails by itself when run.
    """
    context = context or NotebookContext()
    tree = _parse(source)
    if tree is None:
        return []
    if context.student_globals == set() and context.student_modules == {}:
        modules = set(context.module_names)
        own = _top_level_bindings(tree, modules)
        context = NotebookContext(
            protected=context.protected,
            student_globals=set(own) - set(context.protected),
            student_modules={k: v for k, v in own.items() if v},
            module_names=modules,
        )
    checker = _Checker(policy, context)
    checker.visit(tree)
    unique, seen = [], set()  # one violation per line and rule: the outermost expression's
    for violation in sorted(checker.violations, key=lambda v: v.line):
        if (violation.line, violation.rule) not in seen:
            seen.add((violation.line, violation.rule))
            unique.append(violation)
    return unique


# ==================================================================== notebook-level check
def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_locked_cell(cell) -> bool:
    """Set-up, test and other read-only cells (nbgrader's definition)."""
    meta = _meta(cell)
    if not meta or meta.get("solution"):
        return False
    return bool(meta.get("grade") or meta.get("locked"))


def notebook_context(nb) -> NotebookContext:
    """Names bound by the read-only cells and by the editable ones."""
    context = NotebookContext()
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        tree = _parse(cell.source)
        if tree is None:
            continue
        bindings = _top_level_bindings(tree, context.module_names)
        if is_locked_cell(cell):
            for name, path in bindings.items():
                context.protected.setdefault(name, path)
        else:
            context.student_globals |= set(bindings)
            context.student_modules.update({k: v for k, v in bindings.items() if v})
    context.student_globals -= set(context.protected)
    return context


def task_names(nb) -> dict[str, list[str]]:
    """The functions/classes each answer cell defines, by ``grade_id`` (from a release or
    source notebook; the autograder takes them from the gradebook)."""
    return {
        _meta(c)["grade_id"]: defined_names(c.source)
        for c in nb.cells
        if _meta(c).get("solution") and c.get("cell_type") == "code"
    }


def cell_policies(nb, assignment: str, tasks: dict | None = None) -> dict[int, Policy]:
    """The rules of each editable code cell: those of the tasks whose functions it defines."""
    rules = policy_for(assignment)
    owner = {
        name: g
        for g, names in (tasks if tasks is not None else task_names(nb)).items()
        for name in names
    }
    out = {}
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code" or is_locked_cell(cell):
            continue
        tree = _parse(cell.source)
        bound = _top_level_bindings(tree) if tree is not None else {}
        out[index] = rules.for_tasks(sorted({owner[n] for n in bound if n in owner}))
    return out


def check_notebook(nb, assignment: str, tasks: dict | None = None) -> dict[int, list[Violation]]:
    """Index of each editable code cell that breaks a rule -> its violations.

    ``tasks`` maps answer ``grade_id`` -> the names its cell defines (default: read from
    ``nb`` itself; the autograder passes the gradebook's, which the student cannot edit).
    """
    policies = cell_policies(nb, assignment, tasks)
    context = notebook_context(nb)
    for index, policy in policies.items():
        tree = _parse(nb.cells[index].source)
        for name in _top_level_bindings(tree) if tree is not None else {}:
            context.defined_with[name] = context.defined_with.get(name, frozenset()) | (
                policy.modules
            )
    found = {}
    for index, policy in policies.items():
        violations = check_source(nb.cells[index].source, policy, context)
        if violations:
            found[index] = violations
    return found


def defined_names(source: str) -> list[str]:
    """The functions and classes a cell defines at its top level."""
    tree = _parse(source)
    if tree is None:
        return []
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]


def stub_source(
    names: list[str], message: str, *, header: str, original: str = "", raise_at_end: bool = True
) -> str:
    """Code that defines ``names`` as functions raising ``IntegrityError(message)`` and then
    raises it itself; the original code is kept as comments for the reader."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    if original:
        lines.append("# Your code, kept here as comments:")
        lines += [f"# | {line}" for line in original.splitlines()]
    lines.append("from dnnkit.grading import IntegrityError as _DnnkitIntegrityError")
    lines.append(f"_dnnkit_message = {message!r}")
    for name in names:
        lines += [
            f"def {name}(*args, **kwargs):",
            "    raise _DnnkitIntegrityError(_dnnkit_message)",
        ]
    if raise_at_end:
        lines.append("raise _DnnkitIntegrityError(_dnnkit_message)")
    return "\n".join(lines)


def replacement_for(cell, violations: list[Violation]) -> str:
    """The source that replaces an editable cell that broke the rules."""
    grade_id = _meta(cell).get("grade_id")
    where = f"answer `{grade_id}`" if grade_id else "a cell you added"
    rules = "; ".join(str(v) for v in violations)
    message = f"{where} was not run because it breaks the course's integrity rules: {rules}"
    header = (
        f"Not run by the autograder: {where} breaks the course's integrity rules.\n"
        + "\n".join(f"- {v}" for v in violations)
    )
    return stub_source(defined_names(cell.source), message, header=header, original=cell.source)


# ================================================================== malformed submissions
@dataclass(frozen=True)
class Problem:
    """Something wrong with a submission, for the instructor's report."""

    kind: str  # "missing-notebook", "unexpected-file", "invalid-json", "invalid-notebook",
    #            "missing-cells", "no-nbgrader-cells"
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def check_submission(folder, expected_notebooks, *, grade_ids=None) -> list[Problem]:
    """What is wrong with one student's submission folder (read only; nothing is changed).

    Parameters
    ----------
    folder : path
        ``submitted/<student>/<assignment>``.
    expected_notebooks : iterable of str
        The notebook names of the assignment, without ``.ipynb``.
    grade_ids : dict, optional
        Notebook name -> the ``grade_id`` of its solution and test cells; reports the missing
        ones (nbgrader restores the tests, the answers are simply missing).
    """
    folder = Path(folder)
    problems: list[Problem] = []
    present = {p.name for p in folder.glob("*.ipynb")} if folder.is_dir() else set()
    expected = [f"{name}.ipynb" for name in expected_notebooks]
    for filename in expected:
        if filename not in present:
            others = sorted(present - set(expected))
            hint = (
                f" Found {', '.join(map(repr, others))} instead: rename it to {filename!r} "
                "(nbgrader grades notebooks by file name)."
                if others
                else ""
            )
            problems.append(
                Problem("missing-notebook", str(folder / filename), f"not submitted.{hint}")
            )
    for filename in sorted(present - set(expected)):
        problems.append(
            Problem(
                "unexpected-file",
                str(folder / filename),
                f"not part of the assignment (expected {', '.join(expected)}); it is not graded.",
            )
        )
    for filename in sorted(present & set(expected)):
        path = folder / filename
        problems += _notebook_problems(path, (grade_ids or {}).get(filename[: -len(".ipynb")]))
    return problems


def _notebook_problems(path: Path, grade_ids) -> list[Problem]:
    import nbformat

    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [Problem("invalid-json", str(path), f"is not a valid notebook file (JSON: {exc}).")]
    try:
        nb = nbformat.from_dict(raw)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [Problem("invalid-notebook", str(path), f"is not a valid notebook: {first}")]
    ids = {_meta(c).get("grade_id") for c in nb.cells if _meta(c)}
    ids.discard(None)
    if not ids:
        return [
            Problem(
                "no-nbgrader-cells",
                str(path),
                "has none of the assignment's cells (was it copied into a new notebook?); "
                "the tests are put back but the answers cannot be found.",
            )
        ]
    missing = sorted(set(grade_ids or ()) - ids)
    if missing:
        return [Problem("missing-cells", str(path), f"cells missing: {', '.join(missing)}.")]
    return []


# ======================================================================= nbgrader plumbing
def _error_output(ename: str, evalue: str):
    import nbformat

    return nbformat.v4.new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]
    )


def is_test_cell(cell) -> bool:
    """An autograded test cell: read-only code with points (nbgrader's ``grade`` and not
    ``solution``)."""
    meta = _meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def settle_test_outputs(cell, reply_content: dict | None) -> None:
    """Make a test cell's outputs say what the kernel's reply says about its run.

    nbgrader scores a test cell 0 when one of its outputs is an error *or any text on stderr*,
    full marks otherwise. Whether the cell raised is in the kernel's reply, not in its outputs:

    - the cell raised but shows no error output (the display of tracebacks was tampered
      with): an error output is added, so it scores 0;
    - the cell ran to the end: its stderr text (a ``RuntimeWarning`` from an answer's
      ``np.exp``, TensorFlow's start-up logs) is moved to stdout, still shown, so a warning
      does not cost a correct answer its marks.
    """
    if reply_content is None or not is_test_cell(cell):
        return
    if reply_content.get("status") == "error":
        if not any(out.get("output_type") == "error" for out in cell.outputs):
            cell.outputs.append(
                _error_output(
                    str(reply_content.get("ename", "Error")),
                    str(reply_content.get("evalue", "the test raised an exception")),
                )
            )
        return
    for out in cell.outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            out["name"] = "stdout"


PROBE = "__import__('dnnkit.grading', fromlist=['verify_integrity']).verify_integrity(globals())"


def _source_order(config, assignment: str, notebook: str) -> list[str] | None:
    """grade_ids in the order of the source notebook (None if it cannot be read)."""
    try:
        import nbformat
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=config)
        folder = coursedir.format_path(coursedir.source_directory, ".", assignment)
        nb = nbformat.read(os.path.join(folder, f"{notebook}.ipynb"), as_version=4)
    except Exception:  # noqa: BLE001 - fall back on the gradebook's order
        return None
    return [_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("grade_id")]


def _build_preprocessors() -> None:
    """Define the nbgrader preprocessors (nbgrader is imported only when they are used)."""
    import secrets

    import nbformat
    from jupyter_core.utils import run_sync
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import Execute, NbGraderPreprocessor
    from traitlets import Bool, Float, Integer, default

    class RestoreCells(NbGraderPreprocessor):
        """Put the submission's tracked cells back as the gradebook has them.

        Runs before nbgrader's ``OverwriteCells`` (which restores the *source* of edited
        read-only cells). This step (1) rewrites every tracked cell's nbgrader metadata from
        the gradebook and, for read-only cells, drops all other metadata (so a
        ``skip-execution`` tag or a cell turned into a "solution" changes nothing); cells with
        an unknown ``grade_id`` become ordinary cells; (2) moves the read-only cells that open
        the notebook (introduction, set-up) back to the top, so they run before any answer;
        (3) re-inserts deleted read-only cells (tests, set-up, text) after the cell that
        precedes them in the source notebook.
        """

        def preprocess(self, nb, resources):
            info = resources["nbgrader"]
            with Gradebook(info["db_url"]) as gb:
                source_nb = gb.find_notebook(info["notebook"], info["assignment"])
                sources = {
                    c.name: (c.cell_type, c.source, bool(c.locked), c.checksum)
                    for c in source_nb.source_cells
                }
                points = {c.name: float(c.max_score) for c in source_nb.grade_cells}
                solutions = {c.name for c in source_nb.solution_cells}
                tasks = {c.name: float(c.max_score) for c in source_nb.task_cells}
                fallback_order = [c.name for c in source_nb.source_cells]
            order = _source_order(self.config, info["assignment"], info["notebook"])
            order = [n for n in (order or fallback_order) if n in sources]
            order += [n for n in fallback_order if n not in order]

            self._deduplicate(nb)
            for cell in nb.cells:
                self._normalise(cell, sources, points, solutions, tasks)
            self._pin_head(nb, order, sources)
            self._restore_missing(nb, order, sources, points)
            return nb, resources

        def _deduplicate(self, nb):
            """Malformed metadata dropped; a ``grade_id`` used twice stays on its last cell
            (as nbgrader's ``DeduplicateIds`` does)."""
            seen = set()
            for cell in reversed(nb.cells):
                if not isinstance(cell.get("metadata"), dict):
                    cell["metadata"] = nbformat.NotebookNode()
                meta = cell.metadata.get("nbgrader")
                if meta is None:
                    continue
                grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
                if not isinstance(grade_id, str) or grade_id in seen:
                    self.log.warning(
                        "Cell with nbgrader metadata %r made an ordinary cell", grade_id
                    )
                    del cell.metadata["nbgrader"]
                    continue
                seen.add(grade_id)

        def _normalise(self, cell, sources, points, solutions, tasks):
            meta = cell.get("metadata", {}).get("nbgrader")
            if meta is None:
                return
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if grade_id not in sources:
                if grade_id:
                    self.log.warning(
                        "Cell '%s' is not in the gradebook: graded as an ordinary cell", grade_id
                    )
                del cell.metadata["nbgrader"]
                return
            _, _, locked, checksum = sources[grade_id]
            new = {
                "grade": grade_id in points,
                "grade_id": grade_id,
                "locked": locked,
                "schema_version": 3,
                "solution": grade_id in solutions,
                "task": grade_id in tasks,
                "checksum": meta.get("checksum", checksum),
            }
            if grade_id in points or grade_id in tasks:
                new["points"] = points.get(grade_id, tasks.get(grade_id))
            if locked and grade_id not in solutions:
                if set(cell.metadata) - {"nbgrader", "deletable", "editable"}:
                    self.log.warning("Metadata of read-only cell '%s' reset", grade_id)
                cell.metadata = nbformat.NotebookNode(
                    {"deletable": False, "editable": False, "nbgrader": new}
                )
            else:
                cell.metadata["nbgrader"] = nbformat.NotebookNode(new)

        @staticmethod
        def _index(nb):
            return {
                c.metadata["nbgrader"]["grade_id"]: i
                for i, c in enumerate(nb.cells)
                if "nbgrader" in c.get("metadata", {})
            }

        def _pin_head(self, nb, order, sources):
            head = []
            for name in order:
                if not sources[name][2]:  # the first editable cell ends the head
                    break
                head.append(name)
            index = self._index(nb)
            present = [index[name] for name in head if name in index]
            if present == list(range(len(present))):
                return
            self.log.warning(
                "Read-only cells moved back to the top: %s",
                ", ".join(n for n in head if n in index),
            )
            moved = [nb.cells[i] for i in present]
            nb.cells = moved + [c for i, c in enumerate(nb.cells) if i not in set(present)]

        def _restore_missing(self, nb, order, sources, points):
            anchor = -1  # index in nb.cells after which the next missing cell goes
            for name in order:
                index = self._index(nb)
                if name in index:
                    anchor = index[name]
                    continue
                cell_type, source, locked, checksum = sources[name]
                if not locked:
                    continue  # a deleted answer stays deleted: its tests will fail
                meta = {
                    "grade": name in points,
                    "grade_id": name,
                    "locked": True,
                    "schema_version": 3,
                    "solution": False,
                    "task": False,
                    "checksum": checksum,
                }
                if name in points:
                    meta["points"] = points[name]
                make = (
                    nbformat.v4.new_code_cell
                    if cell_type == "code"
                    else (nbformat.v4.new_markdown_cell)
                )
                cell = make(
                    source=source,
                    metadata={
                        "deletable": False,
                        "editable": False,
                        "nbgrader": meta,
                        "dnnkit": {"restored": True},
                    },
                )
                nb.cells.insert(anchor + 1, cell)
                anchor += 1
                self.log.warning(
                    "Read-only cell '%s' was missing: restored from the gradebook", name
                )

    class IntegrityCheck(NbGraderPreprocessor):
        """Replace every editable code cell that breaks :data:`POLICIES` by stubs that raise
        ``IntegrityError`` (runs after ``OverwriteCells``, outside the kernel)."""

        def preprocess(self, nb, resources):
            info = resources["nbgrader"]
            with Gradebook(info["db_url"]) as gb:
                source_nb = gb.find_notebook(info["notebook"], info["assignment"])
                stubs = {c.name: c.source for c in source_nb.source_cells}
                tasks = {
                    c.name: defined_names(stubs.get(c.name, "")) for c in source_nb.solution_cells
                }
            try:
                found = check_notebook(nb, info["assignment"], tasks)
            except Exception as exc:  # noqa: BLE001 - a crafted cell must not skip the check
                self.log.error("Integrity check failed (%r): every editable cell is refused", exc)
                message = (
                    f"the autograder could not check this cell ({exc!r}); ask your instructor "
                    "to review it"
                )
                found = {
                    i: [Violation(0, "checker", message)]
                    for i, c in enumerate(nb.cells)
                    if c.get("cell_type") == "code" and not is_locked_cell(c)
                }
            for index, violations in found.items():
                cell = nb.cells[index]
                name = _meta(cell).get("grade_id") or f"added cell {index}"
                self.log.warning(
                    "Integrity: %s, %s, %s not run: %s",
                    info.get("student"),
                    info["assignment"],
                    name,
                    "; ".join(map(str, violations)),
                )
                cell.source = replacement_for(cell, violations)
                cell.metadata.setdefault("dnnkit", {})["integrity"] = [str(v) for v in violations]
            return nb, resources

    class GuardedExecute(Execute):
        """nbgrader's ``Execute`` for code that cannot be trusted.

        - A time limit per cell (``timeout``; ``setup_timeout`` for the read-only cells that
          are not tests, e.g. the set-up importing TensorFlow) and for the whole notebook.
        - When a cell kills the kernel (``os._exit``, a crash, out of memory) or hangs beyond
          an interrupt, it gets an error output, a fresh kernel re-runs the cells above
          (without it; the functions it defined raise a clear error) and grading goes on.
        - After every cell, ``dnnkit.grading.verify_integrity`` checks that NumPy, the
          built-ins, the grading helpers... are untouched; if a cell changed them, it gets
          an ``IntegrityError`` and the kernel is restarted without it.
        - A test cell passes or fails by the kernel's reply (see :func:`settle_test_outputs`):
          a warning on stderr does not fail it, a hidden traceback does not pass it.
        - ``skip-execution`` tags are ignored, and a test cell that is not run (after
          ``max_restarts`` or past ``notebook_timeout``) gets an error output, hence 0:
          nbgrader gives full marks to a test cell with no output.
        """

        setup_timeout = Integer(
            300, help="Time limit (s) for read-only cells that are not tests (set-up)."
        ).tag(config=True)
        notebook_timeout = Float(
            1800.0, help="Time limit (s) for the whole notebook; later cells are not run."
        ).tag(config=True)
        max_restarts = Integer(
            5,
            help="Kernel restarts allowed per notebook before the remaining cells are "
            "given up (not run, so 0 for their tests).",
        ).tag(config=True)
        probe = Bool(True, help="Run dnnkit.grading.verify_integrity after every cell.").tag(
            config=True
        )

        @default("error_on_timeout")
        def _error_on_timeout_default(self):
            message = "the cell ran past its time limit and was interrupted"
            return {
                "ename": "CellTimeoutError",
                "evalue": message,
                "traceback": [f"\x1b[0;31mCellTimeoutError\x1b[0m: {message}"],
            }

        def _get_timeout(self, cell):
            if cell is not None and is_locked_cell(cell) and not _meta(cell).get("grade"):
                return self.setup_timeout
            return super()._get_timeout(cell)

        def preprocess(self, nb, resources=None, km=None):
            from nbclient.client import NotebookClient

            NotebookClient.__init__(self, nb, km)
            self.reset_execution_trackers()
            self._check_assign_resources(resources)
            self.skip_cells_with_tag = "dnnkit-never-skip-" + secrets.token_hex(8)
            graceful = self.shutdown_kernel
            started = time.monotonic()
            cells = self.nb.cells
            ran: list[int] = []  # code cells run so far (re-run after a restart)
            dropped: dict[int, str] = {}  # cells left out after they broke the kernel
            position, restarts = 0, 0
            probing = self.probe
            self._probe_works = False  # set by the first successful probe
            while position < len(cells):
                failure = None  # (index, ename, evalue, give_up)
                with self.setup_kernel():
                    reply = self.wait_for_reply(self.kc.kernel_info())
                    self.nb.metadata["language_info"] = reply["content"]["language_info"]
                    if ran or dropped:
                        failure = self._replay(ran, dropped, position)
                    while failure is None and position < len(cells):
                        index, cell = position, cells[position]
                        if cell.cell_type != "code" or not cell.source.strip():
                            position += 1
                            continue
                        if time.monotonic() - started > self.notebook_timeout:
                            failure = (
                                index,
                                "NotRun",
                                f"the notebook ran past its time limit "
                                f"({self.notebook_timeout:g} s)",
                                True,
                            )
                            break
                        try:
                            self.preprocess_cell(cell, resources, index)
                        except DeadKernelError:
                            failure = (
                                index,
                                "DeadKernelError",
                                "the kernel died while "
                                "running this cell (os._exit, a crash or too much "
                                "memory)",
                                False,
                            )
                            break
                        except CellTimeoutError:
                            failure = (
                                index,
                                "CellTimeoutError",
                                "this cell did not stop "
                                f"within {self._get_timeout(cell)} s, even when "
                                "interrupted",
                                False,
                            )
                            break
                        position += 1
                        problem = self._probe(cell) if probing else None
                        if problem == "unavailable":
                            probing, problem = False, None
                        if problem is not None:
                            failure = (index, "IntegrityError", problem, False)
                            break
                        ran.append(index)
                    if failure is not None:
                        self.shutdown_kernel = "immediate"
                self.shutdown_kernel = graceful
                if failure is None:
                    break
                index, ename, evalue, give_up = failure
                restarts += 1
                give_up = give_up or restarts > self.max_restarts
                note = (
                    " Grading stopped here: the cells below were not run."
                    if give_up
                    else " The autograder restarted the kernel, re-ran the cells above "
                    "without this one, and went on."
                )
                if index < len(cells) and index not in dropped:
                    cells[index].outputs.append(
                        _error_output(ename, evalue.rstrip(".") + "." + note)
                    )
                    self.log.warning("Cell %s: %s: %s", index, ename, evalue)
                if give_up:
                    self._give_up(index + 1)
                    break
                dropped[index] = f"{ename}: {evalue}"
                position = max(position, index + 1)
            self.set_widgets_metadata()
            return self.nb, self.resources

        async def _check_raise_for_error(self, cell, cell_index, exec_reply):
            settle_test_outputs(cell, None if exec_reply is None else exec_reply["content"])
            await super()._check_raise_for_error(cell, cell_index, exec_reply)

        def _give_up(self, start: int) -> None:
            for cell in self.nb.cells[start:]:
                if cell.cell_type == "code" and cell.source.strip():
                    cell.outputs.append(
                        _error_output(
                            "NotRun",
                            "not run: grading of this notebook stopped above "
                            "(see the first error).",
                        )
                    )

        def _replay(self, ran, dropped, position):
            """Re-run, in a fresh kernel, the cells that ran before (without their outputs)
            and define the functions of the dropped answer cells as stubs."""
            for index in sorted(set(ran) | set(dropped)):
                cell = self.nb.cells[index]
                if index in dropped:
                    names = defined_names(cell.source) if not is_locked_cell(cell) else []
                    if not names:
                        continue
                    message = (
                        f"{', '.join(names)} could not be graded: its cell stopped the "
                        f"autograder ({dropped[index]})"
                    )
                    source = stub_source(names, message, header="stub", raise_at_end=False)
                else:
                    source = cell.source
                try:
                    reply = run_sync(self._run_silently)(source, cell)
                except (DeadKernelError, CellTimeoutError):
                    reply = None
                if reply is None:
                    return (
                        position,
                        "NotRun",
                        "re-running the cells above in a fresh kernel failed",
                        True,
                    )
            return None

        async def _run_silently(self, source, cell=None):
            msg_id = self.kc.execute(source, silent=True, store_history=False, allow_stdin=False)
            return await self.async_wait_for_reply(msg_id, cell)

        def _probe(self, cell):
            """None if the kernel is untouched, else the IntegrityError message (or
            "unavailable" when the probe cannot run at all)."""
            try:
                reply = run_sync(self._run_silently)(PROBE)
            except (DeadKernelError, CellTimeoutError):
                return "the integrity check could not run after this cell"
            if reply is None:
                return "the integrity check did not finish after this cell"
            content = reply["content"]
            if content.get("status") == "ok":
                self._probe_works = True
                return None
            if is_locked_cell(cell) and not _meta(cell).get("grade"):
                if not self._probe_works and content.get("ename") != "IntegrityError":
                    self.log.warning(
                        "Integrity probe unavailable: %s: %s",
                        content.get("ename"),
                        content.get("evalue"),
                    )
                    return "unavailable"  # e.g. dnnkit missing in the kernel
                return None  # the set-up cells themselves are trusted
            if content.get("ename") == "IntegrityError":
                return content.get("evalue", "integrity check failed")
            # The probe worked before this cell: a cell that breaks it counts as tampering.
            return (
                f"the integrity check failed after this cell ({content.get('ename')}: "
                f"{content.get('evalue')})"
            )

    for cls in (RestoreCells, IntegrityCheck, GuardedExecute):
        cls.__qualname__, cls.__module__ = cls.__name__, __name__
        globals()[cls.__name__] = cls


def __getattr__(name: str):
    """The nbgrader preprocessors are defined on first use, so that importing this module
    (its policy and static check) does not import nbgrader, which takes seconds."""
    if name in ("RestoreCells", "IntegrityCheck", "GuardedExecute"):
        _build_preprocessors()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
