#!/usr/bin/env python3
"""Polls ccload's dashboard every second until killed or --seconds pass.

--mode replay: requests the dashboard's own API calls (the list below, the same the web
               UI's dashboard makes each second) with a session cookie, standard library
               only.
--mode browser: opens /web/#/dashboard in headless Chromium (Selenium) and leaves it
               there, so the page's own polling runs.
Prints one JSON line at the end: polls made and their median latency.
"""
import argparse, json, signal, statistics, sys, time, urllib.request

DASHBOARD_CALLS = [
    "/public/summary",
    "/admin/trends?range=24h",
    "/admin/active-requests",
    "/admin/metrics",
]

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

def replay(base, password, seconds):
    token = login(base, password)
    opener = urllib.request.build_opener()
    opener.addheaders = [("Cookie", "ccload_session=" + token)]
    latencies, errors, polls = [], 0, 0
    deadline = time.monotonic() + seconds
    while not stop and time.monotonic() < deadline:
        t0 = time.monotonic()
        for path in DASHBOARD_CALLS:
            try:
                with opener.open(base + path, timeout=5) as r:
                    r.read()
            except Exception:
                errors += 1
        latencies.append((time.monotonic() - t0) * 1000)
        polls += 1
        time.sleep(max(0, 1 - (time.monotonic() - t0)))
    return {"mode": "replay", "polls": polls, "errors": errors,
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
        d.get(base + "/web/#/dashboard")
        deadline = time.monotonic() + seconds
        while not stop and time.monotonic() < deadline:
            time.sleep(0.2)
        n = d.execute_script("return performance.getEntriesByType('resource').filter(e => e.name.includes('/admin/') || e.name.includes('/public/')).length")
        return {"mode": "browser", "api_requests_seen": n}
    finally:
        d.quit()

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--mode", choices=["replay", "browser"], default="replay")
    p.add_argument("--seconds", type=float, default=600)
    a = p.parse_args()
    out = (replay if a.mode == "replay" else browser)(a.base.rstrip("/"), a.password, a.seconds)
    print(json.dumps(out))
