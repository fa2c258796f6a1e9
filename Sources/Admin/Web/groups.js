'use strict';

// The groups page (admin): which channels a grouped token may reach. Members are picked
// from the channel list; deleting a group that tokens are in answers 409, and the page then
// offers to detach them (they go back to every channel) and delete.

function groupForm(g, channels, done) {
  const v = g || { channel_ids: [] };
  const name = h('input', { name: 'name', id: 'gr-name', value: v.name || '', autocomplete: 'off' });
  const remark = h('input', { name: 'remark', id: 'gr-remark', value: v.remark || '', autocomplete: 'off' });
  const boxes = channels.map((c) => h('input', { type: 'checkbox', value: String(c.id), checked: (v.channel_ids || []).includes(c.id),
    'aria-label': c.name }));
  const form = h('form', { id: 'group-form', novalidate: true }, h('div', { class: 'form-grid' },
    field('name', t('groups.name'), name),
    field('remark', t('groups.remark'), remark, t('users.optional')),
    h('div', { class: 'field wide', dataset: { field: 'channel_ids' } }, h('span', { class: 'name' }, t('groups.members')),
      h('div', { class: 'checklist', id: 'gr-channels' }, channels.length
        ? channels.map((c, i) => h('label', { dataset: { name: c.name } }, boxes[i], c.name, h('span', { class: 'muted' }, ' #' + c.id)))
        : h('span', { class: 'muted' }, t('groups.no_channels'))),
      h('span', { class: 'hint' }, t('groups.members_hint')), h('span', { class: 'field-error' }))));
  const save = h('button', { type: 'submit', class: 'primary', id: 'gr-save', form: 'group-form' }, g ? t('common.save') : t('common.create'));
  const modal = openModal(g ? t('groups.edit_title', { name: g.name }) : t('groups.new_title'), form,
    [h('button', { type: 'button', onclick: () => modal.close() }, t('common.cancel')), save]);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    const body = { name: name.value.trim(), remark: remark.value.trim() || null,
      channel_ids: boxes.filter((b) => b.checked).map((b) => Number(b.value)) };
    if (!body.name) return showFieldError(form, new ApiError(400, t('form.name_required'), 'name'));
    await saving(form, save, async () => {
      if (g) await api('PUT', '/admin/groups/' + g.id, body);
      else await api('POST', '/admin/groups', body);
      modal.close();
      toast(g ? t('common.saved', { name: body.name }) : t('common.was_created', { name: body.name }));
      done();
    });
  });
}

/// Deletes a group; a 409 (tokens are in it) is answered by asking to detach them first.
async function deleteGroup(g) {
  if (!confirm(t('groups.confirm_delete', { name: g.name }))) return false;
  try {
    await api('DELETE', '/admin/groups/' + g.id);
  } catch (e) {
    if (e.status !== 409) throw e;
    if (!confirm(t('groups.confirm_detach', { name: g.name, n: fmt.int(g.token_count || 0), reason: e.message }))) return false;
    await api('DELETE', '/admin/groups/' + g.id + '?detach=1');
  }
  return true;
}

App.pages.groups = {
  title: 'nav.groups',
  async render(root) {
    let channels = [];
    const { msg, box } = listFrame(root, t('nav.groups'),
      h('button', { type: 'button', class: 'primary', id: 'new-group', onclick: () => groupForm(null, channels, load) }, t('groups.new')),
      t('groups.intro'));
    const channelName = (id) => { const c = channels.find((x) => x.id === id); return c ? c.name : '#' + id; };
    async function load() {
      try {
        const [r, c] = await Promise.all([api('GET', '/admin/groups'), api('GET', '/admin/channels')]);
        channels = c.data || [];
        clear(msg);
        const rows = (r.data || []).map((g) => h('tr', { dataset: { id: String(g.id), name: g.name } },
          h('td', { class: 'num muted' }, g.id),
          h('td', h('b', g.name)),
          h('td', { class: 'wrap group-channels' }, (g.channel_ids || []).length ? g.channel_ids.map(channelName).join(', ') : h('span', { class: 'muted' }, t('common.none'))),
          h('td', { class: 'wrap muted' }, g.remark || ''),
          num(g.token_count),
          h('td', { class: 'mono' }, fmt.time(g.updated_ms)),
          h('td', h('div', { class: 'row nowrap' },
            h('button', { type: 'button', class: 'small', onclick: () => groupForm(g, channels, load) }, t('common.edit')),
            h('button', { type: 'button', class: 'small danger', onclick: async () => {
              try { if (await deleteGroup(g)) toast(t('common.was_deleted', { name: g.name })); }
              catch (e) { toast(describeError(e), true); }
              load();
            } }, t('common.delete'))))));
        clear(box).appendChild(table('groups-table', [[t('col.id')], t('groups.name'), t('groups.members'), t('groups.remark'),
          [t('groups.tokens')], t('groups.updated'), t('col.actions')], rows, t('groups.none')));
      } catch (e) { clear(msg).appendChild(alertBox(e)); clear(box); }
    }
    await load();
  },
};
