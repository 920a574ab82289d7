// minik8s dashboard: plain ES module, no build step. Live views come from the dashboard's
// server-sent events (informers opened with the signed-in user's credentials); DOM updates
// are batched per animation frame.

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) =>
  ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const CSRF = { "X-Requested-By": "minik8s-dashboard" };
const TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
// Pods per node box beyond which the box groups its pods by workload and status.
const GROUP_ABOVE = 150;

const KINDS = [
  ["pods", "v1", true, "Pod"], ["deployments", "apps/v1", true, "Deployment"],
  ["replicasets", "apps/v1", true, "ReplicaSet"], ["statefulsets", "apps/v1", true, "StatefulSet"],
  ["daemonsets", "apps/v1", true, "DaemonSet"], ["jobs", "batch/v1", true, "Job"],
  ["cronjobs", "batch/v1", true, "CronJob"], ["services", "v1", true, "Service"],
  ["endpoints", "v1", true, "Endpoints"], ["ingresses", "networking.k8s.io/v1", true, "Ingress"],
  ["configmaps", "v1", true, "ConfigMap"], ["secrets", "v1", true, "Secret"],
  ["serviceaccounts", "v1", true, "ServiceAccount"], ["persistentvolumeclaims", "v1", true, "PersistentVolumeClaim"],
  ["horizontalpodautoscalers", "autoscaling/v2", true, "HorizontalPodAutoscaler"],
  ["networkpolicies", "networking.k8s.io/v1", true, "NetworkPolicy"],
  ["roles", "rbac.authorization.k8s.io/v1", true, "Role"],
  ["rolebindings", "rbac.authorization.k8s.io/v1", true, "RoleBinding"],
  ["events", "v1", true, "Event"], ["nodes", "v1", false, "Node"],
  ["namespaces", "v1", false, "Namespace"], ["persistentvolumes", "v1", false, "PersistentVolume"],
  ["clusterroles", "rbac.authorization.k8s.io/v1", false, "ClusterRole"],
  ["clusterrolebindings", "rbac.authorization.k8s.io/v1", false, "ClusterRoleBinding"],
  ["customresourcedefinitions", "apiextensions.k8s.io/v1", false, "CustomResourceDefinition"],
];
const SCALABLE = new Set(["deployments", "replicasets", "statefulsets"]);
const KIND_PLURAL = Object.fromEntries(KINDS.map((k) => [k[3], k[0]]));

function apiPath(plural, ns, name) {
  const k = KINDS.find((x) => x[0] === plural);
  const gv = k ? k[1] : "v1";
  let p = gv.includes("/") ? `/apis/${gv}` : `/api/${gv}`;
  if (k && k[2] && ns) p += `/namespaces/${encodeURIComponent(ns)}`;
  p += `/${plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  return p;
}

const state = {
  ns: localStorage.getItem("ns") || "",
  topo: new Map(), // key -> summary
  events: new Map(),
  feeds: {},
  dirty: new Set(),
  detail: null,
  // topology keys changed since the last redraw; null: redraw it all
  topoChanged: null,
};

// ---- requests ---------------------------------------------------------------------

async function api(method, path, { body, accept, contentType, raw } = {}) {
  const headers = { ...CSRF };
  if (accept) headers.Accept = accept;
  if (body !== undefined) headers["Content-Type"] = contentType || "application/json";
  const r = await fetch(path, { method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : (typeof body === "string" ? body : JSON.stringify(body)) });
  if (r.status === 401 && !path.startsWith("/api/login")) { showLogin(); }
  const text = await r.text();
  let data = text;
  if (!raw) { try { data = JSON.parse(text); } catch { /* text */ } }
  return { ok: r.ok, status: r.status, data };
}

function statusMessage(res) {
  const d = res.data;
  if (d && typeof d === "object" && d.kind === "Status") {
    let m = `${d.message || d.reason} (${d.code}${d.reason ? " " + d.reason : ""})`;
    const causes = (d.details && d.details.causes) || [];
    for (const c of causes) m += `\n- ${c.field ? c.field + ": " : ""}${c.message || c.reason}`;
    return m;
  }
  return `${res.status}: ${typeof d === "string" ? d : JSON.stringify(d)}`;
}

// ---- sign-in ----------------------------------------------------------------------

function showLogin() {
  closeFeeds();
  for (const v of document.querySelectorAll(".view")) v.hidden = true;
  $("login").hidden = false;
  $("tabs").hidden = true;
  $("logout").hidden = true;
  $("whoami").textContent = "";
  $("token").focus();
}

async function start() {
  const res = await api("GET", "/api/session");
  if (!res.ok) { showLogin(); return; }
  signedIn(res.data);
}

function signedIn(who) {
  $("login").hidden = true;
  $("tabs").hidden = false;
  $("whoami").textContent = who.user ? `${who.user}` : "";
  $("whoami").title = (who.groups || []).join(", ");
  $("logout").hidden = who.mode === "single-user";
  if (!state.ns && who.namespace) state.ns = who.namespace;
  $("namespace").value = state.ns;
  loadNamespaces();
  route();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  const res = await api("POST", "/api/login", { body: { token: $("token").value.trim() } });
  if (!res.ok) { $("login-error").textContent = statusMessage(res); return; }
  $("token").value = "";
  signedIn(res.data);
});

$("logout").addEventListener("click", async () => {
  await api("POST", "/api/logout");
  showLogin();
});

async function loadNamespaces() {
  const res = await api("GET", "/k8s/api/v1/namespaces");
  if (!res.ok) return;
  $("namespaces").innerHTML = res.data.items.map((n) => `<option value="${esc(n.metadata.name)}">`).join("");
}

$("namespace").addEventListener("change", () => {
  state.ns = $("namespace").value.trim();
  localStorage.setItem("ns", state.ns);
  closeFeeds();
  route();
});

// ---- live feeds -------------------------------------------------------------------

function closeFeeds() {
  for (const f of Object.values(state.feeds)) f.close();
  state.feeds = {};
  setLive();
}

function setLive() {
  const n = Object.values(state.feeds).filter((f) => f.readyState === 1).length;
  $("live").textContent = n ? "live" : "offline";
  $("live").classList.toggle("on", !!n);
}

function openFeed(name, kinds, store, onChange) {
  if (state.feeds[name]) return;
  const q = new URLSearchParams({ kinds: kinds.join(","), namespace: state.ns });
  const es = new EventSource(`/api/feed?${q}`);
  state.feeds[name] = es;
  es.onopen = setLive;
  es.onerror = () => { setLive(); };
  es.addEventListener("snapshot", (m) => {
    const d = JSON.parse(m.data);
    store.clear();
    for (const it of d.items) store.set(it.key, it);
    onChange(d);
    setLive();
  });
  es.addEventListener("delta", (m) => {
    const d = JSON.parse(m.data);
    for (const it of d.items) store.set(it.key, it);
    for (const k of d.deleted) store.delete(k);
    onChange(d);
  });
}

let frame = 0;
function schedule(what) {
  state.dirty.add(what);
  if (!frame) frame = requestAnimationFrame(flush);
}
function flush() {
  frame = 0;
  const d = state.dirty;
  state.dirty = new Set();
  if (d.has("topology") && !$("view-topology").hidden) {
    const keys = state.topoChanged;
    state.topoChanged = new Set();
    if (!keys || !patchTopology(keys)) renderTopology();
  }
  if (d.has("events") && !$("view-events").hidden) renderEvents();
  if (d.has("topology") && !$("view-timeline").hidden) timelineChanged();
  if (d.has("topology") && state.detail) renderDetail();
}

// ---- topology ---------------------------------------------------------------------

function podClass(p) {
  if (p.deleting) return "s-terminating";
  const s = p.status;
  if (s === "Running") return p.isReady ? "s-running" : "s-running unready";
  if (s === "Completed" || s === "Succeeded") return "s-succeeded";
  if (["Failed", "Error", "CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "OOMKilled",
       "CreateContainerError", "Evicted"].includes(s) || p.phase === "Failed") return "s-failed";
  return "s-pending";
}

function podChip(p) {
  const label = `pod ${p.name}: ${p.status}, ready ${p.ready}, restarts ${p.restarts}` +
    (p.node ? `, on ${p.node}` : "");
  return `<button type="button" class="pod ${podClass(p)}" data-key="${esc(p.key)}" ` +
    `data-status="${esc(p.status)}" data-ready="${esc(p.ready)}" title="${esc(label)}" ` +
    `aria-label="${esc(label)}"></button>`;
}

function workloadOf(p) {
  const o = p.owner || "";
  if (o.startsWith("ReplicaSet/")) {
    const rs = state.topo.get(o);
    if (rs && rs.owner) return rs.owner;
  }
  return o || "(no owner)";
}

function podGroups(pods) {
  const groups = new Map();
  for (const p of pods) {
    const k = `${workloadOf(p)}|${podClass(p)}`;
    groups.set(k, (groups.get(k) || 0) + 1);
  }
  return [...groups].map(([k, n]) => {
    const [w, cls] = k.split("|");
    const name = w.split("/").pop();
    return `<span class="group" tabindex="0" role="note" aria-label="${esc(`${n} pods of ${w}`)}">` +
      `<span class="pod ${cls}" aria-hidden="true"></span> ${esc(name)} ×${n}</span>`;
  }).join(" ");
}

function byKind(kind) {
  const out = [];
  for (const v of state.topo.values()) if (v.kind === kind) out.push(v);
  return out.sort((a, b) => (a.ns + a.name).localeCompare(b.ns + b.name));
}

// The fast path of a redraw: only pods whose chips are all on the page, on the same node,
// changed (a status, a readiness, a restart); their chips are updated in place.
function patchTopology(keys) {
  const work = [];
  for (const k of keys) {
    const o = state.topo.get(k);
    if (!o || o.kind !== "Pod") return false;
    const els = document.querySelectorAll(`.pod[data-key="${CSS.escape(k)}"]`);
    const box = els.length ? els[0].closest("section.node") : null;
    if (!box || box.dataset.node !== (o.node || "")) return false;
    work.push([o, els]);
  }
  for (const [o, els] of work) {
    const html = podChip(o);
    for (const el of els) {
      const t = document.createElement("template");
      t.innerHTML = html;
      const fresh = t.content.firstChild;
      for (const a of ["class", "data-status", "data-ready", "title", "aria-label"]) el.setAttribute(a, fresh.getAttribute(a));
    }
  }
  renderServices(byKind("Pod"));
  return true;
}

function renderTopology() {
  const focused = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.key : null;
  const pods = byKind("Pod");
  const nodes = byKind("Node");
  const perNode = new Map(nodes.map((n) => [n.name, []]));
  const unscheduled = [];
  for (const p of pods) {
    if (!p.node) unscheduled.push(p);
    else { if (!perNode.has(p.node)) perNode.set(p.node, []); perNode.get(p.node).push(p); }
  }
  const box = (title, status, list, key, node) => {
    const bad = status && status !== "Ready";
    const inner = list.length > GROUP_ABOVE ? podGroups(list) : list.map(podChip).join("");
    return `<section class="node${bad ? " notready" : ""}" data-node="${esc(node)}" aria-label="${esc(title)}">` +
      `<h4>${key ? `<button type="button" class="link" data-key="${esc(key)}">${esc(title)}</button>` : esc(title)}` +
      `<small>${esc(status || "")} · ${list.length} pods</small></h4>` +
      `<div class="pods">${inner}</div></section>`;
  };
  let html = "";
  for (const [name, list] of perNode) {
    const n = state.topo.get(`Node//${name}`);
    html += box(name, n ? n.status : "", list, n ? n.key : null, name);
  }
  if (unscheduled.length) html += box("Not scheduled", "", unscheduled, null, "");
  $("nodes").innerHTML = html || "<p>No nodes visible.</p>";

  // Workloads: Deployment -> ReplicaSets -> Pods; other controllers -> Pods.
  const podsByOwner = new Map();
  for (const p of pods) {
    const o = p.owner || "";
    if (!podsByOwner.has(o)) podsByOwner.set(o, []);
    podsByOwner.get(o).push(p);
  }
  const chips = (list) => list.length > GROUP_ABOVE * 2 ? podGroups(list) : list.map(podChip).join("");
  const rsByOwner = new Map();
  for (const rs of byKind("ReplicaSet")) {
    const o = rs.owner || "";
    if (!rsByOwner.has(o)) rsByOwner.set(o, []);
    rsByOwner.get(o).push(rs);
  }
  const link = (o) => `<button type="button" class="link" data-key="${esc(o.key)}">${esc(o.kind.toLowerCase())}/${esc(o.name)}</button>`;
  let wl = "";
  for (const d of byKind("Deployment")) {
    wl += `<div class="wl" data-workload="${esc(d.key)}">${link(d)} <small>${d.ready}/${d.replicas} ready${state.ns ? "" : ` · ${esc(d.ns)}`}</small>`;
    for (const rs of rsByOwner.get(d.key) || []) {
      const ps = podsByOwner.get(rs.key) || [];
      if (!ps.length && !rs.replicas) continue;
      wl += `<div class="rs">${link(rs)} <small>rev ${esc(rs.revision)} · ${rs.ready}/${rs.replicas}</small> <span class="pods">${chips(ps)}</span></div>`;
    }
    wl += "</div>";
  }
  for (const kind of ["StatefulSet", "DaemonSet", "Job"]) {
    for (const w of byKind(kind)) {
      const extra = kind === "Job" ? `${esc(w.status)} ${esc(w.completions)}` : `${w.ready}/${w.replicas} ready`;
      wl += `<div class="wl" data-workload="${esc(w.key)}">${link(w)} <small>${extra}</small> <span class="pods">${chips(podsByOwner.get(w.key) || [])}</span></div>`;
    }
  }
  for (const rs of byKind("ReplicaSet")) {
    if (rs.owner) continue;
    wl += `<div class="wl" data-workload="${esc(rs.key)}">${link(rs)} <small>${rs.ready}/${rs.replicas}</small> <span class="pods">${chips(podsByOwner.get(rs.key) || [])}</span></div>`;
  }
  $("workloads").innerHTML = wl || "<p>No workloads.</p>";

  renderServices(pods);
  $("topo-count").textContent = `${nodes.length} nodes · ${pods.length} pods`;
  if (focused) {
    const el = document.querySelector(`[data-key="${CSS.escape(focused)}"]`);
    if (el) el.focus();
  }
}

function renderServices(pods) {
  const chips = (list) => list.length > GROUP_ABOVE * 2 ? podGroups(list) : list.map(podChip).join("");
  const link = (o) => `<button type="button" class="link" data-key="${esc(o.key)}">${esc(o.kind.toLowerCase())}/${esc(o.name)}</button>`;
  // Service -> its EndpointSlices' endpoints (ready/all), and the pods they point at
  const slices = new Map();
  for (const es of byKind("EndpointSlice")) {
    const k = `${es.ns}/${es.service}`;
    const acc = slices.get(k) || { ready: 0, total: 0, pods: new Set() };
    acc.ready += es.readyCount; acc.total += es.total;
    for (const p of es.pods || []) acc.pods.add(`Pod/${es.ns}/${p}`);
    slices.set(k, acc);
  }
  let sv = "";
  for (const s of byKind("Service")) {
    const e = slices.get(`${s.ns}/${s.name}`) || { ready: 0, total: 0, pods: new Set() };
    const backing = pods.filter((p) => e.pods.has(p.key));
    sv += `<div class="wl" data-service="${esc(s.key)}" data-endpoints="${e.ready}/${e.total}">${link(s)} <small>${esc(s.type)} ${esc(s.clusterIP)} ${esc(s.ports)} → ${e.ready}/${e.total} endpoints ready</small> <span class="pods">${chips(backing)}</span></div>`;
  }
  $("services").innerHTML = sv || "<p>No services.</p>";
}

document.addEventListener("click", (e) => {
  const t = e.target.closest("[data-key]");
  if (t && t.closest("#nodes, #workloads, #services, #detail-body")) openDetail(t.dataset.key);
});

// ---- detail -----------------------------------------------------------------------

function openDetail(key) {
  state.detail = key;
  renderDetail();
  $("detail").hidden = false;
  $("detail").focus();
}
$("detail-close").addEventListener("click", () => { state.detail = null; $("detail").hidden = true; });
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !$("detail").hidden) { state.detail = null; $("detail").hidden = true; }
});

function renderDetail() {
  const o = state.topo.get(state.detail);
  if (!o) { $("detail-h").textContent = `${state.detail} (gone)`; $("detail-body").innerHTML = ""; $("detail-actions").innerHTML = ""; return; }
  $("detail-h").textContent = `${o.kind.toLowerCase()}/${o.name}`;
  const skip = new Set(["key", "kind", "labels", "selector", "containers"]);
  let dl = "";
  for (const [k, v] of Object.entries(o)) {
    if (skip.has(k) || v === "" || v === undefined) continue;
    dl += `<dt>${esc(k)}</dt><dd>${esc(typeof v === "object" ? JSON.stringify(v) : v)}</dd>`;
  }
  if (o.labels) dl += `<dt>labels</dt><dd>${esc(Object.entries(o.labels).map(([k, v]) => `${k}=${v}`).join(", "))}</dd>`;
  $("detail-body").innerHTML = dl;
  const plural = KIND_PLURAL[o.kind];
  let acts = `<a href="#/yaml" data-act="yaml">YAML</a> <a href="#/timeline" data-act="timeline">Timeline</a>`;
  if (o.kind === "Pod") acts += ` <a href="#/logs" data-act="logs">Logs</a> <a href="#/terminal" data-act="terminal">Terminal</a>`;
  $("detail-actions").innerHTML = acts;
  for (const a of $("detail-actions").querySelectorAll("a")) {
    a.onclick = () => {
      const act = a.dataset.act;
      if (act === "yaml") state.yamlPath = apiPath(plural, o.ns, o.name);
      if (act === "timeline") { $("tl-kind").value = o.kind.toLowerCase(); $("tl-name").value = o.name; state.tlAuto = true; }
      if (act === "logs") { $("logs-pod").value = o.name; state.logsAuto = true; }
      if (act === "terminal") { $("term-pod").value = o.name; }
    };
  }
}

// ---- resources --------------------------------------------------------------------

$("res-kind").innerHTML = KINDS.map((k) => `<option value="${k[0]}">${k[0]}</option>`).join("");
$("res-form").addEventListener("submit", (e) => { e.preventDefault(); listResources(); });

async function listResources() {
  const plural = $("res-kind").value;
  const q = new URLSearchParams();
  if ($("res-labels").value.trim()) q.set("labelSelector", $("res-labels").value.trim());
  const res = await api("GET", `/k8s${apiPath(plural, state.ns)}?${q}`, { accept: TABLE });
  $("res-error").textContent = res.ok ? "" : statusMessage(res);
  if (!res.ok) { $("res-table").innerHTML = ""; return; }
  const t = res.data;
  const cols = (t.columnDefinitions || []).map((c, i) => [c, i]).filter(([c]) => !c.priority);
  const namespaced = KINDS.find((k) => k[0] === plural)[2];
  let html = `<table class="grid" aria-label="${esc(plural)}"><thead><tr>${!state.ns && namespaced ? "<th>Namespace</th>" : ""}` +
    cols.map(([c]) => `<th title="${esc(c.description)}">${esc(c.name.toUpperCase())}</th>`).join("") + "<th>Actions</th></tr></thead><tbody>";
  for (const row of t.rows || []) {
    const md = (row.object && row.object.metadata) || {};
    const ns = md.namespace || "";
    html += `<tr data-name="${esc(md.name)}">${!state.ns && namespaced ? `<td>${esc(ns)}</td>` : ""}` +
      cols.map(([, i]) => `<td>${esc(row.cells[i])}</td>`).join("") +
      `<td class="bar"><a href="#/yaml" data-yaml="${esc(apiPath(plural, ns, md.name))}">YAML</a>` +
      (SCALABLE.has(plural) ? ` <button type="button" data-scale="${esc(apiPath(plural, ns, md.name))}">Scale</button>` : "") +
      ` <label class="sr" for="del-${esc(md.name)}">cascade</label><select id="del-${esc(md.name)}" aria-label="cascade for ${esc(md.name)}"><option>Background</option><option>Foreground</option><option>Orphan</option></select>` +
      ` <button type="button" data-delete="${esc(apiPath(plural, ns, md.name))}">Delete</button></td></tr>`;
  }
  html += "</tbody></table>";
  if (!(t.rows || []).length) html += `<p>No ${esc(plural)} found${state.ns ? ` in ${esc(state.ns)}` : ""}.</p>`;
  $("res-table").innerHTML = html;
}

$("res-table").addEventListener("click", async (e) => {
  const y = e.target.closest("[data-yaml]");
  if (y) { state.yamlPath = y.dataset.yaml; return; }
  const s = e.target.closest("[data-scale]");
  if (s) {
    const n = prompt("Replicas", "1");
    if (n === null) return;
    const res = await api("PATCH", `/k8s${s.dataset.scale}/scale`, {
      body: { spec: { replicas: Number(n) } }, contentType: "application/merge-patch+json" });
    $("res-error").textContent = res.ok ? "" : statusMessage(res);
    listResources();
    return;
  }
  const d = e.target.closest("[data-delete]");
  if (d) {
    const policy = d.parentElement.querySelector("select").value;
    if (!confirm(`Delete ${d.dataset.delete} (${policy})?`)) return;
    const res = await api("DELETE", `/k8s${d.dataset.delete}`, {
      body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: policy } });
    $("res-error").textContent = res.ok ? "" : statusMessage(res);
    listResources();
  }
});

// ---- YAML -------------------------------------------------------------------------

async function loadYaml() {
  $("yaml-error").textContent = ""; $("yaml-ok").textContent = "";
  $("yaml-path").textContent = state.yamlPath || "";
  if (!state.yamlPath) return;
  const res = await api("GET", `/api/yaml?path=${encodeURIComponent(state.yamlPath)}`, { raw: true });
  if (!res.ok) { $("yaml-error").textContent = statusMessage({ ...res, data: safeJson(res.data) }); return; }
  $("yaml-text").value = res.data;
  state.yamlOriginal = res.data;
  state.yamlLoads = (state.yamlLoads || 0) + 1;
}
function safeJson(t) { try { return JSON.parse(t); } catch { return t; } }
$("yaml-reload").addEventListener("click", loadYaml);
$("yaml-save").addEventListener("click", async () => {
  $("yaml-error").textContent = ""; $("yaml-ok").textContent = "";
  const res = await api("PUT", `/api/yaml?path=${encodeURIComponent(state.yamlPath)}`, {
    body: { original: state.yamlOriginal || "", yaml: $("yaml-text").value } });
  if (!res.ok) { $("yaml-error").textContent = statusMessage(res); $("yaml-text").setAttribute("aria-invalid", "true"); return; }
  $("yaml-text").removeAttribute("aria-invalid");
  $("yaml-ok").textContent = `saved (resourceVersion ${res.data.metadata.resourceVersion})`;
  loadYaml().then(() => { $("yaml-ok").textContent = `saved (resourceVersion ${res.data.metadata.resourceVersion})`; });
});

// ---- events -----------------------------------------------------------------------

function renderEvents() {
  const f = $("ev-filter").value.toLowerCase();
  const type = $("ev-type").value;
  const list = [...state.events.values()]
    .filter((e) => (!type || e.type === type) &&
      (!f || `${e.reason} ${e.object} ${e.message} ${e.source}`.toLowerCase().includes(f)))
    .sort((a, b) => (b.last || "").localeCompare(a.last || "")).slice(0, 500);
  $("ev-body").innerHTML = list.map((e) => `<tr class="${esc(e.type)}"><td>${esc(e.last)}</td><td>${esc(e.type)}</td>` +
    `<td>${esc(e.reason)}</td><td>${esc(e.object)}</td><td>${esc(e.source)}</td><td>${esc(e.message)}${e.count > 1 ? ` (x${e.count})` : ""}</td></tr>`).join("");
}
$("ev-filter").addEventListener("input", () => schedule("events"));
$("ev-type").addEventListener("change", () => schedule("events"));

// ---- timeline ---------------------------------------------------------------------

let tlPending = null;
function timelineChanged() {
  if (!$("tl-name").value || tlPending) return;
  tlPending = setTimeout(() => { tlPending = null; showTimeline(); }, 500);
}
$("tl-form").addEventListener("submit", (e) => { e.preventDefault(); showTimeline(); });

function flatten(step, depth, out) {
  out.push({ ...step, depth, t: step.at ? Date.parse(step.at) : null });
  for (const c of step.children) flatten(c, depth + 1, out);
  return out;
}
function lastAt(step) {
  let m = step.at ? Date.parse(step.at) : 0;
  for (const c of step.children) m = Math.max(m, lastAt(c));
  return m;
}

async function showTimeline() {
  const q = new URLSearchParams({ kind: $("tl-kind").value.trim(), name: $("tl-name").value.trim(), namespace: state.ns || "default" });
  const res = await api("GET", `/api/trace?${q}`);
  $("tl-error").textContent = res.ok ? "" : statusMessage(res);
  if (!res.ok) { $("tl-chart").innerHTML = ""; return; }
  const rows = flatten(res.data, 0, []);
  const t0 = rows[0].t || Math.min(...rows.filter((r) => r.t).map((r) => r.t));
  const t1 = Math.max(t0 + 1000, ...rows.filter((r) => r.t).map((r) => r.t));
  const span = t1 - t0;
  const pct = (t) => Math.max(0, Math.min(100, ((t - t0) / span) * 100));
  const ends = new Map();
  (function walk(s) { ends.set(s, lastAt(s)); s.children.forEach(walk); })(res.data);
  let html = `<div class="row" role="row"><strong>Step</strong><strong>+offset</strong><strong>0 → ${((span) / 1000).toFixed(1)}s</strong></div>`;
  const stepsAll = [];
  (function walk(s, depth) { stepsAll.push([s, depth]); s.children.forEach((c) => walk(c, depth + 1)); })(res.data, 0);
  for (const [s, depth] of stepsAll) {
    const t = s.at ? Date.parse(s.at) : null;
    const off = t ? `+${((t - t0) / 1000).toFixed(1)}s` : "";
    let track = "";
    if (t && s.children.length) {
      const end = ends.get(s);
      track = `<span class="bar" style="left:${pct(t)}%;width:${Math.max(0.5, pct(end) - pct(t))}%"></span>`;
    } else if (t) track = `<span class="mark" style="left:calc(${pct(t)}% - 3px)"></span>`;
    html += `<div class="row step" role="row" data-depth="${depth}"><span class="label${s.warning ? " warn" : ""}" style="padding-left:${depth * 14}px" title="${esc(s.text)}">${esc(s.text)}` +
      `${s.component ? ` <span class="comp">[${esc(s.component)}]</span>` : ""}</span><span>${off}</span><span class="track">${track}</span></div>`;
  }
  $("tl-chart").innerHTML = html;
}

// ---- logs -------------------------------------------------------------------------

let logSource = null;
function stopLogs() { if (logSource) { logSource.close(); logSource = null; } }
$("logs-stop").addEventListener("click", stopLogs);
$("logs-form").addEventListener("submit", (e) => { e.preventDefault(); showLogs(); });
function showLogs() {
  stopLogs();
  $("logs-out").textContent = ""; $("logs-error").textContent = "";
  const q = new URLSearchParams({ namespace: state.ns || "default", pod: $("logs-pod").value.trim(),
    container: $("logs-container").value.trim(), follow: $("logs-follow").checked ? "1" : "0", tailLines: "1000" });
  const es = new EventSource(`/api/logs?${q}`);
  logSource = es;
  let buf = "";
  let pending = false;
  es.addEventListener("log", (m) => {
    buf += JSON.parse(m.data);
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        const out = $("logs-out");
        const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
        out.append(buf); buf = "";
        if (atEnd) out.scrollTop = out.scrollHeight;
      });
    }
  });
  es.addEventListener("failure", (m) => { $("logs-error").textContent = JSON.parse(m.data).message; stopLogs(); });
  es.addEventListener("end", stopLogs);
  es.onerror = () => { if (es.readyState === 2) stopLogs(); };
}

// ---- terminal ---------------------------------------------------------------------

let term = null; let termWs = null; let fit = null;
$("term-form").addEventListener("submit", (e) => { e.preventDefault(); connectTerminal(); });
function connectTerminal() {
  $("term-error").textContent = "";
  if (termWs) termWs.close();
  if (!term) {
    term = new window.Terminal({ convertEol: true, fontSize: 13, screenReaderMode: true });
    fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open($("term"));
    term.onData((d) => { if (termWs && termWs.readyState === 1) termWs.send(JSON.stringify({ data: d })); });
    term.onResize(({ cols, rows }) => { if (termWs && termWs.readyState === 1) termWs.send(JSON.stringify({ resize: [cols, rows] })); });
  }
  term.reset();
  fit.fit();
  const q = new URLSearchParams({ namespace: state.ns || "default", pod: $("term-pod").value.trim(), container: $("term-container").value.trim() });
  q.set("command", $("term-command").value.trim() || "sh");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/exec?${q}`);
  ws.binaryType = "arraybuffer";
  termWs = ws;
  ws.onopen = () => { ws.send(JSON.stringify({ resize: [term.cols, term.rows] })); term.focus(); };
  ws.onmessage = (m) => {
    if (typeof m.data === "string") {
      const d = JSON.parse(m.data);
      if (d.error) $("term-error").textContent = d.error;
      else term.write(`\r\n[exit ${d.exit}]\r\n`);
      return;
    }
    term.write(new Uint8Array(m.data));
  };
}

// ---- cluster ----------------------------------------------------------------------

$("cl-refresh").addEventListener("click", showCluster);
// /metrics cannot be watched: while the Cluster view is open it is read every 5 s, and the
// last 60 samples make the charts (request rate and mean latency between samples).
const samples = [];
let clusterTimer = null;
function spark(values, label, unit) {
  const w = 240, h = 40;
  const vs = values.filter((v) => Number.isFinite(v));
  if (vs.length < 2) return `<span>${esc(label)}: collecting…</span>`;
  const max = Math.max(...vs, 1e-9);
  const pts = values.map((v, i) => `${(i / (values.length - 1)) * w},${h - (Number.isFinite(v) ? v / max : 0) * (h - 2) - 1}`).join(" ");
  const last = vs[vs.length - 1];
  return `<figure class="spark"><svg width="${w}" height="${h}" role="img" aria-label="${esc(label)}: ${last.toFixed(1)} ${unit} now, max ${max.toFixed(1)}">` +
    `<polyline fill="none" stroke="#0550ae" stroke-width="1.5" points="${pts}"/></svg>` +
    `<figcaption>${esc(label)}: <strong>${last.toFixed(1)}</strong> ${unit} (max ${max.toFixed(1)})</figcaption></figure>`;
}
async function showCluster() {
  if (clusterTimer) clearTimeout(clusterTimer);
  clusterTimer = null;
  if ($("view-cluster").hidden) return;
  // the second sample 1 s after the first, so the charts start at once
  clusterTimer = setTimeout(showCluster, samples.length < 1 ? 1000 : 5000);
  const res = await api("GET", "/api/cluster");
  if (!res.ok) { $("cl-body").textContent = statusMessage(res); return; }
  const d = res.data;
  const m = d.metrics || {};
  if (d.metrics) {
    samples.push({ at: d.at, m });
    if (samples.length > 61) samples.shift();
  }
  const rate = [], latency = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i], dt = b.at - a.at;
    const dn = (b.m.apiserver_request_duration_seconds_count || 0) - (a.m.apiserver_request_duration_seconds_count || 0);
    const ds = (b.m.apiserver_request_duration_seconds_sum || 0) - (a.m.apiserver_request_duration_seconds_sum || 0);
    rate.push(dt > 0 ? ((b.m.apiserver_request_total || 0) - (a.m.apiserver_request_total || 0)) / dt : NaN);
    latency.push(dn > 0 ? (1000 * ds) / dn : 0);
  }
  const lat = m.apiserver_request_duration_seconds_count ? (1000 * m.apiserver_request_duration_seconds_sum / m.apiserver_request_duration_seconds_count).toFixed(1) : "?";
  let html = `<h3>API server ${esc(d.version ? d.version.gitVersion : "")}</h3>` +
    `<p>readyz: <strong>${d.readyz.code === 200 ? "ok" : esc(d.readyz.code)}</strong>, livez: <strong>${d.livez.code === 200 ? "ok" : esc(d.livez.code)}</strong></p>` +
    `<details><summary>checks</summary><pre>${esc(d.readyz.text)}</pre></details>` +
    (d.revision ? `<p>etcd revision: <strong>${esc(d.revision)}</strong></p>` : "") +
    (d.metrics ? `<div class="bar">${spark(rate, "requests", "/s")}${spark(latency, "mean latency", "ms")}</div>` : "");
  html += d.metrics ? `<table class="grid" aria-label="metrics"><tbody>` +
    `<tr><th>requests served</th><td>${esc(m.apiserver_request_total)}</td></tr>` +
    `<tr><th>mean request latency</th><td>${lat} ms</td></tr>` +
    `<tr><th>in-flight requests</th><td>${esc(m.apiserver_current_inflight_requests)}</td></tr>` +
    `<tr><th>stored objects</th><td>${esc(m.apiserver_storage_objects)}</td></tr>` +
    `<tr><th>API server RSS</th><td>${m.process_resident_memory_bytes ? (m.process_resident_memory_bytes / 1048576).toFixed(0) + " MiB" : "?"}</td></tr>` +
    `</tbody></table>` : `<p class="warn">/metrics: ${esc(d.metricsCode)} (not allowed for this user)</p>`;
  html += `<h3>Leader leases</h3>` + (d.leases ? `<table class="grid"><thead><tr><th>Namespace</th><th>Lease</th><th>Holder</th><th>Renewed</th></tr></thead><tbody>` +
    d.leases.map((l) => `<tr><td>${esc(l.namespace)}</td><td>${esc(l.name)}</td><td>${esc(l.holder)}</td><td>${esc(l.renewed)}</td></tr>`).join("") + "</tbody></table>"
    : `<p class="warn">leases: ${esc(d.leasesCode)} (not allowed for this user)</p>`);
  $("cl-body").innerHTML = html;
}

// ---- routing ----------------------------------------------------------------------

const TOPOLOGY = ["Node", "Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "Service", "EndpointSlice"];

function route() {
  if (!$("login").hidden) return;
  const view = (location.hash.replace(/^#\//, "") || "topology").split("?")[0];
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${view}`;
  if (view !== "topology") { state.detail = null; $("detail").hidden = true; }
  for (const a of document.querySelectorAll("#tabs a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  // the topology feed also drives the detail panel and the timeline's refresh
  openFeed("topology", TOPOLOGY, state.topo, (d) => {
    if (d.deleted === undefined || d.deleted.length || state.topoChanged === null) state.topoChanged = null;
    else for (const it of d.items) state.topoChanged.add(it.key);
    if (d.forbidden && d.forbidden.length) {
      $("topo-denied").textContent = "Not allowed to list: " + d.forbidden.map((f) => f.kind).join(", ");
    } else if (d.forbidden) $("topo-denied").textContent = "";
    schedule("topology");
  });
  if (view === "topology") { state.topoChanged = null; schedule("topology"); }
  if (view === "events") { openFeed("events", ["Event"], state.events, () => schedule("events")); schedule("events"); }
  if (view === "resources") listResources();
  if (view === "yaml") loadYaml();
  if (view === "timeline" && state.tlAuto) { state.tlAuto = false; showTimeline(); }
  if (view === "logs" && state.logsAuto) { state.logsAuto = false; showLogs(); }
  if (view === "cluster") showCluster();
}
window.addEventListener("hashchange", route);

window.__dashboard = state; // for tests and the benchmark
start();
