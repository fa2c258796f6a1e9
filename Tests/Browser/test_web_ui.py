#!/usr/bin/env python3
"""Real-browser test of ccload's web UI (/web/): headless Chromium driven by Selenium.

It builds nothing: it runs the ccload and ccload-mock binaries from a folder given as the
first argument or CCLOAD_BIN_DIR (default .build/debug), each on an ephemeral loopback
port with its own temporary database. Through the UI it logs in, adds a channel pointing
at the mock, imports a CSV, creates a client token; then it sends a request through the
proxy with the official anthropic SDK and finds it on the logs page, the dashboard and
the trend chart; a throw inside core.js reports the line and column of
Sources/Admin/Web/core.js itself (the files are served as they are). For users and groups
(issue 13) it makes a group and users through the UI (approve, disable, reset a password,
enable), deletes a group that a token is in (the 409 answered by detaching), reads the
scheduled jobs and finds a request by its id; logs in as a user, whose navigation holds only
their pages, makes a key in the group the admin allows them and sends a request with it,
sees only their own usage, gets the API's 403 on an admin page and changes their password;
registers a user while self-registration is off (403) and on (awaiting approval); each
result is checked through the API. Every page runs in English and Simplified Chinese, as the
admin and as a user: every text shown comes from the chosen language's table (no key
missing, no English table string on a Chinese page, nothing left untranslated but names),
dates follow the locale, the language comes from the browser and the header's switch is
remembered. It screenshots every
page (desktop 1280x800, the dashboard on a phone and in dark mode) into
Tests/Browser/screenshots/ and prints each page's first contentful paint (measured, never
asserted).

Every wait is bounded; what it started is stopped in a finally block. Exit status 0 when
every step passed, 1 otherwise; the last line is "browser: N passed, M failed".
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHOTS = HERE / "screenshots"
PASSWORD = "browser-admin-pass-3xK9"
MODEL = "claude-browser-model"
WAIT = 15  # seconds: the bound for every UI wait

try:
    from selenium import webdriver
    from selenium.common.exceptions import (NoAlertPresentException, NoSuchElementException, StaleElementReferenceException,
                                            TimeoutException, WebDriverException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as e:
    print("selenium is not installed (pip install selenium): %s" % e)
    print("browser: 0 passed, 1 failed")
    sys.exit(1)


# ---------------------------------------------------------------- processes

class Proc:
    """A binary under test: its merged output is collected by a thread; the port comes
    from its first "listening on 127.0.0.1:PORT" line."""

    def __init__(self, name, argv, env):
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        self.p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def port(self, timeout=20):
        end = time.monotonic() + timeout
        pat = re.compile(r"listening on (?:https?://)?127\.0\.0\.1:(\d+)")
        with self.cond:
            while True:
                for line in self.lines:
                    m = pat.search(line)
                    if m:
                        return int(m.group(1))
                left = end - time.monotonic()
                if left <= 0 or self.p.poll() is not None:
                    raise RuntimeError("%s did not report its port:\n%s" % (self.name, "\n".join(self.lines[-30:])))
                self.cond.wait(min(left, 0.5))

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)


# ---------------------------------------------------------------- steps

class Steps:
    def __init__(self):
        self.results = []   # (name, ok, detail)
        self.passed = set()

    def run(self, name, fn, needs=()):
        missing = [n for n in needs if n not in self.passed]
        if missing:
            self.results.append((name, False, "skipped: needs " + ", ".join(missing)))
            print("SKIP %-28s needs %s" % (name, ", ".join(missing)), flush=True)
            return
        t0 = time.monotonic()
        try:
            detail = fn() or ""
            self.passed.add(name)
            self.results.append((name, True, detail))
            print("PASS %-28s %5.1f s  %s" % (name, time.monotonic() - t0, detail), flush=True)
        except Exception as e:  # a failed step is reported; later independent steps still run
            msg = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
            self.results.append((name, False, msg))
            print("FAIL %-28s %5.1f s  %s" % (name, time.monotonic() - t0, msg), flush=True)
            traceback.print_exc(limit=3)
            shot(ui.driver, "failure-" + name) if ui and ui.driver else None


def shot(driver, name):
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SHOTS / (name + ".png")))
    except WebDriverException as e:
        print("  (screenshot %s failed: %s)" % (name, e.msg))


# ---------------------------------------------------------------- browser

class UI:
    def __init__(self, base):
        self.base = base
        opts = webdriver.ChromeOptions()
        opts.binary_location = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--window-size=1280,800", "--hide-scrollbars", "--no-first-run", "--disable-extensions"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")),
                                       options=opts)
        self.driver.set_page_load_timeout(WAIT)
        self.driver.set_script_timeout(WAIT)
        self.desktop()
        self.console = []
        self.paints = {}

    def desktop(self):
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})

    def phone(self):
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})

    def scheme(self, value):
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                    {"features": [{"name": "prefers-color-scheme", "value": value}]})

    def wait(self, cond, what, timeout=WAIT):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                             ).until(lambda d: cond(d), "timed out after %ss waiting for %s" % (timeout, what))

    def el(self, css, timeout=WAIT):
        return self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css), css, timeout)

    def visible(self, css, timeout=WAIT):
        return self.wait(lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()][0]
                         if any(e.is_displayed() for e in d.find_elements(By.CSS_SELECTOR, css)) else None,
                         css + " (visible)", timeout)

    def text_in(self, css, needle, timeout=WAIT):
        return self.wait(lambda d: needle in d.find_element(By.CSS_SELECTOR, css).text, "%r in %s" % (needle, css), timeout)

    def open(self, page, ready_css):
        """A fresh document load of #/page (so its first paint can be measured), then waits
        for `ready_css` and records first-contentful-paint."""
        self.driver.get("about:blank")
        self.driver.get(self.base + "/web/#/" + page)
        self.el(ready_css)
        fcp = self.driver.execute_script(
            "const e = performance.getEntriesByType('paint').find(p => p.name === 'first-contentful-paint');"
            "return e ? e.startTime : null;")
        self.paints[page] = fcp
        self.collect_console(page)

    def collect_console(self, where):
        try:
            for entry in self.driver.get_log("browser"):
                self.console.append((where, entry))
        except WebDriverException:
            pass

    def fill(self, css, value):
        e = self.el(css)
        e.clear()
        e.send_keys(value)
        return e

    def quit(self):
        try:
            self.driver.quit()
        except Exception:
            pass


ui = None


def call_api(base, method, path, body=None, bearer=None):
    """One admin API call from Python (the check behind what the UI did): (status, JSON)."""
    import urllib.error
    import urllib.request
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if bearer:
        req.add_header("Authorization", "Bearer " + bearer)
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


# Run in the page: every text the UI shows (text nodes, placeholders, labels, titles) that is
# a string of the English table (a template's {fields} matching anything) while another
# language is chosen, strings the table lacks (⟦key⟧, I18n.missing), and the key counts.
TRANSLATION_CHECK = r"""
const lang = I18n.lang, en = I18n.tables.en, mine = I18n.tables[lang];
const texts = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const el = n.parentElement;
  // The language switch names each language in its own language (lang.name), on purpose.
  if (!el || el.closest('script,style,[hidden],#lang')) continue;
  const s = n.textContent.trim();
  if (s) texts.push(s);
}
document.querySelectorAll('[placeholder],[aria-label],[title]').forEach((el) => {
  for (const a of ['placeholder', 'aria-label', 'title']) { const v = el.getAttribute(a); if (v && v.trim()) texts.push(v.trim()); }
});
const english = [];
if (lang !== 'en') {
  for (const [k, v] of Object.entries(en)) {
    if (mine[k] === v) continue;   // the same in both (names: ccload, Claude Code)
    const re = new RegExp('^' + v.trim().replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '.+') + '$');
    for (const s of texts) if (re.test(s)) english.push(k + ' = ' + s);
  }
}
return { lang, english: english.slice(0, 10), unknown: texts.filter((s) => s.includes('\u27e6')).slice(0, 10),
         missing: I18n.missing.slice(), texts: texts.length,
         keys: [Object.keys(en).length, Object.keys(mine).length],
         same: Object.keys(en).filter((k) => lang !== 'en' && mine[k] === en[k]),
         nav: Array.from(document.querySelectorAll('#nav a[data-page]')).filter((a) => !a.hidden).map((a) => a.dataset.page) };
"""

# The only strings a translation may leave as in English: names.
SAME_IN_EVERY_LANGUAGE = {"login.heading", "client.claude_code", "client.codex_cli"}

ADMIN_PAGES = ["dashboard", "channels", "groups", "users", "logs", "stats", "trends", "usage", "tokens", "settings"]
USER_PAGES = ["usage", "tokens", "password"]
# What each page shows once its data is there (tables, or their empty box).
PAGE_READY = {"dashboard": "#dash-requests", "channels": "#channels-table", "groups": "#groups-table",
              "users": "#users-table", "logs": "#logs-table tbody tr", "stats": "#stats-table",
              "trends": "#trend-requests", "usage": "#usage-table", "tokens": "#tokens-table",
              "settings": "#jobs-table", "password": "#pw-save", "login": "#login-submit", "register": "#reg-submit"}


class OAuthTokenMock(BaseHTTPRequestHandler):
    """The token endpoint of a Claude sign-in, for the account step: a code exchange with the
    code the test pastes answers a token pair; anything else 400 invalid_grant."""
    code = "browser-code-0123456789"
    exchanges = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            fields = json.loads(body)
        except ValueError:
            fields = {}
        OAuthTokenMock.exchanges.append(fields)
        if fields.get("grant_type") == "authorization_code" and fields.get("code") == self.code and fields.get("code_verifier"):
            out, status = {"access_token": "at-browser-secret-1", "refresh_token": "rt-browser-secret-1", "expires_in": 3600}, 200
        else:
            out, status = {"error": "invalid_grant"}, 400
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    global ui
    bin_dir = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CCLOAD_BIN_DIR", ".build/debug")).resolve()
    for b in ("ccload", "ccload-mock"):
        if not os.access(bin_dir / b, os.X_OK):
            print("no %s in %s (build first: swift build; pass the folder as the argument or CCLOAD_BIN_DIR)" % (b, bin_dir))
            print("browser: 0 passed, 1 failed")
            return 1
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)

    tmp = tempfile.mkdtemp(prefix="ccload-browser-")
    procs = []
    steps = Steps()
    state = {}
    try:
        base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp}
        mock = Proc("ccload-mock", [str(bin_dir / "ccload-mock"), "--port", "0", "--listen", "127.0.0.1", "--threads", "1"],
                    base_env)
        procs.append(mock)
        mock_url = "http://127.0.0.1:%d" % mock.port()
        oauth = ThreadingHTTPServer(("127.0.0.1", 0), OAuthTokenMock)
        threading.Thread(target=oauth.serve_forever, daemon=True).start()
        procs.append(type("OAuthMockProc", (), {"name": "oauth-mock", "lines": [], "stop": lambda self: oauth.shutdown()})())
        oauth_url = "http://127.0.0.1:%d" % oauth.server_address[1]
        env = dict(base_env, PORT="0", CCLOAD_LISTEN="127.0.0.1", CCLOAD_PASS=PASSWORD, CCLOAD_THREADS="2",
                   SQLITE_PATH=os.path.join(tmp, "ccload.db"), CCLOAD_CLAUDE_OAUTH_TOKEN_URL=oauth_url + "/token",
                   CCLOAD_CLAUDE_OAUTH_AUTHORIZE_URL=oauth_url + "/authorize")
        ccload = Proc("ccload", [str(bin_dir / "ccload")], env)
        procs.append(ccload)
        base = "http://127.0.0.1:%d" % ccload.port()
        print("ccload at %s, mock at %s, screenshots in %s" % (base, mock_url, SHOTS), flush=True)
        ui = UI(base)
        d = ui.driver

        # -------- login
        def login():
            ui.open("dashboard", "#password")          # not logged in: the login page
            shot(d, "login")
            ui.fill("#password", "wrong-password")
            ui.el("#login-submit").click()
            ui.wait(lambda d: "wrong password" in d.find_element(By.CSS_SELECTOR, "[data-field=password] .field-error").text,
                    "the wrong-password error next to the field")
            ui.fill("#password", PASSWORD)
            ui.el("#login-submit").click()
            ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, ".page[data-page=dashboard] h1").text == "Dashboard",
                    "the dashboard after logging in")
        steps.run("login", login)

        # -------- channel through the form
        def add_channel():
            ui.open("channels", "#new-channel")
            ui.el("#new-channel").click()
            ui.fill("#ch-name", "mock-main")
            ui.fill("#ch-urls", mock_url)
            ui.el("#ch-keys .key-input").send_keys("sk-browser-key-one")
            ui.el("#ch-add-key").click()
            keys = d.find_elements(By.CSS_SELECTOR, "#ch-keys .key-input")
            keys[-1].send_keys("sk-browser-key-two")
            ui.fill("#ch-models", MODEL + ", claude-other")
            ui.fill("#ch-priority", "10")
            d.find_element(By.XPATH, "//button[normalize-space()='+ Add redirect']").click()
            ui.el("#ch-redirects .r-from").send_keys("claude-alias")
            ui.el("#ch-redirects .r-to").send_keys(MODEL)
            shot(d, "channel-form")
            ui.el("#ch-save").click()
            row = ui.el("#channels-table tr[data-name='mock-main']")
            state["channel_id"] = row.get_attribute("data-id")
            text = row.text
            assert MODEL in text and "claude-alias → " + MODEL in text, "the row shows models and the redirect: " + text
            cells = row.find_elements(By.CSS_SELECTOR, "td")
            assert cells[6].text.strip() == "2", "two keys: " + cells[6].text
            return "channel id %s" % state["channel_id"]
        steps.run("channel form", add_channel, needs=["login"])

        def test_button():
            row = ui.el("#channels-table tr[data-name='mock-main']")
            row.find_element(By.CSS_SELECTOR, "button.test").click()
            ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, "tr[data-name='mock-main'] td.test-result .badge").text,
                    "the test result")
            text = d.find_element(By.CSS_SELECTOR, "tr[data-name='mock-main'] td.test-result").text
            assert text.startswith("✓ 200"), "the channel test passed: " + text
            return text
        steps.run("channel test button", test_button, needs=["channel form"])

        def edit_channel():
            row = ui.el("#channels-table tr[data-name='mock-main']")
            row.find_element(By.XPATH, ".//button[normalize-space()='Edit']").click()
            masked = [k.get_attribute("value") for k in d.find_elements(By.CSS_SELECTOR, "#ch-keys .key-input")]
            assert len(masked) == 2 and all("…" in k for k in masked), "stored keys shown masked: %r" % masked
            ui.fill("#ch-priority", "11")
            ui.el("#ch-save").click()
            ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#channels-table tr[data-name='mock-main'] td:nth-child(5)").text.startswith("11"),
                    "the new priority in the table")
            keys = d.find_element(By.CSS_SELECTOR, "#channels-table tr[data-name='mock-main'] td:nth-child(7)").text
            assert keys == "2", "both stored keys kept: " + keys
            return "masked keys %r kept" % masked
        steps.run("channel edit keeps keys", edit_channel, needs=["channel form"])

        # -------- a Claude subscription account: the form, the sign-in dialog, the pasted code
        def account_sign_in():
            ui.open("channels", "#new-channel")
            ui.el("#new-channel").click()
            ui.fill("#ch-name", "claude-sub")
            d.find_element(By.CSS_SELECTOR, "#ch-credential option[value='claude']").click()
            assert not d.find_element(By.CSS_SELECTOR, "[data-field=api_keys]").is_displayed(), "an account has no key field"
            assert d.find_element(By.CSS_SELECTOR, "#ch-protocol").get_attribute("value") == "anthropic"
            ui.fill("#ch-urls", mock_url)
            ui.el("#ch-save").click()
            link = ui.visible("#account-authorize-url")
            d.switch_to.window(d.window_handles[0])
            q = urllib.parse.parse_qs(urllib.parse.urlparse(link.get_attribute("href")).query)
            assert link.get_attribute("href").startswith(oauth_url + "/authorize?"), link.get_attribute("href")
            assert q.get("code_challenge_method") == ["S256"] and q.get("state"), "PKCE and state in the URL: %r" % q
            shot(d, "account-sign-in")
            ui.el("#account-code").send_keys("%s#%s" % (OAuthTokenMock.code, q["state"][0]))
            ui.el("#account-finish").click()
            ui.wait(lambda d: "signed in" in d.find_element(By.CSS_SELECTOR, "#channels-table tr[data-name='claude-sub'] .account-cell").text,
                    "the account signed in, in the channel list")
            _, login = call_api(base, "POST", "/login", {"password": PASSWORD})
            status, accounts = call_api(base, "GET", "/admin/accounts", bearer=(login or {}).get("token"))
            mine = [a for a in (accounts or {}).get("data", []) if a.get("status") == "ok" and a.get("kind") == "claude"]
            assert status == 200 and len(mine) == 1, "the API shows the signed-in account: %r" % accounts
            assert "at-browser-secret-1" not in json.dumps(accounts), "a token in the API's answer"
            page = d.page_source
            assert "at-browser-secret-1" not in page and "rt-browser-secret-1" not in page, "a token shows on the page"
            assert OAuthTokenMock.exchanges and OAuthTokenMock.exchanges[-1].get("code") == OAuthTokenMock.code
            return "%d exchange(s); the account shows as signed in, token %s" % (len(OAuthTokenMock.exchanges), mine[0].get("access_token"))
        steps.run("account sign-in", account_sign_in, needs=["login"])

        # -------- CSV import through the file input
        def import_csv():
            path = os.path.join(tmp, "channels.csv")
            with open(path, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["name", "api_key", "url", "priority", "models", "enabled"])
                w.writerow(["csv-one", "sk-csv-key-one", mock_url, "1", "claude-csv-model", "true"])
                w.writerow(["csv-two", "sk-csv-key-two", mock_url, "0", "claude-csv-model", "false"])
                w.writerow(["csv-bad", "", "not a url", "high", "", "maybe"])
            ui.open("channels", "#csv-file")
            d.find_element(By.CSS_SELECTOR, "#csv-file").send_keys(path)
            ui.text_in("#import-result .import-summary", "2 created")
            summary = d.find_element(By.CSS_SELECTOR, "#import-result .import-summary").text
            bad = d.find_element(By.XPATH, "//div[@id='import-result']//tr[td[normalize-space()='csv-bad']]")
            assert "error" in bad.text, "the bad row is reported: " + bad.text
            ui.el("#channels-table tr[data-name='csv-one']")
            ui.el("#channels-table tr[data-name='csv-two']")
            shot(d, "channels-import")
            return summary
        steps.run("csv import", import_csv, needs=["login"])

        def batch_enable():
            for name in ("csv-one", "csv-two"):
                d.find_element(By.CSS_SELECTOR, "#channels-table tr[data-name='%s'] input[type=checkbox]" % name).click()
            ui.text_in("#batch-bar", "2 selected")
            d.find_element(By.XPATH, "//div[@id='batch-bar']/button[normalize-space()='Enable']").click()
            ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#channels-table tr[data-name='csv-two'] .badge").text == "enabled",
                    "csv-two enabled by the batch action")
        steps.run("batch enable", batch_enable, needs=["csv import"])

        # -------- a client token, its secret shown once
        def create_token():
            ui.open("tokens", "#new-token")
            ui.el("#new-token").click()
            ui.fill("#tk-name", "browser-sdk")
            ui.fill("#tk-requests_per_minute", "600")
            ui.el("#tk-save").click()
            secret = ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#token-secret").text.strip(), "the token secret")
            assert secret.startswith("ccl-"), "secret: " + secret
            shot(d, "token-secret")
            ui.el("#secret-done").click()
            ui.el("#tokens-table tr[data-name='browser-sdk']")
            state["secret"] = secret
            return "prefix " + secret[:8]
        steps.run("token create", create_token, needs=["login"])

        # -------- a request through the proxy with the official SDK
        def sdk_request():
            import anthropic
            client = anthropic.Anthropic(base_url=base, api_key=state.get("secret", "loopback-no-token"),
                                         max_retries=0, timeout=20.0)
            r = client.messages.create(model=MODEL, max_tokens=32, messages=[{"role": "user", "content": "hello from the browser test"}])
            assert r.content and r.content[0].text, "an answer: %r" % r
            state["usage"] = (r.usage.input_tokens, r.usage.output_tokens)
            return "answered %r, usage in=%d out=%d" % (r.content[0].text[:30], r.usage.input_tokens, r.usage.output_tokens)
        steps.run("sdk request", sdk_request, needs=["channel form", "token create"])

        # -------- see it in the UI
        def logs_page():
            ui.open("logs", "#logs-table")
            # The record reaches the database a moment after the answer: refresh until it shows.
            def found(d):
                rows = [r for r in d.find_elements(By.CSS_SELECTOR, "#logs-table tbody tr[data-id]") if MODEL in r.text]
                if rows:
                    return rows[0]
                d.find_element(By.CSS_SELECTOR, "#log-apply").click()
                time.sleep(0.3)
                return None
            row = ui.wait(found, "the SDK request in the logs table")
            cells = [c.text for c in row.find_elements(By.CSS_SELECTOR, "td")]
            assert cells[1] == "mock-main", "channel column: %r" % cells
            assert cells[3] == "200", "status column: %r" % cells
            if "usage" in state:
                assert cells[6] == str(state["usage"][0]) and cells[7] == str(state["usage"][1]), "tokens: %r" % cells
            # Filter by a status class that excludes it: the table empties.
            d.find_element(By.CSS_SELECTOR, "#log-status option[value='5xx']").click()
            d.find_element(By.CSS_SELECTOR, "#log-apply").click()
            ui.wait(lambda d: not [r for r in d.find_elements(By.CSS_SELECTOR, "#logs-table tbody tr[data-id]")], "the 5xx filter")
            d.find_element(By.CSS_SELECTOR, "#log-status option[value='']").click()
            d.find_element(By.CSS_SELECTOR, "#log-apply").click()
            ui.el("#logs-table tbody tr[data-id]")
            shot(d, "logs")
            return " | ".join(cells[:8])
        steps.run("logs page", logs_page, needs=["sdk request"])

        def dashboard_page():
            def counted(d):
                v = d.find_element(By.CSS_SELECTOR, "#stat-requests .value").get_attribute("data-value")
                if v and int(v) >= 1:
                    return v
                if time.monotonic() - counted.last > 2:   # the dashboard refreshes every 15 s: reload sooner
                    counted.last = time.monotonic()
                    d.refresh()
                return None
            counted.last = time.monotonic()
            ui.open("dashboard", "#stat-requests")
            v = ui.wait(counted, "the request counted on the dashboard")
            ui.wait(lambda d: float(d.find_element(By.CSS_SELECTOR, "#dash-requests").get_attribute("data-sum")) >= 1,
                    "the request in the dashboard's hourly chart")
            ui.el("#active-table, #active-box .empty")
            # The cache hit rate card: a percentage once input tokens are counted.
            hit = ui.el("#stat-cache-hit .value").text
            assert hit.endswith("%"), "cache hit rate card: %r" % hit
            shot(d, "dashboard")
            return "requests card %s" % v
        steps.run("dashboard", dashboard_page, needs=["sdk request"])

        def trends_page():
            ui.open("trends", "#trend-requests")
            total = float(d.find_element(By.CSS_SELECTOR, "#trend-requests").get_attribute("data-sum"))
            assert total >= 1, "the trend chart counts the request: data-sum=%s" % total
            bars = d.find_elements(By.CSS_SELECTOR, "#trend-requests rect.bar")
            assert bars, "a bar for the request's hour"
            # The chart is drawn again once it knows its width: hover whatever is there now.
            def hovered(d):
                hits = d.find_elements(By.CSS_SELECTOR, "#trend-requests rect.hit")
                ActionChains(d).move_to_element(hits[-1]).perform()
                tip = d.find_element(By.CSS_SELECTOR, "#trend-requests .tip")
                return tip if tip.is_displayed() and tip.text else None
            tip = ui.wait(hovered, "the tooltip of the last hour").text
            assert "succeeded: 1" in tip, "tooltip: " + tip
            tokens = float(d.find_element(By.CSS_SELECTOR, "#trend-tokens").get_attribute("data-sum"))
            assert tokens > 0, "the token chart has the request's tokens"
            ui.el("#trend-cache-hit")
            shot(d, "trends")
            d.find_element(By.CSS_SELECTOR, "#trend-range button[data-value='7d']").click()
            ui.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#trend-requests rect.hit")) > 100, "the 7-day chart")
            shot(d, "trends-7d")
            return "sum %s, tooltip %r" % (total, tip.replace("\n", " / "))
        steps.run("trends page", trends_page, needs=["sdk request"])

        def stats_page():
            ui.open("stats", "#stats-table")
            ui.text_in("#stats-table", "mock-main")
            # Headers are shown upper-case (CSS): compare without case.
            ui.wait(lambda d: "cache hit" in d.find_element(By.CSS_SELECTOR, "#stats-table thead").text.lower(), "the cache hit column")
            heads = [th.text.lower() for th in d.find_elements(By.CSS_SELECTOR, "#stats-table thead th")]
            col = heads.index("cache hit")
            first = d.find_elements(By.CSS_SELECTOR, "#stats-table tbody tr")[0].find_elements(By.CSS_SELECTOR, "td")
            assert first[col].text.endswith("%"), "cache hit rate column: %r" % [c.text for c in first]
            d.find_element(By.CSS_SELECTOR, "#stats-by button[data-value='model']").click()
            ui.text_in("#stats-table", MODEL)
            shot(d, "stats")
        steps.run("statistics page", stats_page, needs=["sdk request"])

        def tokens_page():
            ui.open("tokens", "#tokens-table")
            ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#tokens-table tr[data-name='browser-sdk'] td:nth-child(6)").text == "1",
                    "the token's request count")
            shot(d, "tokens")
        steps.run("tokens page", tokens_page, needs=["sdk request"])

        def settings_page():
            ui.open("settings", "#set-max_key_retries")
            shot(d, "settings")
            ui.fill("#set-max_key_retries", "99")
            ui.el("#settings-save").click()
            ui.text_in("[data-field=max_key_retries] .field-error", "at most")
            ui.fill("#set-max_key_retries", "4")
            ui.el("#settings-save").click()
            ui.text_in("#toast", "Saved max_key_retries")
            ui.open("settings", "#set-max_key_retries")
            v = d.find_element(By.CSS_SELECTOR, "#set-max_key_retries").get_attribute("value")
            assert v == "4", "the saved value is read back: " + v
        steps.run("settings page", settings_page, needs=["login"])

        def channels_shot():
            ui.open("channels", "#channels-table")
            shot(d, "channels")
        steps.run("channels page", channels_shot, needs=["channel form"])

        def phone_and_dark():
            ui.phone()
            ui.open("dashboard", "#stat-requests")
            ui.el("#dash-requests")
            shot(d, "phone-dashboard")
            nav = d.find_element(By.CSS_SELECTOR, "#nav")
            assert not nav.is_displayed(), "the navigation is folded on a phone"
            d.find_element(By.CSS_SELECTOR, "#menu").click()
            ui.visible("#nav a[data-page=logs]")
            shot(d, "phone-menu")
            ui.open("channels", "#channels-table")
            wide = d.execute_script("const w = document.querySelector('#channels-table').closest('.table-wrap');"
                                    "return [w.scrollWidth, w.clientWidth, document.documentElement.scrollWidth, innerWidth];")
            assert wide[0] > wide[1], "the channels table scrolls inside its box: %r" % wide
            assert wide[2] <= wide[3] + 1, "the page itself does not scroll sideways: %r" % wide
            shot(d, "phone-channels")
            ui.desktop()
            ui.scheme("dark")
            ui.open("dashboard", "#stat-requests")
            ui.el("#dash-requests")
            bg = d.execute_script("return getComputedStyle(document.body).backgroundColor")
            shot(d, "dark-dashboard")
            ui.open("trends", "#trend-requests")
            shot(d, "dark-trends")
            ui.scheme("light")
            light = d.execute_script("return getComputedStyle(document.body).backgroundColor")
            assert bg != light, "dark mode changes the colours (%s vs %s)" % (bg, light)
            return "dark body %s" % bg
        steps.run("phone and dark", phone_and_dark, needs=["sdk request"])

        # -------- issue 13: groups, users, jobs, request ids, usage, both languages (the admin)
        status, j = call_api(base, "POST", "/login", {"password": PASSWORD})
        assert status == 200, "admin login through the API: %r" % (j,)
        admin_token = j["token"]

        def api_ok(method, path, body=None, bearer=None):
            st, data = call_api(base, method, path, body, bearer or admin_token)
            assert 200 <= st < 300, "%s %s: %s %r" % (method, path, st, data)
            return data

        def accept_confirm(contains=None):
            def present(d):
                try:
                    return d.switch_to.alert
                except NoAlertPresentException:
                    return None
            alert = ui.wait(present, "a confirm dialog")
            text = alert.text
            if contains:
                assert contains in text, "the dialog says %r: %r" % (contains, text)
            alert.accept()
            return text

        def check_page(page, lang):
            """Opens a page and checks its words: all from the chosen table (none missing, no
            English string when Chinese is chosen); returns what the check found."""
            ui.open(page, PAGE_READY[page])
            time.sleep(0.3)   # parts of a page load on their own (filters, jobs): let them land
            r = d.execute_script(TRANSLATION_CHECK)
            assert r["lang"] == lang, "%s is in %s, not %s" % (page, r["lang"], lang)
            assert not r["missing"] and not r["unknown"], "%s: keys missing from the %s table: %r %r" % (page, lang, r["missing"], r["unknown"])
            assert not r["english"], "%s in %s shows English table strings: %r" % (page, lang, r["english"])
            assert r["keys"][0] == r["keys"][1], "the tables have %r keys" % r["keys"]
            assert set(r["same"]) <= SAME_IN_EVERY_LANGUAGE, "left in English in %s: %r" % (lang, sorted(set(r["same"]) - SAME_IN_EVERY_LANGUAGE))
            shot(d, "%s-%s" % (lang, page))
            return r

        def pick_lang(lang):
            from selenium.webdriver.support.ui import Select
            Select(ui.el("#lang")).select_by_value(lang)
            ui.wait(lambda d: d.execute_script("return I18n.lang") == lang and
                    d.execute_script("return document.documentElement.lang") == lang, "the UI in " + lang)

        def groups_page():
            ui.open("groups", "#groups-table")
            ui.el("#new-group").click()
            ui.fill("#gr-name", "team-a")
            ui.fill("#gr-remark", "browser group")
            ui.el("#gr-channels label[data-name='mock-main'] input").click()
            shot(d, "group-form")
            ui.el("#gr-save").click()
            row = ui.el("#groups-table tr[data-name='team-a']")
            assert "mock-main" in row.find_element(By.CSS_SELECTOR, ".group-channels").text, row.text
            groups = [g for g in api_ok("GET", "/admin/groups")["data"] if g["name"] == "team-a"]
            assert groups and groups[0]["channel_ids"] == [int(state["channel_id"])], "the API has the group: %r" % groups
            state["group_id"] = groups[0]["id"]
            return "group %d with channel %s" % (state["group_id"], state["channel_id"])
        steps.run("groups page", groups_page, needs=["channel form"])

        def group_delete_detach():
            g = api_ok("POST", "/admin/groups", {"name": "team-temp", "channel_ids": [int(state["channel_id"])]})
            tk = api_ok("POST", "/admin/tokens", {"name": "temp-grouped", "group_id": g["id"]})["token"]
            ui.open("groups", "#groups-table tr[data-name='team-temp']")
            d.find_element(By.CSS_SELECTOR, "#groups-table tr[data-name='team-temp'] button.danger").click()
            accept_confirm("team-temp")
            asked = accept_confirm("team-temp")   # the 409: tokens are in it; detach them?
            ui.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "#groups-table tr[data-name='team-temp']"), "the group gone from the table")
            assert not [x for x in api_ok("GET", "/admin/groups")["data"] if x["name"] == "team-temp"], "the group is deleted"
            after = api_ok("GET", "/admin/tokens/%d" % tk["id"])
            assert after["group_id"] is None, "the token was detached: %r" % after
            api_ok("DELETE", "/admin/tokens/%d" % tk["id"])
            return "asked %r" % asked[:80]
        steps.run("group delete detaches", group_delete_detach, needs=["channel form"])

        def users_page():
            ui.open("users", "#users-table")
            ui.el("#new-user").click()
            ui.fill("#us-username", "alice")
            ui.fill("#us-password", "alice-pass-1")
            ui.fill("#us-email", "alice@example.com")
            ui.el("#us-groups input[aria-label='team-a']").click()
            ui.fill("#us-daily_cost_cap_usd", "5")
            shot(d, "user-form")
            ui.el("#us-save").click()
            ui.el("#users-table tr[data-name='alice']")
            alice = [u for u in api_ok("GET", "/admin/users")["data"] if u["username"] == "alice"]
            assert alice, "the API has alice"
            alice = alice[0]
            assert alice["role"] == "user" and alice["allowed_group_ids"] == [state["group_id"]], "alice: %r" % alice
            assert alice["token_limits"]["daily_cost_cap_usd"] == 5, "alice's key limit: %r" % alice
            state["alice_id"] = alice["id"]
            # A user awaiting approval: approved, disabled, password reset, enabled again from the UI.
            bob = api_ok("POST", "/admin/users", {"username": "bob", "password": "bob-pass-12", "approved": False})
            ui.open("users", "#users-table tr[data-name='bob'] button.approve")
            d.find_element(By.CSS_SELECTOR, "#users-table tr[data-name='bob'] button.approve").click()
            ui.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "#users-table tr[data-name='bob'] button.approve"), "bob approved")
            assert api_ok("GET", "/admin/users/%d" % bob["id"])["approved"] is True
            ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#users-table tr[data-name='bob'] button.toggle").click() or True, "bob's toggle")
            ui.wait(lambda d: api_ok("GET", "/admin/users/%d" % bob["id"])["enabled"] is False, "bob disabled")
            # The table is drawn again after each change: wait for bob's new row before the next click.
            ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#users-table tr[data-name='bob'] button.toggle").text == "Enable", "bob's row")
            ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#users-table tr[data-name='bob']").find_element(
                By.XPATH, ".//button[normalize-space()='Reset password']").click() or True, "the reset button")
            ui.fill("#us-reset", "bob-new-pass-3")
            ui.el("#us-reset-save").click()
            ui.text_in("#toast", "Password of bob reset")
            st, _ = call_api(base, "POST", "/login", {"username": "bob", "password": "bob-new-pass-3"})
            assert st == 403, "a disabled bob may not log in: %d" % st
            ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#users-table tr[data-name='bob'] button.toggle").click() or True, "bob's toggle")
            ui.wait(lambda d: api_ok("GET", "/admin/users/%d" % bob["id"])["enabled"] is True, "bob enabled")
            st, _ = call_api(base, "POST", "/login", {"username": "bob", "password": "bob-new-pass-3"})
            assert st == 200, "bob logs in with the reset password: %d" % st
            shot(d, "users")
            state["bob_id"] = bob["id"]
            return "alice %d, bob %d" % (alice["id"], bob["id"])
        steps.run("users page", users_page, needs=["groups page"])

        def admin_key_for_user():
            # The admin makes a key for alice in team-a: owner and group as chosen.
            from selenium.webdriver.support.ui import Select
            ui.open("tokens", "#new-token")
            ui.el("#new-token").click()
            ui.fill("#tk-name", "alice-by-admin")
            Select(ui.el("#tk-owner_user_id")).select_by_visible_text("alice")
            Select(ui.el("#tk-group_id")).select_by_visible_text("team-a")
            ui.el("#tk-client-claude_code").click()
            ui.el("#tk-save").click()
            ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#token-secret").text.strip(), "the secret")
            ui.el("#secret-done").click()
            row = ui.el("#tokens-table tr[data-name='alice-by-admin']")
            assert row.find_element(By.CSS_SELECTOR, ".token-owner").text == "alice", row.text
            assert row.find_element(By.CSS_SELECTOR, ".token-group").text == "team-a", row.text
            k = [x for x in api_ok("GET", "/admin/tokens")["data"] if x["name"] == "alice-by-admin"][0]
            assert k["owner_user_id"] == state["alice_id"] and k["group_id"] == state["group_id"], k
            assert k["allowed_clients"] == ["claude_code"], k
            api_ok("DELETE", "/admin/tokens/%d" % k["id"])
            return "token %d" % k["id"]
        steps.run("admin makes a key for a user", admin_key_for_user, needs=["users page"])

        def settings_jobs():
            ui.open("settings", "#jobs-table")
            names = [r.get_attribute("data-name") for r in d.find_elements(By.CSS_SELECTOR, "#jobs-table tbody tr")]
            assert "daily_reset" in names and "retention" in names, "the scheduled jobs: %r" % names
            tz = api_ok("GET", "/admin/jobs")["time_zone"]
            ui.text_in("#jobs", tz)
            return "jobs %r, time zone %s" % (names, tz)
        steps.run("settings shows jobs", settings_jobs, needs=["login"])

        def logs_request_id():
            logs = [r for r in api_ok("GET", "/admin/logs?limit=50")["data"] if r.get("model") == MODEL]
            assert logs and logs[0].get("request_id"), "a request id in the API's log: %r" % logs[:1]
            rid = logs[0]["request_id"]
            ui.open("logs", "#log-request-id")
            ui.fill("#log-request-id", rid)
            ui.el("#log-apply").click()
            ui.wait(lambda d: [c.text for c in d.find_elements(By.CSS_SELECTOR, "#logs-table td.request-id")] == [rid],
                    "exactly the request with id " + rid)
            ui.fill("#log-request-id", "no-such-request-1")
            ui.el("#log-apply").click()
            ui.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "#logs-table tbody tr[data-id]"), "no request with another id")
            return rid
        steps.run("logs by request id", logs_request_id, needs=["sdk request"])

        def page_fetch(url):
            """A GET from the page (same origin: the session cookie, as a click on the link would
            send it) → (status, content type, text with its BOM kept)."""
            return d.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "fetch(arguments[0], { credentials: 'same-origin' })"
                ".then((r) => r.arrayBuffer().then((b) => done([r.status, r.headers.get('content-type'),"
                "  new TextDecoder('utf-8', { ignoreBOM: true }).decode(b)])))"
                ".catch((e) => done([0, '', String(e)]));", url)

        def csv_rows(text):
            import csv
            import io
            assert text.startswith("\ufeff"), "a UTF-8 BOM first: %r" % text[:10]
            return list(csv.reader(io.StringIO(text[1:])))

        USAGE_HEADER = ["bucket", "bucket_ms", "by", "key", "name", "requests", "input_tokens", "output_tokens",
                        "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cost_usd"]

        def usage_rows():
            """The usage table's rows (not the total) as {key, name, counts}, and the total line's cells."""
            rows = []
            for r in d.find_elements(By.CSS_SELECTOR, "#usage-table tbody tr[data-key]"):
                c = [x.text for x in r.find_elements(By.CSS_SELECTOR, "td")]
                rows.append({"key": r.get_attribute("data-key"), "bucket": c[0], "name": c[1],
                             "counts": [int(x.replace(",", "")) for x in c[2:8]], "cost": c[8]})
            total = [c.text for c in d.find_elements(By.CSS_SELECTOR, "#usage-table tbody tr.total td")]
            return rows, total

        def pick_seg(seg_id, value):
            d.find_element(By.CSS_SELECTOR, "#%s button[data-value='%s']" % (seg_id, value)).click()
            ui.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#usage-table") and
                    "usage.csv?" in d.find_element(By.CSS_SELECTOR, "#usage-csv").get_attribute("href") and
                    ("%s=%s" % ({"usage-by": "by", "usage-period": "period"}.get(seg_id, "x"), value) in
                     d.find_element(By.CSS_SELECTOR, "#usage-csv").get_attribute("href") or seg_id == "usage-range"),
                    "the usage view by %s" % value)
            time.sleep(0.3)

        def usage_admin():
            # The record and its hourly rollup land a moment after the answer: reload until counted.
            def counted(d):
                ui.open("usage", "#usage-requests")
                v = int(d.find_element(By.CSS_SELECTOR, "#usage-requests .value").get_attribute("data-value"))
                return v if v >= 1 else None
            v = ui.wait(counted, "the SDK request on the usage page")
            ui.text_in("#usage-table", "browser-sdk")
            by = [b.get_attribute("data-value") for b in d.find_elements(By.CSS_SELECTOR, "#usage-by button")]
            assert by == ["user", "token", "channel", "group", "model"], "the admin's breakdowns: %r" % by
            # The token's row: the request the SDK sent through it, its tokens as the SDK saw them.
            rows, total = usage_rows()
            mine = [r for r in rows if r["name"] == "browser-sdk"]
            assert mine, "a browser-sdk row: %r" % rows
            reqs = sum(r["counts"][0] for r in mine)
            tin = sum(r["counts"][1] for r in mine)
            tout = sum(r["counts"][2] for r in mine)
            assert reqs == 1, "browser-sdk sent one request: %r" % mine
            if "usage" in state:
                assert (tin, tout) == state["usage"], "the SDK's tokens %r, the page's %r" % (state["usage"], (tin, tout))
            # The page's totals are the API's for the same view (the CSV link carries its query).
            href = d.find_element(By.CSS_SELECTOR, "#usage-csv").get_attribute("href")
            query = href.split("?", 1)[1]
            assert "by=token" in query and "period=day" in query, query
            api_totals = api_ok("GET", "/admin/usage?" + query)["totals"]
            assert v == api_totals["requests"], "the page's %d requests, the API's %r" % (v, api_totals)
            assert int(total[2].replace(",", "")) == api_totals["requests"], "the total line %r, the API %r" % (total, api_totals)
            assert [int(x.replace(",", "")) for x in total[3:8]] == [api_totals[k] for k in USAGE_HEADER[6:11]], \
                "the total line's tokens %r, the API's %r" % (total, api_totals)
            # The CSV of the same view, with the session cookie: 200, the header row, the token's row.
            st, ctype, text = page_fetch(href)
            assert st == 200 and ctype.startswith("text/csv"), "usage.csv: %s %s %r" % (st, ctype, text[:200])
            table = csv_rows(text)
            assert table[0] == USAGE_HEADER, "usage.csv's header: %r" % table[0]
            named = [r for r in table[1:] if r[4] == "browser-sdk"]
            assert named and sum(int(r[5]) for r in named) == 1 and all(r[2] == "token" for r in named), "usage.csv rows: %r" % table
            # The other breakdowns and periods.
            pick_seg("usage-by", "model")
            ui.text_in("#usage-table", MODEL)
            pick_seg("usage-by", "channel")
            ui.text_in("#usage-table", "mock-main")
            pick_seg("usage-by", "user")
            ui.text_in("#usage-table", "(the admin)")
            pick_seg("usage-period", "month")
            pick_seg("usage-range", "365d")
            assert "by=user" in d.find_element(By.CSS_SELECTOR, "#usage-csv").get_attribute("href")
            month = usage_rows()[0]
            assert month and re.match(r"^\d\d/\d{4}$", month[0]["bucket"]), "a month in English: %r" % month
            pick_seg("usage-period", "hour")
            ranges = [b.get_attribute("data-value") for b in d.find_elements(By.CSS_SELECTOR, "#usage-range button")]
            assert ranges == ["24h", "7d", "30d"], "hours over at most 30 days: %r" % ranges
            hour_total = int(d.find_element(By.CSS_SELECTOR, "#usage-requests .value").get_attribute("data-value"))
            assert hour_total >= 1, "the hourly view counts the request too: %d" % hour_total
            shot(d, "usage-admin")
            return "%d requests, browser-sdk in %d out %d, usage.csv %d rows" % (v, tin, tout, len(table) - 1)
        steps.run("usage page (admin)", usage_admin, needs=["sdk request"])

        def logs_csv():
            ui.open("logs", "#logs-table tbody tr[data-id]")
            href = d.find_element(By.CSS_SELECTOR, "#logs-csv").get_attribute("href")
            assert "/admin/logs.csv?" in href and "limit=" not in href, href
            st, ctype, text = page_fetch(href)
            assert st == 200 and ctype.startswith("text/csv"), "logs.csv: %s %s %r" % (st, ctype, text[:200])
            table = csv_rows(text)
            assert table[0][:4] == ["id", "time_ms", "time_utc", "request_id"], "logs.csv's header: %r" % table[0]
            models = [r[table[0].index("model")] for r in table[1:]]
            assert MODEL in models, "the SDK request in logs.csv: %r" % models
            # The page's filters go with it: no 5xx was sent, so only the header row.
            d.find_element(By.CSS_SELECTOR, "#log-status option[value='5xx']").click()
            d.find_element(By.CSS_SELECTOR, "#log-apply").click()
            ui.wait(lambda d: "status_class=5xx" in d.find_element(By.CSS_SELECTOR, "#logs-csv").get_attribute("href"), "the filter in the export link")
            st, _, text = page_fetch(d.find_element(By.CSS_SELECTOR, "#logs-csv").get_attribute("href"))
            five = csv_rows(text)
            assert st == 200 and five[0] == table[0] and len(five) == 1, "logs.csv of 5xx: %s %r" % (st, five)
            return "%d rows, %d columns" % (len(table) - 1, len(table[0]))
        steps.run("logs csv export", logs_csv, needs=["sdk request"])

        # The date in the logs' first row, as each locale writes one.
        DATES = {"en": r"^\d\d/\d\d/\d{4}, \d\d:\d\d:\d\d$", "zh-CN": r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d$"}
        USAGE_DAYS = {"en": r"^\d\d/\d\d/\d{4}$", "zh-CN": r"^\d{4}/\d\d/\d\d$"}

        def admin_pages(lang):
            r = None
            for page in ADMIN_PAGES:
                r = check_page(page, lang)
            assert r["nav"] == ADMIN_PAGES, "the admin's navigation: %r" % r["nav"]
            ui.open("logs", "#logs-table tbody tr[data-id]")
            when = d.find_element(By.CSS_SELECTOR, "#logs-table tbody tr[data-id] td").text
            assert re.match(DATES[lang], when), "a date as %s writes it: %r" % (lang, when)
            ui.open("usage", "#usage-table tbody tr[data-key]")
            day = d.find_element(By.CSS_SELECTOR, "#usage-table tbody tr[data-key] td").text
            assert re.match(USAGE_DAYS[lang], day), "a usage day as %s writes it: %r" % (lang, day)
            return "%d pages, %d keys per table, date %s" % (len(ADMIN_PAGES), r["keys"][0], when)
        steps.run("admin pages in English", lambda: admin_pages("en"), needs=["users page", "sdk request"])

        def switch_language():
            ui.open("dashboard", "#dash-requests")
            pick_lang("zh-CN")
            ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, ".page h1").text == "仪表盘", "the dashboard in Chinese")
            ui.open("tokens", "#tokens-table")   # a new document: the choice is remembered
            assert d.execute_script("return I18n.lang") == "zh-CN", "the language is remembered"
            assert d.find_element(By.CSS_SELECTOR, "#nav a[data-page=tokens]").text == "密钥"
        steps.run("language switch", switch_language, needs=["login"])

        steps.run("admin pages in Chinese", lambda: admin_pages("zh-CN"), needs=["language switch", "users page", "sdk request"])

        def browser_language():
            ua = d.execute_script("return navigator.userAgent")
            try:
                d.execute_script("localStorage.clear()")
                d.execute_cdp_cmd("Emulation.setUserAgentOverride", {"userAgent": ua, "acceptLanguage": "zh-CN,zh;q=0.9"})
                ui.open("dashboard", "#dash-requests")
                got = d.execute_script("return [I18n.lang, navigator.languages]")
                assert got[0] == "zh-CN", "a Chinese browser gets Chinese: %r" % got
            finally:
                d.execute_cdp_cmd("Emulation.setUserAgentOverride", {"userAgent": ua, "acceptLanguage": "en-US,en"})
                d.execute_script("localStorage.clear()")
            ui.open("dashboard", "#dash-requests")
            back = d.execute_script("return I18n.lang")
            assert back == "en", "an English browser gets English: %r" % back
            return "navigator.languages %r → %s" % (got[1], got[0])
        steps.run("language from the browser", browser_language, needs=["login"])

        # -------- the browser's line numbers are the files' own (Sources/Admin/Web, served as is)
        def source_lines():
            d = ui.driver
            stack = d.execute_script("try { h('not a tag'); return ''; } catch (e) { return String(e.stack); }")
            m = re.search(r"/web/core\.js:(\d+):(\d+)", stack)
            assert m, "a frame in core.js in the stack of a throw inside h(): %r" % stack
            line, col = int(m.group(1)), int(m.group(2))
            text = (ROOT / "Sources/Admin/Web/core.js").read_text(encoding="utf-8").split("\n")
            assert 1 <= line <= len(text), "core.js:%d is past the file's %d lines" % (line, len(text))
            assert "document.createElement(tag)" in text[line - 1], \
                "core.js:%d is %r in Sources/Admin/Web/core.js, not h()'s createElement" % (line, text[line - 1])
            assert text[line - 1][col - 1:].startswith("createElement"), \
                "core.js:%d:%d points at %r" % (line, col, text[line - 1][col - 1:])
            return "core.js:%d:%d is h()'s createElement in the file" % (line, col)
        steps.run("source lines", source_lines, needs=["login"])

        def logout():
            ui.open("dashboard", "#logout")
            ui.el("#logout").click()
            ui.el("#password")
            ui.open("channels", "#password")   # still logged out after a reload
        steps.run("logout", logout, needs=["login"])

        # -------- a user: only their pages, their own key in their group, their usage
        def user_login():
            ui.open("usage", "#password")
            ui.fill("#username", "alice")
            ui.fill("#password", "alice-pass-1")
            ui.el("#login-submit").click()
            ui.el("#usage-requests")
            r = d.execute_script(TRANSLATION_CHECK)
            assert r["nav"] == USER_PAGES, "a user's navigation: %r" % r["nav"]
            assert d.find_element(By.CSS_SELECTOR, "#whoami").text == "alice"
            st, j = call_api(base, "POST", "/login", {"username": "alice", "password": "alice-pass-1"})
            assert st == 200
            state["alice_token"] = j["token"]
            return "nav %r" % r["nav"]
        steps.run("user login", user_login, needs=["users page", "logout"])

        def user_key():
            ui.open("tokens", "#new-token")
            ui.el("#new-token").click()
            options = [o.text for o in d.find_elements(By.CSS_SELECTOR, "#tk-group_id option")]
            assert options == ["team-a"], "only the allowed group, no 'every channel': %r" % options
            ph = d.find_element(By.CSS_SELECTOR, "#tk-daily_cost_cap_usd").get_attribute("placeholder")
            assert "5" in ph, "the admin's limit shown: %r" % ph
            ui.fill("#tk-name", "alice-key")
            ui.el("#tk-save").click()
            secret = ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#token-secret").text.strip(), "the key's secret")
            ui.el("#secret-done").click()
            ui.el("#tokens-table tr[data-name='alice-key']")
            names = [r.get_attribute("data-name") for r in d.find_elements(By.CSS_SELECTOR, "#tokens-table tbody tr")]
            assert names == ["alice-key"], "a user sees only their own keys: %r" % names
            mine = api_ok("GET", "/admin/tokens", bearer=state["alice_token"])["data"]
            assert [x["name"] for x in mine] == ["alice-key"], mine
            k = mine[0]
            assert k["owner_user_id"] == state["alice_id"] and k["group_id"] == state["group_id"], "owner and group: %r" % k
            assert k["daily_cost_cap_usd"] == 5, "the admin's limit taken: %r" % k
            state["alice_secret"] = secret
            import anthropic
            client = anthropic.Anthropic(base_url=base, api_key=secret, max_retries=0, timeout=20.0)
            # The mock answers with the cache figures asked for: the usage page shows them apart.
            r = client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "alice's key"}],
                                       extra_headers={"x-mock-cache-read": "7", "x-mock-cache-write-5m": "5", "x-mock-cache-write-1h": "3"})
            assert r.content, "alice's key is served through her group"
            state["alice_usage"] = (r.usage.input_tokens, r.usage.output_tokens)
            state["alice_key_id"] = k["id"]
            return "key %d in group %d" % (k["id"], k["group_id"])
        steps.run("user creates a key", user_key, needs=["user login"])

        def user_usage():
            # Another user's key with traffic of its own (two requests), made by the admin: none of
            # it may reach alice's page or her CSV.
            bob_secret = api_ok("POST", "/admin/tokens", {"name": "bob-key", "owner_user_id": state["bob_id"]})["secret"]
            import anthropic
            bob = anthropic.Anthropic(base_url=base, api_key=bob_secret, max_retries=0, timeout=20.0)
            for _ in range(2):
                assert bob.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "bob's key"}]).content

            def both_counted(d):
                by_user = api_ok("GET", "/admin/usage?by=user&period=month")["data"]
                per = {}
                for x in by_user:
                    per[x["key"]] = per.get(x["key"], 0) + x["requests"]
                return per if per.get(str(state["bob_id"])) == 2 and per.get(str(state["alice_id"])) == 1 else None
            per_user = ui.wait(both_counted, "the admin's usage by user: alice 1, bob 2")

            def counted(d):
                ui.open("usage", "#usage-requests")
                v = int(d.find_element(By.CSS_SELECTOR, "#usage-requests .value").get_attribute("data-value"))
                return v if v >= 1 else None
            v = ui.wait(counted, "alice's request on her usage page")
            by = [b.get_attribute("data-value") for b in d.find_elements(By.CSS_SELECTOR, "#usage-by button")]
            assert by == ["token", "group", "model"], "a user is offered no breakdown by user or channel: %r" % by
            rows, total = usage_rows()
            assert [r["name"] for r in rows] == ["alice-key"] and [r["key"] for r in rows] == [str(state["alice_key_id"])], \
                "a user's usage is their own: %r" % rows
            # The total line: the one request alice sent, with the tokens her SDK saw.
            sent_in, sent_out = state["alice_usage"]
            assert total[0] == "Total" and total[2] == "1", "the total counts alice's one request: %r" % total
            assert [int(total[3].replace(",", "")), int(total[4].replace(",", ""))] == [sent_in, sent_out], \
                "the total's tokens %r, the SDK's %r" % (total, state["alice_usage"])
            assert [int(x.replace(",", "")) for x in total[5:8]] == [7, 5, 3], "cache read, 5 min and 1 h writes apart: %r" % total
            assert [int(x.replace(",", "")) for x in total[2:8]] == rows[0]["counts"], "the total sums the rows: %r %r" % (total, rows)
            # Her CSV: 200 with the header row and only her key.
            href = d.find_element(By.CSS_SELECTOR, "#usage-csv").get_attribute("href")
            st, ctype, text = page_fetch(href)
            assert st == 200 and ctype.startswith("text/csv"), "alice's usage.csv: %s %s %r" % (st, ctype, text[:200])
            table = csv_rows(text)
            assert table[0] == USAGE_HEADER, "usage.csv's header: %r" % table[0]
            assert table[1:] and all(r[4] == "alice-key" for r in table[1:]), "alice's usage.csv is hers: %r" % table
            assert [sum(int(r[i]) for r in table[1:]) for i in (5, 8, 9, 10)] == [1, 7, 5, 3], "alice's usage.csv sums: %r" % table
            # Her request log (she has no logs page: the usage page exports it): her one request only.
            st, ctype, text = page_fetch(d.find_element(By.CSS_SELECTOR, "#usage-logs-csv").get_attribute("href"))
            assert st == 200 and ctype.startswith("text/csv"), "alice's logs.csv: %s %s %r" % (st, ctype, text[:200])
            log = csv_rows(text)
            assert log[0][:4] == ["id", "time_ms", "time_utc", "request_id"], "logs.csv's header: %r" % log[0]
            names = [r[log[0].index("token_name")] for r in log[1:]]
            assert names == ["alice-key"], "alice's logs.csv holds her request only: %r" % names
            # By group: her group only; by model: the model she asked for.
            pick_seg("usage-by", "group")
            rows, _ = usage_rows()
            assert [r["name"] for r in rows] == ["team-a"], "alice's usage by group: %r" % rows
            pick_seg("usage-by", "model")
            rows, _ = usage_rows()
            assert [r["name"] for r in rows] == [MODEL] and rows[0]["counts"][0] == 1, "alice's usage by model: %r" % rows
            # What the UI does not offer, the API refuses her too (by=user is her own only).
            mine = api_ok("GET", "/admin/usage?by=user", bearer=state["alice_token"])
            assert [x["key"] for x in mine["data"]] == [str(state["alice_id"])] * len(mine["data"]), "alice's usage by user: %r" % mine
            assert mine["totals"]["requests"] == 1, "alice's totals leave bob's out: %r" % mine["totals"]
            st, _ = call_api(base, "GET", "/admin/usage?by=token&user_id=%d" % state["bob_id"], bearer=state["alice_token"])
            assert st == 404, "bob's usage is not alice's to see: %d" % st
            shot(d, "usage-user")
            return "%d requests, in %d out %d (bob's 2 elsewhere: %r)" % (v, sent_in, sent_out, per_user)
        steps.run("user usage page", user_usage, needs=["user creates a key"])

        def user_admin_page():
            ui.open("users", ".page[data-page=users] .alert")
            text = d.find_element(By.CSS_SELECTOR, ".page[data-page=users] .alert").text
            assert text.startswith("403"), "an admin page answers a user 403: %r" % text
            assert not d.find_element(By.CSS_SELECTOR, "#nav a[data-page=users]").is_displayed()
            return text
        steps.run("user gets 403 on admin pages", user_admin_page, needs=["user login"])

        def user_pages_both():
            for lang in ("zh-CN", "en"):
                ui.open("usage", "#usage-table")
                pick_lang(lang)
                for page in USER_PAGES:
                    r = check_page(page, lang)
                    assert r["nav"] == USER_PAGES, "a user's navigation: %r" % r["nav"]
            return "%d pages in 2 languages" % len(USER_PAGES)
        steps.run("user pages in both languages", user_pages_both, needs=["user login"])

        def user_password():
            d.execute_script("localStorage.setItem('ccload.lang', 'en')")
            ui.open("password", "#pw-old")
            ui.fill("#pw-old", "alice-pass-1")
            ui.fill("#pw-new", "alice-pass-2")
            ui.fill("#pw-again", "alice-pass-3")
            ui.el("#pw-save").click()
            ui.text_in("[data-field=again] .field-error", "differ")
            ui.fill("#pw-again", "alice-pass-2")
            ui.el("#pw-save").click()
            ui.el("#password")   # every session ended: the login page
            assert call_api(base, "POST", "/login", {"username": "alice", "password": "alice-pass-1"})[0] == 401
            assert call_api(base, "POST", "/login", {"username": "alice", "password": "alice-pass-2"})[0] == 200
        steps.run("user changes password", user_password, needs=["user login"])

        def self_registration():
            for lang in ("zh-CN", "en"):   # the pages before a session, in both languages
                d.execute_script("localStorage.setItem('ccload.lang', arguments[0])", lang)
                check_page("login", lang)
                check_page("register", lang)
            # Off by default: the API's 403 is shown; on, the new user awaits the admin's approval.
            ui.open("login", "#to-register")
            ui.el("#to-register").click()
            ui.fill("#reg-username", "carol")
            ui.fill("#reg-password", "carol-pass-1")
            ui.fill("#reg-again", "carol-pass-1")
            ui.el("#reg-submit").click()
            ui.text_in("#register-form .form-alert", "403")
            api_ok("PUT", "/admin/settings", {"self_registration": True})
            try:
                ui.el("#reg-submit").click()
                ui.text_in("#registered", "carol")
                shot(d, "registered")
                carol = [u for u in api_ok("GET", "/admin/users")["data"] if u["username"] == "carol"]
                assert carol and carol[0]["approved"] is False and carol[0]["role"] == "user", "carol awaits approval: %r" % carol
            finally:
                api_ok("PUT", "/admin/settings", {"self_registration": False})
            return "carol %d awaits approval" % carol[0]["id"]
        steps.run("self-registration", self_registration, needs=["logout"])

        def console_clean():
            ui.collect_console("end")
            bad = [(w, e["message"]) for w, e in ui.console
                   if e.get("level") == "SEVERE" and "Failed to load resource" not in e["message"]]
            bad += [(w, e["message"]) for w, e in ui.console if "Content Security Policy" in e["message"]]
            assert not bad, "console errors: %r" % bad[:5]
            return "%d console entries, none severe" % len(ui.console)
        steps.run("console clean (CSP)", console_clean, needs=["login"])
    except Exception as e:
        steps.results.append(("setup", False, "%s: %s" % (type(e).__name__, e)))
        traceback.print_exc()
    finally:
        if ui:
            ui.quit()
        for p in reversed(procs):
            p.stop()
        failed = [r for r in steps.results if not r[1]]
        if failed:
            for p in procs:
                print("---- %s output (last 40 lines) ----" % p.name)
                print("\n".join(p.lines[-40:]))
        shutil.rmtree(tmp, ignore_errors=True)

    if ui and ui.paints:
        print("first contentful paint (ms): " + ", ".join(
            "%s %s" % (k, "n/a" if v is None else "%.0f" % v) for k, v in ui.paints.items()))
    print("screenshots: %s (%d files)" % (SHOTS, len(list(SHOTS.glob("*.png")))))
    n_ok = sum(1 for r in steps.results if r[1])
    n_bad = len(steps.results) - n_ok
    for name, ok, detail in steps.results:
        if not ok:
            print("  failed: %s — %s" % (name, detail))
    print("browser: %d passed, %d failed" % (n_ok, n_bad))
    return 0 if n_bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
