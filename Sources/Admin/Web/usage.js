'use strict';

// The usage page: requests, tokens and cost per key over a range, and the hourly trend,
// scoped as the API scopes it (the admin: every token; a user: their own tokens only).

/// All the usage page reads, in one place: `{ totals: Stats, rows: [{ name, stats }], trend:
/// [TrendPoint], bucketMs }` for the range. Today from `/admin/stats` and `/admin/trends` for
/// the admin and from each own token's `/admin/tokens/{id}/usage` for a user; a usage
/// endpoint can replace both here without touching the page.
async function usageData(range) {
  if (App.isAdmin()) {
    const [stats, trend] = await Promise.all([
      api('GET', '/admin/stats?by=token&from_ms=' + (Date.now() - RANGES[range])),
      api('GET', '/admin/trends?range=' + range)]);
    return {
      totals: statsOf(stats.totals),
      rows: (stats.data || []).map((x) => ({ name: x.name || (x.key && x.key !== '0' ? x.key : t('usage.no_token')), stats: statsOf(x) })),
      trend: trend.data || [], bucketMs: trend.bucket_ms,
    };
  }
  const tokens = (await api('GET', '/admin/tokens')).data || [];
  const usages = await Promise.all(tokens.map((tk) => api('GET', '/admin/tokens/' + tk.id + '/usage?range=' + range)));
  const rows = tokens.map((tk, i) => ({ name: tk.name, stats: statsOf(usages[i].totals) })).filter((r) => r.stats.requests);
  // Every token's trend has the same hours: added hour by hour.
  const byHour = new Map();
  usages.forEach((u) => (u.trend || []).forEach((p) => {
    const at = pick(p, 'hour_ms');
    byHour.set(at, (byHour.get(at) || []).concat([statsOf(p)]));
  }));
  const trend = Array.from(byHour.entries()).sort((a, b) => a[0] - b[0]).map(([at, list]) => Object.assign({ hour_ms: at }, sumStats(list)));
  return { totals: sumStats(usages.map((u) => statsOf(u.totals))), rows, trend, bucketMs: 3600000 };
}

App.pages.usage = {
  title: 'nav.usage',
  access: 'user',
  async render(root) {
    let range = '24h';
    const box = h('div', { id: 'usage-box' });
    add(root, h('h1', t('nav.usage')),
      h('p', { class: 'muted' }, App.isAdmin() ? t('usage.intro_admin') : t('usage.intro_user')),
      h('div', { class: 'row panel' }, seg(rangeOptions(), range, (v) => { range = v; load(); }, 'usage-range')),
      box);
    async function load() {
      clear(box).appendChild(h('div', { class: 'muted' }, t('common.loading')));
      try {
        const d = await usageData(range);
        const s = d.totals;
        const ts = trendSeries(d.trend);
        clear(box);
        add(box,
          h('div', { class: 'cards', id: 'usage-cards' },
            card('usage-requests', t('col.requests'), fmt.int(s.requests || 0)),
            card('usage-cost', t('col.cost'), fmt.usd(s.cost_usd || 0)),
            card('usage-tokens', t('dash.tokens_io'), fmt.compact(s.input_tokens || 0) + ' / ' + fmt.compact(s.output_tokens || 0)),
            card('usage-cache', t('usage.cache'), fmt.compact(s.cache_read_tokens || 0) + ' / ' + fmt.compact(cacheWrite(s)), t('usage.cache_sub'))),
          h('div', { class: 'panel' }, h('h2', t('usage.by_token')),
            table('usage-table', statsHeaders(t('col.token')), d.rows.map((r) => statsLine(r.name, r.stats))
              .concat(d.rows.length ? [statsLine(t('common.total'), s, 'total')] : []), t('stats.none'))),
          h('div', { class: 'charts' },
            h('div', { class: 'panel' }, h('h2', t('trend.requests')), Chart.render({ id: 'usage-chart-requests', times: ts.times, bucketMs: d.bucketMs, kind: 'bar', stacked: true,
              series: [{ name: t('series.succeeded'), values: ts.get((x) => x.successes || 0), cls: 2 }, { name: t('series.failed'), values: ts.get(statErrors), cls: 1 }] })),
            h('div', { class: 'panel' }, h('h2', t('trend.cost')), Chart.render({ id: 'usage-chart-cost', times: ts.times, bucketMs: d.bucketMs, kind: 'area', format: fmt.usd,
              series: [{ name: t('col.cost'), values: ts.get((x) => x.cost_usd || 0), cls: 4 }] }))));
        const first = $('#usage-requests .value', box);
        first.dataset.value = String(s.requests || 0);
      } catch (e) { clear(box).appendChild(alertBox(e)); }
    }
    await load();
  },
};
