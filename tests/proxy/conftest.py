"""Fixtures of the proxy tests.

test_rules.py is pure (the rule builder's text, no I/O). The others program real iptables
and so need root and the iptables tools (``helpers.needs_iptables`` skips them otherwise):
test_netns.py in a private network namespace, the rest in the host's, where the pods'
bridge lives. Those run one proxy at a time (kube-proxy's chain names are fixed, so two
would fight) and remove every chain and rule they made (``minik8s-proxy --cleanup``) when
they end. Traffic goes only to this host's containers, pod IPs and Service IPs, after the
tests have asserted that the service-range guards exist.
"""
