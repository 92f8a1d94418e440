// The dashboard: header tiles from the live stream, charts from the time-series query.
//
// - /api/v1/stream sends a snapshot a second. It is read with fetch() and a stream reader,
//   not EventSource: EventSource cannot send an Authorization header, and the token must
//   never go into a query string (URLs end up in logs, histories and screenshots).
// - /api/v1/metrics is fetched on an interval and when the time window or agent changes.
// - The token comes from the URL fragment (#token=..., never sent to a server) or from the
//   prompt shown on a 401; it is kept in sessionStorage (this tab only) and taken out of
//   the address bar at once.
// Every text from the API goes in through textContent, never innerHTML: model, tool, rule
// and agent names are data.

import * as fmt from "./format.js";
import { barList, donut, empty, legend, timeChart } from "./charts.js";

const TOKEN_KEY = "agentguard.token";
const TIMEFRAMES = ["1h", "6h", "24h", "7d", "30d"];
const DEFAULT_TIMEFRAME = "1h";
const STEP_MS = { "1m": 60e3, "5m": 300e3, "15m": 900e3, "1h": 3600e3, "1d": 86400e3 };
const REFRESH_MS = { "1h": 15e3, "6h": 30e3, "24h": 60e3, "7d": 120e3, "30d": 300e3 };
const STALL_MS = 5000; // snapshots come every second: five missed is a dead connection
const BACKOFF_MAX_MS = 30e3;
const RATE_SAMPLES = 15; // the live call rate is taken over the last 15 snapshots
const TOKEN_TYPES = [
  ["input", "Input", "c0"],
  ["output", "Output", "c1"],
  ["cache_read", "Cache reads", "c2"],
  ["cache_write_5m", "Cache writes 5m", "c3"],
  ["cache_write_1h", "Cache writes 1h", "c4"],
];

const state = {
  timeframe: DEFAULT_TIMEFRAME,
  agent: "",
  token: null,
  snapshot: null,
  samples: [], // [uptime_seconds, total_executions] of recent snapshots
  docs: null, // the last answers of /api/v1/metrics
  chartsAt: null,
};

const $ = (selector) => document.querySelector(selector);

// --- the token and the URL fragment ------------------------------------------------------

function storage(action, value) {
  try {
    if (action === "get") return sessionStorage.getItem(TOKEN_KEY);
    if (action === "set") sessionStorage.setItem(TOKEN_KEY, value);
  } catch {
    // Storage may be disabled; the token then lives as long as the page.
  }
  return null;
}

function readFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    state.token = token;
    storage("set", token);
  } else {
    state.token = state.token ?? storage("get");
  }
  const timeframe = params.get("timeframe");
  state.timeframe = TIMEFRAMES.includes(timeframe) ? timeframe : DEFAULT_TIMEFRAME;
  state.agent = params.get("agent") ?? "";
  writeFragment(); // drops the token from the address bar and from history
}

function writeFragment() {
  const params = new URLSearchParams();
  if (state.timeframe !== DEFAULT_TIMEFRAME) params.set("timeframe", state.timeframe);
  if (state.agent) params.set("agent", state.agent);
  const hash = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (hash ? `#${hash}` : ""));
}

function authHeaders(accept) {
  const headers = { Accept: accept };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  return headers;
}

function askForToken() {
  const dialog = $("#token-dialog");
  if (dialog.open) return;
  $("#token-reason").textContent = state.token
    ? "The service refused the token this page has. Paste the right one."
    : "Its API answers only requests that carry its bearer token.";
  $("#token-input").value = "";
  dialog.showModal();
}

function onTokenSubmit(event) {
  event.preventDefault();
  const value = $("#token-input").value.trim();
  if (!value) return;
  state.token = value;
  storage("set", value);
  $("#token-dialog").close();
  stream.start();
  charts.now();
}

// --- the API ------------------------------------------------------------------------------

class HttpError extends Error {
  constructor(status, body, retryAfterS) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.retryAfterS = retryAfterS;
  }
}

async function api(path) {
  const response = await fetch(path, { headers: authHeaders("application/json"), cache: "no-store" });
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      // not JSON: the status says enough
    }
    throw new HttpError(response.status, body, Number(response.headers.get("Retry-After")) || null);
  }
  return response.json();
}

// --- the live stream ------------------------------------------------------------------------

function setLive(kind, text) {
  const live = $("#live");
  live.className = `live ${kind}`;
  live.lastElementChild.textContent = text;
  $("#tiles").classList.toggle("stale", kind !== "live");
}

/** Calls `onEvent(name, data)` for each server-sent event of `body` until it ends. */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    // A chunk may end mid-event or hold several: only whole events (ended by a blank line)
    // are parsed, the rest waits for the next chunk. The service ends lines with "\n".
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, data.join("\n"));
    }
  }
}

const stream = {
  controller: null,
  attempt: 0,
  retryTimer: null,
  countdown: null,
  watchdog: null,

  start() {
    this.stop();
    const controller = new AbortController();
    this.controller = controller;
    this.run(controller);
  },

  stop() {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdown);
    clearTimeout(this.watchdog);
    if (this.controller) {
      this.controller.stopped = true;
      this.controller.abort();
    }
    this.controller = null;
  },

  // A proxy or a sleeping laptop can leave a connection open that carries nothing: with no
  // event for STALL_MS, the connection is dropped and made again.
  arm(controller) {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => controller.abort(), STALL_MS);
  },

  async run(controller) {
    setLive("connecting", "Connecting…");
    try {
      this.arm(controller);
      const response = await fetch("/api/v1/stream", {
        headers: authHeaders("text/event-stream"),
        cache: "no-store",
        signal: controller.signal,
      });
      if (response.status === 401) {
        clearTimeout(this.watchdog);
        setLive("locked", "Token needed");
        askForToken();
        return; // no retries until a token is given
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      await readEvents(response.body, (name, data) => {
        this.arm(controller);
        if (name === "snapshot") {
          this.attempt = 0;
          setLive("live", "Live");
          onSnapshot(JSON.parse(data));
        } else if (name === "error") {
          setLive("trouble", "Store unavailable");
        }
      });
      throw new Error("the stream ended"); // the server restarted, say
    } catch (error) {
      if (controller.stopped) return; // stopped on purpose
      this.retry(error);
    }
  },

  retry() {
    clearTimeout(this.watchdog);
    // Exponential backoff with jitter, so a restarted service is not met by every open
    // page at the same instant.
    const delay = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    const due = Date.now() + delay;
    const tell = () => {
      const left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      setLive("down", `Disconnected · retrying in ${left} s`);
    };
    tell();
    clearInterval(this.countdown);
    this.countdown = setInterval(tell, 1000);
    this.retryTimer = setTimeout(() => {
      clearInterval(this.countdown);
      this.start();
    }, delay);
  },
};

// --- the header tiles ---------------------------------------------------------------------

function tile(name, value, sub, tone = "") {
  const node = $(`[data-tile="${name}"]`);
  node.querySelector(".value").textContent = value;
  node.querySelector(".sub").textContent = sub;
  node.dataset.tone = tone;
}

function liveRate(s) {
  const samples = state.samples;
  const last = samples.at(-1);
  // A restarted service (uptime or totals going back) starts the measurement again.
  if (last && (s.uptime_seconds <= last[0] || s.total_executions < last[1])) samples.length = 0;
  samples.push([s.uptime_seconds, s.total_executions]);
  if (samples.length > RATE_SAMPLES) samples.shift();
  if (samples.length < 2) return null;
  const [t0, n0] = samples[0];
  const [t1, n1] = samples.at(-1);
  return t1 > t0 ? (n1 - n0) / (t1 - t0) : null;
}

function onSnapshot(s) {
  state.snapshot = s;
  const rate = liveRate(s);
  tile("calls", fmt.count(s.total_executions), rate === null ? "rate: measuring…" : `${fmt.rate(rate)} now`);
  const agents = s.agents ?? [];
  tile("active", fmt.count(s.active_executions), agents.length === 1 ? "1 agent seen" : `${fmt.count(agents.length)} agents seen`);
  const errorShare = s.total_executions ? (100 * s.error_count) / s.total_executions : null;
  tile("errors", fmt.count(s.error_count), errorShare === null ? "no calls yet" : `${fmt.percent(errorShare)} of calls`,
    errorShare > 5 ? "bad" : "");
  const unknown = (s.unpriced_calls ?? 0) + (s.cost_incomplete_calls ?? 0);
  tile("cost", fmt.usd(s.cost_usd_total),
    unknown ? `all time; ${fmt.count(unknown)} call(s) not fully priced` : "all time",
    unknown ? "warn" : "");
  const tokens = Object.values(s.tokens_total ?? {}).reduce((a, b) => a + b, 0);
  tile("tokens", fmt.compact(tokens), `${fmt.compact(s.tokens_total?.output ?? 0)} output`);
  $('[data-tile="tokens"] .value').title = fmt.count(tokens);
  tile("cache", fmt.ratio(s.cache_hit_ratio), "of input tokens");
  const states = Object.values(s.breakers ?? {});
  const open = states.filter((v) => v === "open").length;
  const half = states.filter((v) => v === "half_open").length;
  tile("breakers", states.length ? `${open} open` : "–",
    !states.length ? "none reported" : half ? `${half} half-open, of ${states.length}` : `of ${states.length}`,
    open ? "bad" : half ? "warn" : "");
  tile("loops", fmt.count(s.loop_detections), "all time", s.loop_detections ? "warn" : "");
  const rules = Object.entries(s.alerts ?? {});
  const firing = rules.filter(([, a]) => a.firing_now > 0);
  const firingCount = firing.reduce((a, [, v]) => a + v.firing_now, 0);
  tile("alerts", fmt.count(firingCount),
    firing.length ? firing.map(([rule]) => rule).join(", ") : rules.length ? "none firing" : "no rule has fired",
    firingCount ? "bad" : "");
  updateAgents(agents);
  renderBreakers();
  updateFooter();
}

function updateAgents(agents) {
  const select = $("#agent");
  const wanted = ["", ...agents];
  if (state.agent && !wanted.includes(state.agent)) wanted.push(state.agent);
  const have = [...select.options].map((o) => o.value);
  if (have.join("\n") === wanted.join("\n")) return;
  select.replaceChildren(
    ...wanted.map((name) => {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name || "All agents";
      return option;
    }),
  );
  select.value = state.agent;
}

// --- the charts ---------------------------------------------------------------------------

const charts = {
  timer: null,
  sequence: 0,

  now() {
    clearTimeout(this.timer);
    this.refresh();
  },

  later(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), ms);
  },

  async refresh() {
    if (document.hidden || $("#token-dialog").open) return; // resumed on visibility or token
    const sequence = ++this.sequence;
    const base = [["timeframe", state.timeframe]];
    if (state.agent) base.push(["agent", state.agent]);
    const query = (...more) => `/api/v1/metrics?${new URLSearchParams([...base, ...more])}`;
    try {
      // One query with every group (p95 latencies), and the p50 and p99 latency series.
      const [main, p50, p99] = await Promise.all([
        api(query(["aggregation", "p95"])),
        api(query(["metrics", "performance"], ["aggregation", "p50"])),
        api(query(["metrics", "performance"], ["aggregation", "p99"])),
      ]);
      // Answers to an older selection arrive late sometimes: only the newest is drawn.
      if (sequence !== this.sequence) return;
      state.docs = { main, p50, p99 };
      state.chartsAt = Date.now();
      banner(null);
      render();
      this.later(REFRESH_MS[state.timeframe]);
    } catch (error) {
      if (sequence !== this.sequence) return;
      if (error.status === 401) {
        askForToken();
        return;
      }
      const wait = error.retryAfterS ? error.retryAfterS * 1000 : 10e3;
      banner(`Could not refresh the charts (${error.message}); trying again in ${Math.round(wait / 1000)} s.`);
      this.later(wait);
    }
  },
};

function banner(text) {
  const node = $("#banner");
  node.hidden = !text;
  node.textContent = text ?? "";
}

function card(id) {
  const node = $(`#card-${id}`);
  return {
    node,
    chart: node.querySelector(".chart"),
    legend: node.querySelector(".legend"),
    note: (text) => {
      node.querySelector(".note").textContent = text;
    },
  };
}

function render() {
  const docs = state.docs;
  if (!docs) return;
  const { main } = docs;
  if (state.agent && main.hasData === false) {
    // An agent the store holds nothing of answers empty sections, not zeros: say so. An
    // empty store without an agent picked shows each card's own empty state instead.
    banner(`No data for agent "${state.agent}": the store has never seen it; pick another.`);
    return;
  }
  const points = main.performance.timeSeries;
  const axis = {
    times: points.map((p) => Date.parse(p.timestamp)),
    stepMs: STEP_MS[main.granularity],
  };
  renderRequests(main, axis);
  renderLatency(docs, axis);
  renderTokens(main, axis);
  renderCost(main, axis);
  renderBreakdown(main);
  renderCache(main, axis);
  renderErrors(main);
  renderBreakers();
  renderLoops(main);
  renderAlerts(main);
  renderEndpoints(main);
  renderInsights(main);
  updateFooter();
}

/**
 * Seconds each step has lasted: the whole step, but for the last one, still in progress,
 * only until the answer was made (a rate over the whole of it would show a false drop).
 */
function stepSeconds(doc, axis) {
  const made = Date.parse(doc.generatedAt);
  return axis.times.map((t) => Math.max(1, Math.min(axis.stepMs, made - t) / 1000));
}

function renderRequests(doc, axis) {
  const c = card("requests");
  const seconds = stepSeconds(doc, axis);
  const points = doc.performance.timeSeries;
  const all = points.map((p, i) => p.executions / seconds[i]);
  const failed = points.map((p, i) => p.failed / seconds[i]);
  const unit = fmt.rateUnit(Math.max(0, ...all));
  const series = [
    { name: "All calls", values: all, cls: "c0" },
    { name: "Failed", values: failed, cls: "bad" },
  ];
  legend(c.legend, series);
  timeChart(c.chart, {
    ...axis, series, kind: "area", stacked: false, format: (v) => fmt.rate(v, unit),
    label: "LLM and tool calls per second", emptyText: "No calls yet",
  });
  const s = doc.summary;
  c.note(s.totalExecutions
    ? `${fmt.count(s.totalExecutions)} LLM and tool calls · ${fmt.percent(s.successRate)} succeeded`
    : "LLM and tool calls");
}

function renderLatency({ main, p50, p99 }, axis) {
  const c = card("latency");
  const pick = (doc) => doc.performance.timeSeries.map((p) => p.llmLatency);
  const series = [
    { name: "p50", values: pick(p50), cls: "c2" },
    { name: "p95", values: pick(main), cls: "c0" },
    { name: "p99", values: pick(p99), cls: "c3", dashed: true },
  ];
  legend(c.legend, series);
  // Drawn p99 first: with few calls in a step p95 and p99 coincide, and p95 stays on top.
  timeChart(c.chart, {
    ...axis, series: series.slice().reverse(), kind: "line", format: fmt.seconds, axisFormat: fmt.secondsAxis,
    label: "LLM call latency percentiles",
    emptyText: "No LLM calls yet",
  });
  const llm = main.performance.endpoints.filter((e) => e.endpoint.startsWith("llm:"));
  const slowest = llm.slice().sort((a, b) => (b.p95Latency ?? 0) - (a.p95Latency ?? 0))[0];
  c.note(slowest
    ? `Per ${fmt.step(axis.stepMs / 1000)} step · slowest p95: ${slowest.endpoint.slice(4)} ${fmt.seconds(slowest.p95Latency)}`
    : `Per ${fmt.step(axis.stepMs / 1000)} step`);
}

function modelSeries(models) {
  return models.map((m, i) => ({ name: m.model, values: m.values, total: m.total, cls: `c${i % 8}` }));
}

function renderTokens(doc, axis) {
  const c = card("tokens");
  const seconds = stepSeconds(doc, axis);
  const models = modelSeries(doc.usage.models ?? []);
  const series = models.map((m) => ({ ...m, values: m.values.map((v, i) => v / seconds[i]) }));
  const peak = Math.max(0, ...series.map((s) => s.values).reduce(
    (sum, values) => sum.map((v, i) => v + values[i]), new Array(axis.times.length).fill(0)));
  const unit = fmt.rateUnit(peak);
  const format = (v) => `${fmt.compact(v * unit.factor)} tokens${unit.suffix}`;
  const axisFormat = (v) => fmt.compact(v * unit.factor) + unit.suffix;
  legend(c.legend, models.map((m) => ({ ...m, value: fmt.compact(m.total) })));
  timeChart(c.chart, {
    ...axis, series, kind: "area", format, axisFormat, label: "Tokens per second by model",
    emptyText: "No tokens yet",
  });
  const totals = doc.usage.totals;
  const all = totals.inputTokens + totals.outputTokens + totals.cacheReadTokens
    + totals.cacheWrite5mTokens + totals.cacheWrite1hTokens;
  c.note(all ? `${fmt.compact(all)} tokens in ${state.timeframe}, every type` : "Input, output and cache tokens");
}

function renderCost(doc, axis) {
  const c = card("cost");
  const series = modelSeries(doc.costs.models ?? []);
  legend(c.legend, series.map((m) => ({ ...m, value: fmt.usd(m.total) })));
  timeChart(c.chart, {
    ...axis, series, kind: "bars", format: fmt.usdAxis, label: "Cost per step by model", emptyText: "Nothing spent yet",
  });
  const t = doc.costs.trends;
  const parts = [`${fmt.usd(doc.costs.total)} in ${state.timeframe}, per ${fmt.step(axis.stepMs / 1000)} step`];
  if (t.changePercent !== null && doc.costs.total > 0) {
    const arrow = t.trend === "increasing" ? "▲" : t.trend === "decreasing" ? "▼" : "≈";
    parts.push(`${arrow} ${fmt.percent(Math.abs(t.changePercent))} vs the ${state.timeframe} before`);
  }
  c.note(parts.join(" · "));
}

function renderBreakdown(doc) {
  const c = card("breakdown");
  const byType = doc.costs.breakdown.byTokenType;
  donut(c.chart, {
    items: TOKEN_TYPES.map(([key, name, cls]) => ({ name, value: byType[key] ?? 0, cls })),
    format: fmt.usd,
    centerLabel: `in ${state.timeframe}`,
  });
  const t = doc.costs.trends;
  const b = doc.costs.budget;
  c.note(b
    ? `Budget ${fmt.usd(b.budget)}/month: ${fmt.usd(b.spent)} spent, ${fmt.usd(b.projected)} projected${b.onTrack ? "" : " (over)"}`
    : `Month to date ${fmt.usd(t.monthToDate)} · projected ${fmt.usd(t.projectedMonthly)}`);
}

function renderCache(doc, axis) {
  const c = card("cache");
  const points = doc.cache.timeSeries;
  timeChart(c.chart, {
    ...axis,
    series: [{ name: "Hit ratio", values: points.map((p) => p.hitRatio), cls: "c2" }],
    kind: "line", yMax: 1, format: fmt.ratio, axisFormat: fmt.ratioAxis,
    label: "Prompt cache hit ratio", emptyText: "No input tokens yet",
  });
  const t = doc.cache.totals;
  c.note(t.hitRatio === null ? "Cache reads over all input tokens"
    : `${fmt.ratio(t.hitRatio)} in ${state.timeframe} · ${fmt.usd(t.savedUsd)} saved`);
}

function kindName(kind) {
  const words = kind.replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function renderErrors(doc) {
  const c = card("errors");
  const byKind = doc.errors.breakdown.byKind;
  barList(c.chart, {
    items: Object.entries(byKind).map(([kind, n]) => ({ name: kindName(kind), value: n })),
    cls: "bad",
    emptyTitle: "No errors",
    emptyHint: "Nothing failed in this window.",
  });
  const src = doc.errors.breakdown.bySource;
  const total = src.llm + src.tool + src.other;
  c.note(total ? `${fmt.count(src.llm)} LLM · ${fmt.count(src.tool)} tool · ${fmt.count(src.other)} other` : "Classified errors by kind");
}

const STATE_NAMES = { closed: "closed", half_open: "half-open", open: "open" };

function renderBreakers() {
  const c = card("breakers");
  const now = state.snapshot?.breakers ?? state.docs?.main.breakers.current ?? {};
  const inWindow = new Map((state.docs?.main.breakers.byBreaker ?? []).map((b) => [b.breaker, b]));
  const names = [...new Set([...Object.keys(now), ...inWindow.keys()])].sort();
  if (!names.length) {
    empty(c.chart, "No breakers reported", "Circuit breakers appear once one changes state.");
    c.note("State now, and changes in the window");
    return;
  }
  const list = document.createElement("ul");
  list.className = "rows";
  for (const name of names) {
    const b = inWindow.get(name);
    const st = now[name] ?? b?.state ?? "closed";
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.className = "row-name";
    label.textContent = name;
    const pill = document.createElement("span");
    pill.className = `pill ${st}`;
    pill.textContent = STATE_NAMES[st] ?? st;
    const detail = document.createElement("small");
    detail.textContent = b ? `opened ${fmt.count(b.opened)}× · ${fmt.count(b.rejections)} rejected` : "no change in window";
    li.append(label, pill, detail);
    list.append(li);
  }
  c.chart.replaceChildren(list);
  const open = names.filter((n) => now[n] === "open").length;
  c.note(open ? `${open} open now: calls fail fast` : "State now, and changes in the window");
}

function renderLoops(doc) {
  const c = card("loops");
  const tools = doc.tools.byTool.filter((t) => t.loopDetections > 0);
  const inWindow = tools.reduce((a, t) => a + t.loopDetections, 0);
  barList(c.chart, {
    items: tools.map((t) => ({ name: t.tool, value: t.loopDetections })),
    cls: "warn",
    emptyTitle: "No loops",
    emptyHint: "The loop guard caught no tool looping in this window.",
  });
  const allTime = state.snapshot?.loop_detections;
  c.note(`${fmt.count(inWindow)} in ${state.timeframe}${allTime === undefined ? "" : ` · ${fmt.count(allTime)} all time`}`);
}

function renderAlerts(doc) {
  const c = card("alerts");
  const section = doc.alerts ?? { byRule: [], recent: [] };
  const firing = section.byRule.filter((r) => r.firingNow > 0);
  if (!firing.length && !section.recent.length) {
    empty(c.chart, "No alerts", "No alert rule changed state in this window.");
    c.note("Alert rules the service evaluates");
    return;
  }
  const list = document.createElement("ul");
  list.className = "rows";
  const spanMs = STEP_MS[doc.granularity] * doc.performance.timeSeries.length;
  for (const r of firing) {
    list.append(alertRow("now", r.rule, "firing", r.firingNow > 1 ? `${r.firingNow} alerts` : ""));
  }
  for (const a of section.recent) {
    list.append(alertRow(fmt.when(Date.parse(a.timestamp), spanMs), a.rule, a.state, a.count > 1 ? `×${a.count}` : ""));
  }
  c.chart.replaceChildren(list);
  c.note(firing.length ? `${firing.length} rule${firing.length > 1 ? "s" : ""} firing now` : "None firing now");
}

function alertRow(time, rule, st, extra) {
  const li = document.createElement("li");
  const at = document.createElement("time");
  at.textContent = time;
  const name = document.createElement("span");
  name.className = "row-name";
  name.textContent = rule;
  const pill = document.createElement("span");
  pill.className = `pill ${st}`;
  pill.textContent = st;
  const more = document.createElement("small");
  more.textContent = extra;
  li.append(at, name, pill, more);
  return li;
}

function renderEndpoints(doc) {
  const c = card("endpoints");
  const rows = doc.performance.endpoints.slice().sort((a, b) => b.requests - a.requests).slice(0, 10);
  if (!rows.length) {
    empty(c.chart, "No calls yet", "Models and tools appear here once called.");
    c.note("Models and tools by calls");
    return;
  }
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const h of ["Endpoint", "Share of calls", "Calls", "Errors", "Avg", "p95", "p99"]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.append(th);
  }
  const most = rows[0].requests;
  const body = table.createTBody();
  for (const e of rows) {
    const tr = body.insertRow();
    const [kind, ...rest] = e.endpoint.split(":");
    const first = tr.insertCell();
    const badge = document.createElement("span");
    badge.className = `kind ${kind}`;
    badge.textContent = kind === "llm" ? "LLM" : kind;
    first.append(badge, document.createTextNode(rest.join(":")));
    const share = tr.insertCell();
    share.className = "share";
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = `fill ${kind === "llm" ? "c0" : "c2"}`;
    fill.style.width = `${Math.max(1, (100 * e.requests) / most)}%`;
    track.append(fill);
    share.append(track);
    const errorShare = e.requests ? (100 * e.errors) / e.requests : 0;
    const cells = [
      fmt.count(e.requests),
      e.errors ? `${fmt.count(e.errors)} (${fmt.percent(errorShare)})` : "0",
      fmt.seconds(e.averageLatency),
      fmt.seconds(e.p95Latency),
      fmt.seconds(e.p99Latency),
    ];
    cells.forEach((text, i) => {
      const td = tr.insertCell();
      td.textContent = text;
      if (i === 1 && e.errors) td.className = "bad-text";
    });
  }
  c.chart.replaceChildren(table);
  c.note(`By calls in ${state.timeframe}${doc.performance.endpoints.length > 10 ? " (top 10)" : ""}`);
}

function renderInsights(doc) {
  const c = card("insights");
  const findings = doc.insights?.findings ?? [];
  if (!findings.length) {
    empty(c.chart, "Nothing stands out", "No rule found a cost trend, latency spike, flapping breaker, loop or cache waste.");
    c.note("Rule-based findings over the window");
    return;
  }
  const list = document.createElement("ul");
  list.className = "insights";
  for (const f of findings) {
    const li = document.createElement("li");
    li.className = f.severity;
    const badge = document.createElement("span");
    badge.className = `severity ${f.severity}`;
    badge.textContent = f.severity;
    const message = document.createElement("p");
    message.textContent = f.message;
    const advice = document.createElement("small");
    advice.textContent = f.recommendation;
    li.append(badge, message, advice);
    list.append(li);
  }
  c.chart.replaceChildren(list);
  c.note(`${findings.length} finding${findings.length > 1 ? "s" : ""} in ${state.timeframe}`);
}

function updateFooter() {
  const parts = [];
  if (state.chartsAt) parts.push(`Charts updated ${new Date(state.chartsAt).toLocaleTimeString()}`);
  if (state.docs) parts.push(`${fmt.step(STEP_MS[state.docs.main.granularity] / 1000)} steps`);
  if (state.snapshot) parts.push(`service up ${fmt.age(state.snapshot.uptime_seconds)}`);
  $("#updated").textContent = parts.join(" · ") || "Waiting for data…";
}

// --- controls -----------------------------------------------------------------------------

function showTimeframe() {
  for (const button of document.querySelectorAll("#timeframe button")) {
    const on = button.dataset.timeframe === state.timeframe;
    button.setAttribute("aria-checked", String(on));
    button.classList.toggle("on", on);
  }
}

function init() {
  readFragment();
  showTimeframe();
  updateAgents([]);
  for (const button of document.querySelectorAll("#timeframe button")) {
    button.addEventListener("click", () => {
      state.timeframe = button.dataset.timeframe;
      showTimeframe();
      writeFragment();
      charts.now();
    });
  }
  $("#agent").addEventListener("change", (event) => {
    state.agent = event.target.value;
    writeFragment();
    charts.now();
  });
  $("#token-form").addEventListener("submit", onTokenSubmit);
  window.addEventListener("hashchange", () => {
    const newToken = new URLSearchParams(location.hash.slice(1)).has("token");
    readFragment();
    showTimeframe();
    if (newToken) stream.start();
    charts.now();
  });
  $("#live").addEventListener("click", () => {
    if ($("#live").classList.contains("locked")) askForToken();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && (!state.chartsAt || Date.now() - state.chartsAt > REFRESH_MS[state.timeframe])) charts.now();
  });
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(render, 150);
  });
  stream.start();
  charts.now();
}

init();
