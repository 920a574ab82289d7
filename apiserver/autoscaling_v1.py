"""autoscaling/v1 HorizontalPodAutoscalers, served over the autoscaling/v2 storage.

One storage (the same plural and etcd keys as v2); requests under
``/apis/autoscaling/v1/.../horizontalpodautoscalers`` are converted at the HTTP boundary
(apiserver/served_versions.py) with Kubernetes' conversion
(``api.models.autoscaling.v1_to_v2`` / ``v2_to_v1``); discovery lists autoscaling/v1
beside the preferred v2.
"""

from __future__ import annotations

from api import resources
from api.models.autoscaling import HorizontalPodAutoscalerV1, v1_to_v2, v2_to_v1
from apiserver.served_versions import ConvertedVersion

V1_INFO = resources._info(
    kind="HorizontalPodAutoscaler", plural="horizontalpodautoscalers",
    singular="horizontalpodautoscaler", group="autoscaling", version="v1", namespaced=True,
    model=HorizontalPodAutoscalerV1, short_names=("hpa",), categories=("all",),
    subresources=("status",),
)

SPEC = ConvertedVersion(outer=V1_INFO, stored=resources.HORIZONTALPODAUTOSCALERS,
                        to_outer=v2_to_v1, to_stored=v1_to_v2)
