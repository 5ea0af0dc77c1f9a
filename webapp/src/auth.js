// Sign in (password or SMS code) and sign up (phone, name, password, then the SMS code: api.md §2).
import { useState } from "preact/hooks";
import { api } from "./api.js";
import { t } from "./i18n.js";
import { navigate } from "./router.js";
import { Field, FormError, fieldErrors, html, messageOf, useCountdown } from "./ui.js";

function useForm() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  async function run(action) {
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, run, fields: fieldErrors(error), message: error && !Object.keys(error.fields || {}).length ? messageOf(error) : "" };
}

function CodeStep({ phone, form, onVerify, onResend, onBack, retryUntil }) {
  const [code, setCode] = useState("");
  const left = useCountdown(retryUntil);
  return html`<form class="auth-form" onSubmit=${(e) => { e.preventDefault(); onVerify(code.trim()); }} novalidate>
    <p class="lead">${t("codeSent", { phone })}</p>
    <${Field} label=${t("code")} name="code" testid="code" inputmode="numeric" autocomplete="one-time-code"
      maxlength="6" required value=${code} onInput=${(e) => setCode(e.currentTarget.value)}
      error=${form.fields.code} autofocus="" />
    <${FormError} error=${form.message} />
    <button class="primary wide" type="submit" data-testid="submit" disabled=${form.busy}>${t("verify")}</button>
    <div class="row-between">
      <button type="button" class="link" onClick=${onBack}>${t("changePhone")}</button>
      <button type="button" class="link" onClick=${onResend} disabled=${left > 0 || form.busy}>
        ${left > 0 ? t("resendIn", { s: left }) : t("resend")}</button>
    </div>
  </form>`;
}

function SignIn({ onUser }) {
  const [method, setMethod] = useState("password");
  const [phone, setPhone] = useState("");
  const [password, setPassword] = useState("");
  const [codeSent, setCodeSent] = useState(null); // {until}
  const form = useForm();

  const requestCode = () => form.run(async () => {
    const { data } = await api("POST", "/api/auth/otp/request/", { phone_number: phone.trim() });
    setCodeSent({ until: Date.now() + (data?.retry_after || 60) * 1000 });
  });
  const submit = (e) => {
    e.preventDefault();
    if (method === "code") return requestCode();
    return form.run(async () => {
      const { data } = await api("POST", "/api/auth/login/", { phone_number: phone.trim(), password });
      onUser(data);
    });
  };
  const verify = (code) => form.run(async () => {
    const { data } = await api("POST", "/api/auth/otp/verify/", { phone_number: phone.trim(), code });
    onUser(data);
  });

  if (codeSent) {
    return html`<${CodeStep} phone=${phone} form=${form} onVerify=${verify} onResend=${requestCode}
      onBack=${() => { setCodeSent(null); form.setError(null); }} retryUntil=${codeSent.until} />`;
  }
  return html`<form class="auth-form" onSubmit=${submit} novalidate>
    <div class="segmented" role="radiogroup" aria-label=${t("signIn")}>
      ${["password", "code"].map((m) => html`<button type="button" role="radio" aria-checked=${method === m}
        class=${method === m ? "on" : ""} onClick=${() => { setMethod(m); form.setError(null); }}>
        ${m === "password" ? t("withPassword") : t("withCode")}</button>`)}
    </div>
    <${Field} label=${t("phone")} name="phone_number" testid="phone" type="tel" inputmode="tel" autocomplete="tel"
      dir="ltr" placeholder=${t("phoneHint")} required value=${phone} onInput=${(e) => setPhone(e.currentTarget.value)}
      error=${form.fields.phone_number} />
    ${method === "password" ? html`<${Field} label=${t("password")} name="password" testid="password" type="password"
      autocomplete="current-password" required value=${password} onInput=${(e) => setPassword(e.currentTarget.value)}
      error=${form.fields.password} />` : null}
    <${FormError} error=${form.message} />
    <button class="primary wide" type="submit" data-testid="submit" disabled=${form.busy}>
      ${method === "password" ? t("signIn") : t("sendCode")}</button>
    <p class="switch">${t("noAccount")} <a href="/signup" data-nav>${t("signUp")}</a></p>
  </form>`;
}

function SignUp({ onUser }) {
  const [phone, setPhone] = useState("");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [pending, setPending] = useState(null); // {registration_id, until}
  const form = useForm();

  const register = () => form.run(async () => {
    const { data, status } = await api("POST", "/api/auth/register/",
      { phone_number: phone.trim(), name: name.trim(), password });
    if (status === 201) return onUser(data); // a server without phone proof logs in at once
    setPending({ id: data.registration_id, until: Date.now() + (data.retry_after || 60) * 1000 });
    return undefined;
  });
  const verify = (code) => form.run(async () => {
    const { data } = await api("POST", "/api/auth/otp/verify/",
      { phone_number: phone.trim(), code, registration_id: pending.id, name: name.trim() });
    onUser(data);
  });

  if (pending) {
    return html`<${CodeStep} phone=${phone} form=${form} onVerify=${verify} onResend=${register}
      onBack=${() => { setPending(null); form.setError(null); }} retryUntil=${pending.until} />`;
  }
  return html`<form class="auth-form" onSubmit=${(e) => { e.preventDefault(); register(); }} novalidate>
    <${Field} label=${t("phone")} name="phone_number" testid="phone" type="tel" inputmode="tel" autocomplete="tel"
      dir="ltr" placeholder=${t("phoneHint")} required value=${phone} onInput=${(e) => setPhone(e.currentTarget.value)}
      error=${form.fields.phone_number} />
    <${Field} label=${t("name")} name="name" testid="name" autocomplete="name" required value=${name}
      onInput=${(e) => setName(e.currentTarget.value)} error=${form.fields.name} />
    <${Field} label=${t("password")} name="password" testid="password" type="password" autocomplete="new-password"
      required minlength="8" value=${password} onInput=${(e) => setPassword(e.currentTarget.value)}
      error=${form.fields.password} hint=${t("passwordHint")} />
    <${FormError} error=${form.message} />
    <button class="primary wide" type="submit" data-testid="submit" disabled=${form.busy}>${t("signUp")}</button>
    <p class="switch">${t("haveAccount")} <a href="/login" data-nav>${t("signIn")}</a></p>
  </form>`;
}

export function AuthScreen({ path, onUser, toolbar }) {
  const signingUp = path.startsWith("/signup");
  const done = (user) => { onUser(user); navigate("/", { replace: true }); };
  return html`<div class="auth-page">
    <div class="auth-tools">${toolbar}</div>
    <main class="auth-card" id="main">
      <div class="brand"><span class="logo" aria-hidden="true">M</span><span>${t("appName")}</span></div>
      <h1>${signingUp ? t("signUp") : t("signIn")}</h1>
      <p class="tagline">${t("tagline")}</p>
      ${signingUp ? html`<${SignUp} onUser=${done} />` : html`<${SignIn} onUser=${done} />`}
    </main>
  </div>`;
}
