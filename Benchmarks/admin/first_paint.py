#!/usr/bin/env python3
"""First paint of every web UI page, in headless Chromium, against a running ccload.

Each page is loaded fresh (about:blank in between) --loads times; for each load it reads
first-contentful-paint from the Paint Timing API and, when the page marks it, the moment
its data was on screen (`document.documentElement.dataset.readyMs`, set by the UI to
performance.now() once the page's first data is rendered). Prints one JSON object:
per page, the median FCP and data-ready times in milliseconds.
"""
import argparse, json, statistics, sys, time, urllib.request

PAGES = ["dashboard", "channels", "logs", "stats", "trends", "tokens", "settings"]

def login(base, password):
    req = urllib.request.Request(base + "/login", data=json.dumps({"password": password}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["token"]

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--loads", type=int, default=5)
    a = p.parse_args()
    base = a.base.rstrip("/")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800"]:
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.set_page_load_timeout(30)
    out = {}
    try:
        # The login page, before any session.
        fcps = []
        for _ in range(a.loads):
            d.get("about:blank")
            d.get(base + "/web/")
            fcps.append(wait_fcp(d))
        out["login"] = {"fcp_ms": med(fcps), "ready_ms": None}
        token = login(base, a.password)
        d.add_cookie({"name": "ccload_session", "value": token, "path": "/"})
        for page in PAGES:
            fcps, readies = [], []
            for _ in range(a.loads):
                d.get("about:blank")
                d.get(base + "/web/#/" + page)
                fcps.append(wait_fcp(d))
                readies.append(wait_ready(d))
                shown = d.execute_script("const p = document.querySelector('.page'); return p ? p.dataset.page : null")
                if shown != page:
                    raise SystemExit(f"asked for {page}, the UI shows {shown}")
            out[page] = {"fcp_ms": med(fcps), "ready_ms": med(readies)}
    finally:
        d.quit()
    print(json.dumps(out))

def wait_fcp(d, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = d.execute_script("const e = performance.getEntriesByName('first-contentful-paint')[0]; return e ? e.startTime : null")
        if v is not None:
            return v
        time.sleep(0.02)
    return None

def wait_ready(d, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = d.execute_script("return document.documentElement.dataset.readyMs || null")
        if v is not None:
            return float(v)
        time.sleep(0.02)
    return None

def med(xs):
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 1) if xs else None

if __name__ == "__main__":
    main()
