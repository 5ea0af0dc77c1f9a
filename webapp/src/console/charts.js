// Small SVG charts drawn at the size they are shown (text stays readable on a phone): bars or lines
// over days, and horizontal bars for "per plan" lists. Colours come from the stylesheet (classes
// s1..s3), never from style attributes, so the strict Content-Security-Policy holds. Time runs left to
// right in both languages, like the figures on the axis.
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { lang, number } from "../i18n.js";
import { html } from "../ui.js";

function useWidth(fallback = 560) {
  const ref = useRef(null);
  const [width, setWidth] = useState(fallback);
  useLayoutEffect(() => {
    if (!ref.current) return undefined;
    setWidth(Math.max(220, Math.floor(ref.current.getBoundingClientRect().width)));
    const observer = new ResizeObserver(([entry]) => setWidth(Math.max(220, Math.floor(entry.contentRect.width))));
    observer.observe(ref.current);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

// 0 and about four round steps up to the largest value (1, 2, 2.5 or 5 times a power of ten; whole
// steps for counts: half a message is no tick).
export function niceTicks(max, count = 4, integer = false) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(integer ? 1 : 0, [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw && (!integer || Number.isInteger(s))) || 10 * power);
  const ticks = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(v);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

// 1.2K, 3.4M; below one, two significant digits (a day's provider cost is often a fraction of a cent).
export function compact(value) {
  const small = value !== 0 && Math.abs(value) < 1;
  return new Intl.NumberFormat(lang.value === "fa" ? "fa-IR" : "en-US",
    small ? { maximumSignificantDigits: 2 } : { notation: "compact", maximumFractionDigits: 1 }).format(value);
}

export function dayLabel(iso) {
  return new Intl.DateTimeFormat(lang.value === "fa" ? "fa-IR" : "en-GB", { day: "numeric", month: "short", timeZone: "UTC" })
    .format(new Date(`${iso}T00:00:00Z`));
}

const PAD = { top: 12, right: 12, bottom: 26, left: 48 };

// days: [{date, ...}]; series: [{label, cls, value(day)}]. "bar" stacks the series, "line" overlays them.
export function TimeChart({ days, series, kind = "bar", height = 190, format = compact, testid, label, integer = false }) {
  const [ref, width] = useWidth();
  const inner = { w: width - PAD.left - PAD.right, h: height - PAD.top - PAD.bottom };
  const totals = days.map((d) => (kind === "bar" ? series.reduce((sum, s) => sum + s.value(d), 0) : Math.max(...series.map((s) => s.value(d)))));
  const ticks = niceTicks(Math.max(0, ...totals), 4, integer);
  const top = ticks[ticks.length - 1] || 1;
  const y = (v) => PAD.top + inner.h - (v / top) * inner.h;
  const slot = inner.w / Math.max(1, days.length);
  const x = (i) => PAD.left + slot * i + slot / 2;
  const barWidth = Math.max(1, Math.min(28, slot * 0.7));
  const labelEvery = Math.max(1, Math.ceil(days.length / Math.max(2, Math.floor(inner.w / 64))));
  const sum = totals.reduce((a, b) => a + b, 0);
  return html`<div class="chart" ref=${ref} data-testid=${testid}>
    <svg width=${width} height=${height} role="img" aria-label=${`${label}: ${format(sum)}`} dir="ltr">
      ${ticks.map((tick) => html`<g class="grid-line"><line x1=${PAD.left} x2=${width - PAD.right} y1=${y(tick)} y2=${y(tick)} />
        <text x=${PAD.left - 6} y=${y(tick) + 4} text-anchor="end">${format(tick)}</text></g>`)}
      ${days.map((d, i) => (i % labelEvery === 0 ? html`<text class="x-label" x=${x(i)} y=${height - 8} text-anchor="middle">${dayLabel(d.date)}</text>` : null))}
      ${kind === "bar" ? days.map((d, i) => {
        let base = 0;
        return html`<g class="bar-group"><title>${`${dayLabel(d.date)}: ${series.map((s) => `${s.label} ${format(s.value(d))}`).join(" · ")}`}</title>
          <rect class="hit" x=${x(i) - slot / 2} y=${PAD.top} width=${slot} height=${inner.h} />
          ${series.map((s) => {
            const v = s.value(d);
            const rect = v > 0 ? html`<rect class=${`bar ${s.cls}`} x=${x(i) - barWidth / 2} y=${y(base + v)} width=${barWidth}
              height=${Math.max(1, y(base) - y(base + v))} rx=${Math.min(3, barWidth / 3)} />` : null;
            base += v;
            return rect;
          })}</g>`;
      }) : series.map((s) => html`<g class=${`line ${s.cls}`}>
          <polyline points=${days.map((d, i) => `${x(i)},${y(s.value(d))}`).join(" ")} />
          ${days.length <= 62 ? days.map((d, i) => html`<circle cx=${x(i)} cy=${y(s.value(d))} r="2.5"><title>${`${dayLabel(d.date)}: ${s.label} ${format(s.value(d))}`}</title></circle>`) : null}
        </g>`)}
      <line class="axis" x1=${PAD.left} x2=${width - PAD.right} y1=${y(0)} y2=${y(0)} />
    </svg>
    ${series.length > 1 ? html`<ul class="legend">${series.map((s) => html`<li><span class=${`swatch ${s.cls}`}></span>${s.label}</li>`)}</ul>` : null}
  </div>`;
}

// rows: [{label, value, text}]: one bar per row, longest first, the figure written at its end.
export function BarList({ rows, testid, empty }) {
  const max = Math.max(0, ...rows.map((r) => r.value));
  if (!rows.length) return html`<p class="muted">${empty}</p>`;
  return html`<ul class="bar-list" data-testid=${testid}>${rows.map((r) => html`<li data-testid="bar-row" data-label=${r.label}>
    <span class="bar-label"><bdi>${r.label}</bdi></span>
    <span class="bar-track"><span class="bar-fill" style=${{ width: `${max && r.value ? Math.max(1, (r.value / max) * 100) : 0}%` }}></span></span>
    <span class="bar-value" data-testid="bar-value">${r.text ?? number(r.value)}</span></li>`)}</ul>`;
}
