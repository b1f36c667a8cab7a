"""Scope resolution for the static check: which names a cell binds and what they stand for.

Reads cells with :mod:`ast` (after IPython's own transformation, so ``%magic`` becomes the
``get_ipython()`` call it really is). Names bound by imports map to the dotted path of what
they import (``np`` -> ``"numpy"``), so aliases cannot hide a name from the rules.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator
from dataclasses import dataclass, field

from nbgrader.utils import is_locked


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
    class_bases: dict = field(default_factory=dict)  # editable cells' classes -> their bases
    class_attributes: set = field(default_factory=set)  # what those classes define (methods...)

    @property
    def student_classes(self) -> set[str]:
        """The classes the editable cells define at their top level."""
        return set(self.class_bases)

    @property
    def library_based(self) -> set[str]:
        """The student classes that derive, directly or through each other, from a class that
        is neither ``object``, a built-in exception nor a student class (a library class)."""
        bases = self.class_bases
        found = {
            c for c, bs in bases.items() if any(b not in bases and not plain_base(b) for b in bs)
        }
        while True:
            more = {c for c, bs in bases.items() if c not in found and any(b in found for b in bs)}
            if not more:
                return found
            found |= more


def transform(source: str) -> str:
    """The Python that IPython would run for a cell (magics become ``get_ipython()`` calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - nbgrader always brings IPython
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - IPython could not transform it: parse the raw text
        return source


def parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(transform(source))
    except (SyntaxError, ValueError):
        return None


def syntax_error(source: str) -> str:
    """Why ``source`` does not parse (after IPython's transformation), for the student."""
    try:
        ast.parse(transform(source))
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except ValueError as exc:
        return str(exc)
    return "it parses"


def import_bindings(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
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


_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _scope_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``node``'s own scope: the bodies of nested functions, classes, lambdas and
    comprehensions are skipped, but not what they evaluate here (decorators, defaults) nor the
    walrus targets that leak out of comprehensions."""
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _NESTED):
            yield child
            yield from _outer_parts(child)
        elif isinstance(child, _COMPREHENSIONS):
            yield from (sub for sub in ast.walk(child) if isinstance(sub, ast.NamedExpr))
        else:
            yield from _scope_nodes(child)


def _outer_parts(node: ast.AST) -> Iterator[ast.AST]:
    """What a nested function, class or lambda evaluates in the enclosing scope: decorators,
    defaults and annotations; a class's bases and keywords."""
    parts = list(getattr(node, "decorator_list", []))
    if isinstance(node, ast.ClassDef):
        parts += node.bases + [k.value for k in node.keywords]
    else:
        args = node.args
        parts += args.defaults + [d for d in args.kw_defaults if d is not None]
        every = args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]
        parts += [a.annotation for a in every if a is not None and a.annotation is not None]
        if getattr(node, "returns", None) is not None:
            parts.append(node.returns)
    for part in parts:
        yield from _scope_nodes(part)


def _bound_by(node: ast.AST) -> list[str]:
    """The names one node binds in its scope (imports apart)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return [node.id]
    if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
        return [node.name]
    return []


def top_level_bindings(tree: ast.Module, modules: set | None = None) -> dict[str, str | None]:
    """Names bound at the top level of a cell -> the dotted path of an import, or None.

    ``modules``, when given, receives the names bound by ``import x`` (surely modules).
    """
    bound: dict[str, str | None] = {}
    for node in _scope_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name, path in import_bindings(node):
                bound[name] = path
                if modules is not None and isinstance(node, ast.Import):
                    modules.add(name)
        else:
            for name in _bound_by(node):
                bound.setdefault(name, None)
    return bound


def module_root(path: str) -> str:
    path = normalise(path)
    return path.split(".")[0]


def normalise(path: str) -> str:
    """``tensorflow.keras.x`` is Keras: check it as ``keras.x``."""
    for prefix in ("tensorflow.keras", "tensorflow.python.keras", "tf_keras"):
        if path == prefix or path.startswith(prefix + "."):
            return "keras" + path[len(prefix) :]
    return path


class Scope:
    def __init__(self, kind: str, parent: Scope | None):
        self.kind = kind  # "module", "function", "class"
        self.parent = parent
        self.names: set[str] = set()  # names local to this scope
        self.params: list[str] = []
        self.self_name: str | None = None  # a method's first positional parameter
        self.class_name: str | None = None  # a class scope's class
        self.aliases: dict[str, str] = {}  # local name -> dotted path (imports, `K = keras.ops`)
        self.module_names: set[str] = set()  # locals bound by `import x`
        self.tainted: set[str] = set()  # locals that may hold a module or library object


def local_names(node: ast.AST) -> set[str]:
    """Names bound in the body of a function/lambda/comprehension (not in nested scopes)."""
    if isinstance(node, _COMPREHENSIONS):
        targets = (ast.walk(gen.target) for gen in node.generators)
        return {sub.id for walk in targets for sub in walk if isinstance(sub, ast.Name)}
    names: set[str] = set()
    for stmt in node.body if isinstance(node.body, list) else [node.body]:
        for sub in _scope_nodes(stmt):
            if isinstance(sub, (ast.Import, ast.ImportFrom)):
                names.update(name for name, _ in import_bindings(sub))
            else:
                names.update(_bound_by(sub))
    return names


def attribute_chain(node) -> tuple[ast.AST, list[str]]:
    """``a.b.c`` -> (Name a, ["b", "c"]); the root may be any expression."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    return node, attrs[::-1]


def target_root(node) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node


def names_in_binding_places(source: str) -> set[str]:
    """Every name that appears anywhere in a cell where a name is bound, in any scope: a
    superset of the globals the cell can bind (`global` statements and ``globals()`` are
    refused by the static check), whatever construct binds them."""
    tree = parse(source)
    if tree is None:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(name for name, _ in import_bindings(node))
        else:
            names.update(_bound_by(node))
    return names


def class_attributes(tree: ast.Module) -> set[str]:
    """What the top-level classes of a cell define: the names bound in their bodies (methods,
    constants) and the attributes their methods set on their first parameter (``self.x =``)."""
    found: set[str] = set()
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            found |= set(local_names(ast.Module(body=[stmt], type_ignores=[])))
            positional = (
                stmt.args.posonlyargs + stmt.args.args if isinstance(stmt, ast.FunctionDef) else []
            )
            if positional:  # a method: what it sets on `self`, its first positional parameter
                first = positional[0].arg
                found |= {
                    sub.attr
                    for sub in ast.walk(stmt)
                    if isinstance(sub, ast.Attribute)
                    and isinstance(sub.ctx, ast.Store)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == first
                }
    return found


def class_bases(tree: ast.Module) -> dict[str, list[str]]:
    """Each top-level class of a cell -> its bases as written (``"keras.layers.Layer"``)."""
    return {
        node.name: [ast.unparse(base) for base in node.bases]
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }


def plain_base(name: str) -> bool:
    """``object`` or a built-in exception: base classes that bring no library's internals."""
    value = getattr(builtins, name, None)
    return name == "object" or (isinstance(value, type) and issubclass(value, Exception))


def defined_names(source: str) -> list[str]:
    """The functions and classes a cell defines at its top level."""
    tree = parse(source)
    if tree is None:
        return []
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]


def notebook_context(nb) -> NotebookContext:
    """Names bound by the read-only cells and by the editable ones (nbgrader's ``is_locked``)."""
    context = NotebookContext()
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        tree = parse(cell.source)
        if tree is None:
            continue
        bindings = top_level_bindings(tree, context.module_names)
        if is_locked(cell):
            for name, path in bindings.items():
                context.protected.setdefault(name, path)
        else:
            context.student_globals |= set(bindings)
            context.class_bases.update(class_bases(tree))
            context.class_attributes |= class_attributes(tree)
            context.student_modules.update({k: v for k, v in bindings.items() if v})
    context.student_globals -= set(context.protected)
    return context
