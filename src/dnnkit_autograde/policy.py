"""What an answer may use: an allow-list per assignment and task, kept with the course.

Each assignment's source folder holds a ``policy.toml`` (``solutions/<assignment>/policy.toml``)
naming what its answers may use: dotted names (``numpy.exp``, ``keras.layers.Dense``; a
trailing ``.*`` allows a whole namespace), attribute and method names on values (``shape``,
``sum``), and keyword arguments that stay refused (``activation=``). Vocabularies shared by
assignments (``numpy``, ``python``, ``keras``...) ship with this package in
``vocabularies.toml``. Everything not listed is refused, so a name nobody thought of is refused
rather than allowed. Adding an assignment means adding its ``policy.toml``, no Python.

The rules of a cell follow the functions it defines, not the cell it is in (see
:class:`AssignmentPolicy`), so ``grade_id`` metadata, which a student can edit, decides nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

POLICY_FILE = "policy.toml"


class PolicyError(ValueError):
    """A policy file that cannot be read or names an unknown vocabulary."""


@dataclass(frozen=True)
class Policy:
    """What the code of one cell may use.

    Parameters
    ----------
    names : frozenset of str
        Dotted names an answer may use (aliases resolved): ``"numpy.exp"``; ``"keras.ops.*"``
        allows everything under ``keras.ops``.
    attributes : frozenset of str
        Attribute and method names an answer may read on values that are not modules
        (``x.shape``, ``x.sum()``), besides those of its own classes and ``self``.
    forbidden_keywords : frozenset of str
        Keyword arguments refused even on allowed calls, e.g. ``"activation"`` (``Dense(...,
        activation="gelu")`` would use Keras' implementation) or ``"clipnorm"``.
    settable : frozenset of str
        Attributes an answer may set on objects other than ``self`` (``layer.trainable =
        False``). Setting any other (``model.evaluate = ...``) would change an object the
        tests use, so it is refused.
    bases : frozenset of str
        Library classes an answer's classes may derive from (``"keras.layers.Layer"``).
    """

    names: frozenset[str] = frozenset()
    attributes: frozenset[str] = frozenset()
    forbidden_keywords: frozenset[str] = frozenset()
    settable: frozenset[str] = frozenset()
    bases: frozenset[str] = frozenset()

    @property
    def modules(self) -> frozenset[str]:
        """The top-level packages this policy lets an answer import."""
        return frozenset(name.split(".")[0] for name in self.names)

    def allows(self, path: str) -> bool:
        """True when the dotted name ``path`` is allowed (listed, or under a ``.*`` entry)."""
        if path in self.names:
            return True
        parts = path.split(".")
        return any(".".join(parts[:i]) + ".*" in self.names for i in range(1, len(parts) + 1))

    def is_namespace(self, path: str) -> bool:
        """True when ``path`` is a module on the way to an allowed name (``numpy.linalg``)."""
        prefix = path + "."
        return self.allows(path) or any(name.startswith(prefix) for name in self.names)


def strictest(policies: Iterable[Policy]) -> Policy:
    """The rules of a cell that defines several tasks' functions: all of them at once."""
    policies = list(policies)
    return Policy(
        frozenset.intersection(*(p.names for p in policies)),
        frozenset.intersection(*(p.attributes for p in policies)),
        frozenset().union(*(p.forbidden_keywords for p in policies)),
        frozenset.intersection(*(p.settable for p in policies)),
        frozenset.intersection(*(p.bases for p in policies)),
    )


@dataclass(frozen=True)
class AssignmentPolicy:
    """The rules of one assignment: ``base`` and, per answer cell ``grade_id``, its task's.

    A cell that defines the function (or class) of the answer cell ``grade_id`` gets
    ``tasks[grade_id]`` (``base`` when the task has no entry); a cell that defines none (a
    helper, a scratch cell) gets ``base``.
    """

    base: Policy = Policy()
    tasks: dict[str, Policy] = field(default_factory=dict)

    def for_tasks(self, grade_ids: Iterable[str]) -> Policy:
        grade_ids = list(grade_ids)
        if not grade_ids:
            return self.base
        return strictest(self.tasks.get(g, self.base) for g in grade_ids)


def vocabularies() -> dict[str, dict]:
    """The named vocabularies shipped with the package (``vocabularies.toml``)."""
    text = resources.files(__package__).joinpath("vocabularies.toml").read_text("utf-8")
    return tomllib.loads(text)


def _policy(table: dict, where: str, vocab: dict[str, dict]) -> Policy:
    names: set[str] = set(table.get("names", []))
    attributes: set[str] = set(table.get("attributes", []))
    settable: set[str] = set(table.get("settable", []))
    bases: set[str] = set(table.get("bases", []))
    for name in table.get("use", []):
        if name not in vocab:
            raise PolicyError(f"{where}: unknown vocabulary {name!r}; known: {sorted(vocab)}")
        names |= set(vocab[name].get("names", []))
        attributes |= set(vocab[name].get("attributes", []))
        settable |= set(vocab[name].get("settable", []))
        bases |= set(vocab[name].get("bases", []))
    names -= set(table.get("exclude_names", []))
    attributes -= set(table.get("exclude_attributes", []))
    return Policy(
        frozenset(names),
        frozenset(attributes),
        frozenset(table.get("forbid_keywords", [])),
        frozenset(settable & attributes),
        frozenset(bases & names),
    )


def parse_policy(text: str, where: str = POLICY_FILE) -> AssignmentPolicy:
    """An :class:`AssignmentPolicy` from the text of a ``policy.toml``.

    The file has a ``[base]`` table and one ``[tasks.<grade_id>]`` table per task with its own
    rules; each table may have ``use`` (vocabularies), ``names``, ``attributes``, ``settable``
    (attributes that may also be set), ``bases`` (library classes to derive from),
    ``exclude_names``, ``exclude_attributes`` and ``forbid_keywords``.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{where} is not valid TOML: {exc}") from exc
    vocab = vocabularies()
    base = _policy(data.get("base", {}), f"{where} [base]", vocab)
    tasks = {
        grade_id: _policy(table, f"{where} [tasks.{grade_id}]", vocab)
        for grade_id, table in data.get("tasks", {}).items()
    }
    return AssignmentPolicy(base, tasks)


def default_policy() -> AssignmentPolicy:
    """The rules of an assignment without a policy file: Python and NumPy's core only."""
    return parse_policy('[base]\nuse = ["python", "numpy"]\n', "the default policy")


def load_policy(source_folder: str | Path) -> AssignmentPolicy:
    """The rules kept in ``<source_folder>/policy.toml`` (the default policy when absent)."""
    path = Path(source_folder) / POLICY_FILE
    if not path.is_file():
        return default_policy()
    return parse_policy(path.read_text("utf-8"), str(path))
