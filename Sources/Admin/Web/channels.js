'use strict';

/// Countdown spans (`.cd` with `data-until`, a performance.now() deadline) tick here.
function startCountdowns(root) {
  const tick = () => {
    const now = performance.now();
    $$('.cd[data-until]', root).forEach((el) => {
      const left = Number(el.dataset.until) - now;
      if (left <= 0) { el.textContent = t('channels.ready'); el.classList.remove('cd'); el.removeAttribute('data-until'); }
      else el.textContent = fmt.countdown(left);
    });
  };
  const id = setInterval(tick, 250);
  App.onLeave(() => clearInterval(id));
}
function countdown(ms) {
  return h('span', { class: 'cd', dataset: { until: String(performance.now() + ms) } }, fmt.countdown(ms));
}

/// A channel's last health probe (null before the first, or without probes).
function probeLine(c) {
  const p = c.probe;
  if (!p) return c.probe_interval_s ? h('div', { class: 'muted probe' }, t('channels.probe_pending', { s: c.probe_interval_s })) : null;
  return h('div', { class: 'probe' }, h('span', { class: 'badge ' + (p.ok ? 'ok' : 'bad') }, p.ok ? t('channels.probe_ok') : t('channels.probe_failed')), ' ',
    h('span', { class: 'muted' }, [p.status != null ? 'HTTP ' + p.status : null, p.ttfb_ms != null ? p.ttfb_ms + ' ms' : null, fmt.time(p.at_ms)].filter(Boolean).join(' · ')),
    p.error ? h('div', { class: 'muted wrap' }, p.error) : null);
}

/// What cools on a channel: its own cooldown, its keys', its models'.
function channelCooling(c) {
  const parts = [];
  if (c.cooldown && c.cooldown.remaining_ms > 0) {
    parts.push(h('div', countdown(c.cooldown.remaining_ms), ' ',
      h('span', { class: 'muted' }, (c.cooldown.failure_class || t('channels.failure')) + ' ×' + (c.cooldown.failures || 1))));
  }
  (c.keys || []).forEach((k) => {
    if (k.cooldown_remaining_ms > 0) parts.push(h('div', h('span', { class: 'muted' }, t('channels.key_n', { n: k.index + 1 }) + ' '), countdown(k.cooldown_remaining_ms)));
  });
  (c.model_cooldowns || []).forEach((m) => {
    if (m.remaining_ms > 0) parts.push(h('div', h('span', { class: 'muted' }, m.model + ' '), countdown(m.remaining_ms)));
  });
  return parts;
}

App.pages.channels = {
  title: 'nav.channels',
  async render(root) {
    const selected = new Set();
    let channels = [];
    /// Subscription accounts by channel id (`GET /admin/accounts`).
    let accounts = {};
    const msg = h('div');
    const importBox = h('div');
    const tableBox = h('div', { class: 'table-wrap' }, h('div', { class: 'empty' }, t('common.loading')));
    const batchCount = h('span', { class: 'muted' });
    const prio = h('input', { type: 'number', placeholder: t('channels.priority_ph'), class: 'small-input', 'aria-label': t('channels.priority_batch') });
    const batchBar = h('div', { class: 'row panel', id: 'batch-bar', hidden: true }, batchCount,
      h('button', { type: 'button', onclick: () => batch('enable') }, t('common.enable')),
      h('button', { type: 'button', onclick: () => batch('disable') }, t('common.disable')),
      h('button', { type: 'button', onclick: () => batch('clear_cooldowns') }, t('channels.clear_cooldowns')),
      prio, h('button', { type: 'button', onclick: () => batch('set_priority') }, t('channels.set_priority')),
      h('button', { type: 'button', class: 'danger', onclick: () => batch('delete') }, t('common.delete')));
    const fileInput = h('input', { type: 'file', accept: '.csv,text/csv', id: 'csv-file', 'aria-label': t('channels.import') });
    fileInput.addEventListener('change', () => importCSV(fileInput));

    add(root,
      h('div', { class: 'row' }, h('h1', t('nav.channels')), h('span', { class: 'spacer' }),
        h('button', { class: 'primary', type: 'button', id: 'new-channel', onclick: () => editChannel(null) }, t('channels.new')),
        h('span', { class: 'button filebtn' }, t('channels.import'), fileInput),
        h('a', { class: 'button', href: '/admin/channels/export', download: 'channels.csv', id: 'export-csv' }, t('channels.export'))),
      h('p', { class: 'muted' }, t('channels.intro')),
      msg, importBox, batchBar, tableBox);
    startCountdowns(root);

    async function load() {
      try {
        const [r, a] = await Promise.all([api('GET', '/admin/channels'), api('GET', '/admin/accounts')]);
        channels = r.data || [];
        accounts = {};
        (a.data || []).forEach((x) => { accounts[x.channel_id] = x; });
        clear(msg);
        draw();
      } catch (e) { clear(msg).appendChild(alertBox(e)); clear(tableBox); }
    }
    function updateBatch() {
      for (const id of Array.from(selected)) if (!channels.some((c) => c.id === id)) selected.delete(id);
      batchBar.hidden = selected.size === 0;
      batchCount.textContent = t('channels.selected', { n: fmt.int(selected.size) });
    }
    function draw() {
      clear(tableBox);
      if (!channels.length) {
        tableBox.appendChild(h('div', { class: 'empty' }, t('channels.none')));
        return updateBatch();
      }
      const all = h('input', { type: 'checkbox', 'aria-label': t('channels.select_all'), checked: channels.every((c) => selected.has(c.id)) });
      all.addEventListener('change', () => {
        channels.forEach((c) => all.checked ? selected.add(c.id) : selected.delete(c.id));
        draw();
      });
      const rows = channels.map((c) => {
        const box = h('input', { type: 'checkbox', checked: selected.has(c.id), 'aria-label': t('channels.select_one', { name: c.name }) });
        box.addEventListener('change', () => { box.checked ? selected.add(c.id) : selected.delete(c.id); updateBatch(); });
        const testCell = h('td', { class: 'test-result' });
        const cooling = channelCooling(c);
        return h('tr', { dataset: { id: String(c.id), name: c.name } },
          h('td', box),
          h('td', { class: 'num muted' }, c.id),
          h('td', h('b', c.name), h('div', { class: 'muted mono' }, (c.urls || []).join(' '))),
          h('td', c.protocol),
          h('td', { class: 'num' }, c.priority, c.weight != null ? h('span', { class: 'muted' }, ' w' + c.weight) : null),
          h('td', { class: 'wrap' }, (c.models || []).length ? (c.models || []).join(', ') : h('span', { class: 'muted' }, t('channels.any_model')),
            Object.keys(c.redirects || {}).length ? h('div', { class: 'muted' }, Object.entries(c.redirects).map(([a, b]) => a + ' → ' + b).join(', ')) : null),
          h('td', { class: 'num account-cell' }, accounts[c.id] ? accountSummary(accounts[c.id]) : (c.keys || []).length),
          h('td', h('span', { class: 'badge ' + (c.enabled ? 'ok' : '') }, c.enabled ? t('common.enabled_state') : t('common.disabled_state'))),
          h('td', { class: 'cooling' }, cooling.length ? cooling : h('span', { class: 'badge ok' }, t('channels.ready')), probeLine(c)),
          h('td', { class: 'num' }, fmt.usd(c.today_cost_usd)),
          h('td', h('div', { class: 'row nowrap' },
            h('button', { type: 'button', class: 'small', onclick: () => editChannel(c) }, t('common.edit')),
            h('button', { type: 'button', class: 'small test', onclick: (ev) => testChannel(c, testCell, ev.currentTarget) }, t('channels.test')),
            accounts[c.id] ? h('button', { type: 'button', class: 'small sign-in', onclick: () => signInDialog(c, accounts[c.id].kind, () => load()) }, t('accounts.sign_in')) : null,
            h('button', { type: 'button', class: 'small', onclick: () => toggle(c) }, c.enabled ? t('common.disable') : t('common.enable')),
            cooling.length ? h('button', { type: 'button', class: 'small', onclick: () => clearCooldown(c) }, t('channels.clear_cooldown')) : null,
            h('button', { type: 'button', class: 'small danger', onclick: () => remove(c) }, t('common.delete')))),
          testCell);
      });
      tableBox.appendChild(h('table', { id: 'channels-table' },
        h('thead', h('tr', h('th', all), h('th', { class: 'num' }, t('col.id')), h('th', t('channels.name_url')), h('th', t('col.protocol')),
          h('th', { class: 'num' }, t('channels.priority')), h('th', t('channels.models')), h('th', { class: 'num' }, t('channels.keys')), h('th', t('col.state')),
          h('th', t('channels.cooldown')), h('th', { class: 'num' }, t('keys.today')), h('th', t('col.actions')), h('th', t('channels.test')))),
        h('tbody', rows)));
      updateBatch();
    }
    async function act(promise, done) {
      try { await promise; if (done) toast(done); } catch (e) { toast(describeError(e), true); }
      await load();
    }
    function toggle(c) { act(api('PUT', '/admin/channels/' + c.id, { enabled: !c.enabled }), t(c.enabled ? 'common.was_disabled' : 'common.was_enabled', { name: c.name })); }
    function clearCooldown(c) { act(api('POST', '/admin/channels/' + c.id + '/clear-cooldowns', {}), t('channels.cooldowns_cleared', { name: c.name })); }
    function remove(c) {
      if (!confirm(t('channels.confirm_delete', { name: c.name }))) return;
      act(api('DELETE', '/admin/channels/' + c.id), t('common.was_deleted', { name: c.name }));
    }
    function batch(action) {
      const ids = Array.from(selected);
      const body = { ids, action };
      if (action === 'set_priority') {
        const p = numOrNull(prio.value);
        if (p == null || isNaN(p)) { prio.classList.add('invalid'); return toast(t('channels.need_priority'), true); }
        prio.classList.remove('invalid');
        body.priority = p;
      }
      if (action === 'delete' && !confirm(t('channels.confirm_batch_delete', { n: fmt.int(ids.length) }))) return;
      act(api('POST', '/admin/channels/batch', body).then((r) => {
        if (action === 'delete') selected.clear();
        return r;
      }), t('channels.batch_done', { action: t('batch.' + action), n: fmt.int(ids.length) }));
    }
    async function testChannel(c, cell, btn) {
      btn.disabled = true;
      clear(cell).appendChild(h('span', { class: 'muted' }, t('channels.testing')));
      try {
        const r = await api('POST', '/admin/channels/' + c.id + '/test', {});
        clear(cell).appendChild(h('span', { class: 'badge ' + (r.ok ? 'ok' : 'bad') },
          (r.ok ? '✓ ' : '✗ ') + (r.status || t('channels.no_answer')) + ' · TTFB ' + fmt.ms(r.ttfb_ms) + ' · ' + fmt.ms(r.duration_ms)));
        if (r.error) cell.appendChild(h('div', { class: 'muted wrap' }, r.error));
      } catch (e) {
        clear(cell).appendChild(h('span', { class: 'badge bad' }, describeError(e)));
      } finally { btn.disabled = false; }
    }
    async function importCSV(input) {
      const file = input.files && input.files[0];
      if (!file) return;
      const text = await file.text();
      input.value = '';
      clear(importBox).appendChild(h('div', { class: 'alert info' }, t('channels.importing', { name: file.name })));
      try {
        const r = await api('POST', '/admin/channels/import', text, { raw: true, contentType: 'text/csv; charset=utf-8' });
        const rows = (r.rows || []).map((x) => h('tr', { class: 'import-' + x.result },
          h('td', { class: 'num' }, x.row), h('td', x.name || ''),
          h('td', h('span', { class: 'badge ' + (x.result === 'error' ? 'bad' : 'ok') }, t('import.' + x.result))),
          h('td', { class: 'wrap' }, x.error || '')));
        clear(importBox).appendChild(h('div', { class: 'panel', id: 'import-result' },
          h('div', { class: 'row' }, h('h2', t('channels.import_of', { name: file.name })), h('span', { class: 'spacer' }),
            h('button', { type: 'button', class: 'small', onclick: () => clear(importBox) }, t('channels.dismiss'))),
          h('p', { class: 'import-summary' }, t('channels.import_summary', { created: fmt.int(r.created || 0), updated: fmt.int(r.updated || 0), failed: fmt.int(r.failed || 0) })),
          rows.length ? h('div', { class: 'table-wrap' }, h('table',
            h('thead', h('tr', h('th', { class: 'num' }, t('channels.row')), h('th', t('channels.name')), h('th', t('channels.result')), h('th', t('col.error')))),
            h('tbody', rows))) : null));
      } catch (e) { clear(importBox).appendChild(alertBox(e)); }
      load();
    }
    function editChannel(c) {
      channelForm(c, (made, kind) => {
        load();
        if (made && kind) signInDialog(made, kind, () => load());
      }, c ? (accounts[c.id] || {}).kind : null);
    }

    // Reloaded every 10 s while visible (not under an open form).
    await App.every(10000, async () => { if (!document.querySelector('.modal-back')) await load(); });
  },
};

/// An account's cell in the channel list: its status, when its token expires, its windows.
function accountSummary(a) {
  const ok = a.status === 'ok';
  const box = h('div', { class: 'account', dataset: { status: a.status } },
    h('span', { class: 'badge ' + (ok ? 'ok' : 'bad') }, t(ok ? 'accounts.ok' : 'accounts.needs_sign_in')),
    h('div', { class: 'muted' }, t('accounts.kind_' + a.kind)));
  if (a.expires_at) box.appendChild(h('div', { class: 'muted' }, t('accounts.expires', { time: fmt.time(a.expires_at) })));
  const rl = a.rate_limits;
  if (rl) {
    const w = (name, x) => x && x.utilization != null
      ? h('div', { class: 'muted window window-' + name }, t('accounts.window_' + name, { pct: Math.round(x.utilization * 100) + '%' }),
        x.resets_at ? ' · ' + t('accounts.resets', { time: fmt.time(x.resets_at * 1000) }) : '')
      : null;
    box.appendChild(w('5h', rl.five_hour) || h('span'));
    box.appendChild(w('7d', rl.seven_day) || h('span'));
    if (rl.status === 'rejected') box.appendChild(h('span', { class: 'badge bad' }, t('accounts.limited')));
  }
  if (a.error) box.appendChild(h('div', { class: 'muted wrap' }, a.error));
  return box;
}

/// Signs a channel in as a subscription account: opens the authorize URL, then takes the
/// code the provider's page shows (`code#state`) or the address the browser landed on.
async function signInDialog(c, kind, done) {
  let started;
  try { started = await api('POST', '/admin/channels/' + c.id + '/account/sign-in', { kind }); } catch (e) { return toast(describeError(e), true); }
  const link = h('a', { href: started.authorize_url, target: '_blank', rel: 'noopener noreferrer', id: 'account-authorize-url', class: 'button' }, t('accounts.open_sign_in'));
  const code = h('textarea', { id: 'account-code', rows: 3, class: 'mono', placeholder: t('accounts.code_ph'), autocomplete: 'off' });
  const error = h('div', { class: 'field-error', id: 'account-error' });
  const body = h('div', { id: 'account-sign-in' },
    h('p', t('accounts.steps_' + kind)), h('p', link), field('code', t('accounts.code'), code), error);
  const finish = h('button', { type: 'button', class: 'primary', id: 'account-finish' }, t('accounts.finish'));
  const modal = openModal(t('accounts.sign_in_title', { name: c.name }), body, [h('button', { type: 'button', onclick: () => modal.close() }, t('common.cancel')), finish]);
  window.open(started.authorize_url, '_blank', 'noopener');
  finish.addEventListener('click', async () => {
    error.textContent = '';
    if (!code.value.trim()) { error.textContent = t('accounts.need_code'); return; }
    finish.disabled = true;
    try {
      await api('POST', '/admin/channels/' + c.id + '/account/finish', { code: code.value.trim() });
      modal.close();
      toast(t('accounts.signed_in', { name: c.name }));
      done();
    } catch (e) {
      error.textContent = describeError(e);
    } finally { finish.disabled = false; }
  });
}

/// The create/edit form in a modal. `c` null: a new channel. `accountKind`: the channel's
/// account kind (claude, codex), if it is one.
function channelForm(c, saved, accountKind) {
  const v = c || { protocol: 'anthropic', urls: [], keys: [], key_strategy: 'sequential', priority: 0, models: [], redirects: {}, enabled: true, cost_multiplier: 1 };
  const inp = (name, value, attrs) => h('input', Object.assign({ name, id: 'ch-' + name, value: value == null ? '' : value }, attrs || {}));
  const name = inp('name', v.name, { required: true, autocomplete: 'off' });
  const protocol = h('select', { name: 'protocol', id: 'ch-protocol' },
    ['anthropic', 'openai', 'codex', 'gemini'].map((p) => h('option', { value: p, selected: v.protocol === p }, p)));
  const urls = h('textarea', { name: 'urls', id: 'ch-urls', rows: 2, placeholder: 'https://api.anthropic.com' }, (v.urls || []).join('\n'));
  // What the channel signs in with: its keys, or a Claude / Codex subscription account.
  const credential = h('select', { name: 'credential', id: 'ch-credential', disabled: !!c },
    [['key', t('accounts.kind_key')], ['claude', t('accounts.kind_claude')], ['codex', t('accounts.kind_codex')]]
      .map(([k, label]) => h('option', { value: k, selected: (accountKind || 'key') === k }, label)));
  const keysBox = h('div', { class: 'keys', id: 'ch-keys' });
  const addKey = (key) => {
    const isKept = key && key.keep != null;
    const input = h('input', { type: isKept ? 'text' : 'password', class: 'mono key-input', autocomplete: 'off',
      placeholder: isKept ? '' : 'sk-…', value: isKept ? key.masked : '', readonly: isKept, dataset: isKept ? { keep: String(key.keep) } : {} });
    const row = h('div', { class: 'keyrow' }, input,
      isKept ? h('button', { type: 'button', class: 'small', onclick: () => {
        delete input.dataset.keep; input.readOnly = false; input.value = ''; input.type = 'password'; input.placeholder = t('channels.new_key'); input.focus();
      } }, t('channels.replace')) : null,
      h('button', { type: 'button', class: 'small danger', 'aria-label': t('channels.remove_key'), onclick: () => row.remove() }, '✕'));
    keysBox.appendChild(row);
    return input;
  };
  (v.keys || []).forEach((k) => addKey({ keep: k.index, masked: k.masked }));
  if (!c) addKey(null);
  const strategy = h('select', { name: 'key_strategy', id: 'ch-key_strategy' },
    ['sequential', 'round_robin'].map((s) => h('option', { value: s, selected: v.key_strategy === s }, s)));
  const priority = inp('priority', v.priority, { type: 'number', step: 1 });
  const weight = inp('weight', v.weight, { type: 'number', step: 1, min: 0, placeholder: 'none' });
  const models = h('textarea', { name: 'models', id: 'ch-models', rows: 2, placeholder: t('keys.every_model') }, (v.models || []).join(', '));
  const redirBox = h('div', { class: 'redirects', id: 'ch-redirects' });
  const addRedirect = (from, to) => {
    const row = h('div', { class: 'rrow' },
      h('input', { class: 'r-from', placeholder: t('channels.requested_model'), value: from || '' }), '→',
      h('input', { class: 'r-to', placeholder: t('channels.upstream_model'), value: to || '' }),
      h('button', { type: 'button', class: 'small danger', 'aria-label': t('channels.remove_redirect'), onclick: () => row.remove() }, '✕'));
    redirBox.appendChild(row);
  };
  Object.entries(v.redirects || {}).forEach(([a, b]) => addRedirect(a, b));
  const enabled = h('input', { type: 'checkbox', name: 'enabled', id: 'ch-enabled', checked: v.enabled !== false });
  const proxy = inp('proxy', v.proxy, { placeholder: t('channels.proxy_ph') });
  const fbt = inp('first_byte_timeout_seconds', v.first_byte_timeout_seconds, { type: 'number', step: 'any', min: 0, placeholder: t('channels.global_setting') });
  const mult = inp('cost_multiplier', v.cost_multiplier, { type: 'number', step: 'any', min: 0 });
  const daily = inp('daily_cost_limit_usd', v.daily_cost_limit_usd, { type: 'number', step: 'any', min: 0, placeholder: 'none' });
  const conc = inp('max_concurrency', v.max_concurrency, { type: 'number', step: 1, min: 1, placeholder: 'none' });
  const insecure = h('input', { type: 'checkbox', name: 'insecure_skip_verify', id: 'ch-insecure', checked: !!v.insecure_skip_verify });
  const probeEvery = inp('probe_interval_s', v.probe_interval_s, { type: 'number', step: 1, min: 0, placeholder: t('channels.probe_off') });
  const probeModel = inp('probe_model', v.probe_model, { placeholder: t('channels.probe_model_ph') });

  const form = h('form', { id: 'channel-form', novalidate: true },
    h('div', { class: 'form-grid' },
      field('name', t('channels.name'), name),
      field('credential', t('accounts.credential'), credential, t('accounts.credential_hint')),
      field('protocol', t('col.protocol'), protocol),
      field('urls', t('channels.urls'), urls, t('channels.urls_hint'), 'wide'),
      h('div', { class: 'field wide', dataset: { field: 'api_keys' } },
        h('span', { class: 'name' }, t('channels.api_keys')), keysBox,
        h('div', h('button', { type: 'button', class: 'small', id: 'ch-add-key', onclick: () => addKey(null).focus() }, t('channels.add_key'))),
        h('span', { class: 'hint' }, t('channels.keys_hint')),
        h('span', { class: 'field-error' })),
      field('key_strategy', t('channels.key_strategy'), strategy),
      field('priority', t('channels.priority'), priority, t('channels.priority_hint')),
      field('weight', t('channels.weight'), weight, t('channels.weight_hint')),
      field('models', t('channels.models'), models, t('channels.models_hint'), 'wide'),
      h('div', { class: 'field wide', dataset: { field: 'redirects' } },
        h('span', { class: 'name' }, t('channels.redirects')), redirBox,
        h('div', h('button', { type: 'button', class: 'small', onclick: () => addRedirect() }, t('channels.add_redirect'))),
        h('span', { class: 'field-error' })),
      field('proxy', t('channels.proxy'), proxy),
      field('first_byte_timeout_seconds', t('channels.fbt'), fbt),
      field('cost_multiplier', t('channels.multiplier'), mult),
      field('daily_cost_limit_usd', t('channels.daily_limit'), daily),
      field('max_concurrency', t('keys.concurrency'), conc),
      field('probe_interval_s', t('channels.probe_every'), probeEvery, t('channels.probe_hint')),
      field('probe_model', t('channels.probe_model'), probeModel),
      h('div', { class: 'field', dataset: { field: 'enabled' } }, h('label', { class: 'check' }, enabled, t('common.enabled')), h('span', { class: 'field-error' })),
      h('div', { class: 'field', dataset: { field: 'insecure_skip_verify' } }, h('label', { class: 'check' }, insecure, t('channels.insecure')), h('span', { class: 'field-error' }))));
  const keysField = $('[data-field="api_keys"]', form);
  const accountDefaults = { claude: ['anthropic', 'https://api.anthropic.com'], codex: ['codex', 'https://chatgpt.com/backend-api/codex'] };
  const showCredential = () => {
    const kind = credential.value;
    keysField.hidden = kind !== 'key';
    if (kind !== 'key' && !c) {
      protocol.value = accountDefaults[kind][0];
      if (!urls.value.trim()) urls.value = accountDefaults[kind][1];
    }
  };
  credential.addEventListener('change', showCredential);
  showCredential();
  const save = h('button', { type: 'submit', class: 'primary', id: 'ch-save', form: 'channel-form' }, c ? t('common.save') : t('common.create'));
  const modal = openModal(c ? t('channels.edit_title', { name: c.name }) : t('channels.new_title'), form,
    [h('button', { type: 'button', onclick: () => modal.close() }, t('common.cancel')), save]);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    const body = {
      name: name.value.trim(), protocol: protocol.value, urls: listOf(urls.value.replace(/\s+/g, '\n')),
      key_strategy: strategy.value, priority: numOrNull(priority.value) || 0, weight: numOrNull(weight.value),
      models: listOf(models.value), enabled: enabled.checked, proxy: proxy.value.trim() || null,
      first_byte_timeout_seconds: numOrNull(fbt.value), cost_multiplier: numOrNull(mult.value) == null ? 1 : numOrNull(mult.value),
      daily_cost_limit_usd: numOrNull(daily.value), max_concurrency: numOrNull(conc.value), insecure_skip_verify: insecure.checked,
      probe_interval_s: numOrNull(probeEvery.value), probe_model: probeModel.value.trim() || null,
    };
    body.api_keys = $$('.key-input', keysBox).map((i) => i.dataset.keep != null ? { keep: Number(i.dataset.keep) } : i.value.trim()).filter((k) => k !== '');
    // An account channel's key is never sent (its OAuth token is): a placeholder fills the field.
    const kind = credential.value === 'key' ? null : credential.value;
    if (kind && !c) body.api_keys = ['oauth-account'];
    else if (accountKind) delete body.api_keys;
    body.redirects = {};
    $$('.rrow', redirBox).forEach((r) => {
      const a = $('.r-from', r).value.trim(), b = $('.r-to', r).value.trim();
      if (a && b) body.redirects[a] = b;
    });
    // Checks the browser can make; the server checks everything again.
    const local = [];
    if (!body.name) local.push(['name', t('form.name_required')]);
    if (!body.urls.length) local.push(['urls', t('channels.need_url')]);
    else if (body.urls.some((u) => !/^https?:\/\//.test(u))) local.push(['urls', t('channels.bad_url')]);
    if (body.api_keys && !body.api_keys.length) local.push(['api_keys', t('channels.need_key')]);
    for (const k of ['priority', 'weight', 'first_byte_timeout_seconds', 'cost_multiplier', 'daily_cost_limit_usd', 'max_concurrency', 'probe_interval_s']) {
      if (Number.isNaN(body[k])) local.push([k, t('form.number')]);
    }
    if (local.length) { local.forEach(([f, m]) => showFieldError(form, new ApiError(400, m, f))); return; }
    // An unchanged proxy is left out: as answered its password is masked.
    if (c && (body.proxy || null) === (c.proxy || null)) delete body.proxy;
    save.disabled = true;
    try {
      const made = c ? await api('PUT', '/admin/channels/' + c.id, body) : await api('POST', '/admin/channels', body);
      modal.close();
      toast(c ? t('common.saved', { name: body.name }) : t('common.was_created', { name: body.name }));
      saved(c ? null : made, c ? null : kind);
    } catch (e) {
      if (e.status !== 401) showFieldError(form, e);
    } finally { save.disabled = false; }
  });
}