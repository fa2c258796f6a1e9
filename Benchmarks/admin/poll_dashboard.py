#!/usr/bin/env python3
"""Polls ccload's dashboard every second until killed or --seconds pass.

--mode replay: makes the dashboard page's own API calls on its own schedule (see
               Sources/Admin/Web/pages.js): active requests every second, the
               24 h statistics, trend and channel list every 15 s; session cookie,
               standard library only.
--mode replay-all: all four of those calls every second (a heavier admin than the page).
--mode browser: opens /web/#/dashboard in headless Chromium (Selenium) and leaves it
               there, so the page's own polling runs.
Prints one JSON line at the end: polls made and their median latency.
"""
import argparse, json, signal, statistics, sys, time, urllib.request

EVERY_SECOND = ["/admin/active-requests"]
EVERY_15_SECONDS = ["/admin/stats?by=channel", "/admin/trends?range=24h", "/admin/channels"]

stop = False
def on_signal(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

def login(base, password):
    req = urllib.request.Request(base + "/login", data=json.dumps({"password": password}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["token"]

def replay(base, password, seconds, every_second_all=False):
    token = login(base, password)
    opener = urllib.request.build_opener()
    opener.addheaders = [("Cookie", "ccload_session=" + token)]
    latencies, errors, polls = [], 0, 0
    deadline = time.monotonic() + seconds
    while not stop and time.monotonic() < deadline:
        t0 = time.monotonic()
        calls = EVERY_SECOND + (EVERY_15_SECONDS if every_second_all or polls % 15 == 0 else [])
        for path in calls:
            try:
                with opener.open(base + path, timeout=5) as r:
                    r.read()
            except Exception:
                errors += 1
        latencies.append((time.monotonic() - t0) * 1000)
        polls += 1
        time.sleep(max(0, 1 - (time.monotonic() - t0)))
    return {"mode": "replay-all" if every_second_all else "replay", "polls": polls, "errors": errors,
            "poll_ms_p50": round(statistics.median(latencies), 2) if latencies else None}

def browser(base, password, seconds):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    opts = webdriver.ChromeOptions()
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800"]:
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        token = login(base, password)
        d.get(base + "/web/")
        d.add_cookie({"name": "ccload_session", "value": token, "path": "/"})
        # A new document (only the hash would change otherwise, and the page that saw no
        # session would stay on its login form).
        d.get("about:blank")
        d.get(base + "/web/#/dashboard")
        page = d.execute_script("const p = document.querySelector('.page'); return p ? p.dataset.page : null")
        if page != "dashboard":
            raise SystemExit(f"the dashboard did not open (page: {page})")
        deadline = time.monotonic() + seconds
        while not stop and time.monotonic() < deadline:
            time.sleep(0.2)
        n = d.execute_script("return performance.getEntriesByType('resource').filter(e => e.name.includes('/admin/active-requests')).length")
        return {"mode": "browser", "active_request_polls_seen": n}
    finally:
        d.quit()

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--mode", choices=["replay", "replay-all", "browser"], default="replay")
    p.add_argument("--seconds", type=float, default=600)
    a = p.parse_args()
    base = a.base.rstrip("/")
    if a.mode == "browser":
        out = browser(base, a.password, a.seconds)
    else:
        out = replay(base, a.password, a.seconds, every_second_all=(a.mode == "replay-all"))
    print(json.dumps(out))
