// The dashboard: a time range, the totals, and charts of the reporting API (billing's ledger). Money
// is per currency: the billing currency is drawn, others are listed with the totals.
import { useState } from "preact/hooks";
import { get } from "../api.js";
import { money, number, t } from "../i18n.js";
import { html } from "../ui.js";
import { BarList, TimeChart, compact } from "./charts.js";
import { CsvButton, CsvLink, DataTable, Loading, useLoad } from "./kit.js";

const RATE_KEY = "mobix.console.usdRate";
const PRESETS = [7, 30, 90];
const iso = (d) => d.toISOString().slice(0, 10);

function lastDays(n) {
  const to = new Date();
  const from = new Date(Date.now() - (n - 1) * 86400000);
  return { from: iso(from), to: iso(to) };
}

function RangePicker({ range, onChange }) {
  const [from, setFrom] = useState(range.from);
  const [to, setTo] = useState(range.to);
  const preset = PRESETS.find((n) => { const r = lastDays(n); return r.from === range.from && r.to === range.to; });
  return html`<form class="range" aria-label=${t("c_range")} data-testid="range"
      onSubmit=${(e) => { e.preventDefault(); onChange({ from, to }); }}>
    <div class="segmented-row" role="group" aria-label=${t("c_range")}>
      ${PRESETS.map((n) => html`<button type="button" class=${`chip ${preset === n ? "on" : ""}`} aria-pressed=${preset === n}
        data-testid=${`range-${n}`} onClick=${() => { const r = lastDays(n); setFrom(r.from); setTo(r.to); onChange(r); }}>${t("c_days", { n: number(n) })}</button>`)}
    </div>
    <label class="inline-field"><span>${t("c_from")}</span><input type="date" data-testid="range-from" value=${from} max=${to}
      onInput=${(e) => setFrom(e.currentTarget.value)} /></label>
    <label class="inline-field"><span>${t("c_to")}</span><input type="date" data-testid="range-to" value=${to} min=${from}
      onInput=${(e) => setTo(e.currentTarget.value)} /></label>
    <button type="submit" class="ghost" data-testid="range-apply">${t("c_apply")}</button>
  </form>`;
}

const Kpi = ({ label, value, sub, testid }) => html`<div class="kpi" data-testid=${testid}>
  <span class="kpi-label">${label}</span><strong class="kpi-value" data-testid="kpi-value">${value}</strong>
  ${sub ? html`<span class="kpi-sub">${sub}</span>` : null}</div>`;

const Card = ({ title, children, wide, tools, testid }) => html`<section class=${`card chart-card ${wide ? "wide" : ""}`} data-testid=${testid}>
  <div class="card-head"><h2>${title}</h2>${tools}</div>${children}</section>`;

const usd = (value) => `$${Number(value).toLocaleString(undefined, { maximumFractionDigits: 4 })}`;

export function Dashboard() {
  const [range, setRange] = useState(() => lastDays(30));
  const [rate, setRate] = useState(() => localStorage.getItem(RATE_KEY) || "");
  const query = `from=${range.from}&to=${range.to}`;
  const { data, error, busy } = useLoad(() => Promise.all([
    get(`/api/admin/reports/overview/?${query}`),
    get(`/api/admin/reports/top-users/?${query}&limit=10`),
    get(`/api/admin/reports/top-models/?${query}&limit=10`),
  ]), [query]);
  const saveRate = (value) => { setRate(value); localStorage.setItem(RATE_KEY, value); };

  const head = html`<div class="console-head"><h1>${t("c_dashboard")}</h1><${RangePicker} range=${range} onChange=${setRange} /></div>`;
  if (!data) return html`<div>${head}<${Loading} error=${error} /></div>`;
  const [overview, topUsers, topModels] = data;
  const { totals, days, currency } = overview;
  const revenueOf = (d) => Number(d.revenue?.[currency] || 0);
  const otherCurrencies = Object.entries(totals.revenue || {}).filter(([c]) => c !== currency);
  const revenue = Number(totals.revenue?.[currency] || 0);
  const cost = Number(totals.provider_cost_usd);
  const perUsd = Number(rate);
  const margin = perUsd > 0 ? revenue - cost * perUsd : null;
  const activeSubs = overview.active_subscriptions_by_plan.reduce((sum, p) => sum + p.count, 0);
  const fmtMoney = (v) => money(Math.round(v), currency);
  const fmtCompactMoney = (v) => compact(v);

  // data-range: the range of the figures shown (tests and people can tell a fresh answer from the last one)
  return html`<div class="dashboard" data-testid="dashboard" data-range=${`${overview.from}/${overview.to}`} aria-busy=${busy}>
    ${head}
    <div class="kpis" data-testid="kpis">
      <${Kpi} testid="kpi-revenue" label=${t("k_revenue")} value=${money(revenue, currency)}
        sub=${otherCurrencies.map(([c, v]) => money(v, c)).join(" · ") || null} />
      <${Kpi} testid="kpi-payments" label=${t("k_payments")} value=${number(totals.payments)} sub=${totals.refunds ? t("k_refunds", { n: number(totals.refunds) }) : null} />
      <${Kpi} testid="kpi-messages" label=${t("k_messages")} value=${number(totals.messages)} />
      <${Kpi} testid="kpi-tokens" label=${t("k_tokens")} value=${compact(totals.tokens)} />
      <${Kpi} testid="kpi-cost" label=${t("k_cost")} value=${usd(cost)} sub=${margin !== null ? `${t("k_margin")}: ${fmtMoney(margin)}` : null} />
      <${Kpi} testid="kpi-free" label=${t("k_free")} value=${number(totals.free_model_messages)} />
      <${Kpi} testid="kpi-failed" label=${t("k_failed")} value=${number(totals.failed_replies)} sub=${`${t("k_stopped")}: ${number(totals.stopped_replies)}`} />
      <${Kpi} testid="kpi-subscriptions" label=${t("k_subscriptions")} value=${number(activeSubs)} />
    </div>
    <div class="chart-grid">
      <${Card} title=${`${t("ch_revenue")} (${currency === "IRT" ? t("toman") : currency})`} testid="chart-revenue"
        tools=${html`<${CsvLink} href=${`/api/admin/reports/overview/?${query}&format=csv`} testid="overview-csv" />`}>
        <${TimeChart} days=${days} label=${t("ch_revenue")} format=${fmtCompactMoney}
          series=${[{ label: t("s_revenue"), cls: "s1", value: revenueOf }]} /></${Card}>
      <${Card} title=${t("ch_messages")} testid="chart-messages">
        <${TimeChart} days=${days} integer label=${t("ch_messages")}
          series=${[{ label: t("s_paid"), cls: "s1", value: (d) => d.messages - d.free_model_messages },
                    { label: t("s_free"), cls: "s2", value: (d) => d.free_model_messages }]} /></${Card}>
      <${Card} title=${t("ch_tokens")} testid="chart-tokens">
        <${TimeChart} days=${days} integer label=${t("ch_tokens")}
          series=${[{ label: t("s_prompt"), cls: "s1", value: (d) => d.prompt_tokens },
                    { label: t("s_completion"), cls: "s2", value: (d) => d.completion_tokens }]} /></${Card}>
      <${Card} title=${t("ch_cost")} testid="chart-cost">
        <${TimeChart} days=${days} label=${t("ch_cost")} format=${(v) => `$${compact(v)}`}
          series=${[{ label: t("s_cost"), cls: "s3", value: (d) => Number(d.provider_cost_usd) }]} /></${Card}>
      <${Card} title=${t("ch_costRevenue")} testid="chart-cost-revenue">
        <label class="inline-field rate"><span>${t("rateLabel")}</span><input type="text" inputmode="decimal" dir="ltr"
          data-testid="usd-rate" value=${rate} size="8" onInput=${(e) => saveRate(e.currentTarget.value.replace(/[^\d.]/g, ""))} /></label>
        ${perUsd > 0 ? html`<${TimeChart} days=${days} kind="line" label=${t("ch_costRevenue")} format=${fmtCompactMoney}
            series=${[{ label: t("s_revenue"), cls: "s1", value: revenueOf },
                      { label: t("s_cost"), cls: "s3", value: (d) => Number(d.provider_cost_usd) * perUsd }]} />`
          : html`<p class="muted">${t("rateHint")}</p>`}</${Card}>
      <${Card} title=${t("ch_failures")} testid="chart-failures">
        <${TimeChart} days=${days} integer label=${t("ch_failures")}
          series=${[{ label: t("s_failed"), cls: "s3", value: (d) => d.failed_replies },
                    { label: t("s_stopped"), cls: "s2", value: (d) => d.stopped_replies }]} /></${Card}>
      <${Card} title=${t("ch_revenueByPlan")} testid="revenue-by-plan"
        tools=${html`<${CsvButton} name=${`revenue-by-plan-${range.from}-${range.to}`} testid="revenue-by-plan-csv"
          rows=${overview.revenue_by_plan} columns=${["plan_id", "plan_name", "currency", "revenue", "payments"].map((key) => ({ key }))} />`}>
        <${BarList} testid="revenue-by-plan-bars" empty=${t("noData")} rows=${overview.revenue_by_plan
          .map((r) => ({ label: r.plan_name, value: Number(r.revenue), text: `${money(r.revenue, r.currency)} · ${t("nPayments", { n: number(r.payments) })}` }))
          .sort((a, b) => b.value - a.value)} /></${Card}>
      <${Card} title=${t("ch_subsByPlan")} testid="subs-by-plan"
        tools=${html`<${CsvButton} name="active-subscriptions-by-plan" testid="subs-by-plan-csv"
          rows=${overview.active_subscriptions_by_plan} columns=${["plan_id", "plan_name", "count"].map((key) => ({ key }))} />`}>
        <${BarList} testid="subs-by-plan-bars" empty=${t("noData")} rows=${overview.active_subscriptions_by_plan
          .map((r) => ({ label: r.plan_name, value: r.count })).sort((a, b) => b.value - a.value)} /></${Card}>
      <${Card} title=${t("ch_topUsers")} testid="top-users"
        tools=${html`<${CsvLink} href=${`/api/admin/reports/top-users/?${query}&limit=10&format=csv`} testid="top-users-csv" />`}>
        <${DataTable} bare label=${t("ch_topUsers")} testid="top-users-table" rows=${topUsers.results.map((r) => ({ ...r, id: r.user_id }))}
          empty=${t("noData")} columns=${[
            { key: "phone_number", label: t("col_phone"), render: (r) => html`<bdi dir="ltr">${r.phone_number}</bdi>` },
            { key: "messages", label: t("col_messages"), num: true, render: (r) => number(r.messages) },
            { key: "tokens", label: t("col_tokens"), num: true, render: (r) => number(r.tokens) },
            { key: "provider_cost_usd", label: t("col_cost"), num: true, render: (r) => usd(r.provider_cost_usd) },
          ]} /></${Card}>
      <${Card} title=${t("ch_topModels")} testid="top-models"
        tools=${html`<${CsvLink} href=${`/api/admin/reports/top-models/?${query}&limit=10&format=csv`} testid="top-models-csv" />`}>
        <${DataTable} bare label=${t("ch_topModels")} testid="top-models-table" rows=${topModels.results.map((r) => ({ ...r, id: r.ai_model_id }))}
          empty=${t("noData")} columns=${[
            { key: "model_name", label: t("col_model"), render: (r) => html`<bdi>${r.model_name}</bdi>${r.is_free ? html` <span class="badge">${t("free")}</span>` : null}` },
            { key: "messages", label: t("col_messages"), num: true, render: (r) => number(r.messages) },
            { key: "tokens", label: t("col_tokens"), num: true, render: (r) => number(r.tokens) },
            { key: "provider_cost_usd", label: t("col_cost"), num: true, render: (r) => usd(r.provider_cost_usd) },
          ]} /></${Card}>
    </div>
  </div>`;
}
