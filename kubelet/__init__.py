"""The kubelet: runs the pods bound to a node on Docker (or in memory, for hollow nodes).

Layout: ``runtime/`` (the ContainerRuntime interface, its configs and records, Docker
and fake implementations; it imports nothing else of the kubelet), ``containerconfig``
(pod + container -> the sandbox and container configs a runtime executes: names,
labels, environment, mounts, resources), ``configsources`` and ``configvolumes``
(ConfigMaps and Secrets for env and volumes), ``resources`` (limits, QoS cgroup
parent), ``podworker`` (one asyncio task per pod: sandbox, containers, restarts,
probes, status; it sees its kubelet only through the ``PodHost`` protocol),
``status`` (phase and conditions, pure), ``prober``, ``kubelet`` (dispatch, relist,
orphan cleanup), ``node`` (Node registration, Lease, conditions), ``server`` (the log
and exec endpoints), ``exec_stream`` (exec's WebSocket channel protocol), ``agent``
(wiring, hollow mode) and ``main`` (the command line).
"""
