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
  catch (e) { throw new ApiError(0, 'ccload cannot be reached (' + e.message + ')'); }
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (_) { data = text; } }
  if (!res.ok) {
    const err = (data && data.error) || {};
    let message = err.message || (res.status + ' ' + res.statusText);
    if (res.status === 404 && !err.message) message = path + ' is not available';
    const e = new ApiError(res.status, message, err.field, err.type);
    if (res.status === 401 && !opts.noRedirect) App.needLogin();
    throw e;
  }
  return data;
}
function describeError(e) {
  if (!(e instanceof ApiError)) return String(e && e.message || e);
  let s = e.message;
  if (e.field) s += ' (field: ' + e.field + ')';
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
  int(n) { return n == null || isNaN(n) ? '–' : Math.round(Number(n)).toLocaleString('en-US'); },
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
    if (Math.abs(v) < 0.01) return '$' + v.toFixed(4);
    return '$' + v.toFixed(2);
  },
  pct(part, whole) { return whole ? (100 * part / whole).toFixed(1) + '%' : '–'; },
  two(n) { return String(n).padStart(2, '0'); },
  time(ms) {
    if (!ms) return '–';
    const d = new Date(Number(ms));
    return d.getFullYear() + '-' + fmt.two(d.getMonth() + 1) + '-' + fmt.two(d.getDate()) + ' ' +
      fmt.two(d.getHours()) + ':' + fmt.two(d.getMinutes()) + ':' + fmt.two(d.getSeconds());
  },
  hour(ms) { const d = new Date(ms); return fmt.two(d.getHours()) + ':00'; },
  day(ms) { const d = new Date(ms); return fmt.two(d.getMonth() + 1) + '-' + fmt.two(d.getDate()); },
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
  const t = $('#toast');
  t.textContent = message;
  t.className = 'toast show' + (bad ? ' bad' : '');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.className = 'toast'; }, bad ? 6000 : 2500);
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

  start() {
    const nav = $('#nav'), menu = $('#menu');
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
    api('GET', '/admin/session', undefined, { noRedirect: true })
      .then(() => { App.authed = true; App.route(); })
      .catch((e) => { if (e.status === 401) App.needLogin(); else App.fatal(e); });
  },

  parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [name, q] = raw.split('?');
    return { name: name || 'dashboard', query: new URLSearchParams(q || '') };
  },

  route() {
    App.runLeave();
    const { name, query } = App.parseHash();
    if (!App.authed && name !== 'login') return App.needLogin();
    const page = App.pages[name] || App.pages.dashboard;
    document.body.classList.toggle('anon', name === 'login');
    $$('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === name));
    document.title = (page.title || name) + ' · ccload';
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
    const { name } = App.parseHash();
    if (name !== 'login') App.wanted = location.hash || '#/dashboard';
    if (name === 'login') App.route(); else location.hash = '#/login';
  },

  loggedIn() {
    App.authed = true;
    const to = App.wanted && App.wanted !== '#/login' ? App.wanted : '#/dashboard';
    App.wanted = null;
    if (location.hash === to) App.route(); else location.hash = to;
  },

  async logout() {
    try { await api('POST', '/logout', undefined, { noRedirect: true }); } catch (_) {}
    App.authed = false;
    App.wanted = null;
    location.hash = '#/login';
  },

  fatal(e) { clear($('#main')).appendChild(alertBox(e)); },
};

App.pages.login = {
  title: 'Log in',
  render(root) {
    if (App.authed) { location.hash = '#/dashboard'; return; }
    const pw = h('input', { type: 'password', name: 'password', id: 'password', autocomplete: 'current-password', required: true });
    const submit = h('button', { class: 'primary', type: 'submit', id: 'login-submit' }, 'Log in');
    const form = h('form', { class: 'panel', novalidate: true },
      field('password', 'Admin password', pw, 'CCLOAD_PASS, or the password ccload printed at its first start'),
      submit);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      if (!pw.value) return showFieldError(form, new ApiError(0, 'enter the password', 'password'));
      submit.disabled = true;
      try {
        await api('POST', '/login', { password: pw.value }, { noRedirect: true });
        App.loggedIn();
      } catch (e) {
        showFieldError(form, e);
        pw.select();
      } finally { submit.disabled = false; }
    });
    add(root, h('div', { class: 'login' }, h('h1', 'ccload admin'), form));
    pw.focus();
  },
};

document.addEventListener('DOMContentLoaded', () => App.start());