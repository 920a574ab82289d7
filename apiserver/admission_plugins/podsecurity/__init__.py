"""Pod Security admission: the three Pod Security Standards (privileged, baseline,
restricted) as Kubernetes' k8s.io/pod-security-admission checks them.

- ``api``: levels, versions (``latest``, ``v1.x``), the namespace labels and policies;
- ``checks``: each check, with its versions, on wire dicts;
- ``evaluator``: which checks apply at a level and version, and their aggregate result;
- ``config``: PodSecurityConfiguration (defaults, exemptions) from the AdmissionConfiguration;
- ``admission``: the PodSecurity plugin (registered on import, on by default as in
  Kubernetes; with no configuration every namespace is ``privileged``).
"""

from apiserver.admission_plugins.podsecurity import admission as admission

__all__ = ["admission"]
