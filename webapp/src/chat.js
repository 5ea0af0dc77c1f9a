// One conversation: messages, the reply streaming in over SSE (EventSource resumes with
// Last-Event-ID by itself), stop, regenerate, edit, copy, retry, and the limit countdown.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, get } from "./api.js";
import { duration, limitLabel, t } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";
import { refreshSessions, sessions, setSessionTitle } from "./store.js";
import { useSignal } from "./state.js";
import { ICONS, Icon, html, messageOf, useCountdown } from "./ui.js";

const IN_PROGRESS = new Set(["queued", "streaming"]);
// A conversation opens on its newest messages and loads older ones a page at a time as the reader
// scrolls up (api.md §3.5): a session of thousands of messages is never fetched whole.
const PAGE = 50;
const NEAR_TOP_PX = 120;

// The newest page joined to what is shown: older messages loaded by scrolling up stay in front of
// it when the page continues them; when it does not (many messages arrived since), it starts over.
function withNewest(shown, page, olderBefore) {
  const first = page.messages[0];
  const at = shown && first ? shown.findIndex((m) => m.message_id === first.message_id) : -1;
  if (!page.has_more || at < 0) return { list: page.messages, older: page.has_more };
  return { list: [...shown.slice(0, at), ...page.messages], older: at === 0 ? page.has_more : olderBefore };
}

function liveFrom(messages) {
  const last = [...messages].reverse().find((m) => m.message_type === "user");
  return last && IN_PROGRESS.has(last.reply_status) ? { id: last.message_id, text: "", attempt: 1, seq: -1 } : null;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

function CopyButton({ text }) {
  const [done, setDone] = useState(false);
  return html`<button type="button" class="icon-btn" aria-label=${done ? t("copied") : t("copy")} title=${t("copy")}
    data-testid="copy" onClick=${async () => { setDone(await copyText(text)); setTimeout(() => setDone(false), 1500); }}>
    <${Icon} d=${ICONS.copy} size=${16} /><span class="btn-text">${done ? t("copied") : ""}</span></button>`;
}

function Markdown({ text }) {
  return html`<div class="md" dir="auto" dangerouslySetInnerHTML=${{ __html: renderMarkdown(text) }}></div>`;
}

function UserMessage({ message, canEdit, onEdit, onRetry }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.content);
  const editor = useRef(null);
  const editButton = useRef(null);
  const wasEditing = useRef(false);
  useEffect(() => {
    if (editing) editor.current?.focus();
    else if (wasEditing.current) editButton.current?.focus(); // back where the keyboard user was
    wasEditing.current = editing;
  }, [editing]);
  const save = (e) => { e.preventDefault(); if (draft.trim()) { setEditing(false); onEdit(message, draft); } };
  return html`<article class="msg user" data-testid="message" data-role="user" data-id=${message.message_id}>
    <h2 class="sr-only">${t("you")}</h2>
    ${editing ? html`<form class="edit-form" onSubmit=${save}>
        <label class="sr-only" for=${`edit-${message.message_id}`}>${t("edit")}</label>
        <textarea id=${`edit-${message.message_id}`} data-testid="edit-input" ref=${editor} rows="3" value=${draft}
          onInput=${(e) => setDraft(e.currentTarget.value)}
          onKeyDown=${(e) => { if (e.key === "Escape") setEditing(false); }}></textarea>
        <div class="row-end">
          <button type="button" class="ghost" onClick=${() => setEditing(false)}>${t("cancel")}</button>
          <button type="submit" class="primary" data-testid="save-edit">${t("save")}</button>
        </div></form>`
      : html`<div class="bubble"><p class="plain" dir="auto">${message.content}</p></div>`}
    ${!editing ? html`<div class="msg-actions">
      <${CopyButton} text=${message.content} />
      ${canEdit ? html`<button type="button" class="icon-btn" aria-label=${t("edit")} title=${t("edit")} data-testid="edit" ref=${editButton}
        onClick=${() => { setDraft(message.content); setEditing(true); }}><${Icon} d=${ICONS.edit} size=${16} /></button>` : null}
    </div>` : null}
    ${message.reply_status === "failed" ? html`<div class="reply-failed" role="alert">
      <span>${t("replyFailed")} ${message.reply_error || ""}</span>
      <button type="button" class="ghost small" data-testid="retry" onClick=${() => onRetry(message)}>${t("retry")}</button>
    </div>` : null}
  </article>`;
}

function AssistantMessage({ message, canRegenerate, onRegenerate, streaming, text }) {
  const content = streaming ? text : message.content;
  return html`<article class="msg assistant" data-testid="message" data-role="assistant" data-id=${message.message_id}
      data-streaming=${streaming ? "true" : undefined} aria-busy=${streaming ? "true" : undefined}>
    <h2 class="sr-only">${t("assistant")}</h2>
    <div class="bubble">
      ${streaming && !content ? html`<p class="thinking"><span class="dots" aria-hidden="true"><i></i><i></i><i></i></span>${t("thinking")}</p>` : null}
      ${content ? html`<${Markdown} text=${content} />` : null}
      ${!streaming && message.image_url ? html`<img class="generated" src=${message.image_url} alt=${t("images")} loading="lazy" />` : null}
    </div>
    ${!streaming ? html`<div class="msg-actions">
      <${CopyButton} text=${message.content} />
      ${canRegenerate ? html`<button type="button" class="icon-btn" aria-label=${t("regenerate")} title=${t("regenerate")}
        data-testid="regenerate" onClick=${onRegenerate}><${Icon} d=${ICONS.regen} size=${16} /></button>` : null}
    </div>` : null}
  </article>`;
}

function LimitBanner({ limit, onDone }) {
  const left = useCountdown(limit.until);
  useEffect(() => { if (limit.until && left === 0) onDone(); }, [left]);
  return html`<div class="limit-banner" role="status" data-testid="limit">
    <strong>${t("limitReached", { limit: limitLabel(limit.name) })}</strong>
    <span data-testid="countdown">${limit.until ? t("freesIn", { t: duration(left) }) : t("noReset")}</span>
    <a href="/usage" data-nav>${t("usage")}</a>
  </div>`;
}

export function ChatView({ sessionId }) {
  const list = useSignal(sessions);
  const session = list?.find((s) => s.id === sessionId);
  const [messages, setMessages] = useState(null);
  const [live, setLive] = useState(null);
  const [draft, setDraft] = useState("");
  const [notice, setNotice] = useState("");
  const [limit, setLimit] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [older, setOlder] = useState(false); // older messages exist before the first one shown
  const liveRef = useRef(null);
  const messagesRef = useRef(null);
  const olderRef = useRef(false);
  const loadingOlder = useRef(false);
  const keepFromBottom = useRef(null); // distance from the bottom to hold while older messages are prepended
  const scroller = useRef(null);
  const input = useRef(null);
  const pinned = useRef(true);
  liveRef.current = live;
  messagesRef.current = messages;
  olderRef.current = older;

  async function load() {
    try {
      const data = await get(`/api/chat-sessions/${sessionId}/messages/?limit=${PAGE}`);
      const joined = withNewest(messagesRef.current, data, olderRef.current);
      messagesRef.current = joined.list;
      setMessages(joined.list);
      setOlder(joined.older);
      const current = liveRef.current;
      const pending = liveFrom(data.messages);
      // Keep text already streamed for the same reply; otherwise follow what the server says.
      setLive(pending && current && current.id === pending.id ? current : pending);
    } catch (err) {
      setLoadError(err);
    }
  }

  async function loadOlder() {
    const shown = messagesRef.current;
    if (loadingOlder.current || !olderRef.current || !shown?.length) return;
    loadingOlder.current = true;
    const before = shown[0].message_id;
    try {
      const data = await get(`/api/chat-sessions/${sessionId}/messages/?limit=${PAGE}&before=${before}`);
      if (messagesRef.current?.[0]?.message_id !== before) return; // the view changed meanwhile
      const el = scroller.current;
      if (el) keepFromBottom.current = el.scrollHeight - el.scrollTop;
      // The refs change now, not at the next render: a scroll event before it must not ask for this page again.
      const joined = [...data.messages, ...messagesRef.current];
      messagesRef.current = joined;
      olderRef.current = data.has_more;
      setMessages(joined);
      setOlder(data.has_more);
    } catch (err) {
      // The first message shown was edited away meanwhile: start again from the newest page.
      if (err instanceof ApiError && err.status === 400) { messagesRef.current = null; load(); } else setNotice(messageOf(err));
    } finally {
      loadingOlder.current = false;
    }
  }

  useEffect(() => {
    messagesRef.current = null; olderRef.current = false;
    setMessages(null); setLive(null); setNotice(""); setLimit(null); setLoadError(null); setOlder(false);
    pinned.current = true;
    load();
    // The browser reconnects by itself with Last-Event-ID after a dropped connection. A refused
    // reconnection (a 5xx while the gateway restarts) closes the EventSource for good: then open a
    // new one and reload the messages; the server replays the reply in progress from its start and
    // deltas already shown are skipped by their `seq`.
    let events;
    let retry;
    const handlers = [];
    const on = (name, fn) => handlers.push([name, (e) => { try { fn(JSON.parse(e.data)); } catch { /* ignore */ } }]);
    const connect = () => {
      events = new EventSource(`/api/chat-sessions/${sessionId}/stream/`);
      handlers.forEach(([name, fn]) => events.addEventListener(name, fn));
      // A stream opened without Last-Event-ID starts at the reply in progress, or after the newest
      // event: a reply that ended before it opened (a send whose reply failed at once, on a slow
      // connection) is only in the messages. Read them again once the stream is open.
      events.onopen = () => load();
      events.onerror = () => {
        if (events.readyState !== EventSource.CLOSED) return;
        retry = setTimeout(() => { connect(); load(); }, 2000);
      };
    };
    on("reply.queued", (d) => setLive((cur) => (cur && cur.id === d.message_id ? cur : { id: d.message_id, text: "", attempt: 1, seq: -1 })));
    on("reply.delta", (d) => setLive((cur) => {
      const attempt = d.attempt || 1;
      const base = cur && cur.id === d.message_id ? cur : { id: d.message_id, text: "", attempt, seq: -1 };
      if (attempt > base.attempt) return { id: d.message_id, text: d.delta, attempt, seq: d.seq ?? 0 };
      if (d.seq !== undefined && d.seq <= base.seq) return base; // a replayed delta
      return { ...base, text: base.text + d.delta, seq: d.seq ?? base.seq + 1 };
    }));
    const finished = () => { load().then(() => setLive(null)); refreshSessions(); };
    on("reply.completed", finished);
    on("reply.failed", finished);
    on("session.title", (d) => setSessionTitle(sessionId, d.title));
    connect();
    return () => { clearTimeout(retry); events.close(); };
  }, [sessionId]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (keepFromBottom.current !== null) { // older messages went in above: keep the reader where they were
      el.scrollTop = el.scrollHeight - keepFromBottom.current;
      keepFromBottom.current = null;
    } else if (pinned.current) {
      el.scrollTop = el.scrollHeight;
    }
    if (older && el.scrollHeight <= el.clientHeight) loadOlder(); // nothing to scroll yet: fill the view
  }, [messages, live, older]);

  const onScroll = () => {
    const el = scroller.current;
    pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    if (el.scrollTop < NEAR_TOP_PX) loadOlder();
  };

  function handleError(err) {
    if (err instanceof ApiError && err.status === 429 && err.body.limit) {
      const seconds = err.body.limit.retry_after ?? err.retryAfter;
      setLimit({ name: err.body.limit.name, until: seconds != null ? Date.now() + seconds * 1000 : null });
      return;
    }
    if (err instanceof ApiError && err.code === "reply_in_progress") return setNotice(t("inProgress"));
    setNotice(messageOf(err));
  }

  async function send(e) {
    e?.preventDefault();
    const text = draft.trim();
    if (!text || live) return;
    setNotice("");
    try {
      const { data } = await api("POST", `/api/chat-sessions/${sessionId}/send/`, { message: text });
      setDraft("");
      setLimit(null);
      pinned.current = true;
      setMessages((cur) => [...(cur || []).filter((m) => m.message_id !== data.user_message.message_id), data.user_message]);
      setLive((cur) => (cur && cur.id === data.user_message.message_id ? cur : { id: data.user_message.message_id, text: "", attempt: 1, seq: -1 }));
      refreshSessions();
    } catch (err) {
      handleError(err);
    }
  }

  async function stop() {
    try {
      await api("POST", `/api/chat-sessions/${sessionId}/stop/`);
    } catch (err) {
      if (err.code !== "no_reply_in_progress") handleError(err);
    }
  }

  async function regenerate() {
    setNotice("");
    try {
      const { data } = await api("POST", `/api/chat-sessions/${sessionId}/regenerate/`);
      const gone = new Set(data.disabled_message_ids);
      const kept = messages.filter((m) => !gone.has(m.message_id));
      setMessages(kept);
      const last = [...kept].reverse().find((m) => m.message_type === "user");
      if (last) setLive({ id: last.message_id, text: "", attempt: 1, seq: -1 });
    } catch (err) {
      handleError(err);
    }
  }

  async function edit(message, content) {
    setNotice("");
    try {
      const { data } = await api("POST", `/api/chat-sessions/${sessionId}/messages/${message.message_id}/edit/`, { content });
      const gone = new Set(data.disabled_message_ids);
      setMessages((cur) => cur.filter((m) => !gone.has(m.message_id))
        .map((m) => (m.message_id === message.message_id ? { ...m, content, reply_status: "queued", reply_error: null } : m)));
      setLive({ id: message.message_id, text: "", attempt: 1, seq: -1 });
    } catch (err) {
      handleError(err);
    }
  }

  const onKeyDown = (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) send(e);
  };

  if (loadError) return html`<div class="empty-state"><p role="alert">${messageOf(loadError)}</p></div>`;
  const shown = messages || [];
  const lastAssistant = [...shown].reverse().find((m) => m.message_type === "assistant");
  const lastUser = [...shown].reverse().find((m) => m.message_type === "user");
  const botName = session?.chatbot?.name || t("assistant");

  return html`<section class="chat" aria-label=${session?.title || t("untitled")}>
    <header class="chat-head">
      <div class="chat-title">
        <h1><bdi>${session?.title || t("untitled")}</bdi></h1>
        ${session ? html`<p class="sub">${session.chatbot.name} · ${session.ai_model.name}${session.ai_model.is_free ? ` · ${t("free")}` : ""}</p>` : null}
      </div>
    </header>
    <div class="messages" ref=${scroller} onScroll=${onScroll} aria-live="polite" aria-relevant="additions">
      <div class="messages-inner">
        ${messages === null ? html`<p class="muted center">${t("loading")}</p>` : null}
        ${older ? html`<button type="button" class="ghost earlier" data-testid="earlier" onClick=${loadOlder}>${t("earlier")}</button>` : null}
        ${messages && !shown.length && !live ? html`<div class="empty-chat"><span class="logo big" aria-hidden="true">M</span><p>${t("emptyChat")}</p></div>` : null}
        ${shown.map((m) => (m.message_type === "user"
          ? html`<${UserMessage} key=${m.message_id} message=${m} canEdit=${!live} onEdit=${edit}
              onRetry=${(msg) => edit(msg, msg.content)} />`
          : html`<${AssistantMessage} key=${m.message_id} message=${m} onRegenerate=${regenerate}
              canRegenerate=${!live && m === lastAssistant && lastUser && shown.indexOf(lastUser) < shown.indexOf(m)} />`))}
        ${live ? html`<${AssistantMessage} key="live" streaming=${true} text=${live.text} message=${{}} />` : null}
      </div>
    </div>
    <div class="composer-wrap">
      ${limit ? html`<${LimitBanner} limit=${limit} onDone=${() => setLimit(null)} />` : null}
      ${notice ? html`<p class="notice" role="alert">${notice}</p>` : null}
      <form class="composer" onSubmit=${send}>
        <label class="sr-only" for="message-input">${t("messagePlaceholder", { bot: botName })}</label>
        <textarea id="message-input" ref=${input} data-testid="message-input" rows="1" value=${draft}
          placeholder=${t("messagePlaceholder", { bot: botName })} maxlength="32000"
          onInput=${(e) => { setDraft(e.currentTarget.value); e.currentTarget.style.height = "auto"; e.currentTarget.style.height = `${Math.min(e.currentTarget.scrollHeight, 200)}px`; }}
          onKeyDown=${onKeyDown}></textarea>
        ${live
          ? html`<button type="button" class="send stop" data-testid="stop" aria-label=${t("stop")} title=${t("stop")} onClick=${stop}>
              <${Icon} d=${ICONS.stop} /></button>`
          : html`<button type="submit" class="send" data-testid="send" aria-label=${t("send")} title=${t("send")}
              disabled=${!draft.trim()}><${Icon} d=${ICONS.send} /></button>`}
      </form>
    </div>
  </section>`;
}
