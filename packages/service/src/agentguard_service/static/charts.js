// Small SVG charts: time series (lines, stacked areas, stacked bars), a donut and bar lists.
// Colours come from CSS classes (c0..c7, ok, bad, ...), so both themes live in page.css.
// No inline style attributes anywhere: the page's Content-Security-Policy forbids them
// (setting element.style through the DOM is allowed; setAttribute("style") is not).

import * as fmt from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { top: 10, right: 12, bottom: 24, left: 56 };

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function html(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Replace what `container` shows with a "no data" note. */
export function empty(container, title, hint) {
  container.replaceChildren();
  const box = html("div", "empty");
  box.append(html("strong", "", title));
  if (hint) box.append(html("span", "", hint));
  container.append(box);
}

/**
 * An axis from 0 holding `max`: a step of 1, 2, 2.5 or 5 times a power of ten, about
 * `intervals` of them, and the top a whole number of steps (so every label is round).
 */
export function niceScale(max, intervals = 4) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / intervals;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= raw * (1 - 1e-9));
  return { top: Math.ceil(max / step - 1e-9) * step, step };
}

const TICK_STEPS = [60, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
  .map((s) => s * 1000);

function timeTicks(start, end, maxTicks) {
  const span = end - start;
  const stepMs = TICK_STEPS.find((s) => span / s <= maxTicks) ?? TICK_STEPS.at(-1);
  // Align ticks to the step in local time, so hours fall on the hour where the user is.
  const offset = new Date(start).getTimezoneOffset() * 60e3;
  const first = Math.ceil((start - offset) / stepMs) * stepMs + offset;
  const ticks = [];
  for (let t = first; t <= end; t += stepMs) ticks.push(t);
  return { ticks, stepMs };
}

/**
 * A time series chart.
 *
 * options:
 *   times      step starts (ms since the epoch), one per point
 *   stepMs     the width of a step
 *   series     [{name, values (numbers or null), cls, dashed}]
 *   kind       "line" | "area" | "bars"
 *   format     value -> text, for the tooltip
 *   axisFormat value -> text, for the y axis (shorter; `format` by default)
 *   stacked    whether areas and bars are stacked (true by default; lines never are)
 *   yMax       a fixed top for the y axis (1 for ratios), else a nice round top
 *   emptyText  what to say when there is nothing to draw
 */
export function timeChart(container, options) {
  const { times, stepMs, series, kind = "line", format = String, yMax, emptyText } = options;
  const axisFormat = options.axisFormat ?? format;
  const n = times.length;
  const hasData = series.some((s) => s.values.some((v) => v !== null && v !== 0));
  if (!n || !hasData) {
    empty(container, emptyText ?? "No data yet", "Nothing was recorded in this window.");
    return;
  }
  const width = Math.max(240, container.clientWidth || 480);
  const height = options.height ?? 190;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const start = times[0];
  const end = times[n - 1] + stepMs;
  const x = (t) => MARGIN.left + ((t - start) / (end - start)) * plotW;
  const stacked = kind !== "line" && options.stacked !== false;

  // Stacks: the running total under each series, step by step.
  const bases = [];
  const tops = [];
  let running = new Array(n).fill(0);
  for (const s of series) {
    bases.push(running);
    const top = running.map((r, i) => (stacked ? r + (s.values[i] ?? 0) : s.values[i]));
    tops.push(top);
    if (stacked) running = top;
  }
  const peak = Math.max(0, ...tops.flat().filter((v) => v !== null));
  const scale = yMax ? { top: yMax, step: yMax / 4 } : niceScale(peak);
  const top = scale.top;
  const y = (v) => MARGIN.top + plotH - (Math.min(v, top) / top) * plotH;

  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`, width, height, class: "chart-svg", role: "img",
    "aria-label": options.label ?? "",
  });

  // Grid and y axis: a line and a label at every step from 0 to the top.
  const grid = el("g", { class: "grid" }, svg);
  for (let i = 0; i * scale.step <= top * (1 + 1e-9); i++) {
    const v = i * scale.step;
    const gy = y(v);
    el("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: gy, y2: gy }, grid);
    el("text", { x: MARGIN.left - 8, y: gy + 4, class: "y-label" }, grid).textContent = axisFormat(v);
  }
  const { ticks, stepMs: tickMs } = timeTicks(start, end, Math.max(2, Math.floor(plotW / 90)));
  const axis = el("g", { class: "x-axis" }, svg);
  for (const t of ticks) {
    el("text", { x: x(t), y: height - 6, class: "x-label" }, axis).textContent = fmt.tick(t, tickMs);
  }

  const marks = el("g", { class: "marks" }, svg);
  series.forEach((s, k) => {
    if (kind === "bars") {
      const bw = Math.max(1, (plotW / n) * 0.8);
      const gap = (plotW / n - bw) / 2;
      for (let i = 0; i < n; i++) {
        const v = s.values[i];
        if (!v) continue;
        const y0 = y(bases[k][i]);
        const y1 = y(tops[k][i]);
        el("rect", {
          x: x(times[i]) + gap, y: y1, width: bw, height: Math.max(0.5, y0 - y1),
          class: `bar ${s.cls}`,
        }, marks);
      }
      return;
    }
    // A line is cut where a step has no value (null); a lone point is drawn as a dot.
    const mid = (i) => x(times[i] + stepMs / 2);
    let d = "";
    let area = "";
    let run = [];
    const flush = () => {
      if (run.length === 1) {
        const i = run[0];
        el("circle", { cx: mid(i), cy: y(tops[k][i]), r: 2.5, class: `dot ${s.cls}` }, marks);
      } else if (run.length > 1) {
        d += run.map((i, j) => `${j ? "L" : "M"}${mid(i).toFixed(1)},${y(tops[k][i]).toFixed(1)}`).join("");
        if (kind === "area") {
          const upper = run.map((i, j) => `${j ? "L" : "M"}${mid(i).toFixed(1)},${y(tops[k][i]).toFixed(1)}`).join("");
          const lower = run.slice().reverse().map((i) => `L${mid(i).toFixed(1)},${y(bases[k][i]).toFixed(1)}`).join("");
          area += `${upper}${lower}Z`;
        }
      }
      run = [];
    };
    for (let i = 0; i < n; i++) {
      if (s.values[i] === null || s.values[i] === undefined) flush();
      else run.push(i);
    }
    flush();
    if (area) el("path", { d: area, class: `area ${s.cls}` }, marks);
    if (d) el("path", { d, class: `line ${s.cls}${s.dashed ? " dashed" : ""}` }, marks);
  });

  // Hover: a guide line and a tooltip with every series at the step under the pointer.
  const guide = el("line", { y1: MARGIN.top, y2: MARGIN.top + plotH, class: "guide", visibility: "hidden" }, svg);
  const hit = el("rect", {
    x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH, class: "hit",
  }, svg);
  const tip = html("div", "tip");
  tip.hidden = true;
  hit.addEventListener("pointermove", (event) => {
    const box = svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * width;
    const i = Math.min(n - 1, Math.max(0, Math.floor(((px - MARGIN.left) / plotW) * n)));
    const gx = x(times[i] + stepMs / 2);
    guide.setAttribute("x1", gx);
    guide.setAttribute("x2", gx);
    guide.setAttribute("visibility", "visible");
    tip.replaceChildren(html("div", "tip-time", fmt.when(times[i], end - start)));
    for (const s of series.slice().reverse()) {
      const row = html("div", "tip-row");
      row.append(html("i", `sw ${s.cls}`), html("span", "", s.name), html("b", "", format(s.values[i])));
      tip.append(row);
    }
    tip.hidden = false;
    const left = (gx / width) * box.width;
    tip.classList.toggle("left", left > box.width / 2);
    tip.style.left = `${left}px`;
  });
  hit.addEventListener("pointerleave", () => {
    guide.setAttribute("visibility", "hidden");
    tip.hidden = true;
  });

  container.replaceChildren(svg, tip);
}

/** A legend: a swatch and a name per series (and a value, when given). */
export function legend(container, items) {
  container.replaceChildren(
    ...items.map((item) => {
      const entry = html("span", "legend-item");
      entry.append(html("i", `sw ${item.cls}`), html("span", "", item.name));
      if (item.value !== undefined) entry.append(html("b", "", item.value));
      return entry;
    }),
  );
}

/** A donut of parts of a whole, with the total in the middle. */
export function donut(container, { items, format = String, centerLabel = "" }) {
  const shown = items.filter((i) => i.value > 0);
  const total = shown.reduce((a, i) => a + i.value, 0);
  if (!total) {
    empty(container, "No data yet", "Nothing was spent in this window.");
    return;
  }
  const size = 150;
  const r = 62;
  const inner = 42;
  const svg = el("svg", {
    viewBox: `0 0 ${size} ${size}`, width: size, height: size, class: "donut", role: "img",
    "aria-label": centerLabel,
  });
  let angle = -Math.PI / 2;
  const point = (rad, a) => `${(size / 2 + rad * Math.cos(a)).toFixed(2)},${(size / 2 + rad * Math.sin(a)).toFixed(2)}`;
  for (const item of shown) {
    // A full circle cannot be one arc (its ends meet): draw it as two halves.
    const sweep = Math.min((item.value / total) * 2 * Math.PI, 2 * Math.PI - 1e-4);
    const a0 = angle;
    const a1 = angle + sweep;
    const large = sweep > Math.PI ? 1 : 0;
    const d = `M${point(r, a0)}A${r},${r} 0 ${large} 1 ${point(r, a1)}L${point(inner, a1)}A${inner},${inner} 0 ${large} 0 ${point(inner, a0)}Z`;
    const slice = el("path", { d, class: `slice ${item.cls}` }, svg);
    el("title", {}, slice).textContent = `${item.name}: ${format(item.value)}`;
    angle = a1;
  }
  el("text", { x: size / 2, y: size / 2 - 2, class: "donut-total" }, svg).textContent = format(total);
  el("text", { x: size / 2, y: size / 2 + 14, class: "donut-label" }, svg).textContent = centerLabel;

  const list = html("ul", "donut-legend");
  for (const item of shown) {
    const li = html("li");
    li.append(
      html("i", `sw ${item.cls}`),
      html("span", "", item.name),
      html("b", "", format(item.value)),
      html("small", "", fmt.ratio(item.value / total)),
    );
    list.append(li);
  }
  container.replaceChildren(svg, list);
}

/** Horizontal bars, largest first: one row per item with its value. */
export function barList(container, { items, format = fmt.count, cls = "c0", emptyTitle, emptyHint }) {
  const shown = items.filter((i) => i.value > 0).sort((a, b) => b.value - a.value);
  if (!shown.length) {
    empty(container, emptyTitle ?? "Nothing yet", emptyHint);
    return;
  }
  const max = shown[0].value;
  const list = html("ul", "bars");
  for (const item of shown) {
    const li = html("li");
    const track = html("div", "track");
    const fill = html("div", `fill ${item.cls ?? cls}`);
    fill.style.width = `${Math.max(2, (item.value / max) * 100)}%`;
    track.append(fill);
    li.append(html("span", "bar-name", item.name), track, html("b", "", format(item.value)));
    if (item.note) li.append(html("small", "", item.note));
    list.append(li);
  }
  container.replaceChildren(list);
}
