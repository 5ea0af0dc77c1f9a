// New chat, usage meters, plan.
import { useEffect, useState } from "preact/hooks";
import { ApiError, api, get } from "./api.js";
import { Checkout, PaymentHistory, buyLabel } from "./buy.js";
import { date, duration, limitLabel, money, number, t } from "./i18n.js";
import { navigate } from "./router.js";
import { refreshSessions } from "./store.js";
import { html, messageOf } from "./ui.js";

function useLoad(load, deps = []) {
  const [state, setState] = useState({ data: null, error: null });
  useEffect(() => {
    let live = true;
    load().then((data) => live && setState({ data, error: null }), (error) => live && setState({ data: null, error }));
    return () => { live = false; };
  }, deps);
  return state;
}

export function NewChat() {
  const { data, error } = useLoad(() => Promise.all([get("/api/chatbots/"), get("/api/ai-models/")]));
  const [botId, setBotId] = useState(null);
  const [modelId, setModelId] = useState("");
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState(null);
  const [bots, models] = data || [[], []];
  const bot = bots.find((b) => b.id === botId) || bots[0];
  const usable = models.filter((m) => bot && m.model_type === bot.chatbot_type);
  useEffect(() => { if (usable.length && !usable.some((m) => m.model_id === modelId)) setModelId(usable[0].model_id); }, [bot?.id, models]);

  async function start(e) {
    e.preventDefault();
    setBusy(true);
    setFailure(null);
    try {
      const { data: created } = await api("POST", "/api/chat-sessions/", { chatbot_id: bot.id, ai_model_id: modelId || undefined });
      await refreshSessions();
      navigate(`/chat/${created.id}`);
    } catch (err) {
      setFailure(err);
      setBusy(false);
    }
  }

  if (error) return html`<div class="page"><p role="alert">${messageOf(error)}</p></div>`;
  if (!data) return html`<div class="page"><p class="muted">${t("loading")}</p></div>`;
  return html`<div class="page narrow">
    <h1>${t("newChat")}</h1>
    <form onSubmit=${start} class="new-chat-form">
      <fieldset>
        <legend>${t("chatbot")}</legend>
        <div class="bot-grid">
          ${bots.map((b) => html`<label class=${`bot-card ${bot?.id === b.id ? "on" : ""}`}>
            <input type="radio" name="chatbot" value=${b.id} checked=${bot?.id === b.id} onChange=${() => setBotId(b.id)} />
            ${b.image ? html`<img src=${b.image} alt="" />` : html`<span class="bot-avatar" aria-hidden="true">${b.name.slice(0, 1)}</span>`}
            <span class="bot-text"><strong>${b.name}</strong><small dir="auto">${b.description}</small></span>
          </label>`)}
        </div>
      </fieldset>
      <div class="field">
        <label for="model">${t("model")}</label>
        <select id="model" data-testid="model" value=${modelId} onChange=${(e) => setModelId(e.currentTarget.value)}>
          ${usable.map((m) => html`<option value=${m.model_id}>${m.name}${m.is_free ? ` (${t("free")})` : ""}</option>`)}
        </select>
      </div>
      ${failure ? html`<p class="form-error" role="alert">${messageOf(failure)}</p>` : null}
      <button class="primary wide" type="submit" data-testid="submit" disabled=${busy || !bot}>${t("start")}</button>
    </form>
  </div>`;
}

function unitOf(name) {
  if (name.endsWith("_usd")) return t("usd");
  if (name.includes("image")) return t("images_");
  return name.includes("messages") ? t("messages") : t("tokens");
}

function Meter({ row }) {
  const unlimited = !Number(row.limit);
  const used = Number(row.used);
  const cap = Number(row.limit);
  const ratio = unlimited ? 0 : Math.min(1, used / cap);
  const level = ratio >= 1 ? "full" : ratio >= 0.8 ? "high" : "ok";
  return html`<li class="meter-row" data-testid="meter" data-name=${row.name}>
    <div class="meter-head"><span class="meter-name">${limitLabel(row.name)}</span>
      <span class="meter-num">${unlimited ? t("unlimited") : `${number(used)} / ${number(cap)} ${unitOf(row.name)}`}</span></div>
    <div class="meter" role="meter" aria-label=${limitLabel(row.name)} aria-valuemin="0"
      aria-valuemax=${unlimited ? 1 : cap} aria-valuenow=${unlimited ? 0 : Math.min(used, cap)}
      aria-valuetext=${unlimited ? t("unlimited") : t("used", { used: number(used), limit: number(cap) })}>
      <span class=${`fill ${level}`} style=${{ width: `${ratio * 100}%` }}></span></div>
    ${!unlimited ? html`<p class="meter-foot">${t("remaining", { n: number(row.remaining ?? Math.max(0, cap - used)) })}${row.resets_in != null ? ` · ${t("resetsIn", { t: duration(row.resets_in) })}` : ""}</p>` : null}
  </li>`;
}

export function UsagePage() {
  const { data, error } = useLoad(() => get("/api/users/usage/"));
  return html`<div class="page">
    <h1>${t("usage")}</h1>
    ${error ? html`<p role="alert">${messageOf(error)}</p>` : !data ? html`<p class="muted">${t("loading")}</p>`
      : html`<ul class="meters">${[...data.limits].sort((a, b) => (!Number(a.limit)) - (!Number(b.limit))).map((row) => html`<${Meter} key=${row.name} row=${row} />`)}</ul>`}
  </div>`;
}

const PLAN_ROWS = [
  ["daily_max_messages", "daily_messages"], ["hourly_max_messages", "hourly_messages"],
  ["monthly_max_tokens", "monthly_tokens"], ["max_tokens", "max_tokens"],
  ["monthly_free_model_messages", "monthly_free_model_messages"], ["daily_image_generation_limit", "daily_image_generation"],
];

export function PlanPage() {
  const { data, error } = useLoad(async () => {
    const current = await get("/api/users/subscription/").catch((err) => {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    });
    const plans = await get("/api/plans/").catch(() => null);
    return { current, plans: Array.isArray(plans) ? plans : plans?.results || null };
  });
  const [buying, setBuying] = useState(null);
  if (error) return html`<div class="page"><p role="alert">${messageOf(error)}</p></div>`;
  if (!data) return html`<div class="page"><p class="muted">${t("loading")}</p></div>`;
  const { current } = data;
  const mine = current?.subscription_type;
  const plans = data.plans || (current ? [mine] : []);
  const cell = (plan, key) => (Number(plan[key]) ? number(Number(plan[key])) : t("unlimited"));
  const price = (p) => (Number(p.price) ? (p.currency ? money(p.price, p.currency) : number(Number(p.price))) : t("free"));
  // For sale as billing decides it (payments.md): marked purchasable and priced; the free plan is not bought.
  const forSale = (p) => p.is_purchasable && Number(p.price) > 0;
  const chosen = plans.find((p) => p.id === buying && forSale(p));
  return html`<div class="page">
    <h1>${t("plan")}</h1>
    ${current ? html`<section class="card plan-current" aria-labelledby="current-plan">
        <p class="eyebrow" id="current-plan">${t("currentPlan")}</p>
        <h2 data-testid="current-plan">${mine.name}</h2>
        <p class="muted" dir="auto">${mine.description}</p>
        <p>${t("period")}: ${date(current.start_date)} – ${current.end_date ? date(current.end_date) : t("noEnd")}</p>
      </section>` : html`<p class="card">${t("noPlan")}</p>`}
    <h2 class="section-title">${t("comparePlans")}</h2>
    <div class="table-wrap"><table class="plans">
      <thead><tr><th scope="col"><span class="sr-only">${t("plan")}</span></th>
        ${plans.map((p) => html`<th scope="col" class=${mine?.id === p.id ? "mine" : ""}>${p.name}</th>`)}</tr></thead>
      <tbody>
        <tr class="price-row"><th scope="row">${t("price")}</th>${plans.map((p) => html`<td>${price(p)}</td>`)}</tr>
        ${plans.some(forSale) ? html`<tr class="buy-row"><th scope="row"><span class="sr-only">${t("buy")}</span></th>${plans.map((p) => html`<td>
          ${forSale(p) ? html`<button type="button" class=${buying === p.id ? "primary small-btn" : "ghost buy-btn"}
            data-testid="buy" data-plan-id=${p.id} aria-pressed=${buying === p.id} onClick=${() => setBuying(p.id)}
            aria-label=${`${buyLabel(p, mine)}: ${p.name}`}>${buyLabel(p, mine)}</button>` : null}</td>`)}</tr>` : null}
        <tr><th scope="row">${t("period")}</th>${plans.map((p) => html`<td>${t("perPeriod", { days: number(p.duration_days) })}</td>`)}</tr>
        ${PLAN_ROWS.map(([key, name]) => html`<tr><th scope="row">${limitLabel(name)}</th>${plans.map((p) => html`<td>${cell(p, key)}</td>`)}</tr>`)}
      </tbody>
    </table></div>
    ${chosen ? html`<${Checkout} plan=${chosen} current=${mine} onClose=${() => setBuying(null)} />` : null}
    ${data.plans ? html`<${PaymentHistory} plans=${plans} />` : null}
  </div>`;
}
