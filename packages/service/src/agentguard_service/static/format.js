// Units as people read them: dollars, milliseconds, tokens per second, percentages.
// Numbers follow the browser's locale; every function takes null (no data) and says "–".

const DASH = "–";
const intl = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compactIntl = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const dollars = new Intl.NumberFormat(undefined, { style: "currency", currency: "USD" });
const cents = new Intl.NumberFormat(undefined, {
  style: "currency", currency: "USD", maximumSignificantDigits: 2,
});
const oneDecimal = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const oneDecimalAtMost = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const twoSignificant = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 2 });

const missing = (v) => v === null || v === undefined || Number.isNaN(v);

/** A count: 12,345. */
export function count(v) {
  return missing(v) ? DASH : intl.format(v);
}

/** A count for axes and tight spots: 12.3K. */
export function compact(v) {
  return missing(v) ? DASH : compactIntl.format(v);
}

/** US dollars: $12.34; amounts under a cent keep two significant digits ($0.0042). */
export function usd(v) {
  if (missing(v)) return DASH;
  if (v !== 0 && Math.abs(v) < 0.01) return cents.format(v);
  return dollars.format(v);
}

/** US dollars on an axis: $0, $1.5K. */
export function usdAxis(v) {
  if (missing(v)) return DASH;
  if (Math.abs(v) >= 1000) return "$" + compactIntl.format(v);
  return usd(v);
}

/** A ratio from 0 to 1 as a percentage: 87.3%. */
export function ratio(v) {
  return missing(v) ? DASH : oneDecimal.format(v * 100) + "%";
}

/** A percentage already in percent: 12.5%. */
export function percent(v) {
  return missing(v) ? DASH : oneDecimal.format(v) + "%";
}

/** A duration given in seconds: 850 ms, 1.25 s, 2.5 min. */
export function seconds(v) {
  if (missing(v)) return DASH;
  if (v < 0.01) return twoSignificant.format(v * 1000) + " ms";
  if (v < 1) return intl.format(v * 1000) + " ms";
  if (v < 60) return twoDecimals(v) + " s";
  if (v < 3600) return oneDecimal.format(v / 60) + " min";
  return oneDecimal.format(v / 3600) + " h";
}

/** A duration on an axis, as short as it can be: 0, 250 ms, 1.5 s, 20 s. */
export function secondsAxis(v) {
  if (missing(v)) return DASH;
  if (v === 0) return "0";
  if (v < 1) return intl.format(v * 1000) + " ms";
  return oneDecimalAtMost.format(v) + " s";
}

/** A ratio on an axis: 0%, 25%, 100%. */
export function ratioAxis(v) {
  return missing(v) ? DASH : intl.format(v * 100) + "%";
}

/** A duration given in milliseconds (the snapshot's unit). */
export function millis(v) {
  return missing(v) ? DASH : seconds(v / 1000);
}

function twoDecimals(v) {
  return v.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

/**
 * How to show a rate whose largest value is `maxPerSecond`: per second, or per minute
 * when everything is below one a second (0.05/s reads worse than 3/min).
 */
export function rateUnit(maxPerSecond) {
  return maxPerSecond >= 1 ? { factor: 1, suffix: "/s" } : { factor: 60, suffix: "/min" };
}

/** A rate with its unit: 4.2/s, 12/min. */
export function rate(perSecond, unit = rateUnit(perSecond)) {
  if (missing(perSecond)) return DASH;
  const v = perSecond * unit.factor;
  const text = v >= 100 ? intl.format(v) : twoSignificant.format(v);
  return text + unit.suffix;
}

/** How long ago, from seconds: 3 s, 4 min, 2 h, 5 d. */
export function age(s) {
  if (missing(s)) return DASH;
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** A step of the time axis (seconds) as words: 1 min, 15 min, 1 h, 1 day. */
export function step(s) {
  if (s < 3600) return `${s / 60} min`;
  if (s < 86400) return `${s / 3600} h`;
  return `${s / 86400} day`;
}

const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayAndTime = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const dayOnly = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

/** A moment (ms since the epoch) at the precision a window of `spanMs` needs. */
export function when(ms, spanMs) {
  if (spanMs <= 86400e3) return timeOfDay.format(ms);
  return dayAndTime.format(ms);
}

/** An axis label: hours and minutes within a day, the day beyond. */
export function tick(ms, tickStepMs) {
  return tickStepMs >= 86400e3 ? dayOnly.format(ms) : timeOfDay.format(ms);
}
