"""minik8s-dashboard: a web UI that acts as the signed-in user against the API server.

Every request it makes for a browser carries that user's credentials (a bearer token pasted
at sign-in, or the credentials of the kubeconfig given at start in single-user mode), so the
API server's authentication and RBAC apply unchanged; live views are fed by informers opened
with the same credentials and pushed to the browser as server-sent events.
"""
