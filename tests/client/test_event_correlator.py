"""The event correlator (client-go's EventCorrelator: aggregation, counting, spam filter):
its rules on a clock of the test's own, then what a recorder writes to the real API server
and how the real kubectl shows it."""

from __future__ import annotations

from api.models import Container, Event, ObjectMeta, Pod, PodSpec
from client.events import COMBINED_PREFIX, EventCorrelator, EventRecorder
from client.rest import AsyncClient
from testing.kubectl import Kubectl
from testing.objects import new_namespace

OBJ = ("Pod", "ns", "web", "uid-1", "v1")
NOW = "2026-01-01T00:00:00Z"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def correlate(c: EventCorrelator, message: str, reason: str = "Created",
              obj: tuple[str, str, str, str, str] = OBJ) -> tuple[str, int, bool] | None:
    ev = c.correlate(obj, None, "Normal", reason, message, NOW)
    return None if ev is None else (ev.message, ev.count, ev.aggregate)


def test_identical_events_are_counted_under_one_name() -> None:
    c = EventCorrelator(clock=Clock())
    first = c.correlate(OBJ, None, "Normal", "Pulled", "pulled", NOW)
    again = c.correlate(OBJ, None, "Normal", "Pulled", "pulled", "2026-01-01T00:00:09Z")
    assert first is not None and again is not None
    assert (first.count, again.count) == (1, 2) and first.name == again.name
    assert again.first == NOW and again.last == "2026-01-01T00:00:09Z"
    # another fieldPath is another event, with a count of its own
    other = c.correlate(OBJ, "spec.containers{b}", "Normal", "Pulled", "pulled", NOW)
    assert other is not None and other.count == 1 and other.name != first.name


def test_similar_events_aggregate_from_the_tenth_message() -> None:
    clock = Clock()
    c = EventCorrelator(clock=clock)
    got = [correlate(c, f"Created pod: p{i}") for i in range(12)]
    assert got[:9] == [(f"Created pod: p{i}", 1, False) for i in range(9)]
    assert got[9:] == [(f"{COMBINED_PREFIX}Created pod: p{i}", n, True)
                       for i, n in ((9, 1), (10, 2), (11, 3))]
    # another reason, type or object is not similar
    assert correlate(c, "x", reason="Deleted") == ("x", 1, False)
    assert correlate(c, "x", obj=("Pod", "ns", "db", "uid-2", "v1")) == ("x", 1, False)
    # ten minutes without a similar event start a fresh group
    clock.t += 601
    assert correlate(c, "Created pod: q") == ("Created pod: q", 1, False)


def test_spam_filter_allows_a_burst_then_one_per_five_minutes() -> None:
    clock = Clock()
    c = EventCorrelator(clock=clock)
    passed = [correlate(c, "m", reason=f"R{i}") for i in range(30)]
    assert all(p is not None for p in passed[:25])
    assert passed[25:] == [None] * 5
    # per object: another object still has its burst
    assert correlate(c, "m", reason="R0", obj=("Pod", "ns", "db", "uid-2", "v1")) is not None
    clock.t += 299
    assert correlate(c, "m", reason="R0") is None
    clock.t += 2
    # one token refilled; the counts went on while filtered
    assert correlate(c, "m", reason="R0") == ("m", 3, False)
    assert correlate(c, "m", reason="R0") is None


def test_caches_are_bounded() -> None:
    c = EventCorrelator(clock=Clock(), cache_size=8)
    for i in range(50):
        correlate(c, "m", obj=("Pod", "ns", f"p{i}", f"u{i}", "v1"))
    assert len(c._logs) == len(c._aggregates) == len(c._spam) == 8
    # forgotten: a repeat of the first is a first occurrence again
    assert correlate(c, "m", obj=("Pod", "ns", "p0", "u0", "v1")) == ("m", 1, False)


# ---- against the API server --------------------------------------------------------


async def real_pod(client: AsyncClient, ns: str, name: str) -> Pod:
    return await client.create(Pod(metadata=ObjectMeta(name=name),
                                   spec=PodSpec(containers=[Container(name="c", image="nginx")])),
                               ns)


async def events_of(client: AsyncClient, ns: str, name: str) -> list[Event]:
    res = await client.list(Event, ns, field_selector=f"involvedObject.name={name}")
    return res.items


async def test_recorder_aggregates_and_filters(client: AsyncClient) -> None:
    ns = await new_namespace(client, "corr")
    rec = EventRecorder(client, "replicaset-controller", host="h1")
    pod = await real_pod(client, ns, "agg")
    for i in range(15):
        rec.event(pod, "Normal", "SuccessfulCreate", f"Created pod: p{i}")
        if i in (9, 12):
            assert await rec.flush(10)  # the aggregate is created, then patched
    assert await rec.flush(10)
    evs = await events_of(client, ns, "agg")
    single = sorted(e.message or "" for e in evs if e.count == 1 and
                    not (e.message or "").startswith(COMBINED_PREFIX))
    assert single == sorted(f"Created pod: p{i}" for i in range(9))
    combined = [e for e in evs if (e.message or "").startswith(COMBINED_PREFIX)]
    assert len(combined) == 1 and len(evs) == 10
    agg = combined[0]
    assert agg.message == f"{COMBINED_PREFIX}Created pod: p14" and agg.count == 6
    assert agg.source is not None and agg.source.component == "replicaset-controller"
    assert agg.involved_object.uid == pod.metadata.uid
    # 15 events, 10 Events: 9 + 1 created, the aggregate patched twice (the rest folded)
    assert (rec.created, rec.patched) == (10, 2)

    # the spam filter: 25 events about one object, then nothing for five minutes
    spam = await real_pod(client, ns, "spam")
    for i in range(30):
        rec.event(spam, "Warning", f"Reason{i}", "boom")
    assert await rec.flush(10)
    assert len(await events_of(client, ns, "spam")) == 25 and rec.filtered == 5
    await rec.close()


async def test_kubectl_shows_the_counts(client: AsyncClient, kubectl: Kubectl) -> None:
    ns = await new_namespace(client, "corr")
    rec = EventRecorder(client, "kubelet", host="node-1")
    pod = await real_pod(client, ns, "shown")
    for _ in range(4):
        rec.event(pod, "Warning", "BackOff", "Back-off pulling image", field_path="spec.containers{c}")
        assert await rec.flush(10)  # a create, then three PATCHes of its count
    assert (rec.created, rec.patched) == (1, 3)
    out = kubectl("describe", "pod", "shown", "-n", ns).stdout
    line = next(ln for ln in out.splitlines() if "BackOff" in ln)
    assert "(x4 over" in line and "kubelet" in line and "Back-off pulling image" in line
    wide = kubectl("get", "events", "-n", ns, "-o", "wide").stdout.splitlines()
    header, row = wide[0].split(), next(ln for ln in wide if "BackOff" in ln)
    assert "COUNT" in header and " 4 " in row
    await rec.close()
