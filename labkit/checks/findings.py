"""Findings, and the rules that produce them.

A rule is a small function over one kind of evidence (a node's files, or a snapshot of the
cluster's objects) that yields a `Violation` for every place the evidence departs from what
kubeadm documents; its docstring says what it asserts. The rule set it is registered with
turns violations into `Finding`s carrying the rule id, the node and the status. Only
departures are reported: a passing run is the rule list minus the findings.

    @RULES.rule(id="pki.ca-constraint", source=PKI_HELPERS)
    def ca_constraint(node: NodeArtifacts, context: CheckContext) -> Iterator[Violation]:
        '''The three CAs carry basicConstraints CA:TRUE; every other certificate CA:FALSE'''
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from labkit.versions import DEFAULT_KUBERNETES_VERSION

# "error": a rule that could not run (the API server did not answer): neither pass nor fail.
Status = Literal["fail", "known", "error"]
# node: one node's files; nodes: the files of several nodes together; cluster: its objects.
Scope = Literal["node", "nodes", "cluster"]

# The node column of a finding about an object that belongs to no node.
CLUSTER = "cluster"


def kubeadm_source(path: str) -> str:
    """A link to kubeadm's source at the release labkit pins, for a rule's `source_url`."""
    return (
        f"https://github.com/kubernetes/kubernetes/blob/{DEFAULT_KUBERNETES_VERSION}"
        f"/cmd/kubeadm/app/{path}"
    )


def cis_source(section: str) -> str:
    """A link to kube-bench's CIS Kubernetes Benchmark 1.12 checks (`master` or `node`)."""
    return f"https://github.com/aquasecurity/kube-bench/blob/main/cfg/cis-1.12/{section}.yaml"


@dataclass(frozen=True)
class Finding:
    """One place where a node or the cluster departs from a rule."""

    rule_id: str
    node: str
    path: str
    expected: str
    found: str
    status: Status = "fail"

    @property
    def message(self) -> str:
        where = f"[{self.rule_id}] {self.node}: {self.path}"
        return f"{where}: expected {self.expected}; found {self.found}"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Violation:
    """What a rule yields: a finding before the rule id, node and status are known.

    `node` is only set by cluster rules whose object belongs to a node (a Node, a Pod).
    """

    path: str
    expected: str
    found: str
    node: str | None = None


RuleCheck = Callable[[Any, Any], Iterable[Violation]]


class RuleRow(Protocol):
    """A rule written as a row of a table: for rules that differ only in data (a file and
    its mode, a config field and its value), a frozen dataclass with a `check`."""

    @property
    def rule_id(self) -> str: ...

    @property
    def statement(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def known(self) -> bool: ...

    def check(self, subject: Any, context: Any) -> Iterable[Violation]: ...


@dataclass(frozen=True)
class Rule:
    """An invariant: what it asserts, where kubeadm (or the CIS benchmark) says so."""

    id: str
    statement: str
    source_url: str
    artifact: str
    scope: Scope
    check: RuleCheck = field(repr=False, compare=False)
    # A CIS item kubeadm's defaults are known to fail: reported, never a failure.
    known: bool = False

    @property
    def status(self) -> Status:
        return "known" if self.known else "fail"

    def run(self, subject: Any, context: Any, *, node: str) -> Iterator[Finding]:
        """Run the check; `node` names the findings whose violation names no node."""
        try:
            violations = list(self.check(subject, context))
        except Exception as error:
            # A rule that trips over evidence it did not foresee is itself a finding: the
            # other rules still run and the user sees which rule and why.
            violations = [Violation("-", "the rule to run", f"{type(error).__name__}: {error}")]
        for violation in violations:
            yield Finding(
                rule_id=self.id,
                node=violation.node or node,
                path=violation.path,
                expected=violation.expected,
                found=violation.found,
                status=self.status,
            )


@dataclass
class RuleSet:
    """The rules of one module (one artifact kind), in the order they are declared."""

    artifact: str
    scope: Scope
    rules: list[Rule] = field(default_factory=list)

    def rule(
        self, *, id: str, source: str, known: bool = False, statement: str | None = None
    ) -> Callable[[RuleCheck], RuleCheck]:
        """Register a check as rule `id`. What it asserts is its docstring, unless given as
        `statement` (a table row's check shares one docstring with the other rows)."""

        def register(check: RuleCheck) -> RuleCheck:
            if any(existing.id == id for existing in self.rules):
                raise ValueError(f"rule {id!r} is declared twice in {self.artifact}")
            asserts = statement or " ".join((check.__doc__ or "").split())
            if not asserts:
                raise ValueError(
                    f"rule {id!r} says nothing of what it asserts: no docstring (or Python "
                    "runs with -OO, which drops docstrings)"
                )
            self.rules.append(Rule(id, asserts, source, self.artifact, self.scope, check, known))
            return check

        return register

    def add_rows(self, rows: Iterable[RuleRow]) -> None:
        """Register each row of a table as a rule, in the table's order."""
        for row in rows:
            register = self.rule(
                id=row.rule_id, source=row.source, known=row.known, statement=row.statement
            )
            register(row.check)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)
