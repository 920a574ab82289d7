"""CustomResourceDefinitions: the kinds a CRD defines, served as soon as it exists.

``served`` is the table of the custom resources this server serves now (the routes,
discovery, OpenAPI and the Table output read it), ``strategy`` the generic strategy of
a custom resource (schema defaulting, pruning and validation, printer columns),
``handler`` the request dispatch for them (versions, status, scale), ``controller``
what kube-apiextensions-apiserver's naming, establishing and finalizer controllers do.
"""
