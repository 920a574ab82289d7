"""minik8s-scheduler: assigns pending pods to nodes through pods/binding.

framework.py (PodInfo, NodeInfo, the filter/score cycle, the failure message),
plugins/ (one filter or score per module), queue.py (active/backoff/unschedulable),
cache.py (nodes with their bound and assumed pods), service.py (informers -> queue ->
cycle -> asynchronous bindings), config.py and main.py (the command line).
"""
