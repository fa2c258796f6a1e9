/// `/web/index.html`: the shell. It paints the frame (header, navigation, an empty main
/// area) at once; the scripts (deferred) then ask the API for the session and the data.
enum WebIndex {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>ccload</title>
<link rel="icon" href="/web/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/web/app.css">
<script src="/web/core.js" defer></script>
<script src="/web/chart.js" defer></script>
<script src="/web/channels.js" defer></script>
<script src="/web/pages.js" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="#/dashboard"><img src="/web/icon.svg" alt="" width="22" height="22"><span>ccload</span></a>
  <button class="menu" id="menu" type="button" aria-label="Menu" aria-expanded="false">&#9776;</button>
  <nav id="nav" class="nav">
    <a href="#/dashboard" data-page="dashboard">Dashboard</a>
    <a href="#/channels" data-page="channels">Channels</a>
    <a href="#/logs" data-page="logs">Logs</a>
    <a href="#/stats" data-page="stats">Statistics</a>
    <a href="#/trends" data-page="trends">Trends</a>
    <a href="#/tokens" data-page="tokens">Tokens</a>
    <a href="#/settings" data-page="settings">Settings</a>
    <button id="logout" class="link" type="button">Log out</button>
  </nav>
</header>
<main id="main"><p class="muted loading">Loading…</p></main>
<div id="toast" class="toast" role="status" aria-live="polite"></div>
</body>
</html>
"""#
}
