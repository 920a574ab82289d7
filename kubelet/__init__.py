"""The kubelet: runs the pods bound to a node on Docker (or in memory, for hollow nodes).

Layout: ``runtime/`` (the ContainerRuntime interface, Docker and fake implementations),
``podworker`` (one asyncio task per pod: sandbox, containers, restarts, probes, status),
``status`` (phase and conditions, pure), ``prober``, ``backoff``, ``resources`` (limits,
QoS cgroup parent, downward-API env), ``kubelet`` (dispatch, relist, orphan cleanup),
``node`` (Node registration, Lease, conditions), ``server`` (the log and exec endpoints),
``exec_stream`` (exec's WebSocket channel protocol), ``agent`` (wiring, hollow mode) and
``main`` (the command line).
"""
