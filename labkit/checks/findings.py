"""Findings, and the rules that produce them.

A rule is a small function over one kind of evidence (a node's files, or a snapshot of the
cluster's objects) that yields a `Violation` for every place the evidence departs from what
kubeadm documents. The rule set it is registered with turns violations into `Finding`s
carrying the rule id, the node and the status. Only departures are reported: a passing run
is the rule list minus the findings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from labkit.versions import DEFAULT_KUBERNETES_VERSION

Status = Literal["fail", "known"]
Scope = Literal["node", "cluster"]

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
        self, *, id: str, statement: str, source: str, known: bool = False
    ) -> Callable[[RuleCheck], RuleCheck]:
        def register(check: RuleCheck) -> RuleCheck:
            if any(existing.id == id for existing in self.rules):
                raise ValueError(f"rule {id!r} is declared twice in {self.artifact}")
            self.rules.append(Rule(id, statement, source, self.artifact, self.scope, check, known))
            return check

        return register

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)
