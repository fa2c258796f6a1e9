'use strict';

// The users page (admin): list, create, edit (role, email, allowed groups, the limits a user
// may give their own keys), enable/disable, approve a self-registered user, reset a
// password, delete.

const USER_LIMITS = [['daily_cost_cap_usd', 'keys.daily_cap'], ['weekly_cost_cap_usd', 'keys.weekly_cap'],
  ['monthly_cost_cap_usd', 'keys.monthly_cap'], ['total_cost_cap_usd', 'keys.total_cap'],
  ['requests_per_minute', 'keys.rpm_label'], ['max_concurrency', 'keys.concurrency']];

/// Checkboxes, one per group, for picking group ids (users' allowed groups).
function groupChecklist(id, groups, chosen) {
  const boxes = groups.map((g) => h('input', { type: 'checkbox', value: String(g.id), checked: chosen.includes(g.id),
    'aria-label': g.name }));
  const list = h('div', { class: 'checklist', id },
    groups.length ? groups.map((g, i) => h('label', boxes[i], g.name)) : h('span', { class: 'muted' }, t('users.no_groups')));
  return { list, ids: () => boxes.filter((b) => b.checked).map((b) => Number(b.value)) };
}

function userForm(u, groups, done) {
  const v = u || { role: 'user', enabled: true, approved: true, allowed_group_ids: [], token_limits: {} };
  const limits = v.token_limits || {};
  const inp = (name, value, attrs) => h('input', Object.assign({ name, id: 'us-' + name, value: value == null ? '' : value }, attrs || {}));
  const username = inp('username', v.username, { autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false' });
  const password = inp('password', '', { type: 'password', autocomplete: 'new-password', placeholder: u ? t('users.keep_password') : '' });
  const role = h('select', { name: 'role', id: 'us-role' },
    ['user', 'admin'].map((r) => h('option', { value: r, selected: v.role === r }, t('role.' + r))));
  const email = inp('email', v.email, { type: 'email', autocomplete: 'off' });
  const enabled = h('input', { type: 'checkbox', id: 'us-enabled', checked: v.enabled !== false });
  const approved = h('input', { type: 'checkbox', id: 'us-approved', checked: v.approved !== false });
  const allowed = groupChecklist('us-groups', groups, v.allowed_group_ids || []);
  const limitInputs = {};
  USER_LIMITS.forEach(([f]) => {
    limitInputs[f] = inp(f, limits[f], { type: 'number', step: f.endsWith('_usd') ? 'any' : 1, min: f.endsWith('_usd') ? 0 : 1, placeholder: t('common.none') });
  });
  const form = h('form', { id: 'user-form', novalidate: true }, h('div', { class: 'form-grid' },
    field('username', t('users.username'), username, t('users.username_rule')),
    field('password', u ? t('users.new_password') : t('login.password'), password, t('password.rule')),
    field('role', t('users.role'), role),
    field('email', t('users.email'), email, t('users.optional')),
    h('div', { class: 'field', dataset: { field: 'enabled' } }, h('label', { class: 'check' }, enabled, t('common.enabled')), h('span', { class: 'field-error' })),
    h('div', { class: 'field', dataset: { field: 'approved' } }, h('label', { class: 'check' }, approved, t('users.approved')), h('span', { class: 'field-error' })),
    h('div', { class: 'field wide', dataset: { field: 'allowed_group_ids' } }, h('span', { class: 'name' }, t('users.allowed_groups')),
      allowed.list, h('span', { class: 'hint' }, t('users.allowed_groups_hint')), h('span', { class: 'field-error' })),
    h('h3', { class: 'wide' }, t('users.limits_title')),
    USER_LIMITS.map(([f, label]) => field('token_limits.' + f, t(label), limitInputs[f]))));
  const save = h('button', { type: 'submit', class: 'primary', id: 'us-save', form: 'user-form' }, u ? t('common.save') : t('common.create'));
  const modal = openModal(u ? t('users.edit_title', { name: u.username }) : t('users.new_title'), form,
    [h('button', { type: 'button', onclick: () => modal.close() }, t('common.cancel')), save]);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    const body = { username: username.value.trim(), role: role.value, email: email.value.trim() || null,
      enabled: enabled.checked, approved: approved.checked, allowed_group_ids: allowed.ids(), token_limits: {} };
    if (password.value || !u) body.password = password.value;
    const bad = [];
    USER_LIMITS.forEach(([f]) => {
      const n = numOrNull(limitInputs[f].value);
      if (Number.isNaN(n)) bad.push(['token_limits.' + f, t('form.number')]);
      else if (n != null && n < 0) bad.push(['token_limits.' + f, t('form.not_negative')]);
      body.token_limits[f] = n;
    });
    if (!body.username) bad.push(['username', t('form.required')]);
    if (!u && body.password.length < 8) bad.push(['password', t('password.too_short')]);
    if (bad.length) { bad.forEach(([f, m]) => showFieldError(form, new ApiError(400, m, f))); return; }
    await saving(form, save, async () => {
      if (u) await api('PUT', '/admin/users/' + u.id, body);
      else await api('POST', '/admin/users', body);
      modal.close();
      toast(u ? t('common.saved', { name: body.username }) : t('common.was_created', { name: body.username }));
      done();
    });
  });
}

function resetPassword(u, done) {
  const pw = h('input', { type: 'password', id: 'us-reset', autocomplete: 'new-password' });
  const form = h('form', { id: 'reset-form', novalidate: true }, field('password', t('users.new_password'), pw, t('password.rule')));
  const save = h('button', { type: 'submit', class: 'primary', id: 'us-reset-save', form: 'reset-form' }, t('users.reset_password'));
  const modal = openModal(t('users.reset_title', { name: u.username }), form,
    [h('button', { type: 'button', onclick: () => modal.close() }, t('common.cancel')), save]);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    if (pw.value.length < 8) return showFieldError(form, new ApiError(400, t('password.too_short'), 'password'));
    await saving(form, save, async () => {
      await api('PUT', '/admin/users/' + u.id, { password: pw.value });
      modal.close();
      toast(t('users.password_reset', { name: u.username }));
      done();
    });
  });
}

App.pages.users = {
  title: 'nav.users',
  async render(root) {
    let groups = [];
    const { msg, box } = listFrame(root, t('nav.users'),
      h('button', { type: 'button', class: 'primary', id: 'new-user', onclick: () => userForm(null, groups, load) }, t('users.new')),
      t('users.intro'));
    const groupName = (id) => { const g = groups.find((x) => x.id === id); return g ? g.name : '#' + id; };
    async function load() {
      try {
        const [r, g] = await Promise.all([api('GET', '/admin/users'), api('GET', '/admin/groups')]);
        groups = g.data || [];
        clear(msg);
        const rows = (r.data || []).map((u) => h('tr', { dataset: { id: String(u.id), name: u.username } },
          h('td', { class: 'num muted' }, u.id),
          h('td', h('b', u.username), u.email ? h('div', { class: 'muted' }, u.email) : null),
          h('td', h('span', { class: 'badge' }, t('role.' + u.role))),
          h('td', h('span', { class: 'badge ' + (u.enabled ? 'ok' : '') }, u.enabled ? t('common.enabled_state') : t('common.disabled_state')),
            u.approved ? null : h('span', { class: 'badge warn' }, t('users.awaiting'))),
          h('td', { class: 'wrap' }, (u.allowed_group_ids || []).length ? u.allowed_group_ids.map(groupName).join(', ') : h('span', { class: 'muted' }, t('common.none'))),
          h('td', { class: 'wrap' }, tokenLimits(u.token_limits || {})),
          h('td', { class: 'mono' }, fmt.time(u.created_ms)),
          h('td', h('div', { class: 'row nowrap' },
            h('button', { type: 'button', class: 'small', onclick: () => userForm(u, groups, load) }, t('common.edit')),
            u.approved ? null : h('button', { type: 'button', class: 'small approve', onclick: () => act(api('PUT', '/admin/users/' + u.id, { approved: true }), t('users.was_approved', { name: u.username }), load) }, t('users.approve')),
            h('button', { type: 'button', class: 'small toggle', onclick: () => act(api('PUT', '/admin/users/' + u.id, { enabled: !u.enabled }),
              t(u.enabled ? 'common.was_disabled' : 'common.was_enabled', { name: u.username }), load) }, u.enabled ? t('common.disable') : t('common.enable')),
            h('button', { type: 'button', class: 'small', onclick: () => resetPassword(u, load) }, t('users.reset_password')),
            h('button', { type: 'button', class: 'small danger', onclick: () => { if (confirm(t('users.confirm_delete', { name: u.username }))) act(api('DELETE', '/admin/users/' + u.id), t('common.was_deleted', { name: u.username }), load); } }, t('common.delete'))))));
        clear(box).appendChild(table('users-table', [[t('col.id')], t('users.username'), t('users.role'), t('col.state'), t('users.allowed_groups'),
          t('users.limits'), t('users.created'), t('col.actions')], rows, t('users.none')));
      } catch (e) { clear(msg).appendChild(alertBox(e)); clear(box); }
    }
    await load();
  },
};
