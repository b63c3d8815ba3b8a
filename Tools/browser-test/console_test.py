"""The web console in headless Chromium (issue 12): log in, create a project, bind a device, see a posted value
appear, draw the chart, cancel an alert, run and download an export, mint and revoke a token. Fails on any console
error in the page (the browser log) and on any label missing its Chinese translation. Saves screenshots of the main
pages when SCREENSHOTS is set (1 = docs/screenshots/)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait, Select

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
USER, PASSWORD = "alice", "alice-password"
DEVICE_ID, SAFE_CODE, AGRI = "868686000123456", "8K2P", "d-1000-abcd"
started = time.monotonic()


def log(message):
    print(f"[browser-test {time.monotonic() - started:5.1f}s] {message}", flush=True)


class Platform:
    """The built api-server and scheduler on a temporary database, with an owner and a provisioned device."""

    def __init__(self, bin_dir):
        self.bin = os.path.abspath(bin_dir)
        self.dir = tempfile.mkdtemp(prefix="console-test-")
        self.db = os.path.join(self.dir, "iot.db")
        self.processes = []
        self.admin("init", "--org", "acme", "--org-name", "Acme Farms", "--user", USER, "--password", PASSWORD, "--json")
        self.admin("modules", "import", os.path.join(ROOT, "Configs/modules.json"))
        csv = os.path.join(self.dir, "devices.csv")
        with open(csv, "w") as f:
            f.write("device_id,safe_code,agri_id,model,capabilities\n")
            f.write(f"{DEVICE_ID},{SAFE_CODE},{AGRI},DTU-4G,SUPPORTS_REBOOT\n")
        keys = json.loads(self.admin("devices", "provision", csv, "--json"))
        self.device_key = keys[0]["device_key"]
        server = subprocess.Popen([os.path.join(self.bin, "api-server"), "--db", self.db, "--port", "0"],
                                  stdout=subprocess.PIPE, stderr=open(os.path.join(self.dir, "server.log"), "w"), text=True,
                                  env={**os.environ, "IOT_LOG_ACCESS": "false"})
        self.processes.append(server)
        deadline = time.monotonic() + 30
        self.url = None
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            if line.startswith("listening on "):
                self.url = line.split()[-1].strip()
                break
        if not self.url:
            raise SystemExit("api-server did not start; see " + self.dir)
        scheduler = subprocess.Popen([os.path.join(self.bin, "scheduler"), "--db", self.db, "run"],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "scheduler.log"), "w"))
        self.processes.append(scheduler)
        self.token = self.call("POST", "/api/v2/auth/login/", {"username": USER, "password": PASSWORD}, auth=False)["token"]

    def admin(self, *args):
        result = subprocess.run([os.path.join(self.bin, "admin-cli"), "--db", self.db, *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"admin-cli {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def call(self, method, path, body=None, auth=True, headers=None):
        request = urllib.request.Request(self.url + path, method=method, data=None if body is None else json.dumps(body).encode())
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", "Bearer " + self.token)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            return json.loads(text) if text else None

    def post_points(self, points):
        """Telemetry as the device sends it: the gateway API with the device's key (HTTP Basic)."""
        import base64
        credentials = base64.b64encode(f"{DEVICE_ID}:{self.device_key}".encode()).decode()
        return self.call("POST", "/api/v2/gateway/data/", points, auth=False, headers={"Authorization": "Basic " + credentials})

    def stop(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


class Console:
    """A headless Chromium on the console, with helpers that wait instead of sleeping."""

    def __init__(self, url, downloads):
        options = Options()
        options.binary_location = "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                         "--lang=en-US", "--no-first-run", "--disable-extensions"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False,
                                                  "intl.accept_languages": "en-US,en"})
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
        self.url = url
        self.downloads = downloads
        self.errors = []
        self.screens = None

    def wait(self, condition, timeout=15, message=""):
        try:
            # The pages redraw as data arrives: an element found a moment ago may be gone; the next poll looks again.
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                                 ignored_exceptions=[StaleElementReferenceException]).until(condition)
        except TimeoutException:
            self.check_log()
            self.shot_failure()
            raise AssertionError(f"timed out: {message}")

    def find(self, css, timeout=15):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout, css)

    def click(self, css, timeout=15):
        element = self.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, css)), timeout, "clickable " + css)
        self.press(element)
        return element

    def press(self, element):
        """Clicks like a user; the element is scrolled to the middle first so toasts and sticky bars never cover it."""
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def click_text(self, text, scope="body", tag="button", timeout=15):
        xpath = f"//{tag}[normalize-space()={json.dumps(text, ensure_ascii=False)}]"
        element = self.wait(lambda d: next((e for e in d.find_element(By.CSS_SELECTOR, scope).find_elements(By.XPATH, "." + xpath)
                                            if e.is_displayed() and e.is_enabled()), False), timeout, f"{tag} '{text}' in {scope}")
        self.press(element)
        return element

    def text_appears(self, css, text, timeout=15):
        script = "return [...document.querySelectorAll(arguments[0])].map((e) => e.innerText).join('\\n')"
        self.wait(lambda d: text in d.execute_script(script, css), timeout, f"'{text}' in {css}")

    def fill(self, css, value):
        element = self.find(css)
        element.clear()
        element.send_keys(value)
        return element

    def fill_dialog(self, values):
        """Fills the open dialog's fields by name, then submits it."""
        dialog = self.find("dialog[open]")
        for name, value in values.items():
            element = dialog.find_element(By.CSS_SELECTOR, f"[name='{name}']")
            if element.tag_name == "select":
                Select(element).select_by_value(str(value))
            elif element.get_attribute("type") == "checkbox":
                if element.is_selected() != bool(value):
                    element.click()
            else:
                element.clear()
                element.send_keys(str(value))
        dialog.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"), 15, "dialog closes")

    def confirm(self):
        self.click("dialog[open] button[data-confirm]")
        self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"), 10, "confirmation closes")

    def go(self, hash_route):
        self.driver.get(self.url + "/" + hash_route)

    def check_log(self):
        """Every console message at level SEVERE is a failure (script errors, failed loads, CSP violations)."""
        for entry in self.driver.get_log("browser"):
            if entry["level"] == "SEVERE":
                self.errors.append(entry["message"])
        if self.errors:
            raise AssertionError("console errors in the page:\n  " + "\n  ".join(self.errors))

    def shot(self, name, width=1280, height=900):
        if not self.screens:
            return
        self.driver.execute_script("document.getElementById('toasts').replaceChildren(); window.scrollTo(0, 0)")
        self.driver.set_window_size(width, height)
        time.sleep(0.3)
        # The whole page's height (up to 2 400 px) so a screenshot shows the page, not the first screen only.
        full = self.driver.execute_script("return Math.min(2400, document.documentElement.scrollHeight)")
        self.driver.set_window_size(width, max(height, full + 120))
        time.sleep(0.3)
        self.driver.save_screenshot(os.path.join(self.screens, name + ".png"))
        self.driver.set_window_size(1280, 900)

    def shot_failure(self):
        try:
            self.driver.save_screenshot(os.path.join(tempfile.gettempdir(), "console-test-failure.png"))
            print("failure screenshot: " + os.path.join(tempfile.gettempdir(), "console-test-failure.png"), file=sys.stderr)
        except Exception:
            pass


def chart_attr(driver, name):
    """A number the chart's series path carries (data-points: points fetched, data-vertices: points drawn); 0 before it exists."""
    return driver.execute_script("const p = document.querySelector('#chart path.series'); return p ? Number(p.dataset[arguments[0]]) : 0", name)


def run(platform, console):
    # Headers of the page itself: strict CSP, nosniff, a validator and a 304 when it matches.
    with urllib.request.urlopen(platform.url + "/") as response:
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        etag = response.headers["ETag"]
    request = urllib.request.Request(platform.url + "/console/app.js", headers={"If-None-Match": etag})
    try:
        urllib.request.urlopen(request)
    except urllib.error.HTTPError:
        pass
    app_etag = urllib.request.urlopen(platform.url + "/console/app.js").headers["ETag"]
    try:
        urllib.request.urlopen(urllib.request.Request(platform.url + "/console/app.js", headers={"If-None-Match": app_etag}))
        raise AssertionError("If-None-Match with the current ETag must answer 304")
    except urllib.error.HTTPError as error:
        assert error.code == 304, error.code

    log("login")
    console.go("")
    console.find("#login-username")
    console.shot("login")
    console.fill("#login-username", USER)
    console.fill("#login-password", PASSWORD)
    console.click("#login-submit")
    console.text_appears("main", "No projects yet")

    log("create a project")
    console.click("#project-create")
    console.fill_dialog({"name": "Cold Chain East", "project_id": "cold-chain-east", "tags": "cold, trucks"})
    console.text_appears("main h1", "Cold Chain East")
    console.check_log()

    log("bind a device, see a posted value appear")
    console.click("#device-bind")
    console.fill_dialog({"device_id": DEVICE_ID, "safe_code": SAFE_CODE})
    console.text_appears("table.devices", DEVICE_ID)
    platform.post_points([{"agri_id": AGRI + "-01", "value": 21.5}])
    console.text_appears("table.devices td.values", "21.5", timeout=12)
    console.shot("devices")

    log("device page: add a module, the latest value with its unit")
    console.click("table.devices a.strong")
    console.click("#add-module")
    console.fill_dialog({"module_id": 1, "slave_id": 1})
    console.text_appears("#latest", "21.5 °C")
    console.check_log()

    log("history chart: 2 000 points over the last day")
    now = int(time.time())
    platform.post_points([{"agri_id": AGRI + "-01", "value": round(20 + 8 * ((i % 200) / 200), 1), "t": now - 86000 + i * 43}
                          for i in range(2000)])
    console.click("button[data-range='6h']")
    console.click("button[data-range='24h']")
    console.wait(lambda d: chart_attr(d, "points") >= 2000, 15, "chart of 2 000 points")
    console.text_appears("#chart-stats", "Max")

    log("a chart of 100 000 points")
    for batch in range(10):
        platform.post_points([{"agri_id": AGRI + "-02", "value": 50 + 30 * ((i * 7919) % 1000) / 1000, "t": now - 7 * 86400 + 900 + (batch * 10000 + i) * 6}
                              for i in range(10000)])
    Select(console.find("#chart-factor")).select_by_value(AGRI + "-02")
    console.click("button[data-range='7d']")
    begun = time.monotonic()
    console.wait(lambda d: chart_attr(d, "points") >= 100000, 60, "chart of 100 000 points")
    vertices = chart_attr(console.driver, "vertices")
    log(f"100 000 points fetched and drawn in {time.monotonic() - begun:.1f}s as {vertices} vertices")
    assert vertices < 5000, vertices
    assert chart_attr(console.driver, "aggregated") == 1   # a week is asked for as min/max/avg buckets

    log("a year of hourly data drawn from the aggregation")
    platform.post_points([{"agri_id": AGRI + "-03", "value": round(10 + 10 * ((i % 500) / 500), 2), "t": now - 364 * 86400 + i * 3600}
                          for i in range(8736)])
    console.wait(lambda d: d.execute_script("return [...document.querySelectorAll('#chart-factor option')].some((o) => o.value === arguments[0])",
                                            AGRI + "-03"), 20, "series -03 listed")
    Select(console.find("#chart-factor")).select_by_value(AGRI + "-03")
    console.click("button[data-range='1y']")
    begun = time.monotonic()
    console.wait(lambda d: chart_attr(d, "aggregated") == 1 and chart_attr(d, "points") >= 8736, 20, "a one-year chart from the aggregation")
    vertices = chart_attr(console.driver, "vertices")
    log(f"a year ({chart_attr(console.driver, 'points')} points) drawn from buckets in {time.monotonic() - begun:.1f}s as {vertices} vertices")
    assert vertices <= 4000, vertices
    console.text_appears("#chart-stats", "Max")
    Select(console.find("#chart-factor")).select_by_value(AGRI + "-01")
    console.click("button[data-range='24h']")
    console.wait(lambda d: chart_attr(d, "points") >= 2000, 15, "back to the day")
    console.shot("device")
    console.shot("device-phone", width=390, height=844)
    console.check_log()

    log("a threshold on the factor, a value above it opens an alert")
    console.click(f"button[data-edit-factor='{AGRI}-01']")
    console.fill_dialog({"threshold_max": "30", "alarm_enabled": True})
    platform.post_points([{"agri_id": AGRI + "-01", "value": 36.2}])
    console.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#latest .tile.alarm"), 12, "the tile turns red")

    log("control: reboot with confirmation, in the command history")
    console.click("#control-reboot")
    console.confirm()
    console.text_appears("main", "NAT@AT+Z")

    log("alerts: cancel the current alert")
    console.click("nav.crumbs a:nth-of-type(2)")
    console.find("table.devices")
    console.click_text("Alerts", tag="a")
    console.find("#alerts-current tr[data-alert]")
    console.shot("alerts")
    console.click("#alerts-current button[data-cancel-alert]")
    console.confirm()
    console.text_appears("#alerts-current", "No active alerts")
    console.text_appears("#alerts-history", "cancelled")
    console.check_log()

    log("exports: create, progress, download")
    console.click_text("Exports", tag="a")
    console.find("#export-form input[type=checkbox]")
    console.click("#export-create")
    console.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#export-tasks tr[data-status='succeeded']"), 30, "the export succeeds")
    console.click("#export-tasks button[data-download]")
    console.wait(lambda d: any(n.endswith(".csv") for n in os.listdir(console.downloads)), 15, "the file is downloaded")
    name = next(n for n in os.listdir(console.downloads) if n.endswith(".csv"))
    with open(os.path.join(console.downloads, name), encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("time,device_id"), lines[0]
    assert len(lines) > 2000, len(lines)
    log(f"downloaded {name}: {len(lines) - 1} rows")
    console.click("#schedule-create")
    console.fill_dialog({"name": "Nightly CSV", "hour": "2"})
    console.text_appears("#export-schedules", "Nightly CSV")
    console.shot("exports")
    console.check_log()

    log("tokens: mint a project-scoped token, shown once, then revoke it")
    console.click_text("Tokens", tag="a")
    console.click("#token-create")
    dialog = console.find("dialog[open]")
    dialog.find_element(By.CSS_SELECTOR, "[name='name']").send_keys("dashboard")
    dialog.find_element(By.CSS_SELECTOR, "fieldset.checks input[value='cold-chain-east']").click()
    dialog.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    secret = console.find("#token-secret").text
    assert secret.startswith("iot_"), secret
    console.click_text("Done")
    me = platform.call("GET", "/api/v2/me/", headers={"Authorization": "Bearer " + secret}, auth=False)
    assert me["token"]["projects"] == ["cold-chain-east"], me
    console.shot("tokens")
    console.click("button[data-revoke]")
    console.confirm()
    console.text_appears("main table", "Revoked")
    console.check_log()

    log("a fleet of 1 000 devices")
    platform.call("POST", "/api/v2/projects/", {"project_id": "fleet", "name": "Fleet of 1000"})
    csv = os.path.join(platform.dir, "fleet.csv")
    with open(csv, "w") as f:
        f.write("device_id,safe_code,agri_id,model,capabilities\n")
        for i in range(1000):
            f.write(f"FLEET{i:010d},C{i % 1000:03d},d-fleet-{i:04d},DTU-4G,\n")
    platform.admin("devices", "provision", csv)
    for i in range(1000):
        platform.call("POST", "/api/v2/projects/fleet/devices/bind/", {"device_id": f"FLEET{i:010d}", "safe_code": f"C{i % 1000:03d}"})
    begun = time.monotonic()
    console.go("#/p/fleet")
    console.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "table.devices tbody tr")) == 25 and
                 not any(c.text == "…" for c in d.find_elements(By.CSS_SELECTOR, "td.values")), 20, "the first page of the fleet")
    log(f"1 000-device project: first page with latest values in {time.monotonic() - begun:.2f}s")
    console.click_text("Next ›")
    console.text_appears("nav.pager", "2")
    console.go("#/projects")
    console.text_appears("table.projects", "1,000")

    log("projects page with counts; the same pages in Chinese")
    console.click_text("Projects", tag="a")
    console.find("table.projects")
    console.click("tr[data-project='cold-chain-east'] button.star")
    console.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-project='cold-chain-east'] button.star.on"), 10, "a favorite")
    console.fill("#project-search", "cold")
    console.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "table.projects tbody tr")) == 1, 10, "search narrows the list")
    console.find("#project-search").send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)   # an input event, as a user's
    console.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "table.projects tbody tr")) == 2, 10, "both projects again")
    console.shot("projects")
    console.click("header button.lang")
    console.text_appears("main h1", "项目")
    console.shot("projects-zh")
    for route in ("#/p/cold-chain-east", "#/p/cold-chain-east/alerts", "#/p/cold-chain-east/exports", "#/tokens", "#/projects?trash=1"):
        console.go(route)
        console.find("main h1")
        time.sleep(0.5)
    console.go("#/p/cold-chain-east")
    console.click("table.devices a.strong")
    console.find("#chart path.series")
    console.shot("device-zh")
    missing = console.driver.execute_script("return [...globalThis.__i18nMissing]")
    assert not missing, f"labels without a Chinese translation: {missing}"
    console.click("header button.lang")
    console.check_log()

    log("sign out revokes the login token; an API token signs in too")
    browser_token = console.driver.execute_script("return sessionStorage.getItem('iot.token')")
    console.click("header button.signout")
    console.find("#login-username")
    try:
        platform.call("GET", "/api/v2/me/", headers={"Authorization": "Bearer " + browser_token}, auth=False)
        raise AssertionError("the login token still works after signing out")
    except urllib.error.HTTPError as error:
        assert error.code == 401, error.code
    console.click("details.token-login summary")
    console.fill("#login-token", platform.token)
    console.click_text("Sign in with the token")
    console.find("table.projects")
    console.check_log()
    log(f"done in {time.monotonic() - started:.1f}s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/debug")
    args = parser.parse_args()
    screens = os.environ.get("SCREENSHOTS", "")
    platform = Platform(args.bin)
    downloads = os.path.join(platform.dir, "downloads")
    os.makedirs(downloads)
    console = Console(platform.url, downloads)
    if screens:
        console.screens = os.path.join(ROOT, "docs/screenshots") if screens == "1" else os.path.abspath(screens)
        os.makedirs(console.screens, exist_ok=True)
    ok = False
    try:
        run(platform, console)
        ok = True
    finally:
        console.driver.quit()
        platform.stop()
        if ok:
            shutil.rmtree(platform.dir, ignore_errors=True)
        else:
            print("kept for inspection: " + platform.dir, file=sys.stderr)
    print("browser test passed")


if __name__ == "__main__":
    main()
