"""The static check: the rules an answer's code breaks, found with :mod:`ast` before it runs.

:class:`Checker` walks one cell with the scopes of :mod:`.scope` and the allow-list of
:mod:`.policy`; every finding is a :class:`~.rules.Violation` of a rule of :data:`.rules.RULES`.
:func:`check_notebook` applies to each editable cell the rules of the tasks whose functions it
defines. The check is static and conservative: code it cannot follow is refused, not trusted.
"""

from __future__ import annotations

import ast
import builtins

from nbgrader.utils import is_locked, is_solution

from .policy import AssignmentPolicy, Policy
from .rules import (
    ALLOWED_DUNDER_ATTRIBUTES,
    ALLOWED_DUNDER_METHODS,
    ALLOWED_SYNTAX,
    DUNDER,
    IPYTHON_NAMES,
    SAFE_BUILTINS,
    SYNTAX_NAMES,
    UNCATCHABLE,
    Violation,
    violation,
)
from .scope import (
    NotebookContext,
    Scope,
    attribute_chain,
    class_attributes,
    class_bases,
    defined_names,
    import_bindings,
    local_names,
    module_root,
    normalise,
    notebook_context,
    parse,
    plain_base,
    syntax_error,
    target_root,
    top_level_bindings,
)


class Checker(ast.NodeVisitor):
    """Walks one cell and records every :class:`Violation` of ``policy``."""

    def __init__(self, policy: Policy, context: NotebookContext):
        self.policy = policy
        self.context = context
        self.violations: list[Violation] = []
        self.scope = Scope("module", None)
        self.attribute_roots: set[int] = set()  # ids of Name nodes used as `name.attr`
        self.docstrings: set[int] = set()
        self.inner_chains: set[int] = set()  # ids of Attribute nodes inside a longer chain
        self.class_uses: set[int] = set()  # ids of Name nodes used as a class may be used

    def visit(self, node):
        """Refuse syntax the checker does not read (:data:`.rules.ALLOWED_SYNTAX`)."""
        if not isinstance(node, ALLOWED_SYNTAX):
            kind = type(node).__name__
            self.flag(node, "syntax", what=SYNTAX_NAMES.get(kind, f"`{kind}`"))
            return None
        return super().visit(node)

    # ------------------------------------------------------------------------ reporting
    def flag(self, node, rule: str, **fields: object) -> None:
        self.violations.append(violation(getattr(node, "lineno", 0), rule, **fields))

    def check_path(self, node, path: str, *, namespace_ok: bool) -> bool:
        """Flag ``path`` unless the policy allows it; True when it is allowed.

        ``namespace_ok``: the path is only a step towards a longer name (``np`` in
        ``np.linalg.norm``), allowed when an allowed name lies under it."""
        path = normalise(path)
        if module_root(path) == "dnnkit":
            self.flag(node, "reference", path=path)
            return False
        if self.policy.allows(path) or (namespace_ok and self.policy.is_namespace(path)):
            return True
        self.flag(node, "not-allowed", path=path)
        return False

    # ------------------------------------------------------------------------ resolution
    def resolve(self, name: str) -> Scope | None:
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
        root, attrs = attribute_chain(node)
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
    def enter(self, kind: str, node, params: list[str]) -> Scope:
        scope = Scope(kind, self.scope)
        if kind == "class":
            for stmt in node.body:
                scope.names |= set(top_level_bindings(ast.Module(body=[stmt], type_ignores=[])))
        else:
            scope.names = local_names(node) | set(params)
            scope.params = params
        self.scope = scope
        if kind == "function":
            self.find_taint(node)
        return scope

    def leave(self) -> None:
        self.scope = self.scope.parent

    def find_taint(self, node) -> None:
        """Locals assigned (anywhere in the function) from a module or something in one."""
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            body = [
                ast.For(target=g.target, iter=g.iter, body=[], orelse=[]) for g in node.generators
            ]
        else:
            body = node.body if isinstance(node.body, list) else [node.body]
        pairs = []
        for stmt in body:
            for sub in ast.walk(stmt):
                pairs += _assigned_from(sub)
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    for name, path in import_bindings(sub):
                        self.scope.aliases[name] = path
                        if isinstance(sub, ast.Import):
                            self.scope.module_names.add(name)
        while self.spread_taint(pairs):  # tainted names taint the names assigned from them
            pass

    def spread_taint(self, pairs: list[tuple[ast.AST, ast.AST]]) -> bool:
        """One pass: names assigned from a tainted value become tainted; True if any did."""
        changed = False
        for target, value in pairs:
            if not self.is_tainted(value):
                continue
            path = self.chain_path(value) if isinstance(value, (ast.Attribute, ast.Name)) else None
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name) and sub.id not in self.scope.tainted:
                    self.scope.tainted.add(sub.id)
                    if path:
                        self.scope.aliases.setdefault(sub.id, path)
                    changed = True
        return changed

    # ------------------------------------------------------------------------ statements
    def visit_Module(self, node: ast.Module) -> None:
        self.mark_docstring(node)
        self.class_uses = _class_uses(node)
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
            self.flag(node, "relative-import")
            return
        if any(alias.name == "*" for alias in node.names):
            self.flag(node, "star-import", module=node.module)
            return
        self.check_import(node)

    def check_import(self, node) -> None:
        allowed = ", ".join(sorted(self.policy.modules)) or "nothing"
        for name, path in import_bindings(node):
            modules = [path] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for module in modules:
                if module_root(normalise(module)) == "dnnkit":
                    self.flag(node, "reference", path=module)
                    return
                if module_root(normalise(module)) not in self.policy.modules:
                    self.flag(node, "import", module=module, allowed=allowed)
                    return
            if not self.check_path(node, path, namespace_ok=True):
                return
            if self.scope.kind == "module":
                self.check_binding(node, name, path)

    def check_binding(self, node, name: str, path: str | None = None) -> None:
        """A name bound at the top level of the notebook by an editable cell."""
        if name in self.context.protected:
            if path is not None and self.context.protected[name] == path:
                return  # e.g. `import numpy as np` again
            self.flag(node, "shadow-protected", name=name)
        elif name in vars(builtins) or name in IPYTHON_NAMES:
            self.flag(node, "shadow-builtin", name=name)

    def visit_FunctionDef(self, node) -> None:
        self.check_def(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def check_def(self, node) -> None:
        if DUNDER.match(node.name) and node.name not in ALLOWED_DUNDER_METHODS:
            self.flag(node, "dunder-def", name=node.name)
        if self.scope.kind == "module":
            self.check_binding(node, node.name)
        for deco in node.decorator_list:
            self.check_decorator(deco)
        # run when the function is defined, in the enclosing scope: defaults and annotations
        self.visit(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        in_class = self.scope.kind == "class"
        scope = self.enter("function", node, _parameters(node.args))
        positional = node.args.posonlyargs + node.args.args
        if in_class and positional:  # a method: its first positional parameter is `self`
            scope.self_name = positional[0].arg
            if scope.self_name in local_names(node):  # `self = other`, `for self in ...`
                self.flag(node, "self-rebound", name=scope.self_name)
        self.mark_docstring(node)
        for stmt in node.body:
            self.visit(stmt)
        self.leave()

    def check_decorator(self, node) -> None:
        """Only ``@property``: any other decorator calls code with the function as argument."""
        if (
            isinstance(node, ast.Name)
            and node.id == "property"
            and self.resolve("property") is None
        ):
            return
        self.flag(node, "decorator")
        self.visit(node)

    def visit_Lambda(self, node) -> None:
        self.visit(node.args)
        self.enter("function", node, _parameters(node.args))
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
            self.flag(node, "class-keywords")
        if self.scope.kind != "module":
            self.flag(node, "nested-class")
        if self.scope.kind == "module":
            self.check_binding(node, node.name)
        for deco in node.decorator_list:
            self.check_decorator(deco)
        for base in node.bases:
            self.check_base(base)
        self.enter("class", node, []).class_name = node.name
        self.mark_docstring(node)
        for stmt in node.body:
            if not _is_class_member(stmt):
                self.flag(stmt, "class-body")
            self.visit(stmt)
        self.leave()

    def check_base(self, node) -> None:
        """A class derives from ``object``, a built-in exception, a class of the notebook or a
        library class that the policy lists under ``bases`` (``keras.layers.Layer``)."""
        if isinstance(node, ast.Name) and self.resolve(node.id) is None:
            name = node.id
            if name in self.context.student_classes and name not in self.context.protected:
                return
            if plain_base(name):
                return
        path = self.chain_path(node)
        if path is None or normalise(path) not in self.policy.bases:
            shown = ast.unparse(node)
            allowed = ", ".join(f"`{b}`" for b in sorted(self.policy.bases)) or "none"
            self.flag(node, "base-class", base=shown, allowed=allowed)
            return
        self.visit(node)

    def visit_Global(self, node) -> None:
        self.flag(node, "global")

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
            self.flag(node, "except", name=names[0])
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
            if self.scope.kind == "class" and DUNDER.match(name):
                if name not in ALLOWED_DUNDER_METHODS:  # `__eq__ = lambda s, o: True`
                    self.flag(node, "dunder-def", name=name)
            return
        if scope is not None and scope.kind == "class":
            self.flag(node, "class-body-name", name=name)  # `m(other)` in the class body
            return
        if scope is not None:  # a local: its own rules apply through aliases
            if id(node) in self.attribute_roots:
                return
            if name in scope.module_names:
                self.check_bare_module(node, name)
            elif name in scope.aliases:  # `from keras import optimizers as m` used as a value
                self.check_path(node, scope.aliases[name], namespace_ok=False)
            return
        self.check_global_read(node, name)

    def check_global_read(self, node, name: str) -> None:
        path = self.module_path(name)
        if path is not None:
            inner = id(node) in self.attribute_roots
            bare_module = name in self.context.module_names and not inner
            if bare_module and self.policy.is_namespace(normalise(path)):
                self.check_bare_module(node, name)
            else:
                self.check_path(node, path, namespace_ok=inner)
            return
        if name in self.context.student_globals and name not in self.context.protected:
            if name in self.context.student_classes and id(node) not in self.class_uses:
                self.flag(node, "class-value", name=name)
            beyond = self.context.defined_with.get(name, frozenset()) - self.policy.modules
            if beyond:
                self.flag(node, "module-mix", name=name, modules=", ".join(sorted(beyond)))
            return  # the student's own function, class or constant
        if name in self.context.protected:
            self.flag(node, "protected", name=name)
        elif name == "get_ipython":  # what IPython turns `%magic` and `!command` into
            self.flag(node, "magic")
        elif name in IPYTHON_NAMES or name.startswith("_"):
            self.flag(node, "name", name=name)
        elif name in vars(builtins) and name not in SAFE_BUILTINS:
            self.flag(node, "builtin", name=name)

    def check_bare_module(self, node, name: str) -> None:
        self.flag(node, "module-value", name=name)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        # `self.x` (not `self.x.y`, checked like any attribute) in a method of a class
        own_class = self.self_class(node.value.id) if isinstance(node.value, ast.Name) else None
        on_self = own_class is not None
        if isinstance(node.value, ast.Name):
            self.attribute_roots.add(id(node.value))
        if isinstance(node.value, ast.Attribute):
            self.inner_chains.add(id(node.value))
        path = self.chain_path(node)
        if DUNDER.match(attr) and attr not in ALLOWED_DUNDER_ATTRIBUTES:
            self.flag(node, "dunder-attribute", attr=attr)
        elif on_self:
            if attr.startswith("_") and own_class.class_name in self.context.library_based:
                # a library base's internals: a name "defined" by `self._x = ...` in a branch
                # that never runs would still read the library's own `_x`
                self.flag(node, "private-attribute", attr=attr)
            elif attr not in self.context.class_attributes and attr not in self.policy.attributes:
                self.flag(node, "attribute-not-allowed", attr=attr)
        elif attr.startswith("_") and not DUNDER.match(attr):
            self.flag(node, "private-attribute", attr=attr)
        elif path is not None:  # a name in a module: the allow-list of names decides
            inner = id(node) in self.inner_chains and isinstance(node.ctx, ast.Load)
            self.check_path(node, path, namespace_ok=inner)
        elif not DUNDER.match(attr) and attr not in self.policy.attributes:
            self.flag(node, "attribute-not-allowed", attr=attr)
        if not isinstance(node.ctx, ast.Load):
            if not on_self and attr not in self.policy.settable:
                settable = ", ".join(f"`.{a}`" for a in sorted(self.policy.settable)) or "none"
                self.flag(node, "attribute-store", attr=attr, settable=settable)
            self.check_store(node, "attribute")
        self.visit(node.value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load):
            self.check_store(node, "item")
        self.generic_visit(node)

    def check_store(self, node, what: str) -> None:
        """``x.attr = ...`` / ``x[i] = ...`` / ``del ...``: only on the answer's own objects."""
        root = target_root(node)
        if not isinstance(root, ast.Name):
            self.flag(node, "patch-computed", what=what)
            return
        scope = self.resolve(root.id)
        if scope is not None and scope.kind == "function":
            if root.id in scope.tainted or root.id in scope.aliases:
                self.flag(node, "patch-library", name=root.id, what=what)
            return
        if (
            what == "item"
            and scope is None
            and root.id in self.context.student_globals
            and root.id not in self.context.protected
            and root.id not in self.context.student_modules
        ):
            return  # an item of the answer's own top-level list, dict or array
        self.flag(node, "patch", what=what, name=root.id)

    def self_class(self, name: str) -> Scope | None:
        """The class scope of the method whose ``self`` is ``name`` (a method may not rebind
        it, and is only ever called on an object of its class), or None."""
        scope = self.scope
        while scope is not None and scope.kind == "function":
            if scope.self_name == name:
                return scope.parent
            if name in scope.names:
                return None  # a parameter or local of a function (a lambda) inside a method
            scope = scope.parent
        return None

    def visit_Call(self, node: ast.Call) -> None:
        if (
            self.policy.forbidden_keywords
            and any(k.arg is None for k in node.keywords)
            and not _is_super_init(node.func)  # a layer's `super().__init__(**kwargs)`
        ):
            forbidden = ", ".join(f"`{k}=`" for k in sorted(self.policy.forbidden_keywords))
            self.flag(node, "unpacked-keywords", forbidden=forbidden)
        if (
            isinstance(node.func, ast.Name)
            and node.func.id == "super"
            and self.resolve("super") is None
            and (node.args or node.keywords)
        ):
            self.flag(node, "super-arguments")  # super(A, other) hands out A's methods
        for keyword in node.keywords:
            if keyword.arg in self.policy.forbidden_keywords and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is None
            ):
                self.flag(node, "forbidden-keyword", keyword=keyword.arg)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if not isinstance(value, str) or id(node) in self.docstrings:
            return
        if DUNDER.match(value):
            self.flag(node, "dunder-string", value=repr(value))
        elif "dnnkit" in value.lower():  # e.g. Keras' registry name "dnnkit>Swish"
            self.flag(node, "reference-string", value=repr(value))


def _class_uses(tree: ast.AST) -> set[int]:
    """Ids of the Name nodes in ``tree`` where a class may appear: called, as a base class, or
    as the second argument of isinstance/issubclass."""
    uses = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            uses.add(id(node.func))
            if isinstance(node.func, ast.Name) and node.func.id in ("isinstance", "issubclass"):
                if len(node.args) == 2:
                    second = node.args[1]
                    items = second.elts if isinstance(second, ast.Tuple) else [second]
                    uses.update(id(item) for item in items)
        elif isinstance(node, ast.ClassDef):
            uses.update(id(base) for base in node.bases)
    return uses


def _is_super_init(func: ast.AST) -> bool:
    """``super().__init__``: forwarding to the base class, checked by its own rules."""
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
        and not func.value.args
    )


def _parameters(args: ast.arguments) -> list[str]:
    """The parameter names of a function or lambda, in order."""
    params = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    return params + [a.arg for a in (args.vararg, args.kwarg) if a is not None]


def _is_constant(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp):
        return _is_constant(node.operand)
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_is_constant(e) for e in node.elts)
    return False


def _is_class_member(stmt: ast.stmt) -> bool:
    """What a class body may hold: methods, constants (``units = 8``), a docstring, ``pass``."""
    if isinstance(stmt, (ast.FunctionDef, ast.Pass)):
        return True
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)
    if isinstance(stmt, ast.Assign):
        simple = all(isinstance(t, ast.Name) for t in stmt.targets)
        return simple and _is_constant(stmt.value)
    if isinstance(stmt, ast.AnnAssign):
        return isinstance(stmt.target, ast.Name) and (
            stmt.value is None or _is_constant(stmt.value)
        )
    return False


def _assigned_from(node: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """(target, value) pairs of one binding statement or expression (empty for others)."""
    if isinstance(node, ast.Assign):
        return [(t, node.value) for t in node.targets]
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
        return [(node.target, node.value)]
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        return [(node.target, node.iter)]
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return [(node.optional_vars, node.context_expr)]
    if isinstance(node, ast.NamedExpr):
        return [(node.target, node.value)]
    return []


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
        A cell that does not parse is refused (rule ``syntax-error``): what IPython would make
        of it is not what the check read.
    """
    context = context or NotebookContext()
    tree = parse(source)
    if tree is None:
        return [violation(1, "syntax-error", error=syntax_error(source))]
    if context.student_globals == set() and context.student_modules == {}:
        modules = set(context.module_names)
        own = top_level_bindings(tree, modules)
        context = NotebookContext(
            protected=context.protected,
            student_globals=set(own) - set(context.protected),
            student_modules={k: v for k, v in own.items() if v},
            module_names=modules,
            class_bases=class_bases(tree),
            class_attributes=class_attributes(tree),
        )
    checker = Checker(policy, context)
    checker.visit(tree)
    unique, seen = [], set()  # one violation per line and rule: the outermost expression's
    for found in sorted(checker.violations, key=lambda v: v.line):
        if (found.line, found.rule) not in seen:
            seen.add((found.line, found.rule))
            unique.append(found)
    return unique


def task_names(nb) -> dict[str, list[str]]:
    """The functions/classes each answer cell defines, by ``grade_id`` (from a release or
    source notebook; the autograder takes them from the gradebook)."""
    return {
        cell.metadata["nbgrader"]["grade_id"]: defined_names(cell.source)
        for cell in nb.cells
        if cell.get("cell_type") == "code" and is_solution(cell)
    }


def cell_policies(nb, rules: AssignmentPolicy, tasks: dict | None = None) -> dict[int, Policy]:
    """The rules of each editable code cell: those of the tasks whose functions it defines."""
    owner = {
        name: g
        for g, names in (tasks if tasks is not None else task_names(nb)).items()
        for name in names
    }
    out = {}
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code" or is_locked(cell):
            continue
        tree = parse(cell.source)
        bound = top_level_bindings(tree) if tree is not None else {}
        out[index] = rules.for_tasks(sorted({owner[n] for n in bound if n in owner}))
    return out


def check_notebook(
    nb, rules: AssignmentPolicy, tasks: dict | None = None
) -> dict[int, list[Violation]]:
    """Index of each editable code cell that breaks a rule -> its violations.

    ``rules`` is the assignment's policy (:func:`.policy.load_policy`); ``tasks`` maps answer
    ``grade_id`` -> the names its cell defines (default: read from ``nb`` itself; the
    autograder passes the gradebook's, which the student cannot edit).
    """
    policies = cell_policies(nb, rules, tasks)
    context = notebook_context(nb)
    for index, policy in policies.items():
        tree = parse(nb.cells[index].source)
        for name in top_level_bindings(tree) if tree is not None else {}:
            context.defined_with[name] = context.defined_with.get(name, frozenset()) | (
                policy.modules
            )
    found = {}
    for index, policy in policies.items():
        violations = check_source(nb.cells[index].source, policy, context)
        if violations:
            found[index] = violations
    return found
