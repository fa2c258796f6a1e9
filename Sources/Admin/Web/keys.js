'use strict';

// The keys page (`#/tokens`): client tokens for the proxy. The admin sees and manages every
// token, and may make one for a user; a user sees only their own, makes them in the groups
// the admin allows them and within the admin's limits for them (the session says which).

const CAP_FIELDS = ['daily_cost_cap_usd', 'weekly_cost_cap_usd', 'monthly_cost_cap_usd', 'total_cost_cap_usd'];
const LIMIT_FIELDS = CAP_FIELDS.concat(['requests_per_minute', 'max_concurrency']);
const CLIENTS = ['claude_code', 'codex_cli'];

function tokenLimits(tk) {
  const parts = [];
  if (tk.requests_per_minute != null) parts.push(t('keys.rpm', { n: fmt.int(tk.requests_per_minute) }));
  if (tk.max_concurrency != null) parts.push(t('keys.concurrent', { n: fmt.int(tk.max_concurrency) }));
  if (tk.daily_cost_cap_usd != null) parts.push(t('keys.per_day', { v: fmt.usd(tk.daily_cost_cap_usd) }));
  if (tk.weekly_cost_cap_usd != null) parts.push(t('keys.per_week', { v: fmt.usd(tk.weekly_cost_cap_usd) }));
  if (tk.monthly_cost_cap_usd != null) parts.push(t('keys.per_month', { v: fmt.usd(tk.monthly_cost_cap_usd) }));
  if (tk.total_cost_cap_usd != null) parts.push(t('keys.in_total', { v: fmt.usd(tk.total_cost_cap_usd) }));
  if (tk.allowed_models && tk.allowed_models.length) parts.push(t('keys.models', { list: tk.allowed_models.join(', ') }));
  if (tk.allowed_clients && tk.allowed_clients.length) parts.push(t('keys.clients', { list: tk.allowed_clients.map((c) => t('client.' + c)).join(', ') }));
  return parts.length ? parts.join(' · ') : t('common.none');
}
function localDateTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  return d.getFullYear() + '-' + fmt.two(d.getMonth() + 1) + '-' + fmt.two(d.getDate()) + 'T' + fmt.two(d.getHours()) + ':' + fmt.two(d.getMinutes());
}

/// The groups a token may be put in: every group for the admin, the allowed ones for a user.
async function tokenGroups() {
  if (App.isAdmin()) return (await api('GET', '/admin/groups')).data || [];
  return (App.session && App.session.allowed_groups) || [];
}

/// The create/edit form. `tk` null: a new token. `ctx`: { groups, users } as loaded by the page.
function tokenForm(tk, ctx, done) {
  const v = tk || {};
  const admin = App.isAdmin();
  const mine = (!admin && App.session && App.session.token_limits) || {};
  const inp = (name, value, attrs) => h('input', Object.assign({ name, id: 'tk-' + name, value: value == null ? '' : value }, attrs || {}));
  const name = inp('name', v.name, { autocomplete: 'off' });
  const expires = inp('expires_at_ms', localDateTime(v.expires_at_ms), { type: 'datetime-local' });
  const models = inp('allowed_models', (v.allowed_models || []).join(', '), { placeholder: t('keys.every_model') });
  // A user's limit fields show the admin's limit for them: left empty on create, a field takes it.
  const limit = (f, step, min) => inp(f, v[f], { type: 'number', step, min,
    placeholder: mine[f] != null ? t('keys.at_most', { v: f.endsWith('_usd') ? fmt.usd(mine[f]) : fmt.int(mine[f]) }) : t('common.none') });
  const inputs = {};
  CAP_FIELDS.forEach((f) => { inputs[f] = limit(f, 'any', 0); });
  inputs.requests_per_minute = limit('requests_per_minute', 1, 1);
  inputs.max_concurrency = limit('max_concurrency', 1, 1);
  const groups = ctx.groups || [];
  const mustGroup = !admin && groups.length > 0;
  const group = h('select', { name: 'group_id', id: 'tk-group_id' },
    mustGroup ? null : h('option', { value: '' }, t('keys.no_group')),
    groups.map((g) => h('option', { value: String(g.id), selected: v.group_id === g.id }, g.name)));
  const owner = admin && !tk ? h('select', { name: 'owner_user_id', id: 'tk-owner_user_id' },
    h('option', { value: '' }, t('keys.owner_admin')),
    (ctx.users || []).map((u) => h('option', { value: String(u.id) }, u.username))) : null;
  const clientBoxes = CLIENTS.map((c) => h('input', { type: 'checkbox', value: c, id: 'tk-client-' + c,
    checked: (v.allowed_clients || []).includes(c) }));
  const enabled = h('input', { type: 'checkbox', id: 'tk-enabled', checked: v.enabled !== false });
  const form = h('form', { id: 'token-form', novalidate: true }, h('div', { class: 'form-grid' },
    field('name', t('keys.name'), name), field('expires_at_ms', t('keys.expires'), expires, t('keys.empty_never')),
    field('group_id', t('keys.group'), group, mustGroup ? t('keys.group_allowed') : t('keys.group_hint')),
    owner ? field('owner_user_id', t('keys.owner'), owner) : null,
    field('allowed_models', t('keys.allowed_models'), models, t('keys.comma'), 'wide'),
    field('daily_cost_cap_usd', t('keys.daily_cap'), inputs.daily_cost_cap_usd),
    field('weekly_cost_cap_usd', t('keys.weekly_cap'), inputs.weekly_cost_cap_usd),
    field('monthly_cost_cap_usd', t('keys.monthly_cap'), inputs.monthly_cost_cap_usd),
    field('total_cost_cap_usd', t('keys.total_cap'), inputs.total_cost_cap_usd),
    field('requests_per_minute', t('keys.rpm_label'), inputs.requests_per_minute),
    field('max_concurrency', t('keys.concurrency'), inputs.max_concurrency),
    h('div', { class: 'field wide', dataset: { field: 'allowed_clients' } }, h('span', { class: 'name' }, t('keys.allowed_clients')),
      h('div', { class: 'checklist' }, CLIENTS.map((c, i) => h('label', clientBoxes[i], t('client.' + c)))),
      h('span', { class: 'hint' }, t('keys.clients_hint')), h('span', { class: 'field-error' })),
    tk ? h('div', { class: 'field', dataset: { field: 'enabled' } }, h('label', { class: 'check' }, enabled, t('common.enabled')), h('span', { class: 'field-error' })) : null));
  const save = h('button', { type: 'submit', class: 'primary', id: 'tk-save', form: 'token-form' }, tk ? t('common.save') : t('common.create'));
  const modal = openModal(tk ? t('keys.edit_title', { name: tk.name }) : t('keys.new_title'), form,
    [h('button', { type: 'button', onclick: () => modal.close() }, t('common.cancel')), save]);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    const clients = clientBoxes.filter((b) => b.checked).map((b) => b.value);
    const body = {
      name: name.value.trim(), expires_at_ms: expires.value ? new Date(expires.value).getTime() : null,
      allowed_models: listOf(models.value).length ? listOf(models.value) : null,
      allowed_clients: clients.length ? clients : null,
      group_id: group.value ? Number(group.value) : null,
    };
    // A user's empty limit on create is left out (it takes the admin's limit for them).
    LIMIT_FIELDS.forEach((f) => {
      const n = numOrNull(inputs[f].value);
      if (n != null || admin || tk) body[f] = n;
    });
    if (owner && owner.value) body.owner_user_id = Number(owner.value);
    if (tk) body.enabled = enabled.checked;
    const bad = [];
    if (!body.name) bad.push(['name', t('form.name_required')]);
    for (const k of LIMIT_FIELDS) {
      if (Number.isNaN(body[k])) bad.push([k, t('form.number')]);
      else if (body[k] != null && body[k] < 0) bad.push([k, t('form.not_negative')]);
    }
    if (bad.length) { bad.forEach(([f, m]) => showFieldError(form, new ApiError(400, m, f))); return; }
    await saving(form, save, async () => {
      if (tk) {
        await api('PUT', '/admin/tokens/' + tk.id, body);
        modal.close();
        toast(t('common.saved', { name: body.name }));
        done();
      } else {
        const r = await api('POST', '/admin/tokens', body);
        modal.close();
        showSecret(r.secret, body.name);
        done();
      }
    });
  });
}

function showSecret(secret, name) {
  const code = h('code', { class: 'mono', id: 'token-secret' }, secret);
  const copy = h('button', { type: 'button', class: 'primary', id: 'copy-secret' }, t('keys.copy'));
  copy.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(secret); copy.textContent = t('keys.copied'); }
    catch (_) {
      const r = document.createRange(); r.selectNodeContents(code);
      const s = getSelection(); s.removeAllRanges(); s.addRange(r);
      copy.textContent = t('keys.selected');
    }
  });
  const m = openModal(t('keys.created_title', { name }), h('div',
    h('p', t('keys.secret_once')),
    h('div', { class: 'secret' }, code, copy)),
    [h('button', { type: 'button', id: 'secret-done', onclick: () => m.close() }, t('common.done'))]);
}

async function tokenUsage(tk) {
  const body = h('div', h('div', { class: 'muted' }, t('common.loading')));
  openModal(t('keys.usage_title', { name: tk.name }), body, null);
  let range = '24h';
  const load = async () => {
    try {
      const r = await api('GET', '/admin/tokens/' + tk.id + '/usage?range=' + range);
      const s = statsOf(r.totals);
      const pts = trendSeries(r.trend || []);
      clear(body);
      add(body, seg(rangeOptions(), range, (v) => { range = v; load(); }),
        h('div', { class: 'cards' }, card('', t('col.requests'), fmt.int(s.requests || 0)), card('', t('col.success'), fmt.rate(statRate(s))),
          card('', t('dash.tokens_io'), fmt.compact(s.input_tokens || 0) + ' / ' + fmt.compact(s.output_tokens || 0)), card('', t('col.cost'), fmt.usd(s.cost_usd || 0))),
        Chart.render({ times: pts.times, kind: 'bar', stacked: true,
          series: [{ name: t('series.succeeded'), values: pts.get((x) => x.successes || 0), cls: 2 }, { name: t('series.failed'), values: pts.get(statErrors), cls: 1 }] }));
    } catch (e) { clear(body).appendChild(alertBox(e)); }
  };
  load();
}

App.pages.tokens = {
  title: 'nav.tokens',
  access: 'user',
  async render(root) {
    const admin = App.isAdmin();
    const ctx = { groups: [], users: [] };
    const { msg, box } = listFrame(root, admin ? t('keys.title_admin') : t('keys.title_user'),
      h('button', { type: 'button', class: 'primary', id: 'new-token', onclick: () => tokenForm(null, ctx, load) }, t('keys.new')),
      t('keys.intro'));
    const [groups, users] = await Promise.allSettled([tokenGroups(), admin ? api('GET', '/admin/users') : Promise.resolve({ data: [] })]);
    if (groups.status === 'fulfilled') ctx.groups = groups.value;
    if (users.status === 'fulfilled') ctx.users = users.value.data || [];
    const groupName = (id) => { const g = ctx.groups.find((x) => x.id === id); return g ? g.name : '#' + id; };
    const ownerName = (id) => { const u = ctx.users.find((x) => x.id === id); return u ? u.username : '#' + id; };
    async function load() {
      try {
        const r = await api('GET', '/admin/tokens');
        clear(msg);
        const rows = (r.data || []).map((tk) => h('tr', { dataset: { id: String(tk.id), name: tk.name } },
          h('td', h('b', tk.name), h('div', { class: 'muted mono' }, tk.prefix ? tk.prefix + '…' : '')),
          h('td', h('span', { class: 'badge ' + (tk.enabled ? 'ok' : '') }, tk.enabled ? t('common.enabled_state') : t('common.disabled_state')),
            tk.expires_at_ms && tk.expires_at_ms < Date.now() ? h('span', { class: 'badge bad' }, t('keys.expired')) : null),
          h('td', { class: 'wrap' }, tokenLimits(tk)),
          h('td', { class: 'mono' }, tk.expires_at_ms ? fmt.time(tk.expires_at_ms) : t('keys.never')),
          h('td', { class: 'mono' }, fmt.time(tk.last_used_ms)),
          num(tk.total_requests), num(tk.today_cost_usd, fmt.usd), num(tk.total_cost_usd, fmt.usd),
          h('td', { class: 'token-group' }, tk.group_id != null ? groupName(tk.group_id) : h('span', { class: 'muted' }, t('keys.every_channel'))),
          admin ? h('td', { class: 'token-owner' }, tk.owner_user_id != null ? ownerName(tk.owner_user_id) : h('span', { class: 'muted' }, t('nav.admin'))) : null,
          h('td', h('div', { class: 'row nowrap' },
            h('button', { type: 'button', class: 'small', onclick: () => tokenForm(tk, ctx, load) }, t('common.edit')),
            h('button', { type: 'button', class: 'small', onclick: () => act(api('PUT', '/admin/tokens/' + tk.id, { enabled: !tk.enabled }),
              t(tk.enabled ? 'common.was_disabled' : 'common.was_enabled', { name: tk.name }), load) }, tk.enabled ? t('common.disable') : t('common.enable')),
            h('button', { type: 'button', class: 'small', onclick: () => tokenUsage(tk) }, t('keys.usage')),
            h('button', { type: 'button', class: 'small danger', onclick: () => { if (confirm(t('keys.confirm_delete', { name: tk.name }))) act(api('DELETE', '/admin/tokens/' + tk.id), t('common.was_deleted', { name: tk.name }), load); } }, t('common.delete'))))));
        const heads = [t('keys.name'), t('col.state'), t('keys.limits'), t('keys.expires'), t('keys.last_used'), [t('col.requests')], [t('keys.today')],
          [t('keys.total_cost')], t('keys.group')];
        if (admin) heads.push(t('keys.owner'));
        heads.push(t('col.actions'));
        clear(box).appendChild(table('tokens-table', heads, rows, admin ? t('keys.none_admin') : t('keys.none_user')));
      } catch (e) { clear(msg).appendChild(alertBox(e)); clear(box); }
    }
    await load();
  },
};
