"""A screenshot of one `fwbench report` figure as a lecture slide shows it: a 16:9 page, the figure, its caption.

    python reports/evidence/lecture/slide.py results/cpu-quick.json --figure headline --out docs/assets/slide-headline.png

Renders the results file with `fwbench report` into a scratch folder, lays that figure's PNG and the first
finding and machine line of its caption file on a 1920 x 1080 page, and photographs it in Chromium
(playwright driving the system browser; nothing is downloaded).
"""
from __future__ import annotations

import argparse
import html
import subprocess
import sys
import tempfile
from pathlib import Path

PAGE = """<!doctype html><meta charset="utf-8"><style>
body {{ margin: 0; width: 1920px; height: 1080px; font-family: sans-serif; background: #fff; color: #222;
       display: flex; flex-direction: column; }}
img {{ height: 880px; margin-top: 24px; align-self: center; }}
p {{ font-size: 24px; margin: 6px 60px; color: #333; }}
p.machine {{ font-size: 18px; color: #666; }}
</style><img src="{png}"><p>{lead}</p><p class="machine">{machine}</p>"""


def caption_parts(text: str) -> tuple[str, str]:
    """(lead, machine): the caption's first finding (the figure carries its own title) and its machine line."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    head = paragraphs[0]
    _, _, rest = head.partition(". ")
    lead = rest.split("; ")[0].rstrip(".") + "."
    machine = next((p for p in paragraphs if p.startswith("Machine:")), "")
    return lead, machine


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", help="a results file, as `fwbench report` takes it")
    ap.add_argument("--figure", default="headline", help="the figure's name under figures/ (default headline)")
    ap.add_argument("--out", required=True, help="the PNG to write")
    ap.add_argument("--chromium", default="/usr/bin/chromium", help="the browser to drive")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory(prefix="fwbench-slide-") as tmp:
        subprocess.run([sys.executable, "-m", "bench", "report", args.results, "--out", tmp], check=True,
                       stdout=subprocess.DEVNULL)
        figures = Path(tmp) / "figures"
        lead, machine = caption_parts((figures / f"{args.figure}.txt").read_text())
        page_file = Path(tmp) / "slide.html"
        page_file.write_text(PAGE.format(png=f"figures/{args.figure}.png",
                                         lead=html.escape(lead), machine=html.escape(machine)))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(page_file.as_uri())
            page.screenshot(path=args.out)
            browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
