"""Open every page of the built site in headless Chromium and check what a reader would see.

    python docs/check_site.py [SITE_DIR [SCREENSHOT_DIR]]      # defaults: site, docs-screenshots

The site is served on a local port (http.server in a thread). For every page: no console error and no
failed request; every <img> loaded with a non-zero size and every top-level <svg> drawn with a
non-zero size; equations typeset by MathJax where the page has any. The API page must list
``rnnlab.LSTM``. A full-page screenshot of each page goes to SCREENSHOT_DIR. The browser is Debian's
``chromium`` ($CHROMIUM overrides the path), driven by Playwright without its own browser download.
Exit status 1 with one line per problem.
"""
from __future__ import annotations

import functools
import http.server
import os
import sys
import threading
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

SIZES = """() => {
  const bad = [];
  document.querySelectorAll("article img").forEach(img => {
    if (!img.complete || img.naturalWidth === 0 || img.getBoundingClientRect().width === 0) bad.push("img " + img.src);
  });
  document.querySelectorAll("article svg").forEach(svg => {
    if (svg.closest("svg") !== svg || svg.closest(".md-icon, button, .headerlink, mjx-container")) return;
    const r = svg.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) bad.push("svg " + (svg.getAttribute("class") || svg.outerHTML.slice(0, 60)));
  });
  return {bad, images: document.querySelectorAll("article img").length,
          math: document.querySelectorAll(".arithmatex").length,
          typeset: document.querySelectorAll("mjx-container").length};
}"""


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def pages(site: Path) -> list[str]:
    out = []
    for path in sorted(site.rglob("index.html")):
        rel = path.parent.relative_to(site).as_posix()
        if rel.startswith(("assets", "search")) or rel == "404":
            continue
        out.append("" if rel == "." else rel + "/")
    return out


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright
    site = Path(argv[0] if argv else "site").resolve()
    shots = Path(argv[1] if len(argv) > 1 else "docs-screenshots")
    if not (site / "index.html").is_file():
        print(f"site: no index.html in {site}; run `make docs` first", file=sys.stderr)
        return 1
    shots.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems, checked = [], 0
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                                        args=FLAGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for rel in pages(site):
                errors = []
                page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda exc, e=errors: e.append(str(exc)))
                page.on("requestfailed", lambda r, e=errors: e.append(f"request failed: {r.url}"))
                page.goto(base + rel, wait_until="networkidle")
                info = page.evaluate(SIZES)
                if info["math"]:
                    page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=15000)
                    info = page.evaluate(SIZES)
                page.screenshot(path=str(shots / ((rel.strip("/").replace("/", "_") or "index") + ".png")),
                                full_page=True)
                problems += [f"{rel or '/'}: console: {e}" for e in errors]
                problems += [f"{rel or '/'}: zero size or not loaded: {b}" for b in info["bad"]]
                if info["math"] and not info["typeset"]:
                    problems.append(f"{rel or '/'}: {info['math']} equations not typeset")
                if rel == "api/" and "rnnlab.LSTM" not in page.inner_text("article"):
                    problems.append("api/: does not list rnnlab.LSTM")
                print(f"{rel or '/'}: {info['images']} images, {info['math']} equations, "
                      f"{len(errors)} console errors")
                page.close()
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                checked += 1
            browser.close()
    finally:
        server.shutdown()
    if "api/" not in pages(site):
        problems.append("api/: no API page in the site")
    for line in problems:
        print(line, file=sys.stderr)
    print(f"{checked} pages checked, {len(problems)} problems; screenshots in {shots}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
