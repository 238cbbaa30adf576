// The Cache Management page: plain DOM code, no framework, no request to any other host.
// Every key and value is written with textContent or as a text node, never as HTML.

const TOKEN_KEY = "cachectl-token";
const REFRESH_MS = 5000;
const HISTORY = 120; // chart points kept: ten minutes at one refresh every five seconds
const TREE_ITEMS = 200; // children of one object or array shown in the value tree
const TREE_DEPTH = 32;
const SVG = "http://www.w3.org/2000/svg";

const apiBase = new URL("api/", new URL(".", document.baseURI));
const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  role: null,
  timer: null,
  history: [],
  previous: null,
  keys: { query: null, cursor: null, cursors: [], page: 0 },
  key: null, // {key} or {key_hex} of the key on view
  plan: null,
};

// -- small helpers -----------------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(n);
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function num(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "–";
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: digits });
}

function percent(ratio) {
  return ratio === null || ratio === undefined ? "–" : `${(ratio * 100).toFixed(1)} %`;
}

function ms(value) {
  return value === null || value === undefined ? "–" : `${Number(value).toFixed(2)} ms`;
}

// A key listing gives ttl_ms; older or other producers may give ttl in seconds.
function ttlMs(row) {
  if (row.ttl_ms !== undefined) return row.ttl_ms;
  if (row.ttl !== undefined && row.ttl !== null) return row.ttl < 0 ? null : row.ttl * 1000;
  return null;
}

// A TTL as the command line writes it (cli/render.py duration): 1.5s, 42s, 2h 9m, 3d 4h.
function duration(msValue) {
  if (msValue === null || msValue === undefined || msValue < 0) return "no expiry";
  const seconds = msValue / 1000;
  if (seconds < 60) return seconds < 10 ? `${Number(seconds.toPrecision(3))}s` : `${Math.round(seconds)}s`;
  let s = Math.floor(seconds);
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.slice(0, 2).join(" ");
}

// A key name that a line may break after its separators (: / . - _), not inside a word: text
// nodes with <wbr> between them (never markup made from the name).
const SEPARATORS = /([:/._-]+)/;
function breakable(text) {
  const fragment = document.createDocumentFragment();
  for (const part of String(text).split(SEPARATORS)) {
    if (!part) continue;
    fragment.append(document.createTextNode(part));
    if (SEPARATORS.test(part)) fragment.append(document.createElement("wbr"));
  }
  return fragment;
}

// Natural order: digit runs compared as numbers (page:2 before page:10), the rest by code unit.
const RUNS = /(\d+)/;
function natural(a, b) {
  const x = String(a).split(RUNS);
  const y = String(b).split(RUNS);
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
    if (x[i] === y[i]) continue;
    if (i % 2 === 1) {
      // Digit runs: by value (by length first, without leading zeros: no float rounding).
      const p = x[i].replace(/^0+(?=\d)/, "");
      const q = y[i].replace(/^0+(?=\d)/, "");
      if (p.length !== q.length) return p.length - q.length;
      if (p !== q) return p < q ? -1 : 1;
      continue; // equal values written with other zeros: compared by the rest, then as text
    }
    return x[i] < y[i] ? -1 : 1;
  }
  if (x.length !== y.length) return x.length - y.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function detailText(data, fallback) {
  if (!data || data.detail === undefined) return fallback;
  const detail = data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  if (detail && typeof detail === "object" && detail.error) return String(detail.error);
  return JSON.stringify(detail);
}

function say(message, kind = "info") {
  const status = $("status");
  status.textContent = message || "";
  status.dataset.kind = kind;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
  const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(new URL(path, apiBase), init);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, detailText(data, `${response.status} ${response.statusText}`));
  }
  return data;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  return search.toString();
}

function table(node, columns, rows, empty = "Nothing to show.") {
  node.replaceChildren();
  const head = el("tr");
  for (const column of columns) {
    const th = el("th", { scope: "col", class: column.num ? "num" : null });
    if (column.sort) {
      // A header that sorts is a button; aria-sort tells which one is in use.
      th.setAttribute("aria-sort", column.sorted ? column.direction || "ascending" : "none");
      th.append(el("button", { type: "button", class: "sort", text: column.title, onclick: column.sort }));
    } else {
      th.textContent = column.title;
    }
    head.append(th);
  }
  node.append(el("thead", {}, head));
  const body = el("tbody");
  if (rows.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: columns.length, class: "muted", text: empty })));
  }
  for (const row of rows) {
    const tr = el("tr");
    for (const column of columns) {
      const value = column.cell(row);
      tr.append(el("td", { class: column.num ? "num" : column.cls || null }, value));
    }
    body.append(tr);
  }
  node.append(body);
}

function facts(node, pairs) {
  node.replaceChildren();
  for (const [name, value, wide] of pairs) {
    node.append(el("div", { class: wide ? "wide" : null }, el("dt", { text: name }), el("dd", {}, value)));
  }
}

function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut("The token was refused; sign in again.");
    return;
  }
  say(error.message || String(error), "error");
}

// api()'s answer, or undefined once its failure is shown (failed()).
async function ask(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (error) {
    failed(error);
    return undefined;
  }
}

// -- sign in -----------------------------------------------------------------------------------

async function signIn(token) {
  state.token = token;
  let who;
  try {
    who = await api("GET", "whoami");
  } catch (error) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    const text = error instanceof ApiError && (error.status === 401 || error.status === 403)
      ? "That token is not accepted."
      : `Cannot reach the cache API: ${error.message}`;
    $("login-error").textContent = text;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.role = who.role;
  document.body.dataset.role = who.role === "admin" ? "admin" : "read-only";
  const who_ = $("who");
  who_.replaceChildren(
    el("span", { class: `badge ${who.role === "admin" ? "admin" : "ro"}`, text: who.role }),
    " ",
    el("span", { text: [who.namespace && `namespace ${who.namespace}`, who.url, who.backend].filter(Boolean).join(" · ") }),
  );
  who_.hidden = false;
  $("signout").hidden = false;
  $("login").hidden = true;
  $("app").hidden = false;
  $("login-error").textContent = "";
  $("token").value = "";
  for (const node of document.querySelectorAll(".admin-only")) node.hidden = state.role !== "admin";
  for (const node of document.querySelectorAll(".readonly-note")) node.hidden = state.role === "admin";
  select("overview");
}

function signOut(message = "") {
  state.token = null;
  state.role = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(state.timer);
  state.timer = null;
  state.history = [];
  state.previous = null;
  resetAdvice();
  $("app").hidden = true;
  $("who").hidden = true;
  $("signout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("token").focus();
}

// -- tabs --------------------------------------------------------------------------------------

const TABS = ["overview", "keys", "key", "advice", "flush", "audit"];

function select(name, focus = false) {
  for (const tab of TABS) {
    const button = $(`tab-${tab}`);
    const on = tab === name;
    button.setAttribute("aria-selected", on ? "true" : "false");
    button.tabIndex = on ? 0 : -1;
    $(`view-${tab}`).hidden = !on;
    if (on && focus) button.focus();
  }
  say("");
  clearInterval(state.timer);
  state.timer = null;
  if (name === "overview") {
    refreshOverview();
    state.timer = setInterval(() => {
      if ($("live").checked && !document.hidden) refreshOverview();
    }, REFRESH_MS);
  } else if (name === "audit") {
    loadAudit();
  } else if (name === "advice") {
    openAdvice();
  }
}

function tabKeys(event) {
  const index = TABS.indexOf(event.currentTarget.id.slice(4));
  let next = null;
  if (event.key === "ArrowRight") next = (index + 1) % TABS.length;
  else if (event.key === "ArrowLeft") next = (index - 1 + TABS.length) % TABS.length;
  else if (event.key === "Home") next = 0;
  else if (event.key === "End") next = TABS.length - 1;
  if (next !== null) {
    event.preventDefault();
    select(TABS[next], true);
  }
}

// -- overview ----------------------------------------------------------------------------------

function totals(prefixes) {
  let hits = 0;
  let misses = 0;
  let p50 = null;
  let p99 = null;
  for (const row of prefixes) {
    hits += row.hits || 0;
    misses += row.misses || 0;
    if (row.p50_ms !== null && row.p50_ms !== undefined) p50 = Math.max(p50 ?? 0, row.p50_ms);
    if (row.p99_ms !== null && row.p99_ms !== undefined) p99 = Math.max(p99 ?? 0, row.p99_ms);
  }
  return { hits, misses, p50, p99 };
}

async function refreshOverview() {
  if (state.loading) return; // a slow overview (a large keyspace) is not asked twice at once
  state.loading = true;
  const data = await ask("GET", "overview");
  state.loading = false;
  if (data === undefined || state.role === null) return; // failed, or signed out while waiting
  renderServer(data);
  renderPrefixes(data.prefixes || [], data.estimated || []);
  const now = totals(data.prefixes || []);
  // The ratio of the reads since the previous refresh; the lifetime ratio for the first point.
  let ratio = null;
  const before = state.previous;
  if (before && now.hits + now.misses > before.hits + before.misses) {
    const reads = now.hits + now.misses - before.hits - before.misses;
    ratio = Math.max(0, now.hits - before.hits) / reads;
  } else if (!before && now.hits + now.misses > 0) {
    ratio = now.hits / (now.hits + now.misses);
  } else if (state.history.length) {
    ratio = state.history[state.history.length - 1].ratio;
  }
  state.previous = now;
  state.history.push({ t: Date.now(), ratio, p50: now.p50, p99: now.p99 });
  if (state.history.length > HISTORY) state.history.shift();
  drawChart($("chart-hits"), [{ name: "hit ratio", key: "ratio", cls: "s1" }], { max: 1, format: percent });
  drawChart(
    $("chart-latency"),
    [
      { name: "p50", key: "p50", cls: "s1" },
      { name: "p99", key: "p99", cls: "s2" },
    ],
    { format: (v) => `${v.toFixed(2)} ms` },
  );
  // Outside the status live region: a screen reader would announce it every five seconds.
  $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

// The near caches of the processes that published lately (docs/near-cache.md), in one line.
function nearFact(near) {
  if (!near || !near.processes) return [];
  const states = ["on", "starting", "off"].filter((s) => near[s]).map((s) => `${num(near[s])} ${s}`);
  const line = `${num(near.processes)} process${near.processes === 1 ? "" : "es"} (${states.join(", ")}), ` +
    `${num(near.entries)} entries, ${bytes(near.bytes)}, ${num(near.flushes)} flushes`;
  return [["Near caches", line]];
}

function renderServer(data) {
  const server = data.server;
  const breaker = String(data.breaker ?? "unknown");
  const badge = el("span", { class: `badge breaker-${breaker.replace(/[^a-z_-]/gi, "")}`, text: breaker });
  if (!server) {
    facts($("server"), [["Breaker", badge], ["Server", "no server figures (in-process store, or unreachable)"]]);
    return;
  }
  facts($("server"), [
    ["Version", server.server && server.server !== "redis" ? `${server.server} ${server.version}` : server.version ?? "–"],
    ...(server.primary ? [["Primary", `${server.primary} (Sentinel service ${server.sentinel_service})`]] : []),
    ["Breaker", badge],
    ["Memory used", bytes(server.memory_used)],
    ["Memory peak", bytes(server.memory_peak)],
    ["Memory max", server.memory_max ? bytes(server.memory_max) : "no limit"],
    ...(server.maxmemory_policy ? [["Eviction policy", server.maxmemory_policy]] : []),
    ...(server.nodes > 1 ? [["Primaries", num(server.nodes)]] : []),
    ["Evictions", num(server.evictions)],
    ["Clients", num(server.clients)],
    ["Ops/s", num(server.ops_per_s)],
    ...nearFact(data.near),
  ]);
}

function renderPrefixes(prefixes, estimated) {
  // Past the scan limit key counts are extrapolated (memory is always sampled: its title says).
  const about = (name, text) => (estimated.includes(name) && text !== "–" ? `≈ ${text}` : text);
  const browse = (row) =>
    el(
      "button",
      { type: "button", class: "link", title: `Browse the keys of ${row.prefix}`, onclick: () => browse_(row.prefix) },
      breakable(row.prefix),
    );
  table(
    $("prefixes"),
    [
      { title: "Prefix", cell: browse, cls: "keycell" },
      { title: "Hits", num: true, cell: (r) => num(r.hits) },
      { title: "Misses", num: true, cell: (r) => num(r.misses) },
      { title: "Hit ratio", num: true, cell: (r) => percent(r.hit_ratio) },
      // Reads a near cache answered: shown once one did.
      ...(prefixes.some((r) => r.near) ? [{ title: "Near", num: true, cell: (r) => num(r.near) }] : []),
      { title: "Sets", num: true, cell: (r) => num(r.sets) },
      { title: "Errors", num: true, cell: (r) => num(r.errors) },
      { title: "Fallback", num: true, cell: (r) => num(r.fallback) },
      { title: "p50", num: true, cell: (r) => ms(r.p50_ms) },
      { title: "p99", num: true, cell: (r) => ms(r.p99_ms) },
      { title: "Keys", num: true, cell: (r) => about("keys", num(r.keys)) },
      { title: "Memory (est.)", num: true, cell: (r) => bytes(r.memory) },
    ],
    prefixes,
    "No prefix has figures yet.",
  );
}

function browse_(prefix) {
  $("keys-kind").value = "prefix";
  $("keys-value").value = prefix;
  select("keys", true);
  searchKeys();
}

function drawChart(node, series, { max = null, format }) {
  const width = 320;
  const height = 120;
  const pad = { l: 4, r: 4, t: 8, b: 16 };
  const points = state.history;
  let top = max;
  if (top === null) {
    top = 0;
    for (const p of points) for (const s of series) if (p[s.key] !== null) top = Math.max(top, p[s.key]);
    top = top > 0 ? top * 1.15 : 1;
  }
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  // The x axis spans what has been seen (at least a minute), up to HISTORY points.
  const span = Math.max(points.length, 12);
  const x = (i) => pad.l + ((width - pad.l - pad.r) * i) / (span - 1);
  const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - v / top);
  for (const frac of [0, 0.5, 1]) {
    const line = document.createElementNS(SVG, "line");
    line.setAttribute("x1", pad.l);
    line.setAttribute("x2", width - pad.r);
    line.setAttribute("y1", y(top * frac));
    line.setAttribute("y2", y(top * frac));
    line.setAttribute("class", "grid");
    svg.append(line);
  }
  const offset = span - points.length;
  for (const s of series) {
    const coords = [];
    points.forEach((p, i) => {
      if (p[s.key] !== null && p[s.key] !== undefined) coords.push(`${x(offset + i).toFixed(1)},${y(p[s.key]).toFixed(1)}`);
    });
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", coords.join(" "));
    line.setAttribute("class", `series ${s.cls}`);
    line.setAttribute("vector-effect", "non-scaling-stroke");
    svg.append(line);
    if (coords.length) {
      // The newest point as a dot, so that a single sample is visible too.
      const [cx, cy] = coords[coords.length - 1].split(",");
      const dot = document.createElementNS(SVG, "circle");
      dot.setAttribute("cx", cx);
      dot.setAttribute("cy", cy);
      dot.setAttribute("r", "3");
      dot.setAttribute("class", `dot ${s.cls}`);
      svg.append(dot);
    }
  }
  const last = points[points.length - 1] || {};
  const legend = el(
    "p",
    { class: "legend" },
    ...series.map((s) =>
      el("span", { class: `key ${s.cls}` }, `${s.name} `, el("strong", { text: last[s.key] == null ? "–" : format(last[s.key]) })),
    ),
    el("span", { class: "muted", text: ` scale ${format(top)} · last ${Math.round((points.length * REFRESH_MS) / 60000) || "<1"} min` }),
  );
  node.replaceChildren(svg, legend);
  node.setAttribute(
    "aria-label",
    `${node.getAttribute("aria-label").split(":")[0]}: ${series.map((s) => `${s.name} ${last[s.key] == null ? "unknown" : format(last[s.key])}`).join(", ")}`,
  );
}

async function probeLatency() {
  const button = $("probe");
  button.disabled = true;
  say("Probing latency…");
  try {
    const report = await api("POST", "latency");
    const probes = report.probes || [];
    const us = (v) => (v === undefined || v === null ? "–" : `${(v / 1000).toFixed(3)} ms`);
    table(
      $("probe-table"),
      [
        { title: "Node", cell: (r) => r.node ?? "–" },
        { title: "Probe", cell: (r) => r.probe ?? "–" },
        { title: "Samples", num: true, cell: (r) => num(r.samples) },
        { title: "min", num: true, cell: (r) => us(r.min_us) },
        { title: "p50", num: true, cell: (r) => us(r.p50_us) },
        { title: "p99", num: true, cell: (r) => us(r.p99_us) },
        { title: "max", num: true, cell: (r) => us(r.max_us) },
      ],
      probes,
    );
    $("probe-result").hidden = false;
    say("Latency probed.");
  } catch (error) {
    failed(error);
  } finally {
    button.disabled = false;
  }
}

// -- key browser -------------------------------------------------------------------------------

// The exact bytes when the listing gives them: a display name may be lossy (not UTF-8).
function keyRef(row) {
  return row.key_hex ? { key_hex: row.key_hex } : { key: row.key };
}

async function searchKeys(cursor = null, page = 0) {
  const kind = $("keys-kind").value;
  const value = $("keys-value").value;
  const q = { [kind]: value || (kind === "pattern" ? "*" : ""), sort: $("keys-sort").value, count: 100 };
  if (kind === "prefix" && !value) delete q.prefix;
  state.keys.query = q;
  await loadKeys(cursor, page);
}

async function loadKeys(cursor, page) {
  const q = { ...state.keys.query, cursor };
  say("Loading keys…");
  const data = await ask("GET", `keys?${query(q)}`);
  if (data === undefined) return;
  state.keys.cursors[page] = cursor;
  state.keys.page = page;
  state.keys.cursor = data.cursor ?? null;
  const rows = data.keys || [];
  // By name: in natural order (page:2 before page:10), not the byte order the API gives.
  if (q.sort === "name") rows.sort((a, b) => natural(a.key ?? "", b.key ?? ""));
  renderKeys(rows);
  const sorted = data.sorted ? ` · sorted by ${q.sort} ${data.sorted}` : "";
  $("keys-label").textContent = `${data.label || "keys"} · page ${page + 1} · ${(data.keys || []).length} keys shown${sorted}`;
  $("keys-next").hidden = !state.keys.cursor;
  $("keys-first").hidden = page === 0;
  $("keys-page").textContent = state.keys.cursor ? "More keys follow." : "End of the selection.";
  say("");
}

async function topKeys() {
  const kind = $("keys-kind").value;
  const value = $("keys-value").value;
  const q = { [kind]: value, n: 20 };
  say("Finding the biggest keys…");
  const data = await ask("GET", `keys/top?${query(q)}`);
  if (data === undefined) return;
  renderKeys(data.keys || [], false);
  $("keys-label").textContent = `Biggest keys of ${data.label || "the selection"}`;
  $("keys-next").hidden = true;
  $("keys-first").hidden = true;
  $("keys-page").textContent = "";
  say("");
}

function sortBy(name) {
  return () => {
    $("keys-sort").value = name;
    if (state.keys.query) searchKeys();
  };
}

function renderKeys(rows, sortable = true) {
  const current = $("keys-sort").value;
  const sort = (name) => (sortable ? sortBy(name) : undefined);
  table(
    $("keys-table"),
    [
      {
        title: "Key",
        cls: "keycell",
        sort: sort("name"),
        sorted: sortable && current === "name",
        cell: (r) =>
          el("button", { type: "button", class: "link key-link", onclick: () => openKey(keyRef(r), r.key) }, breakable(r.key)),
      },
      { title: "Type", cell: (r) => r.type ?? "–" },
      { title: "TTL", num: true, cell: (r) => duration(ttlMs(r)), sort: sort("ttl"), sorted: sortable && current === "ttl" },
      { title: "Memory", num: true, cell: (r) => bytes(r.memory), sort: sort("memory"), sorted: sortable && current === "memory", direction: "descending" },
      { title: "Codec", cell: (r) => r.codec ?? "–" },
    ],
    rows,
    "No key matches.",
  );
}

// -- key view ----------------------------------------------------------------------------------

async function openKey(ref, name) {
  state.key = ref;
  state.keyName = name ?? ref.key ?? "";
  select("key", true);
  $("key-name").value = state.keyName;
  await loadKey();
}

async function loadKey() {
  const detail = $("key-detail");
  $("delete-confirm").hidden = true;
  $("key-delete").hidden = false;
  const doc = await ask("GET", `key?${query(state.key)}`);
  if (doc === undefined) {
    detail.hidden = true;
    return;
  }
  detail.hidden = false;
  state.keyName = doc.key ?? state.keyName;
  $("key-title").replaceChildren(breakable(state.keyName));
  const enc = doc.encoding || {};
  // The label the Keys view shows (ops.sniff.describe_head), and whose format it is.
  const codec = doc.codec && doc.codec !== "-"
    ? (enc.format ? `${doc.codec} (${enc.format})` : doc.codec)
    : "–";
  const found = doc.tags && doc.tags.length
    ? el("span", { class: "tags" }, ...doc.tags.map((t) => el("span", { class: "tag", text: t })))
    : null;
  // On a big keyspace the tag search stops early (ops.inspect.TAG_SCAN): say so, never "none".
  const partial = doc.tags_complete === false
    ? el("span", { class: "muted", text: `tag sets searched among the first ~${num(doc.tags_searched)} keys only` })
    : null;
  const tags = found && partial ? el("span", {}, found, " ", partial) : found || partial || "none";
  const pairs = [
    ["Type", doc.type ?? "–"],
    ["TTL", duration(doc.ttl_ms !== undefined ? doc.ttl_ms : ttlMs(doc))],
    ["Codec", codec],
    ["Stored size", enc.stored_size !== undefined ? bytes(enc.stored_size) : "–"],
    ["Decoded size", enc.payload_size !== undefined && enc.payload_size !== null ? bytes(enc.payload_size) : "–"],
    ["Memory", bytes(doc.memory)],
  ];
  if (doc.full_key && doc.full_key !== doc.key) pairs.push(["Redis key", breakable(doc.full_key)]);
  if (doc.length !== undefined) pairs.push(["Items", num(doc.length)]);
  // Last and full width: a value may carry many tags.
  pairs.push(["Tags", tags, Boolean(doc.tags && doc.tags.length > 3)]);
  facts($("key-facts"), pairs);
  const value = $("key-value");
  if (doc.error || doc.hexdump !== undefined || doc.head_hex !== undefined) {
    value.replaceChildren(
      el("p", { class: "muted", text: doc.error ? `Not decoded: ${doc.error}` : "Binary value: the first bytes" }),
      el("pre", { class: "hex", text: doc.hexdump ?? hexdump(doc.head_hex || "") }),
    );
  } else {
    value.replaceChildren(tree(doc.value, 0));
  }
}

function hexdump(hex, limit = 256) {
  const data = [];
  for (let i = 0; i + 1 < hex.length && data.length < limit; i += 2) data.push(parseInt(hex.slice(i, i + 2), 16));
  const lines = [];
  for (let offset = 0; offset < data.length; offset += 16) {
    const chunk = data.slice(offset, offset + 16);
    const hexes = chunk.map((b) => b.toString(16).padStart(2, "0")).join(" ").padEnd(47, " ");
    const text = chunk.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${offset.toString(16).padStart(8, "0")}  ${hexes}  |${text}|`);
  }
  if (hex.length / 2 > limit) lines.push(`… ${hex.length / 2 - limit} more bytes`);
  return lines.join("\n") || "(empty)";
}

function leaf(value) {
  if (value === null) return el("span", { class: "j-null", text: "null" });
  if (typeof value === "string") return el("span", { class: "j-str", text: JSON.stringify(value) });
  if (typeof value === "number") return el("span", { class: "j-num", text: String(value) });
  if (typeof value === "boolean") return el("span", { class: "j-bool", text: String(value) });
  return el("span", { text: String(value) });
}

function tree(value, depth) {
  if (value === null || typeof value !== "object") return el("div", { class: "tree" }, leaf(value));
  return el("div", { class: "tree" }, branch(value, depth));
}

// An object or array as a foldable list; name (the key in its parent) is shown in the summary,
// so that "products: [ 12 items ]" reads on one line with the items below.
function branch(value, depth, name = null) {
  const isArray = Array.isArray(value);
  const entries = isArray ? value.map((v, i) => [i, v]) : Object.entries(value);
  const label = isArray ? `[ ${entries.length} items ]` : `{ ${entries.length} keys }`;
  const head = name === null ? [] : [name, ": "];
  if (depth >= TREE_DEPTH) return el("span", {}, ...head, el("span", { class: "muted", text: `${label} (too deep to show)` }));
  // Open near the root, and small branches a little deeper; long arrays start folded.
  const details = el("details", { open: depth < 1 || (depth < 4 && entries.length <= 12) });
  details.append(el("summary", {}, ...head, el("span", { class: "muted", text: label })));
  const list = el("ul");
  for (const [key, child] of entries.slice(0, TREE_ITEMS)) {
    const keyNode = el("span", { class: "j-key", text: isArray ? `${key}` : JSON.stringify(key) });
    list.append(
      child !== null && typeof child === "object"
        ? el("li", {}, branch(child, depth + 1, keyNode))
        : el("li", {}, keyNode, ": ", leaf(child)),
    );
  }
  if (entries.length > TREE_ITEMS) list.append(el("li", { class: "muted", text: `… ${entries.length - TREE_ITEMS} more` }));
  details.append(list);
  return details;
}

async function setTtl(ttl) {
  if ((await ask("POST", "key/ttl", { ...state.key, ttl })) === undefined) return;
  say(ttl === null ? "Expiry removed." : `TTL set to ${duration(ttl * 1000)}.`);
  $("ttl-seconds").value = "";
  await loadKey();
}

async function deleteKey() {
  if ((await ask("DELETE", `key?${query(state.key)}`)) === undefined) return;
  $("key-detail").hidden = true;
  say(`Deleted ${state.keyName}.`);
}

// -- flush -------------------------------------------------------------------------------------

function flushSelector() {
  const kind = $("flush-kind").value;
  if (kind === "keys") {
    const keys = $("flush-keys").value.split("\n").map((k) => k.trim()).filter(Boolean);
    return withMax({ keys });
  }
  if (kind === "all") return withMax({ all: true });
  return withMax({ [kind]: $("flush-value").value });
}

function withMax(selector) {
  const max = $("flush-max").value;
  if (max !== "") selector.max_keys = Number(max);
  return selector;
}

function flushKind() {
  const kind = $("flush-kind").value;
  const list = kind === "keys";
  $("flush-keys").hidden = !list;
  document.querySelector("label[for=flush-keys]").hidden = !list;
  $("flush-value").hidden = list || kind === "all";
  document.querySelector("label[for=flush-value]").hidden = list || kind === "all";
  $("flush-plan").hidden = true;
  state.plan = null;
}

async function previewFlush() {
  const selector = flushSelector();
  $("flush-result").textContent = "";
  $("flush-plan").hidden = true;
  const plan = await ask("POST", "flush/plan", selector);
  if (plan === undefined) return;
  state.plan = { selector, ...plan };
  $("plan-summary").textContent = plan.refused
    ? `${plan.label}: ${num(plan.count)} keys match, more than the limit of ${num(plan.max_keys)}; a flush would be refused.`
    : state.role === "admin"
      ? `${plan.label}: ${num(plan.count)} ${plan.count === 1 ? "key" : "keys"} would be deleted.`
      : `${plan.label}: ${num(plan.count)} ${plan.count === 1 ? "key matches" : "keys match"} (only an admin token can delete them).`;
  const sample = $("plan-sample");
  const names = (plan.sample || []).map((k) => (typeof k === "string" ? k : k.key)).sort(natural);
  sample.replaceChildren(...names.map((k) => el("li", { class: "keycell" }, breakable(k))));
  sample.hidden = plan.count === 0;
  const shown = (plan.sample || []).length;
  $("plan-more").textContent = shown < plan.count ? `… and ${num(plan.count - shown)} more` : "";
  $("flush-confirm-form").hidden = state.role !== "admin" || plan.count === 0;
  // The whole namespace is confirmed by its name (ops' rule, the same on the command line).
  $("flush-confirm-label").replaceChildren(
    plan.whole ? "This is every key of the namespace. Type its name, " : "Type ",
    el("code", {}, breakable(plan.confirm)),
    " to confirm",
  );
  $("flush-confirm").value = "";
  $("flush-go").disabled = true;
  $("flush-go").textContent = `Delete ${num(plan.count)} ${plan.count === 1 ? "key" : "keys"}`;
  $("flush-plan").hidden = false;
  say("");
  if (state.role === "admin" && plan.count > 0) $("flush-confirm").focus();
}

async function runFlush() {
  const plan = state.plan;
  if (!plan || $("flush-confirm").value !== plan.confirm) return;
  const go = $("flush-go");
  go.disabled = true;
  $("flush-result").textContent = `Deleting ${num(plan.count)} keys…`;
  // Progress from the server while the deletion runs (a large selection takes a while).
  const poll = setInterval(async () => {
    try {
      const p = await api("GET", "flush/progress");
      if (p.running) $("flush-result").textContent = `Deleting… ${num(p.removed)} of ${num(p.total ?? plan.count)} keys removed so far.`;
    } catch {
      // the final answer reports any error
    }
  }, 500);
  try {
    const done = await api("POST", "flush", { ...plan.selector, confirm: $("flush-confirm").value });
    $("flush-result").textContent = `Removed ${num(done.removed)} ${done.removed === 1 ? "key" : "keys"} (${done.label}) in ${Number(done.seconds ?? 0).toFixed(2)} s.`;
    $("flush-plan").hidden = true;
    state.plan = null;
  } catch (error) {
    $("flush-result").textContent = "";
    go.disabled = false;
    failed(error);
  } finally {
    clearInterval(poll);
  }
}

// -- audit -------------------------------------------------------------------------------------

async function loadAudit() {
  const data = await ask("GET", "audit");
  if (data === undefined) return;
  const when = (r) => {
    const t = typeof r.time === "number" ? new Date(r.time * 1000) : new Date(r.time);
    return Number.isNaN(t.getTime()) ? String(r.time) : t.toLocaleString();
  };
  table(
    $("audit-table"),
    [
      { title: "When", cell: when },
      { title: "Action", cell: (r) => r.action ?? "–" },
      { title: "Selection", cls: "keycell", cell: (r) => breakable(typeof r.selection === "string" ? r.selection : JSON.stringify(r.selection)) },
      { title: "Keys", num: true, cell: (r) => num(r.count) },
      { title: "From", cell: (r) => r.address ?? "–" },
      // The page's actions carry the token's role; `cachectl flush` carries 'cli' and the OS user.
      { title: "By", cell: (r) => (r.source === "cli" ? `cli${r.user ? ` (${r.user})` : ""}` : r.role ?? "–") },
    ],
    data.entries || [],
    "No destructive action recorded.",
  );
}

// -- advice ------------------------------------------------------------------------------------
// The Advice view: `cachectl doctor` run by the server (GET api/doctor), findings grouped by
// severity, each affected key, prefix or tag a link into the key browser.

const SEVERITIES = [
  ["error", "Errors"],
  ["warning", "Warnings"],
  ["info", "Information"],
];
const NAME_CHARS = 120; // a name longer than this is shortened in the middle where it is read
const MAX_SAMPLE = 1000000; // the route's bound (ops.doctor.MAX_SAMPLE)
// The stats bucket of the prefixes past the publishers' limit: not a prefix one can browse.
const OTHER_PREFIXES = "(other)";

const advice = { run: 0, busy: false, done: false, timer: null };

function plural(n, one, many = `${one}s`) {
  return `${num(n)} ${n === 1 ? one : many}`;
}

function shorten(text, limit = NAME_CHARS) {
  const value = String(text);
  if (value.length <= limit) return value;
  const half = Math.floor((limit - 1) / 2);
  return `${value.slice(0, half)}…${value.slice(value.length - half)}`;
}

// A sentence of the doctor's with the finding's subject shortened where it is long.
function aboutSubject(text, subject) {
  const value = String(text ?? "");
  const name = String(subject ?? "");
  return name.length > NAME_CHARS ? value.split(name).join(shorten(name)) : value;
}

// A figure in its unit, as `cachectl doctor` writes it (cli/doctor_view.py figure_text).
function figureText(figure) {
  const value = figure.value;
  if (value === null || value === undefined) return "–";
  if (typeof value === "string") return value;
  const n = Number(value);
  const fixed = (digits) => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  let shown;
  if (figure.unit === "bytes") shown = bytes(n);
  else if (figure.unit === "ratio") shown = percent(n);
  else if (figure.unit === "factor") shown = fixed(2);
  else if (figure.unit === "ms") shown = `${fixed(3)} ms`;
  else if (figure.unit === "seconds") shown = duration(n * 1000);
  else if (figure.unit === "per_second") shown = `${fixed(2)}/s`;
  else shown = Number.isInteger(n) ? num(n) : fixed(2);
  return figure.estimated ? `≈ ${shown}` : shown;
}

function adviceBusy(on, label = "") {
  clearInterval(advice.timer);
  advice.timer = null;
  advice.busy = on;
  $("advice-run").disabled = on;
  $("advice-retry").disabled = on;
  $("advice-busy").hidden = !on;
  $("view-advice").setAttribute("aria-busy", on ? "true" : "false");
  if (!on) return;
  // Said once (a live region); the seconds tick beside it, where no screen reader reads them out.
  $("advice-busy-text").textContent = `Examining ${label}…`;
  const started = Date.now();
  const elapsed = $("advice-elapsed");
  const tick = () => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    elapsed.textContent = `${seconds} s (every key is counted once: a few seconds on a million keys)`;
  };
  tick();
  advice.timer = setInterval(tick, 250);
}

// Signed out: a run on its way is dropped, and the next token starts afresh.
function resetAdvice() {
  advice.run += 1;
  advice.done = false;
  adviceBusy(false);
  $("advice-error").hidden = true;
  $("advice-result").hidden = true;
  $("advice-findings").replaceChildren();
  $("advice-when").textContent = "";
}

function openAdvice() {
  if (!advice.done && !advice.busy) runAdvice();
}

async function runAdvice() {
  if (advice.busy) return;
  const prefix = $("advice-prefix").value;
  const raw = $("advice-sample").value.trim();
  const sample = raw === "" ? 5000 : Number(raw);
  if (!Number.isInteger(sample) || sample < 1 || sample > MAX_SAMPLE) {
    adviceFailed(`The sample is a whole number of entries from 1 to ${num(MAX_SAMPLE)}.`);
    return;
  }
  const run = ++advice.run;
  $("advice-error").hidden = true;
  $("advice-result").hidden = true;
  adviceBusy(true, prefix ? `prefix ${shorten(prefix)}` : "the namespace");
  let doc;
  try {
    doc = await api("GET", `doctor?${query({ prefix, sample })}`);
  } catch (error) {
    if (run !== advice.run) return;
    adviceBusy(false);
    if (error instanceof ApiError && error.status === 401) {
      failed(error);
      return;
    }
    adviceFailed(error.message || String(error), error.status);
    return;
  }
  if (run !== advice.run || state.role === null) return; // a newer run, or signed out
  adviceBusy(false);
  advice.done = true;
  renderAdvice(doc);
  const counts = doc.counts || {};
  if (!$("view-advice").hidden) say(`Examined: ${SEVERITIES.map(([s, heading]) => `${heading.toLowerCase()} ${num(counts[s] ?? 0)}`).join(", ")}.`);
}

function adviceFailed(message, status) {
  const why = status === 503
    ? `Redis cannot be reached: ${message}`
    : status ? `${message} (HTTP ${status})` : message;
  $("advice-error-text").textContent = why;
  $("advice-error").hidden = false;
  $("advice-result").hidden = true;
}

function renderAdvice(doc) {
  const scope = doc.scope || {};
  const where = doc.prefix ? `Prefix ${doc.prefix} of namespace ${doc.namespace}` : `Namespace ${doc.namespace}`;
  $("advice-scope").textContent =
    `${shorten(where)}: ${plural(scope.entries, "entry", "entries")} under ${plural(scope.prefixes, "prefix", "prefixes")} ` +
    `and ${plural(scope.tag_sets, "tag set")} on ${plural(scope.primaries, "primary", "primaries")}, counted exactly; ` +
    `${num(scope.sampled)} entries sampled (at most ${num(scope.sample_limit)}); examined in ${num(scope.seconds, 3)} s.`;
  $("advice-when").textContent = `Examined ${new Date().toLocaleTimeString()}`;
  const counts = doc.counts || {};
  const findings = Array.isArray(doc.findings) ? doc.findings : [];
  $("advice-counts").replaceChildren(
    ...SEVERITIES.map(([severity, heading]) =>
      el("span", { class: `badge sev-${counts[severity] ? severity : "none"}`, text: `${heading}: ${num(counts[severity] ?? 0)}` }),
    ),
  );
  const box = $("advice-findings");
  box.replaceChildren();
  if (findings.length === 0) {
    box.append(el("p", { class: "advice-none", text: "No findings: nothing to fix in what was examined." }));
  }
  for (const [severity, heading] of SEVERITIES) {
    const group = findings.filter((f) => f.severity === severity);
    if (group.length === 0) continue;
    const title = el("h3", { id: `advice-${severity}`, text: `${heading} (${num(counts[severity] ?? group.length)})` });
    box.append(
      el("section", { class: `advice-group sev-${severity}`, "aria-labelledby": `advice-${severity}` }, title, ...group.map(findingCard)),
    );
  }
  for (const [id, n] of Object.entries(doc.omitted || {})) {
    box.append(el("p", { class: "muted", text: `… and ${plural(Number(n), `more ${id} finding`)} (at most 20 of one kind are listed).` }));
  }
  const notes = Array.isArray(doc.notes) ? doc.notes : [];
  $("advice-notes").replaceChildren(...notes.map((note) => el("li", { text: note })));
  $("advice-notes-box").hidden = notes.length === 0;
  $("advice-result").hidden = false;
}

function findingCard(finding) {
  const severity = SEVERITIES.some(([s]) => s === finding.severity) ? finding.severity : "info";
  const subject = finding.subject || {};
  const card = el("article", { class: `finding sev-${severity}`, "data-id": finding.id });
  card.append(
    el(
      "header",
      { class: "finding-head" },
      el("span", { class: `badge sev-${severity}`, text: severity }),
      el("code", { class: "finding-id", text: finding.id }),
      el("h4", { class: "finding-title", text: aboutSubject(finding.title, subject.name) }),
    ),
  );
  const evidence = el("dl", { class: "facts evidence" });
  for (const figure of finding.evidence || []) {
    evidence.append(el("div", {}, el("dt", { text: figure.label ?? figure.name }), el("dd", { text: figureText(figure) })));
  }
  card.append(evidence);
  const affected = finding.affected;
  if (affected && Array.isArray(affected.items) && affected.items.length) card.append(affectedLine(affected, finding.sample));
  const sample = finding.sample;
  if (sample && !sample.exact) {
    const population = sample.population === null || sample.population === undefined ? "?" : num(sample.population);
    card.append(el("p", { class: "muted", text: `Sampled ${num(sample.size)} of ${population} entries: figures marked ≈ are extrapolated from the sample.` }));
  }
  card.append(
    el("p", { class: "recommendation" }, el("strong", { text: "What to do: " }), aboutSubject(finding.recommendation, subject.name)),
  );
  const browse = subjectLink(finding.id, subject);
  if (browse) card.append(el("p", { class: "finding-links" }, browse));
  return card;
}

const KINDS = { key: ["Key", "Keys"], prefix: ["Prefix", "Prefixes"], tag: ["Tag", "Tags"], node: ["Node", "Nodes"] };

function affectedLine(affected, sample) {
  const [one, many] = KINDS[affected.kind] || ["Item", "Items"];
  const items = affected.items;
  let label = items.length === 1 && (affected.total ?? 1) === 1 ? one : many;
  if (affected.total !== null && affected.total !== undefined && affected.total > items.length) {
    const about = sample && !sample.exact ? "≈ " : "";
    label = `${many} (${num(items.length)} of ${about}${num(affected.total)})`;
  }
  const list = el("ul", { class: "affected-items" });
  for (const item of items) list.append(el("li", { class: "keycell" }, itemLink(affected.kind, item)));
  return el("div", { class: "affected" }, el("span", { class: "affected-label", text: `${label}:` }), list);
}

// A key opens the key view (by its exact bytes when it is not UTF-8); a prefix or a tag opens
// the key browser filtered by it. A name that is not UTF-8 cannot be typed into a filter, and
// a node is not in the key browser: those are plain text.
function itemLink(kind, item) {
  const name = String(item.name ?? "");
  const text = breakable(shorten(name));
  if (kind === "key") {
    const ref = item.hex ? { key_hex: item.hex } : { key: name };
    return el("button", { type: "button", class: "link key-link", title: `Open ${shorten(name)}`, onclick: () => openKey(ref, name) }, text);
  }
  if ((kind === "prefix" || kind === "tag") && !item.hex && name !== OTHER_PREFIXES) {
    const what = kind === "prefix" ? "Browse the keys of prefix" : "Browse the keys tagged";
    return el("button", { type: "button", class: "link", title: `${what} ${shorten(name)}`, onclick: () => browseBy(kind, name) }, text);
  }
  return el("span", {}, text);
}

function subjectLink(id, subject) {
  const name = String(subject.name ?? "");
  if (id === "empty" || !name || name === OTHER_PREFIXES) return null;
  if (subject.kind !== "prefix" && subject.kind !== "tag") return null;
  const text = subject.kind === "prefix" ? "Browse the keys of prefix " : "Browse the keys tagged ";
  return el(
    "button",
    { type: "button", class: "link browse-link", onclick: () => browseBy(subject.kind, name) },
    text,
    el("span", { class: "keyname" }, breakable(shorten(name))),
  );
}

// The key browser, filtered by a prefix or a tag, on its first page.
function browseBy(kind, value) {
  $("keys-kind").value = kind;
  $("keys-value").value = value;
  select("keys", true);
  searchKeys();
}

// -- wiring ------------------------------------------------------------------------------------

function on(id, event, handler) {
  $(id).addEventListener(event, (e) => {
    if (event === "submit") e.preventDefault();
    handler(e);
  });
}

function start() {
  on("login-form", "submit", () => {
    const token = $("token").value.trim();
    if (!token) {
      $("login-error").textContent = "Enter a token.";
      return;
    }
    signIn(token);
  });
  on("signout", "click", () => signOut());
  for (const tab of TABS) {
    on(`tab-${tab}`, "click", () => select(tab));
    $(`tab-${tab}`).addEventListener("keydown", tabKeys);
  }
  on("refresh", "click", () => refreshOverview());
  on("probe", "click", () => probeLatency());
  on("keys-form", "submit", () => searchKeys());
  on("keys-sort", "change", () => state.keys.query && searchKeys());
  on("keys-next", "click", () => loadKeys(state.keys.cursor, state.keys.page + 1));
  on("keys-first", "click", () => loadKeys(null, 0));
  on("keys-top", "click", () => topKeys());
  on("key-form", "submit", () => {
    const name = $("key-name").value;
    if (name) openKey({ key: name }, name);
  });
  on("ttl-form", "submit", () => {
    const seconds = Number($("ttl-seconds").value);
    if (!Number.isInteger(seconds) || seconds < 1) {
      say("Give a whole number of seconds, 1 or more.", "error");
      return;
    }
    setTtl(seconds);
  });
  on("ttl-persist", "click", () => setTtl(null));
  on("key-delete", "click", () => {
    $("key-delete").hidden = true;
    $("delete-confirm").hidden = false;
    $("key-delete-no").focus();
  });
  on("key-delete-no", "click", () => {
    $("delete-confirm").hidden = true;
    $("key-delete").hidden = false;
    $("key-delete").focus();
  });
  on("key-delete-yes", "click", () => deleteKey());
  on("flush-kind", "change", flushKind);
  // A preview stands for the selection it was made for: editing the selection withdraws it.
  for (const id of ["flush-value", "flush-keys", "flush-max"]) {
    on(id, "input", () => {
      $("flush-plan").hidden = true;
      state.plan = null;
    });
  }
  on("flush-form", "submit", () => previewFlush());
  on("flush-confirm", "input", () => {
    $("flush-go").disabled = !state.plan || state.plan.count === 0 || $("flush-confirm").value !== state.plan.confirm;
  });
  on("flush-confirm-form", "submit", () => runFlush());
  on("audit-refresh", "click", () => loadAudit());
  on("advice-form", "submit", () => runAdvice());
  on("advice-retry", "click", () => runAdvice());
  flushKind();

  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
  else $("token").focus();
}

start();
