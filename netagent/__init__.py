"""minik8s-netagent: the pod network between nodes (flannel's host-gw backend): the
node's CNI config from its podCIDR, a route to every other node's podCIDR, and the leak
guard that keeps cluster-CIDR traffic on the machine (see netagent/main.py)."""
