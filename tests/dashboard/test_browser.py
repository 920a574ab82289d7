"""The dashboard in a real browser (headless Chromium) against a real cluster: the live
topology follows `minictl create deployment` and `minictl scale` without a reload, the
timeline shows the Deployment's steps in order, the YAML view edits and shows the API
server's validation errors, logs and exec show a container's output, and a user whose RBAC
allows one namespace sees only that namespace."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboard.conftest import ALICE, Cluster, shot, sign_in

pytestmark = pytest.mark.timeout(240)


def running_pods(page: Any, workload_key: str, n: int, timeout: float = 30) -> None:
    sel = f'[data-workload="{workload_key}"] .pod[data-status="Running"]'
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length === n", arg=[sel, n],
        timeout=timeout * 1000)


@pytest.fixture(scope="module")
def admin_page(browser: Any, cluster: Cluster) -> Any:
    page = sign_in(browser, cluster, cluster.api.admin_token.token, cluster.namespace)
    yield page
    page.context.close()


def test_topology_follows_create_and_scale_live(admin_page: Any, cluster: Cluster) -> None:
    page, ns = admin_page, cluster.namespace
    cluster.minictl("create", "deployment", "nginx", "--replicas=3", "-n", ns)
    running_pods(page, f"Deployment/{ns}/nginx", 3)
    # the node boxes hold the same pods
    assert page.locator(f'#nodes .pod[data-key^="Pod/{ns}/nginx-"]').count() == 3
    shot(page, "topology-3")
    page.evaluate("window.__reloaded = false")
    cluster.minictl("scale", "deployment", "nginx", "--replicas=5", "-n", ns)
    running_pods(page, f"Deployment/{ns}/nginx", 5)
    assert page.evaluate("window.__reloaded") is False  # the same page, no reload
    shot(page, "topology-5")
    # a Service -> its EndpointSlices' ready endpoints and the pods behind them
    cluster.minictl("expose", "deployment", "nginx", "--port", "80", "-n", ns)
    page.wait_for_selector(f'[data-service="Service/{ns}/nginx"][data-endpoints="5/5"]')
    assert page.locator(f'[data-service="Service/{ns}/nginx"] .pod').count() == 5
    # keyboard: a pod is a labelled button; Enter opens its details, Escape closes them
    chip = page.locator(f'#nodes .pod[data-key^="Pod/{ns}/nginx-"]').first
    assert chip.get_attribute("aria-label").startswith("pod nginx-")
    chip.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#detail:not([hidden]) #detail-h:has-text('pod/nginx-')")
    page.keyboard.press("Escape")
    page.wait_for_selector("#detail", state="hidden")


def test_timeline_shows_the_deployments_steps_in_order(admin_page: Any,
                                                         cluster: Cluster) -> None:
    page = admin_page
    page.goto(cluster.dashboard_url + "/#/timeline")
    page.fill("#tl-kind", "deployment")
    page.fill("#tl-name", "nginx")
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("#tl-chart .step")
    rows = page.locator("#tl-chart .step .label").all_inner_texts()
    assert rows[0].startswith("deployment/nginx created: 5 replicas")
    assert any("ScalingReplicaSet" in r for r in rows)
    rs = next(i for i, r in enumerate(rows) if r.startswith("replicaset/nginx-"))
    pods = [i for i, r in enumerate(rows) if r.startswith("pod/nginx-")]
    assert len(pods) == 5 and rs < pods[0]
    # one pod's steps: each there, in the order they happened (offsets never go back)
    first = rows[pods[0]:pods[1]]
    for step in ("Scheduled", "Created", "Started", "Ready"):
        assert any(r.startswith(step) for r in first), (step, first)
    idx = [next(i for i, r in enumerate(first) if r.startswith(s))
           for s in ("Created", "Started", "Ready")]
    assert idx == sorted(idx), first
    offsets = page.eval_on_selector_all(
        "#tl-chart .step", "els => els.map(e => [Number(e.dataset.depth), "
        "parseFloat((e.children[1].textContent || '+0').slice(1))])")
    pod_rows = offsets[pods[0] + 1:pods[1]]
    assert [o for _, o in pod_rows] == sorted(o for _, o in pod_rows), pod_rows
    # a rolling update: the open timeline redraws itself, old and new ReplicaSets side by side
    cluster.minictl("set", "image", "deployment/nginx", "nginx=nginx:1.22", "-n",
                    cluster.namespace)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#tl-chart .step .label')].filter(e => "
        "/^replicaset\\/nginx-.*\\(revision 2\\): 5\\/5 ready/.test(e.textContent)).length === 1",
        timeout=60000)
    rows = page.locator("#tl-chart .step .label").all_inner_texts()
    assert len([r for r in rows if r.startswith("replicaset/nginx-")]) == 2, rows
    shot(page, "timeline")


def test_yaml_edit_takes_effect_and_validation_errors_show(admin_page: Any,
                                                           cluster: Cluster) -> None:
    page, ns = admin_page, cluster.namespace
    page.goto(cluster.dashboard_url + "/#/resources")
    page.select_option("#res-kind", "deployments")
    page.get_by_role("button", name="List").click()
    page.locator('tr[data-name="nginx"] a', has_text="YAML").click()
    page.wait_for_function("() => window.__dashboard.yamlLoads > 0")
    assert "replicas: 5" in page.input_value("#yaml-text")
    text = page.input_value("#yaml-text")
    page.fill("#yaml-text", text.replace("replicas: 5", "replicas: 2", 1))
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("#yaml-ok:has-text('saved')")
    page.goto(cluster.dashboard_url + "/#/topology")
    running_pods(page, f"Deployment/{ns}/nginx", 2)
    # an invalid value: the API server's 422 and its cause are shown, not swallowed
    loads = page.evaluate("() => window.__dashboard.yamlLoads")
    page.goto(cluster.dashboard_url + "/#/yaml")
    page.wait_for_function("(n) => window.__dashboard.yamlLoads > n", arg=loads)
    assert "replicas: 2" in page.input_value("#yaml-text")
    text = page.input_value("#yaml-text")
    page.fill("#yaml-text", text.replace("replicas: 2", "replicas: -1", 1))
    page.get_by_role("button", name="Save").click()
    err = page.locator("#yaml-error")
    err.wait_for()
    page.wait_for_function("() => document.querySelector('#yaml-error').textContent.length > 0")
    msg = err.inner_text()
    assert "spec.replicas" in msg and "422" in msg, msg
    shot(page, "yaml-invalid")
    # broken YAML is refused by the dashboard itself, with the line
    page.fill("#yaml-text", "metadata: [\n")
    page.get_by_role("button", name="Save").click()
    page.wait_for_function(
        "() => document.querySelector('#yaml-error').textContent.includes('parsing YAML')")


def test_logs_and_exec_show_a_containers_output(admin_page: Any, cluster: Cluster) -> None:
    page, ns = admin_page, cluster.namespace
    cluster.minictl("run", "talker", "--image=busybox", "-n", ns, "--",
                    "sh", "-c", "echo dashboard-log-line; sleep 3600")
    page.goto(cluster.dashboard_url + "/#/topology")
    page.wait_for_selector(f'#nodes .pod[data-key="Pod/{ns}/talker"][data-status="Running"]')
    page.click(f'#nodes .pod[data-key="Pod/{ns}/talker"]')
    page.locator("#detail-actions").get_by_role("link", name="Logs").click()
    page.wait_for_selector("#logs-out:has-text('dashboard-log-line')")
    shot(page, "logs")
    page.goto(cluster.dashboard_url + "/#/terminal")
    page.fill("#term-pod", "talker")
    page.fill("#term-command", "sh -c 'echo dashboard-exec-ok'")
    page.get_by_role("button", name="Connect").click()
    page.wait_for_selector(".xterm-rows:has-text('dashboard-exec-ok')")
    page.wait_for_selector(".xterm-rows:has-text('[exit 0]')")
    shot(page, "exec")


def test_a_user_limited_to_one_namespace_sees_only_it(browser: Any, cluster: Cluster) -> None:
    team = cluster.limited_namespace
    cluster.minictl("create", "deployment", "web", "--replicas=2", "-n", team)
    page = sign_in(browser, cluster, ALICE.token, team)
    try:
        assert page.inner_text("#whoami") == "alice"
        running_pods(page, f"Deployment/{team}/web", 2)
        keys = page.eval_on_selector_all(".pod[data-key]", "els => els.map(e => e.dataset.key)")
        assert keys and all(k.startswith(f"Pod/{team}/") for k in keys), keys
        # Nodes are cluster-scoped: alice may not list them, and the page says so
        assert "Node" in page.inner_text("#topo-denied")
        # the other namespace's Deployment is not hers to read
        page.goto(cluster.dashboard_url + "/#/timeline")
        page.fill("#namespace", cluster.namespace)
        page.dispatch_event("#namespace", "change")
        page.fill("#tl-name", "nginx")
        page.get_by_role("button", name="Show").click()
        page.wait_for_function(
            "() => document.querySelector('#tl-error').textContent.includes('403')")
        shot(page, "rbac-limited")
    finally:
        page.context.close()


def test_a_bad_token_is_refused(browser: Any, cluster: Cluster) -> None:
    page = browser.new_page()
    try:
        page.goto(cluster.dashboard_url + "/")
        page.get_by_label("Bearer token").fill("not-a-token")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_function(
            "() => document.querySelector('#login-error').textContent.includes('401')")
        assert page.locator("#tabs").is_hidden()
    finally:
        page.close()


def test_events_scale_and_delete_from_the_page(admin_page: Any, cluster: Cluster) -> None:
    page, ns = admin_page, cluster.namespace
    page.goto(cluster.dashboard_url + "/#/events")
    page.fill("#ev-filter", "ScalingReplicaSet")
    page.wait_for_selector("#ev-body tr:has-text('Scaled up replica set nginx-')")
    assert all("ScalingReplicaSet" in r for r in page.locator("#ev-body tr").all_inner_texts())
    page.goto(cluster.dashboard_url + "/#/resources")
    page.select_option("#res-kind", "deployments")
    page.get_by_role("button", name="List").click()
    row = page.locator('tr[data-name="nginx"]')
    assert "nginx" in row.inner_text()
    page.once("dialog", lambda d: d.accept("1"))
    row.get_by_role("button", name="Scale").click()
    page.goto(cluster.dashboard_url + "/#/topology")
    running_pods(page, f"Deployment/{ns}/nginx", 1)
    page.goto(cluster.dashboard_url + "/#/resources")
    page.get_by_role("button", name="List").click()
    page.locator('tr[data-name="nginx"] select').select_option("Foreground")
    page.once("dialog", lambda d: d.accept())
    page.locator('tr[data-name="nginx"]').get_by_role("button", name="Delete").click()
    page.goto(cluster.dashboard_url + "/#/topology")
    page.wait_for_function(
        "(k) => !document.querySelector(`[data-workload=\"${k}\"]`) && "
        "!document.querySelector('.pod[data-key^=\"Pod/" + ns + "/nginx-\"]')",
        arg=f"Deployment/{ns}/nginx", timeout=30000)


def test_guards_without_a_browser(cluster: Cluster) -> None:
    import httpx

    with httpx.Client(base_url=cluster.dashboard_url, timeout=10) as c:
        # no session: a Status 401, never the API server's data
        r = c.get("/k8s/api/v1/namespaces")
        assert r.status_code == 401 and r.json()["kind"] == "Status"
        # a change without the dashboard's header (a cross-site form) is refused
        r = c.post("/api/login", json={"token": cluster.api.admin_token.token})
        assert r.status_code == 403
        r = c.post("/api/login", json={"token": cluster.api.admin_token.token},
                   headers={"X-Requested-By": "minik8s-dashboard"})
        assert r.status_code == 200 and r.json()["user"] == "admin-token"
        assert "httponly" in r.headers["set-cookie"].lower()
        assert "samesite=strict" in r.headers["set-cookie"].lower()
        # only API paths pass through
        assert c.get("/k8s/etc/passwd").status_code == 404
        r = c.get("/k8s/api/v1/namespaces/" + cluster.namespace)
        assert r.status_code == 200 and r.json()["metadata"]["name"] == cluster.namespace
        r = c.post("/api/logout", headers={"X-Requested-By": "minik8s-dashboard"})
        assert r.status_code == 200
        assert c.get("/k8s/api/v1/namespaces").status_code == 401


def test_cluster_view_shows_health_revision_and_charts(admin_page: Any,
                                                      cluster: Cluster) -> None:
    page = admin_page
    page.goto(cluster.dashboard_url + "/#/cluster")
    page.wait_for_selector("#cl-body:has-text('readyz: ok')")
    assert "etcd revision" in page.inner_text("#cl-body")
    assert "Leader leases" in page.inner_text("#cl-body")
    # the second sample (5 s later) gives the first rate: the charts draw
    page.wait_for_selector("#cl-body svg polyline", timeout=20000)
    shot(page, "cluster")
