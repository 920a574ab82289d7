"""The image pull manager (kubelet/images.py) on the fake runtime: single flight, the back-off
shared by an image's pods, abandoned pulls, serialized and parallel pulls, Kubernetes'
events and messages, the flags' validation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.timeutil import go_duration_ms
from kubelet.images import ImageManager, PullSettings
from kubelet.runtime.base import ImagePullError
from kubelet.runtime.fake import FakeRuntime


def _runtime() -> FakeRuntime:
    rt = FakeRuntime(all_images_present=False)
    rt.images = {"here:1"}
    return rt


class Events:
    def __init__(self) -> None:
        self.got: list[tuple[str, str, str]] = []

    def __call__(self, type_: str, reason: str, message: str) -> None:
        self.got.append((type_, reason, message))


async def test_pods_of_one_image_share_one_pull() -> None:
    rt = _runtime()
    rt.pull_delays["new:1"] = 0.3
    m = ImageManager(rt)
    evs = [Events() for _ in range(50)]
    ids = await asyncio.gather(*(m.ensure("new:1", "IfNotPresent", e) for e in evs))
    assert rt.pulls == ["new:1"] and m.stats.attempts == {"new:1": 1}
    assert set(ids) == {"sha256:fake-new:1"}
    for e in evs:
        assert e.got[0] == ("Normal", "Pulling", 'Pulling image "new:1"')
        t, reason, msg = e.got[1]
        assert (t, reason) == ("Normal", "Pulled")
        assert msg.startswith('Successfully pulled image "new:1" in ') and msg.endswith(
            "including waiting). Image size: 1024 bytes."), msg
    # present now: no pull, Kubernetes' "already present"
    e = Events()
    await m.ensure("new:1", "IfNotPresent", e)
    assert e.got == [("Normal", "Pulled", 'Container image "new:1" already present on machine')]
    assert rt.pulls == ["new:1"]


async def test_backoff_is_shared_by_the_image_pods_one_attempt_per_step() -> None:
    rt = _runtime()
    rt.pull_errors["bad:1"] = "connection refused"
    m = ImageManager(rt, PullSettings(backoff_base=0.3, backoff_cap=10))
    e = Events()
    with pytest.raises(ImagePullError) as err:
        await m.ensure("bad:1", "IfNotPresent", e)
    assert err.value.reason == "ErrImagePull" and str(err.value) == "connection refused"
    assert 0.2 < err.value.retry_after <= 0.3
    assert e.got == [("Normal", "Pulling", 'Pulling image "bad:1"'),
                     ("Warning", "Failed", 'Failed to pull image "bad:1": connection refused'),
                     ("Warning", "Failed", "Error: ErrImagePull")]
    # every other pod of the image is in the same back-off: no pull
    for _ in range(20):
        e = Events()
        with pytest.raises(ImagePullError) as err:
            await m.ensure("bad:1", "Always", e)
        assert err.value.reason == "ImagePullBackOff"
        assert str(err.value) == ('Back-off pulling image "bad:1": ErrImagePull: '
                                  "connection refused")
        assert e.got == [("Normal", "BackOff", 'Back-off pulling image "bad:1"'),
                         ("Warning", "Failed", "Error: ImagePullBackOff")]
    assert rt.pulls == ["bad:1"]
    await asyncio.sleep(0.35)
    # the step is over: one more attempt for all of them, then a doubled back-off
    results = await asyncio.gather(*(m.ensure("bad:1", "IfNotPresent", Events())
                                     for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, ImagePullError) for r in results)
    assert rt.pulls == ["bad:1", "bad:1"]
    assert 0.5 < m.backoff_left("bad:1") <= 0.6
    # the registry comes back: the next attempt after the back-off succeeds and resets it
    del rt.pull_errors["bad:1"]
    await asyncio.sleep(0.65)
    assert await m.ensure("bad:1", "IfNotPresent", Events()) == "sha256:fake-bad:1"
    assert m.backoff_left("bad:1") == 0 and len(m.backoff) == 0


async def test_a_pull_no_pod_waits_for_is_abandoned() -> None:
    rt = _runtime()
    rt.pull_delays["slow:1"] = 30
    m = ImageManager(rt)
    waiters = [asyncio.create_task(m.ensure("slow:1", "IfNotPresent", Events()))
               for _ in range(3)]
    await asyncio.sleep(0.05)
    assert m.in_flight() == ["slow:1"]
    waiters[0].cancel()
    await asyncio.sleep(0.01)
    assert m.in_flight() == ["slow:1"] and m.stats.abandoned == 0  # others still wait
    for w in waiters[1:]:
        w.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert m.in_flight() == [] and m.stats.abandoned == 1
    await m.close()


async def test_serialized_pulls_one_at_a_time_parallel_up_to_the_limit() -> None:
    for settings, most in ((PullSettings(), 1), (PullSettings(serialize=False, max_parallel=2), 2),
                           (PullSettings(serialize=False), 4)):
        rt = _runtime()
        running, peak = 0, 0
        pull = rt.pull_image

        async def counting(image: str, progress_deadline: float | None = None,
                           pull: Any = pull) -> str:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            try:
                await asyncio.sleep(0.05)
                return await pull(image, progress_deadline)
            finally:
                running -= 1
        rt.pull_image = counting  # type: ignore[method-assign]
        m = ImageManager(rt, settings)
        await asyncio.gather(*(m.ensure(f"img{i}:1", "IfNotPresent", Events()) for i in range(4)))
        assert peak == most, (settings, peak)


async def test_policies_never_and_always_with_a_local_copy() -> None:
    rt = _runtime()
    m = ImageManager(rt)
    e = Events()
    with pytest.raises(ImagePullError) as err:
        await m.ensure("gone:1", "Never", e)
    assert err.value.reason == "ErrImageNeverPull"
    assert e.got[0] == ("Warning", "ErrImageNeverPull",
                        'Container image "gone:1" is not present with pull policy of Never')
    # Always with a local copy and no registry: the local copy runs, and is used without
    # asking the registry again for a while
    rt.pull_errors["here:1"] = "no registry"
    assert await m.ensure("here:1", "Always", Events()) == "sha256:fake-here:1"
    assert await m.ensure("here:1", "Always", Events()) == "sha256:fake-here:1"
    assert rt.pulls == ["here:1"]


def test_flags_validation_and_durations() -> None:
    assert PullSettings().validate() == []
    assert PullSettings(serialize=False, max_parallel=5).validate() == []
    assert PullSettings(max_parallel=3).validate() == [
        "invalid configuration: maxParallelImagePulls cannot be larger than 1 unless "
        "SerializeImagePulls (--serialize-image-pulls) is set to false"]
    assert PullSettings(serialize=False, max_parallel=0).validate() == [
        "invalid configuration: maxParallelImagePulls 0 must be a positive number"]
    assert [go_duration_ms(x) for x in (0, 0.25, 1, 1.2345, 60, 62.5, 3725)] == [
        "0s", "250ms", "1s", "1.234s", "1m0s", "1m2.5s", "1h2m5s"]
