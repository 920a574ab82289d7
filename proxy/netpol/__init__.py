"""The network policy agent: NetworkPolicies enforced with iptables and ipsets on the
pods' bridge, as kube-router's and Calico's iptables modes do (``python -m proxy.netpol``)."""
