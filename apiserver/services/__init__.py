"""What the API server does for Services beyond the generic registry: the ClusterIP and
NodePort allocators in etcd (``allocator``), the REST storage hooks that allocate and
release around each write (``rest``), their repair pass (``repair``) and the
``kubernetes`` Service with its endpoints (``bootstrap``)."""
