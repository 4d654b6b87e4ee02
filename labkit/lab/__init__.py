"""A lab and what happens to its containers: the model (`model.LabModel`: nodes, roles, the
load balancer, the API, the state on the host) and the operations on it (bring-up, stop and
start, upgrade, status, logs, images).

The rule: nothing here imports `checks`, `diagnose`, `suites`, `troubleshooting`, the
`facade`, the CLI or the plugin (not inside functions, not under TYPE_CHECKING); they take
a `LabModel` from here. tests/test_layers.py holds it.
"""
