"""Who is asking, and may they: kube-apiserver's authentication, impersonation and
authorization filters, in its order.

A request passes, outermost first: **authentication** (``authenticator``: x509 client
certificates, bearer tokens, anonymous; a plain-HTTP request on the loopback-only insecure
port is the superuser ``system:unsecured``, as Kubernetes' old insecure port was), then
**impersonation** (``Impersonate-*`` headers, themselves authorized), then
**authorization** (``authorizer``: a union of Node, RBAC, AlwaysAllow... in the order of
``--authorization-mode``). ``middleware.AuthMiddleware`` runs the three and puts the
resulting ``UserInfo`` in the ASGI scope and in ``context.current_user``, where admission
(NodeRestriction, quota) and audit read it. Admission runs later, inside the registry.
"""
