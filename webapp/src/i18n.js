// Interface texts in English and Persian. The API localises its own error texts (Accept-Language);
// these are only the app's words.
import { signal } from "./state.js";

const en = {
  appName: "MobixAI",
  tagline: "Chat with the best AI models, in Persian and English.",
  signIn: "Sign in", signUp: "Create account", signOut: "Sign out",
  phone: "Phone number", phoneHint: "e.g. 0912 123 4567", password: "Password", name: "Your name",
  passwordHint: "At least 8 characters.",
  code: "Code from SMS", codeSent: "We sent a 6-digit code to {phone}.", sendCode: "Send code",
  verify: "Verify", resend: "Send again", resendIn: "Send again in {s}s",
  withPassword: "Password", withCode: "SMS code",
  noAccount: "New here?", haveAccount: "Already have an account?",
  changePhone: "Change number",
  chats: "Chats", newChat: "New chat", noChats: "No chats yet. Start one!",
  untitled: "New Chat", chatbot: "Assistant", model: "Model", start: "Start chat", cancel: "Cancel",
  free: "Free", messagePlaceholder: "Message {bot}…", send: "Send", stop: "Stop",
  regenerate: "Regenerate", edit: "Edit", copy: "Copy", copied: "Copied", save: "Save and send",
  retry: "Retry", replyFailed: "The reply failed.", thinking: "Thinking…",
  emptyChat: "Ask anything. Replies stream in as they are written.",
  earlier: "Show earlier messages",
  pickChat: "Pick a chat or start a new one.",
  deleteChat: "Delete chat", confirmDelete: "Delete this chat?",
  limitReached: "Limit reached: {limit}.", freesIn: "Frees up in {t}.", noReset: "A new plan resets it.",
  usage: "Usage", plan: "Plan", unlimited: "Unlimited", used: "{used} of {limit} used",
  remaining: "{n} left", resetsIn: "resets in {t}",
  currentPlan: "Your plan", period: "Period", until: "until {d}", noEnd: "no end date",
  comparePlans: "Plans", price: "Price", perPeriod: "{days} days", noPlan: "No active subscription.",
  buy: "Buy", upgrade: "Upgrade", renew: "Renew", discountCode: "Discount code", applyCode: "Apply",
  originalAmount: "Price", upgradeCredit: "Credit for your current plan", discount: "Discount", toPay: "To pay",
  checkout: "Go to payment", activate: "Activate now",
  payByCard: "Pay by card", payNow: "Pay", paying: "Paying…",
  stripeNote: "Your card details go to Stripe, never to MobixAI.",
  checkoutNote: "You pay on the payment provider's page and come back here.",
  toman: "toman", paymentResult: "Payment", payments: "Payments", noPayments: "No payments yet.",
  yourPlanNow: "Your plan is now", backToPlan: "Back to plans",
  status_pending: "Pending", status_completed: "Completed", status_failed: "Failed", status_cancelled: "Cancelled",
  status_expired: "Expired", status_refunded: "Refunded", status_unknown: "Unknown payment",
  explain_pending: "Waiting for the payment provider to confirm…", explain_completed: "Paid. Your new plan is active.",
  explain_failed: "The payment failed. Nothing was charged and your plan is unchanged.",
  explain_cancelled: "The payment was cancelled. Your plan is unchanged.",
  explain_expired: "The payment expired. Your plan is unchanged.", explain_refunded: "The payment was refunded.",
  explain_unknown: "We could not find this payment. Your payments are listed on the plan page.",
  language: "Language", theme: "Theme", dark: "Dark", light: "Light", menu: "Menu",
  close: "Close", loading: "Loading…", networkError: "Cannot reach the server. Check your connection.",
  somethingWrong: "Something went wrong. Try again.", inProgress: "A reply is still being written.",
  you: "You", assistant: "Assistant", images: "Image", skip: "Skip to conversation",
  messages: "messages", tokens: "tokens", images_: "images", usd: "USD",
  console: "Console", notAllowedTitle: "Staff only",
  notAllowed: "This part of MobixAI is for staff. Your account cannot open it.", backHome: "Back to your chats",
};

const fa = {
  appName: "موبیکس‌ای‌آی",
  tagline: "گفتگو با بهترین مدل‌های هوش مصنوعی، به فارسی و انگلیسی.",
  signIn: "ورود", signUp: "ساخت حساب", signOut: "خروج",
  phone: "شماره موبایل", phoneHint: "مثلاً ۰۹۱۲ ۱۲۳ ۴۵۶۷", password: "رمز عبور", name: "نام شما",
  passwordHint: "دست‌کم ۸ نویسه.",
  code: "کد پیامک‌شده", codeSent: "کد ۶ رقمی به {phone} فرستاده شد.", sendCode: "ارسال کد",
  verify: "تأیید", resend: "ارسال دوباره", resendIn: "ارسال دوباره تا {s} ثانیه",
  withPassword: "رمز عبور", withCode: "کد پیامکی",
  noAccount: "تازه آمده‌اید؟", haveAccount: "حساب دارید؟",
  changePhone: "تغییر شماره",
  chats: "گفتگوها", newChat: "گفتگوی تازه", noChats: "هنوز گفتگویی ندارید. یکی را شروع کنید!",
  untitled: "گفتگوی تازه", chatbot: "دستیار", model: "مدل", start: "شروع گفتگو", cancel: "انصراف",
  free: "رایگان", messagePlaceholder: "پیام به {bot}…", send: "ارسال", stop: "توقف",
  regenerate: "پاسخ دوباره", edit: "ویرایش", copy: "رونوشت", copied: "رونوشت شد", save: "ذخیره و ارسال",
  retry: "تلاش دوباره", replyFailed: "پاسخ ناموفق بود.", thinking: "در حال نوشتن…",
  emptyChat: "هر چه می‌خواهید بپرسید. پاسخ همان‌طور که نوشته می‌شود می‌رسد.",
  earlier: "نمایش پیام‌های قبلی",
  pickChat: "گفتگویی را انتخاب کنید یا گفتگوی تازه‌ای بسازید.",
  deleteChat: "حذف گفتگو", confirmDelete: "این گفتگو حذف شود؟",
  limitReached: "به سقف رسیدید: {limit}.", freesIn: "آزاد می‌شود تا {t} دیگر.", noReset: "با طرح تازه از نو شروع می‌شود.",
  usage: "مصرف", plan: "طرح", unlimited: "نامحدود", used: "{used} از {limit} مصرف شده",
  remaining: "{n} باقی‌مانده", resetsIn: "تازه‌سازی تا {t}",
  currentPlan: "طرح شما", period: "دوره", until: "تا {d}", noEnd: "بدون پایان",
  comparePlans: "طرح‌ها", price: "قیمت", perPeriod: "{days} روز", noPlan: "اشتراک فعالی ندارید.",
  buy: "خرید", upgrade: "ارتقا", renew: "تمدید", discountCode: "کد تخفیف", applyCode: "اعمال",
  originalAmount: "قیمت", upgradeCredit: "اعتبار طرح فعلی", discount: "تخفیف", toPay: "مبلغ پرداخت",
  checkout: "رفتن به پرداخت", activate: "فعال‌سازی",
  payByCard: "پرداخت با کارت", payNow: "پرداخت", paying: "در حال پرداخت…",
  stripeNote: "مشخصات کارت شما به Stripe می‌رود، نه به موبیکس‌ای‌آی.",
  checkoutNote: "پرداخت در صفحهٔ درگاه انجام می‌شود و سپس به همین‌جا برمی‌گردید.",
  toman: "تومان", paymentResult: "پرداخت", payments: "پرداخت‌ها", noPayments: "هنوز پرداختی ندارید.",
  yourPlanNow: "طرح شما اکنون", backToPlan: "بازگشت به طرح‌ها",
  status_pending: "در انتظار", status_completed: "موفق", status_failed: "ناموفق", status_cancelled: "لغو شده",
  status_expired: "منقضی", status_refunded: "بازپرداخت شده", status_unknown: "پرداخت نامشخص",
  explain_pending: "در انتظار تأیید درگاه پرداخت…", explain_completed: "پرداخت انجام شد. طرح تازهٔ شما فعال است.",
  explain_failed: "پرداخت ناموفق بود. مبلغی کسر نشد و طرح شما تغییری نکرد.",
  explain_cancelled: "پرداخت لغو شد. طرح شما تغییری نکرد.",
  explain_expired: "مهلت پرداخت گذشت. طرح شما تغییری نکرد.", explain_refunded: "مبلغ این پرداخت بازگردانده شد.",
  explain_unknown: "این پرداخت پیدا نشد. پرداخت‌های شما در صفحهٔ طرح فهرست شده‌اند.",
  language: "زبان", theme: "پوسته", dark: "تیره", light: "روشن", menu: "فهرست",
  close: "بستن", loading: "در حال بارگذاری…", networkError: "به سرور دسترسی نیست. اتصال خود را بررسی کنید.",
  somethingWrong: "مشکلی پیش آمد. دوباره تلاش کنید.", inProgress: "پاسخی هنوز در حال نوشته شدن است.",
  you: "شما", assistant: "دستیار", images: "تصویر", skip: "رفتن به گفتگو",
  messages: "پیام", tokens: "توکن", images_: "تصویر", usd: "دلار",
  console: "کنسول", notAllowedTitle: "فقط برای کارکنان",
  notAllowed: "این بخش از موبیکس‌ای‌آی ویژهٔ کارکنان است و حساب شما به آن دسترسی ندارد.", backHome: "بازگشت به گفتگوها",
};

const LIMITS = {
  en: {
    hourly: "per hour", three_hours: "per 3 hours", twelve_hours: "per 12 hours", daily: "per day",
    weekly: "per week", monthly: "per month",
    max_tokens: "Tokens on paid models (plan total)", max_tokens_free: "Tokens on free models (plan total)",
    max_openrouter_cost_usd: "AI cost (plan total, USD)",
    monthly_free_model_messages: "Free-model messages per month", monthly_free_model_tokens: "Free-model tokens per month",
    Messages: "Messages", Tokens: "Tokens", Images: "Images",
  },
  fa: {
    hourly: "در ساعت", three_hours: "در ۳ ساعت", twelve_hours: "در ۱۲ ساعت", daily: "در روز",
    weekly: "در هفته", monthly: "در ماه",
    max_tokens: "توکن مدل‌های پولی (کل طرح)", max_tokens_free: "توکن مدل‌های رایگان (کل طرح)",
    max_openrouter_cost_usd: "هزینهٔ هوش مصنوعی (کل طرح، دلار)",
    monthly_free_model_messages: "پیام‌های مدل رایگان در ماه", monthly_free_model_tokens: "توکن‌های مدل رایگان در ماه",
    Messages: "پیام‌ها", Tokens: "توکن‌ها", Images: "تصاویر",
  },
};

export const TEXTS = { en, fa };
export const lang = signal(initialLanguage());

function initialLanguage() {
  const saved = localStorage.getItem("mobix.lang");
  if (saved === "fa" || saved === "en") return saved;
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language || "en"];
  for (const tag of wanted) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base === "fa" || base === "en") return base;
  }
  return "en";
}

export function t(key, vars = {}) {
  const text = TEXTS[lang.value][key] ?? TEXTS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : ""));
}

export function limitLabel(name) {
  const words = LIMITS[lang.value];
  if (words[name]) return words[name];
  const match = /^(hourly|three_hours|twelve_hours|daily|weekly|monthly)_(messages|tokens|image_generation)$/.exec(name);
  if (!match) return name;
  const what = match[2] === "messages" ? words.Messages : match[2] === "tokens" ? words.Tokens : words.Images;
  return `${what} ${words[match[1]]}`;
}

export const number = (n) => new Intl.NumberFormat(lang.value === "fa" ? "fa-IR" : "en-US").format(n);

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const two = (v) => number(v).padStart(2, lang.value === "fa" ? "۰" : "0");
  if (h >= 48) return lang.value === "fa" ? `${number(Math.round(h / 24))} روز` : `${Math.round(h / 24)} days`;
  return h ? `${number(h)}:${two(m)}:${two(sec)}` : `${number(m)}:${two(sec)}`;
}

// Toman has no ISO code (IRR is the rial): a number and the word; other currencies as Intl writes them.
export function money(amount, currency) {
  const value = Number(amount);
  if (currency === "IRT") return `${number(value)} ${t("toman")}`;
  try {
    return new Intl.NumberFormat(lang.value === "fa" ? "fa-IR" : "en-US", { style: "currency", currency }).format(value);
  } catch {
    return `${number(value)} ${currency}`;
  }
}

export function date(iso) {
  return new Intl.DateTimeFormat(lang.value === "fa" ? "fa-IR" : "en-GB", { dateStyle: "medium" }).format(new Date(iso));
}
