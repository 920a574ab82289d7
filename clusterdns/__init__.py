"""minik8s-dns, the cluster DNS: answers <svc>.<ns>.svc.cluster.local and pod names from
the Services and EndpointSlices it watches (see clusterdns/main.py). Named clusterdns so
as not to shadow dnspython's ``dns`` package."""
