'use strict';

// ---------- elements ----------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  if (attrs != null && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    kids.unshift(attrs);
    attrs = null;
  }
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  add(el, kids);
  return el;
}
function add(el, ...kids) {
  for (const k of [kids].flat(Infinity)) {
    if (k == null || k === false) continue;
    el.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
function $(sel, root) { return (root || document).querySelector(sel); }
function $$(sel, root) { return Array.from((root || document).querySelectorAll(sel)); }

// ---------- API ----------
class ApiError extends Error {
  constructor(status, message, field, type) {
    super(message);
    this.status = status; this.field = field || null; this.type = type || null;
  }
}

/// Calls the admin API (same origin: the browser sends the session cookie and, for
/// changes, Origin). JSON in and out unless opts.raw. A 401 sends the user to log in.
async function api(method, path, body, opts) {
  opts = opts || {};
  const init = { method, credentials: 'same-origin', headers: { 'Accept': 'application/json' } };
  if (body !== undefined) {
    if (opts.raw) { init.body = body; init.headers['Content-Type'] = opts.contentType || 'text/plain'; }
    else { init.body = JSON.stringify(body); init.headers['Content-Type'] = 'application/json'; }
  }
  let res;
  try { res = await fetch(path, init); }
  catch (e) { throw new ApiError(0, t('err.unreachable', { detail: e.message })); }
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (_) { data = text; } }
  if (!res.ok) {
    const err = (data && data.error) || {};
    let message = err.message || (res.status + ' ' + res.statusText);
    if (res.status === 404 && !err.message) message = t('err.not_available', { path });
    const e = new ApiError(res.status, message, err.field, err.type);
    if (res.status === 401 && !opts.noRedirect) App.needLogin();
    throw e;
  }
  return data;
}
function describeError(e) {
  if (!(e instanceof ApiError)) return String(e && e.message || e);
  let s = e.message;
  if (e.field) s += t('err.field_suffix', { field: e.field });
  if (e.status) s = e.status + ' — ' + s;
  return s;
}
function alertBox(e) { return h('div', { class: 'alert', role: 'alert' }, describeError(e)); }

// ---------- formatting ----------
function pick(o, ...names) {
  if (!o) return undefined;
  for (const n of names) if (o[n] !== undefined && o[n] !== null) return o[n];
  return undefined;
}
const fmt = {
  int(n) { return n == null || isNaN(n) ? '–' : Math.round(Number(n)).toLocaleString(I18n.lang); },
  compact(n) {
    if (n == null || isNaN(n)) return '–';
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G';
    if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e3) return (n / 1e3).toFixed(a >= 1e4 ? 0 : 1) + 'k';
    return String(Math.round(n * 100) / 100);
  },
  ms(v) {
    if (v == null || isNaN(v)) return '–';
    v = Number(v);
    if (v < 10 && v !== Math.round(v)) return v.toFixed(1) + ' ms';
    if (v < 1000) return Math.round(v) + ' ms';
    if (v < 60000) return (v / 1000).toFixed(v < 10000 ? 2 : 1) + ' s';
    return fmt.countdown(v);
  },
  usd(v) {
    if (v == null || isNaN(v)) return '–';
    v = Number(v);
    if (v === 0) return '$0';
    const digits = Math.abs(v) < 0.01 ? 4 : 2;
    return '$' + v.toLocaleString(I18n.lang, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  },
  pct(part, whole) { return whole ? fmt.rate(part / whole) : '–'; },
  /// A ratio (0…1) as a percentage with one decimal, in the chosen locale.
  rate(r) { return r == null || isNaN(r) ? '–' : Number(r).toLocaleString(I18n.lang, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }); },
  two(n) { return String(n).padStart(2, '0'); },
  /// A date and time in the chosen locale (24-hour clock, seconds shown).
  time(ms) {
    if (!ms) return '–';
    return new Date(Number(ms)).toLocaleString(I18n.lang, { year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  },
  hour(ms) { const d = new Date(ms); return fmt.two(d.getHours()) + ':00'; },
  day(ms) { return new Date(ms).toLocaleDateString(I18n.lang, { month: '2-digit', day: '2-digit' }); },
  countdown(ms) {
    let s = Math.max(0, Math.ceil(ms / 1000));
    const hrs = Math.floor(s / 3600); s -= hrs * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (hrs) return hrs + 'h ' + fmt.two(m) + 'm';
    if (m) return m + 'm ' + fmt.two(s) + 's';
    return s + 's';
  },
  bytes(n) {
    if (n == null) return '–';
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(1) + ' MiB';
  },
};
function statusClass(s) { return 'status-' + (s ? String(s)[0] : '0'); }

/// One Stats object from a row that nests it (`stats`, `totals`) or spreads it.
function statsOf(o) { return (o && (o.stats || o.totals)) || o || {}; }
/// Sums Stats objects field by field: counts and money (`rate_limited` too); times
/// (`*_ms`) and `success_rate` are not sums and are left out.
function sumStats(list) {
  const sum = {};
  list.forEach((s) => {
    for (const [k, v] of Object.entries(s || {})) if (typeof v === 'number' && !/_ms$|^success_rate$/.test(k)) sum[k] = (sum[k] || 0) + v;
  });
  return sum;
}
function statErrors(s) {
  return (s.errors_4xx || 0) + (s.errors_5xx || 0) + (s.errors_other || 0);
}
function statRate(s) {
  if (!s.requests) return null;
  return (s.successes != null ? s.successes : s.requests - statErrors(s)) / s.requests;
}
function cacheWrite(o) {
  const v = pick(o, 'cache_write_tokens');
  if (v != null) return v;
  return (o.cache_write_5m_tokens || 0) + (o.cache_write_1h_tokens || 0);
}

// ---------- toast, modal, forms ----------
let toastTimer = 0;
function toast(message, bad) {
  const box = $('#toast');
  box.textContent = message;
  box.className = 'toast show' + (bad ? ' bad' : '');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.className = 'toast'; }, bad ? 6000 : 2500);
}

function openModal(title, body, actions) {
  const back = h('div', { class: 'modal-back' });
  const box = h('div', { class: 'modal', role: 'dialog', 'aria-label': title }, h('h2', title), body,
    actions ? h('div', { class: 'actions' }, actions) : null);
  back.appendChild(box);
  const close = () => { back.remove(); document.removeEventListener('keydown', onKey); };
  const onKey = (ev) => { if (ev.key === 'Escape') close(); };
  back.addEventListener('mousedown', (ev) => { if (ev.target === back) close(); });
  document.addEventListener('keydown', onKey);
  document.body.appendChild(back);
  App.onLeave(close);
  const first = box.querySelector('input, select, textarea');
  if (first) first.focus();
  return { close, box };
}

/// A labelled input whose errors show beneath it (`data-field` names the API field).
function field(name, label, input, hint, cls) {
  return h('label', { class: 'field' + (cls ? ' ' + cls : ''), dataset: { field: name } },
    h('span', { class: 'name' }, label), input, hint ? h('span', { class: 'hint' }, hint) : null,
    h('span', { class: 'field-error' }));
}
function clearFieldErrors(form) {
  $$('.field-error', form).forEach((e) => { e.textContent = ''; });
  $$('.invalid', form).forEach((e) => e.classList.remove('invalid'));
  $$('.form-alert', form).forEach((e) => e.remove());
}
/// Shows an error next to the field the API named (`api_keys[1]` → `api_keys`), or at
/// the top of the form when no field matches.
function showFieldError(form, e) {
  const name = e.field || '';
  const candidates = [name, name.replace(/\[\d+\].*$/, ''), name.split('.')[0], name.replace(/^url$/, 'urls')];
  for (const c of candidates) {
    if (!c) continue;
    const wrap = form.querySelector('[data-field="' + CSS.escape(c) + '"]');
    if (wrap) {
      wrap.querySelector('.field-error').textContent = e.message;
      const input = wrap.querySelector('input, select, textarea');
      if (input) { input.classList.add('invalid'); input.focus(); }
      return;
    }
  }
  const box = h('div', { class: 'alert form-alert', role: 'alert' }, describeError(e));
  form.prepend(box);
  box.scrollIntoView({ block: 'nearest' });
}
/// A form's save: the button disabled meanwhile, an API error shown at the field it names.
async function saving(form, button, work) {
  button.disabled = true;
  try { await work(); } catch (e) { if (e.status !== 401) showFieldError(form, e); } finally { button.disabled = false; }
}
function numOrNull(v) {
  if (v == null || String(v).trim() === '') return null;
  const n = Number(v);
  return isNaN(n) ? NaN : n;
}
function listOf(text) { return String(text || '').split(/[\n,]/).map((s) => s.trim()).filter(Boolean); }

// ---------- app: router, polling, session ----------
const App = {
  pages: {},
  leave: [],
  authed: false,
  wanted: null,
  /// The signed-in caller as `GET /admin/session` answers it (role, user_id, username, and
  /// for a user the groups and limits the admin allows their own keys), null before login.
  session: null,

  start() {
    const nav = $('#nav'), menu = $('#menu');
    I18n.set(I18n.choose(), false);
    I18n.mount($('#lang'), () => App.route());
    menu.addEventListener('click', () => {
      const open = nav.classList.toggle('open');
      menu.setAttribute('aria-expanded', String(open));
    });
    nav.addEventListener('click', (ev) => { if (ev.target.tagName === 'A') nav.classList.remove('open'); });
    $('#logout').addEventListener('click', () => App.logout());
    window.addEventListener('hashchange', () => App.route());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) App.leave.forEach((f) => f.wake && f.wake());
    });
    App.loadSession()
      .then(() => App.route())
      .catch((e) => { if (e.status === 401) App.needLogin(); else App.fatal(e); });
  },

  async loadSession() {
    App.session = await api('GET', '/admin/session', undefined, { noRedirect: true });
    App.authed = true;
    App.showNav();
  },

  isAdmin() { return !!App.session && App.session.role === 'admin'; },

  /// Whether the signed-in caller may use a page: `access: 'user'` pages are anyone's,
  /// every other page is the admin's (as the API's route table has it); `when` narrows.
  mayUse(name) {
    const page = App.pages[name];
    if (!page || !App.session) return false;
    if (page.access !== 'user' && !App.isAdmin()) return false;
    return page.when ? !!page.when(App.session) : true;
  },

  /// The navigation shows only the pages the caller's role may use.
  showNav() {
    $$('#nav a[data-page]').forEach((a) => { a.hidden = !App.mayUse(a.dataset.page); });
    const who = $('#whoami');
    who.textContent = App.session ? (App.session.username || t('nav.admin')) : '';
  },

  home() { return App.isAdmin() ? 'dashboard' : 'usage'; },

  parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [name, q] = raw.split('?');
    return { name: name || (App.session ? App.home() : 'dashboard'), query: new URLSearchParams(q || '') };
  },

  route() {
    App.runLeave();
    const { name, query } = App.parseHash();
    // A page that does not exist opens the caller's home page. An admin page opened by a
    // user renders, and shows the 403 the API answers it. Only `open` pages need no session.
    const page = App.pages[name] || App.pages[App.home()];
    if (!App.authed && !page.open) return App.needLogin();
    document.body.classList.toggle('anon', !!page.open);
    $$('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === name));
    document.title = (page.title ? t(page.title) : name) + ' · ccload';
    const main = clear($('#main'));
    const root = h('div', { class: 'page', dataset: { page: name } });
    main.appendChild(root);
    Promise.resolve().then(() => page.render(root, query)).catch((e) => {
      if (e && e.status === 401) return;
      root.prepend(alertBox(e));
    }).then(() => {
      // The first page of this document has its data on screen (benchmarks read it).
      const html = document.documentElement;
      if (!html.dataset.readyMs) html.dataset.readyMs = String(Math.round(performance.now() * 10) / 10);
    });
  },

  onLeave(f) { App.leave.push(f); },
  runLeave() { const l = App.leave; App.leave = []; l.forEach((f) => { try { f(); } catch (_) {} }); },

  /// Runs fn now and every `ms` while this page is shown and the tab is visible; a run
  /// never overlaps the previous one. The promise settles after the first run.
  every(ms, fn) {
    let timer = 0, stopped = false, running = false, first = null;
    const tick = async () => {
      timer = 0;
      if (stopped) return;
      if (document.hidden) return;   // resumed by wake() when visible again
      running = true;
      try { await fn(); } catch (_) {}
      running = false;
      if (!stopped && !timer) timer = setTimeout(tick, ms);
    };
    const stop = () => { stopped = true; clearTimeout(timer); };
    stop.wake = () => { if (!stopped && !running) { clearTimeout(timer); tick(); } };
    App.leave.push(stop);
    first = tick();
    return first;
  },

  needLogin() {
    App.authed = false;
    App.session = null;
    App.showNav();
    const { name } = App.parseHash();
    const open = App.pages[name] && App.pages[name].open;   // login, register
    if (!open) App.wanted = location.hash || null;
    if (open) App.route(); else location.hash = '#/login';
  },

  async loggedIn() {
    await App.loadSession();
    const to = App.wanted && App.wanted !== '#/login' ? App.wanted : '#/' + App.home();
    App.wanted = null;
    if (location.hash === to) App.route(); else location.hash = to;
  },

  async logout() {
    try { await api('POST', '/logout', undefined, { noRedirect: true }); } catch (_) {}
    App.authed = false;
    App.session = null;
    App.wanted = null;
    App.showNav();
    location.hash = '#/login';
  },

  fatal(e) { clear($('#main')).appendChild(alertBox(e)); },
};

App.pages.login = {
  title: 'login.title',
  open: true,
  render(root) {
    if (App.authed) { location.hash = '#/' + App.home(); return; }
    const user = h('input', { type: 'text', name: 'username', id: 'username', autocomplete: 'username', autocapitalize: 'off', spellcheck: 'false' });
    const pw = h('input', { type: 'password', name: 'password', id: 'password', autocomplete: 'current-password', required: true });
    const submit = h('button', { class: 'primary', type: 'submit', id: 'login-submit' }, t('login.submit'));
    const form = h('form', { class: 'panel', novalidate: true },
      field('username', t('login.username'), user, t('login.username_hint')),
      field('password', t('login.password'), pw, t('login.password_hint')),
      submit);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      if (!pw.value) return showFieldError(form, new ApiError(0, t('login.need_password'), 'password'));
      submit.disabled = true;
      const body = { password: pw.value };
      if (user.value.trim()) body.username = user.value.trim();
      try {
        await api('POST', '/login', body, { noRedirect: true });
        await App.loggedIn();
      } catch (e) {
        showFieldError(form, e);
        pw.select();
      } finally { submit.disabled = false; }
    });
    add(root, h('div', { class: 'login' }, h('h1', t('login.heading')), form,
      h('p', { class: 'muted' }, h('a', { href: '#/register', id: 'to-register' }, t('register.link')))));
    pw.focus();
  },
};

/// Self-registration (`POST /register`, when the admin has turned the `self_registration`
/// setting on): the new user logs in once the admin approves them.
App.pages.register = {
  title: 'register.title',
  open: true,
  render(root) {
    const user = h('input', { type: 'text', id: 'reg-username', autocomplete: 'username', autocapitalize: 'off', spellcheck: 'false' });
    const pw = h('input', { type: 'password', id: 'reg-password', autocomplete: 'new-password' });
    const again = h('input', { type: 'password', id: 'reg-again', autocomplete: 'new-password' });
    const email = h('input', { type: 'email', id: 'reg-email', autocomplete: 'email' });
    const submit = h('button', { class: 'primary', type: 'submit', id: 'reg-submit' }, t('register.submit'));
    const form = h('form', { class: 'panel', id: 'register-form', novalidate: true },
      field('username', t('users.username'), user, t('users.username_rule')),
      field('password', t('login.password'), pw, t('password.rule')),
      field('again', t('password.again'), again),
      field('email', t('users.email'), email, t('users.optional')),
      submit);
    const box = h('div', { class: 'login' }, h('h1', t('register.title')), form,
      h('p', { class: 'muted' }, h('a', { href: '#/login' }, t('register.back'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      const body = { username: user.value.trim(), password: pw.value };
      if (email.value.trim()) body.email = email.value.trim();
      if (!body.username) return showFieldError(form, new ApiError(0, t('form.required'), 'username'));
      if (pw.value.length < 8) return showFieldError(form, new ApiError(0, t('password.too_short'), 'password'));
      if (pw.value !== again.value) return showFieldError(form, new ApiError(0, t('password.mismatch'), 'again'));
      await saving(form, submit, async () => {
        await api('POST', '/register', body, { noRedirect: true });
        form.replaceWith(h('div', { class: 'alert info', id: 'registered', role: 'status' }, t('register.done', { name: body.username })));
      });
    });
    add(root, box);
    user.focus();
  },
};

/// Change my password: a user's own (`PUT /admin/password`); every session of theirs ends,
/// so they log in again. The `CCLOAD_PASS` admin has no such page (their password is CCLOAD_PASS).
App.pages.password = {
  title: 'password.title',
  access: 'user',
  when: (s) => s.user_id != null,
  render(root) {
    const old = h('input', { type: 'password', id: 'pw-old', autocomplete: 'current-password' });
    const next = h('input', { type: 'password', id: 'pw-new', autocomplete: 'new-password' });
    const again = h('input', { type: 'password', id: 'pw-again', autocomplete: 'new-password' });
    const submit = h('button', { class: 'primary', type: 'submit', id: 'pw-save' }, t('password.submit'));
    const form = h('form', { class: 'panel', id: 'password-form', novalidate: true },
      h('div', { class: 'form-grid' },
        field('old_password', t('password.old'), old),
        field('new_password', t('password.new'), next, t('password.rule')),
        field('again', t('password.again'), again)),
      h('div', { class: 'row end' }, submit));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      if (!old.value) return showFieldError(form, new ApiError(0, t('form.required'), 'old_password'));
      if (next.value.length < 8) return showFieldError(form, new ApiError(0, t('password.too_short'), 'new_password'));
      if (next.value !== again.value) return showFieldError(form, new ApiError(0, t('password.mismatch'), 'again'));
      submit.disabled = true;
      try {
        await api('PUT', '/admin/password', { old_password: old.value, new_password: next.value }, { noRedirect: true });
        toast(t('password.changed'));
        App.needLogin();
      } catch (e) { showFieldError(form, e); } finally { submit.disabled = false; }
    });
    add(root, h('h1', t('password.title')), h('p', { class: 'muted' }, t('password.note')), form);
    old.focus();
  },
};

document.addEventListener('DOMContentLoaded', () => App.start());
