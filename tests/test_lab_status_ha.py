"""`lab status` with several control planes: etcd's quorum and the load balancer."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from labkit.facade import Lab
from labkit.lab.node import Node
from labkit.lab.status import quorum_problem, stopped_node


def lab_of(*states: str) -> Lab:
    nodes = [
        Node(
            f"ha-control-plane{i if i > 1 else ''}", "control-plane", SimpleNamespace(status=state)
        )
        for i, state in enumerate(states, start=1)
    ]
    return Lab("ha", None, nodes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("states", "lost"),
    [
        (("running", "exited", "exited"), "1 of its 3 members run and it needs 2"),
        (
            ("exited", "exited", "running", "running", "exited"),
            "2 of its 5 members run and it needs 3",
        ),
    ],
)
def test_fewer_control_planes_than_a_quorum_is_named_with_the_nodes_to_start(
    states: tuple[str, ...], lost: str
) -> None:
    problem = quorum_problem(lab_of(*states))
    assert problem is not None and problem.subject == "etcd" and lost in problem.problem
    stopped = [
        f"ha-control-plane{i if i > 1 else ''}" for i, s in enumerate(states, 1) if s != "running"
    ]
    assert problem.fix.startswith(f"`labkit lab start ha` starts {', '.join(stopped)} (")


@pytest.mark.parametrize(
    "states", [("running",), ("exited",), ("exited", "running", "running"), ("running",) * 3]
)
def test_a_quorum_or_a_single_control_plane_is_no_etcd_problem(states: tuple[str, ...]) -> None:
    assert quorum_problem(lab_of(*states)) is None


def test_a_stopped_load_balancer_is_named_as_such() -> None:
    container = SimpleNamespace(
        status="exited",
        name="ha-load-balancer",
        reload=lambda: None,
        attrs={"State": {"ExitCode": 137, "FinishedAt": "2026-12-02T10:00:00Z"}},
    )
    balancer = Node("ha-load-balancer", "load-balancer", container)  # type: ignore[arg-type]
    problem = stopped_node(lab_of("running"), balancer)
    assert problem is not None and problem.subject == "container/ha-load-balancer"
    assert problem.problem.startswith("load balancer ha-load-balancer is exited (exit code 137")


def test_status_and_diagnose_say_a_lost_quorum_and_a_stopped_node_alike() -> None:
    from labkit.diagnose import LabSnapshot, diagnose_snapshot

    lab = lab_of("running", "exited", "exited")
    names = [n.name for n in lab.nodes]
    snapshot = LabSnapshot(
        lab="ha",
        control_plane=names[0],
        containers={n.name: n.container.status for n in lab.nodes},
        control_planes=tuple(names),
        api_error="refused",
    )
    found = {d.cause_id: d for d in diagnose_snapshot(snapshot)}
    lost = quorum_problem(lab)
    assert lost is not None
    assert (found["etcd.quorum-lost"].summary, found["etcd.quorum-lost"].fix) == (
        lost.problem,
        lost.fix,
    )
    stopped = next(d for d in diagnose_snapshot(snapshot) if d.cause_id == "node.container-stopped")
    assert stopped.summary == f"node container {names[1]} is exited"
    assert stopped.fix.startswith("`labkit lab start ha` starts the stopped nodes in order")
