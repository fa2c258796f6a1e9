/// `/web/app.css`: the whole look. Colours are CSS variables with a dark set for
/// `prefers-color-scheme: dark`; below 760 px the navigation folds into a menu and
/// tables scroll sideways.
enum WebStyle {
    static let css = #"""
:root {
  --bg: #f6f7f9; --panel: #ffffff; --text: #1c2430; --muted: #5f6b7a; --border: #dde2e8;
  --accent: #2563eb; --accent-text: #ffffff; --ok: #15803d; --warn: #b45309; --bad: #c62828;
  --ok-bg: #dcfce7; --warn-bg: #fef3c7; --bad-bg: #fee2e2; --idle: #e5e7eb; --hover: #f0f3f8;
  --c1: #2563eb; --c2: #dc2626; --c3: #16a34a; --c4: #d97706; --c5: #7c3aed;
  --shadow: 0 1px 2px rgba(0,0,0,.06);
  color-scheme: light;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1318; --panel: #171c23; --text: #e3e8ef; --muted: #93a0b1; --border: #2a323d;
    --accent: #4f8cff; --accent-text: #0b1020; --ok: #4ade80; --warn: #fbbf24; --bad: #f87171;
    --ok-bg: #123524; --warn-bg: #3a2c0d; --bad-bg: #3d1717; --idle: #2a323d; --hover: #1e252e;
    --c1: #60a5fa; --c2: #f87171; --c3: #4ade80; --c4: #fbbf24; --c5: #a78bfa;
    --shadow: none;
    color-scheme: dark;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.small-input { width: 110px; }
html, body { margin: 0; }
body { background: var(--bg); color: var(--text); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: var(--accent); }
h1 { font-size: 20px; margin: 0 0 12px; }
h2 { font-size: 15px; margin: 0 0 10px; }
.muted { color: var(--muted); }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }

.top { display: flex; align-items: center; gap: 16px; padding: 0 20px; height: 52px; background: var(--panel);
  border-bottom: 1px solid var(--border); position: sticky; top: 0; z-index: 10; }
.brand { display: flex; align-items: center; gap: 8px; font-weight: 700; font-size: 16px; color: var(--text); text-decoration: none; }
.nav { display: flex; align-items: center; gap: 2px; flex: 1; }
.nav a { color: var(--muted); text-decoration: none; padding: 6px 10px; border-radius: 6px; }
.nav a:hover { background: var(--hover); color: var(--text); }
.nav a.active { color: var(--accent); background: var(--hover); font-weight: 600; }
.nav #logout { margin-left: auto; }
.menu { display: none; margin-left: auto; font-size: 20px; background: none; border: 0; color: var(--text); cursor: pointer; }
body.anon .nav, body.anon .menu { visibility: hidden; }

main { max-width: 1400px; margin: 0 auto; padding: 20px; }
.panel { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; padding: 16px; margin-bottom: 16px; box-shadow: var(--shadow); }
.row { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; }
.row.end { justify-content: flex-end; }
.row.nowrap { flex-wrap: nowrap; gap: 6px; }
.spacer { flex: 1; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; margin-bottom: 16px; }
.card { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; padding: 12px 14px; box-shadow: var(--shadow); }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.card .value { font-size: 22px; font-weight: 650; margin-top: 2px; white-space: nowrap; }
.card .sub { color: var(--muted); font-size: 12px; }

button, .button { font: inherit; border: 1px solid var(--border); background: var(--panel); color: var(--text); padding: 6px 12px;
  border-radius: 6px; cursor: pointer; text-decoration: none; display: inline-flex; align-items: center; gap: 6px; white-space: nowrap; }
button:hover, .button:hover { background: var(--hover); }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-text); font-weight: 600; }
button.primary:hover { filter: brightness(1.08); }
button.danger { color: var(--bad); }
button.small { padding: 2px 8px; font-size: 12.5px; }
button.link { border: 0; background: none; color: var(--muted); padding: 6px 10px; }
button.link:hover { color: var(--text); }
button:disabled { opacity: .55; cursor: default; }
.seg { display: inline-flex; border: 1px solid var(--border); border-radius: 6px; overflow: hidden; }
.seg button { border: 0; border-radius: 0; border-right: 1px solid var(--border); }
.seg button:last-child { border-right: 0; }
.seg button.on { background: var(--accent); color: var(--accent-text); }

input, select, textarea { font: inherit; color: var(--text); background: var(--bg); border: 1px solid var(--border); border-radius: 6px; padding: 6px 8px; min-width: 0; }
input:focus, select:focus, textarea:focus { outline: 2px solid var(--accent); outline-offset: -1px; }
input[type=checkbox] { width: 16px; height: 16px; accent-color: var(--accent); }
textarea { width: 100%; min-height: 64px; resize: vertical; }
.field { display: flex; flex-direction: column; gap: 4px; font-size: 13px; color: var(--muted); }
.field > span.name { font-weight: 600; color: var(--text); }
label.check { display: flex; align-items: center; gap: 8px; }
.form-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 12px 16px; }
.form-grid .wide { grid-column: 1 / -1; }
.field-error { color: var(--bad); font-size: 12.5px; min-height: 0; }
.invalid { border-color: var(--bad) !important; }
.hint { color: var(--muted); font-size: 12px; }
.filebtn { position: relative; overflow: hidden; }
.filebtn input[type=file] { position: absolute; inset: 0; opacity: 0; cursor: pointer; }

.table-wrap { overflow-x: auto; border: 1px solid var(--border); border-radius: 10px; background: var(--panel); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--border); white-space: nowrap; vertical-align: middle; }
th { font-size: 12px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .03em; background: var(--panel); position: sticky; top: 0; }
tbody tr:hover { background: var(--hover); }
tbody tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; min-width: 220px; max-width: 420px; overflow-wrap: anywhere; }
tr.total td { font-weight: 650; border-top: 2px solid var(--border); }
.empty { padding: 24px; text-align: center; color: var(--muted); }

.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; background: var(--idle); color: var(--muted); }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.status-2 { color: var(--ok); font-weight: 600; }
.status-4 { color: var(--warn); font-weight: 600; }
.status-5, .status-0 { color: var(--bad); font-weight: 600; }
.cd { font-variant-numeric: tabular-nums; color: var(--warn); font-weight: 600; }

.alert { border: 1px solid var(--bad); background: var(--bad-bg); color: var(--bad); padding: 10px 12px; border-radius: 8px; margin-bottom: 12px; white-space: pre-wrap; }
.alert.info { border-color: var(--accent); background: var(--hover); color: var(--text); }
.toast { position: fixed; right: 16px; bottom: 16px; max-width: 420px; background: var(--text); color: var(--bg); padding: 10px 14px; border-radius: 8px; opacity: 0; transform: translateY(8px); transition: opacity .2s, transform .2s; pointer-events: none; z-index: 50; }
.toast.show { opacity: 1; transform: none; }
.toast.bad { background: var(--bad); color: #fff; }

.login { max-width: 360px; margin: 10vh auto 0; }
.login h1 { text-align: center; }
.login form { display: flex; flex-direction: column; gap: 12px; }
.secret { display: flex; gap: 8px; align-items: center; margin-top: 8px; }
.secret code { flex: 1; padding: 8px 10px; background: var(--bg); border: 1px dashed var(--accent); border-radius: 6px; overflow-wrap: anywhere; }

.modal-back { position: fixed; inset: 0; background: rgba(0,0,0,.45); display: flex; align-items: flex-start; justify-content: center; padding: 40px 12px; overflow-y: auto; z-index: 40; }
.modal { background: var(--panel); border: 1px solid var(--border); border-radius: 12px; width: min(860px, 100%); padding: 18px; }
.modal .actions { display: flex; gap: 8px; justify-content: flex-end; margin-top: 16px; }
.keys .keyrow, .redirects .rrow { display: flex; gap: 8px; align-items: center; margin-bottom: 6px; }
.keys .keyrow input, .redirects .rrow input { flex: 1; }

.timeline { display: grid; grid-template-columns: repeat(24, 1fr); gap: 3px; margin: 6px 0 4px; }
.timeline .cell { height: 28px; border-radius: 4px; background: var(--idle); }
.timeline .cell.ok { background: var(--ok); }
.timeline .cell.warn { background: var(--warn); }
.timeline .cell.bad { background: var(--bad); }
.timeline-axis { display: flex; justify-content: space-between; color: var(--muted); font-size: 11.5px; }

.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(520px, 100%), 1fr)); gap: 16px; }
.charts > .panel { min-width: 0; }
.chart-box { position: relative; }
.chart-box { min-width: 0; }
.chart-box svg { display: block; max-width: 100%; overflow: visible; }
.chart .axis { stroke: var(--border); }
.chart .grid { stroke: var(--border); stroke-dasharray: 2 3; }
.chart text { fill: var(--muted); font-size: 11px; }
.chart .hover-line { stroke: var(--muted); stroke-dasharray: 3 3; }
.chart .hit { fill: transparent; }
.chart .s0 { stroke: var(--c1); fill: var(--c1); }
.chart .s1 { stroke: var(--c2); fill: var(--c2); }
.chart .s2 { stroke: var(--c3); fill: var(--c3); }
.chart .s3 { stroke: var(--c4); fill: var(--c4); }
.chart .s4 { stroke: var(--c5); fill: var(--c5); }
.chart path.line { fill: none; stroke-width: 2; }
.chart path.area { stroke: none; opacity: .16; }
.chart rect.bar { stroke: none; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; font-size: 12.5px; color: var(--muted); margin-top: 6px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.legend i.s0 { background: var(--c1); } .legend i.s1 { background: var(--c2); } .legend i.s2 { background: var(--c3); }
.legend i.s3 { background: var(--c4); } .legend i.s4 { background: var(--c5); }
.tip { position: absolute; pointer-events: none; background: var(--panel); border: 1px solid var(--border); border-radius: 6px; padding: 6px 8px; font-size: 12px; box-shadow: 0 4px 12px rgba(0,0,0,.18); white-space: nowrap; z-index: 5; display: none; }
.tip b { display: block; margin-bottom: 2px; }

@media (max-width: 760px) {
  .top { padding: 0 12px; }
  .menu { display: block; }
  .nav { display: none; position: absolute; top: 52px; left: 0; right: 0; flex-direction: column; align-items: stretch;
    background: var(--panel); border-bottom: 1px solid var(--border); padding: 6px 12px 10px; }
  .nav.open { display: flex; }
  .nav a, .nav #logout { padding: 10px; margin: 0; text-align: left; }
  main { padding: 12px; }
  .cards { grid-template-columns: repeat(2, 1fr); gap: 8px; }
  .card .value { font-size: 18px; }
  .charts { grid-template-columns: 1fr; }
  .timeline { gap: 2px; }
  .modal-back { padding: 0; }
  .modal { border-radius: 0; min-height: 100%; }
}
"""#
}
