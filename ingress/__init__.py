"""minik8s-ingress: an ingress controller that drives nginx (ingress/controller.py)."""
