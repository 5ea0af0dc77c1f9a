// Chatbots: system prompt, picture (uploaded to /api/admin/media/), plan links and default model.
import { useRef, useState } from "preact/hooks";
import { api, get, upload } from "../api.js";
import { t } from "../i18n.js";
import { html, messageOf } from "../ui.js";
import { Check, DataTable, Editor, IdPicker, Input, Loading, Notice, Select, TextArea, YesNo, joinList, listOf, useForm, useLoad } from "./kit.js";
import { planNames } from "./models.js";

const BLANK = {
  name: "", description: "", image: null, is_active: true, system_prompt: "", chatbot_type: "text",
  subscription_type_ids: [], default_model_id: "",
};
const PICTURE_SIDE = 512; // a chatbot's picture is shown at 40 px; 512 keeps it sharp on any screen

const body = (draft) => ({
  name: draft.name, description: draft.description, image: draft.image || null, is_active: draft.is_active,
  system_prompt: draft.system_prompt, chatbot_type: draft.chatbot_type, subscription_type_ids: draft.subscription_type_ids,
  default_model_id: draft.default_model_id || null,
});

// Pictures are scaled down in the browser (a phone photo is several MB; the API takes up to 1 MiB).
async function shrink(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, PICTURE_SIDE / Math.max(bitmap.width, bitmap.height));
  if (scale === 1 && file.size < 900_000 && file.type !== "image/svg+xml") return file;
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/webp", 0.9));
}

function Picture({ form }) {
  const input = useRef(null);
  const [state, setState] = useState({ busy: false, error: "" });
  async function choose(e) {
    const file = e.currentTarget.files?.[0];
    e.currentTarget.value = "";
    if (!file) return;
    setState({ busy: true, error: "" });
    try {
      const { url } = await upload("/api/admin/media/", await shrink(file));
      form.set("image", url);
      setState({ busy: false, error: "" });
    } catch (err) {
      setState({ busy: false, error: err?.status !== undefined ? messageOf(err) : t("somethingWrong") });
    }
  }
  const image = form.draft.image;
  return html`<div class="field picture-field wide-field">
    <span class="label">${t("f_image")}</span>
    <div class="picture-row">
      ${image ? html`<img class="picture" src=${image} alt="" data-testid="picture" />` : html`<span class="picture empty" aria-hidden="true">${(form.draft.name || "?").slice(0, 1)}</span>`}
      <input ref=${input} type="file" accept="image/png,image/jpeg,image/webp,image/gif" class="sr-only" data-testid="picture-file"
        id="picture-file" onChange=${choose} />
      <label for="picture-file" class="ghost file-btn" data-testid="upload-picture">${state.busy ? t("f_uploading") : t("f_upload")}</label>
      ${image ? html`<button type="button" class="ghost small" data-testid="remove-picture" onClick=${() => form.set("image", null)}>${t("f_removeImage")}</button>` : null}
    </div>
    ${state.error || form.errors.image ? html`<p class="field-error" role="alert">${state.error || form.errors.image}</p>` : null}
  </div>`;
}

export function ChatbotsScreen() {
  const { data, error, reload } = useLoad(() => Promise.all([
    get("/api/admin/chatbots/"), get("/api/admin/subscription-types/"), get("/api/admin/ai-models/")]));
  const [open, setOpen] = useState(null);
  const [notice, setNotice] = useState("");
  const form = useForm(BLANK);
  const [bots, plans, models] = data ? data.map(listOf) : [[], [], []];
  const edit = (bot) => { setOpen(bot || "new"); setNotice(""); form.reset(bot ? { ...BLANK, ...bot, default_model_id: bot.default_model_id || "" } : BLANK); };
  async function save(draft) {
    if (open === "new") await api("POST", "/api/admin/chatbots/", body(draft));
    else await api("PUT", `/api/admin/chatbots/${open.id}/`, body(draft));
    setOpen(null); setNotice(t("saved")); reload();
  }
  async function remove() {
    await api("DELETE", `/api/admin/chatbots/${open.id}/`);
    setOpen(null); setNotice(t("deleted")); reload();
  }
  const usable = models.filter((m) => m.model_type === form.draft.chatbot_type);
  const columns = [
    { key: "name", label: t("col_name"), render: (b) => html`<span class="name-cell">${b.image ? html`<img src=${b.image} alt="" />` : null}<bdi>${b.name}</bdi></span>` },
    { key: "chatbot_type", label: t("col_type"), render: (b) => t(b.chatbot_type) },
    { key: "default_model_id", label: t("col_defaultModel"), render: (b) => (b.default_model_id ? html`<code dir="ltr">${b.default_model_id}</code>` : t("none")) },
    { key: "subscription_type_ids", label: t("col_plans"), render: (b) => joinList(planNames(plans, b.subscription_type_ids)) || t("publicBot"),
      csv: (b) => b.subscription_type_ids.join(" ") },
    { key: "is_active", label: t("col_active"), render: (b) => html`<${YesNo} value=${b.is_active} />` },
  ];
  return html`<div>
    <div class="console-head"><h1>${t("c_chatbots")}</h1>
      <button type="button" class="primary" data-testid="new-chatbot" onClick=${() => edit(null)}>${t("newChatbot")}</button></div>
    <${Notice} text=${notice} />
    ${open ? html`<${Editor} title=${open === "new" ? t("newChatbot") : t("editing", { name: open.name })} form=${form}
        onSave=${save} onCancel=${() => setOpen(null)} onDelete=${open === "new" ? null : remove} deleteName=${open.name}>
        <div class="form-grid">
          <${Input} form=${form} name="name" label=${t("f_name")} dir="auto" />
          <${Select} form=${form} name="chatbot_type" label=${t("f_chatbotType")} options=${[["text", t("text")], ["image", t("image")]]} />
          <${Picture} form=${form} />
          <${Input} form=${form} name="description" label=${t("f_description")} wide dir="auto" />
          <${TextArea} form=${form} name="system_prompt" label=${t("f_systemPrompt")} rows=${7} />
          <${Select} form=${form} name="default_model_id" label=${t("f_defaultModel")}
            options=${[["", t("f_noDefault")], ...usable.map((m) => [m.model_id, `${m.name}${m.is_free ? ` (${t("free")})` : ""}`])]} />
          <div class="checks"><${Check} form=${form} name="is_active" label=${t("f_isActive")} /></div>
          <${IdPicker} form=${form} name="subscription_type_ids" label=${t("f_plans")} hint=${t("f_plansHintBot")}
            options=${plans.map((p) => [p.id, p.name])} />
        </div>
      </${Editor}>` : null}
    ${!data ? html`<${Loading} error=${error} />` : html`<${DataTable} label=${t("c_chatbots")} name="chatbots" testid="chatbots-table" onRow=${edit} rows=${bots}
      columns=${columns} csvColumns=${[...columns, { key: "image" }, { key: "description" }, { key: "system_prompt" }]} />`}
  </div>`;
}
