"""The console's list washing over a long CSV in headless Chromium, with both sides' memory measured.

    .venv/bin/python bench/console_wash.py [--rows 1000000]

Starts the embedded PostgreSQL in a temporary folder (or uses ``CONSENT_BENCH_DATABASE_URL``, a
database it may fill) and the real ``consent-svc serve``, records consent for one row in 1,000,
writes a CSV of ``--rows`` rows, washes it in the console page (docs/adr/0014) and prints, every
10 % of the file, the rows washed, the server's RSS and the page's JavaScript heap
(``performance.memory``): flat columns are flat memory. The suite washes 100,000 rows and checks
each against the batch API (tests/e2e/test_console_browser.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from consent_svc.store.embedded import EmbeddedPostgres
from tests.conftest import NEWSLETTER
from tests.e2e.browser import chromium
from tests.e2e.console_browser import create_user, sign_in
from tests.e2e.server import Server, clean_env, cli

PEPPER = "bench-pepper-0123456789abcdef0123456789abcdef"
TOKEN_KEY = "bench-token-0123456789abcdef0123456789abcdef"
PASSWORD = "bench console password"


def run(dsn: str, folder: Path, rows: int) -> None:
    env = clean_env(
        CONSENT_DATABASE_URL=dsn, CONSENT_PEPPER=PEPPER, CONSENT_TOKEN_KEYS=TOKEN_KEY, CONSENT_LOG_LEVEL="warning"
    )
    server = Server(env, folder)
    try:
        cli(env, folder, "tenants", "create", "bench")
        key = cli(env, folder, "keys", "create", "--tenant", "bench", "--scope", "admin").splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        httpx.put(f"{server.url}/v1/purposes/newsletter", json=NEWSLETTER, headers=auth).raise_for_status()
        events = [
            {"subject": {"email": f"bench{i}@example.se"}, "type": "consent_given", "purpose": "newsletter",
             "proof": {"notice_version": "2026-03"}}
            for i in range(0, rows, 1000)
        ]  # fmt: skip
        for start in range(0, len(events), 5000):
            httpx.post(f"{server.url}/v1/events/batch", json={"events": events[start : start + 5000]},
                       headers=auth, timeout=120).raise_for_status()  # fmt: skip
        create_user(env, folder, "bench", "bench@example.se", "marketer", PASSWORD)
        csv_path = folder / "list.csv"
        with csv_path.open("w", encoding="utf-8") as out:
            out.write("name,email\n")
            for i in range(rows):
                out.write(f"Person {i},bench{i}@example.se\n")
        print(f"{rows:,} rows, {csv_path.stat().st_size / 1e6:.0f} MB; {len(events):,} consents recorded")
        serving = psutil.Process(server.proc.pid)
        with chromium() as browser:
            sign_in(browser, server.url, "bench", "bench@example.se", PASSWORD)
            browser.get(f"{server.url}/console/wash")
            browser.find_element(By.ID, "wash-file").send_keys(str(csv_path))
            WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#wash-column option"))
            started = time.monotonic()
            browser.find_element(By.ID, "wash-start").click()
            print(f"{'percent':>7} {'seconds':>8} {'server RSS MB':>13} {'page JS heap MB':>15}")
            shown = -10
            while not browser.find_element(By.ID, "wash-result").is_displayed():
                percent = int(browser.find_element(By.ID, "wash-progress").get_attribute("value") or 0)
                if percent >= shown + 10:
                    shown = percent - percent % 10
                    heap = browser.execute_script("return performance.memory.usedJSHeapSize") / 1e6
                    print(f"{percent:>7} {time.monotonic() - started:>8.1f} {serving.memory_info().rss / 1e6:>13.0f} "
                          f"{heap:>15.0f}", flush=True)  # fmt: skip
                time.sleep(0.5)
            seconds = time.monotonic() - started
            heap = browser.execute_script("return performance.memory.usedJSHeapSize") / 1e6
            status = browser.find_element(By.ID, "wash-status").text
            print(f"{100:>7} {seconds:>8.1f} {serving.memory_info().rss / 1e6:>13.0f} {heap:>15.0f}")
            print(f"done: {status} ({rows / seconds:,.0f} rows/s)")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="consent-bench-wash-") as tmp:
        folder = Path(tmp)
        dsn = os.environ.get("CONSENT_BENCH_DATABASE_URL")
        if dsn:
            run(dsn, folder, args.rows)
            return
        embedded = EmbeddedPostgres(folder / "pg")
        try:
            run(embedded.start(), folder, args.rows)
        finally:
            embedded.release()


if __name__ == "__main__":
    main()
