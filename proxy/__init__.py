"""minik8s-proxy, the kube-proxy: programs iptables NAT rules for Services from the
Services and EndpointSlices it watches (see proxy/main.py)."""
