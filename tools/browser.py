"""The --serve page in a real browser: Chromium driven by Playwright, drawing with the mouse.

tools.benchmark --drawing, tools.handwriting drawn and the page's browser test draw on the pad as
a learner does: the mouse pressed, moved point by point along each stroke, released. Debian's
Chromium (Playwright's own browser download needs the internet) and Playwright from pip.
"""
from __future__ import annotations

import math
import shutil
import time

from pipeline.errors import UserError

PAD = 280  # the pad's pixels (web/index.html); strokes are given in them
# a 7 in one stroke, a point every 5 pixels or so: the bar, then down to the left
SEVEN = [[(70 + 5 * i, 60) for i in range(29)] + [(210 - 2.5 * i, 60 + 5 * i) for i in range(1, 41)]]
ONE = [[(150, 40), (148, 100), (146, 160), (144, 230)]]  # one stroke down, a little slanted
ZERO = [[(140 + 60 * math.sin(t / 8), 140 - 90 * math.cos(t / 8)) for t in range(52)]]  # round


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright):
    """Chromium, headless; a UserError that says how to install what is missing."""
    executable = chromium()
    if executable is None:
        raise UserError("no Chromium here (as root: apt-get install --no-install-recommends chromium)")
    return playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])


PHONE = {"width": 390, "height": 844}  # a phone's screen, in CSS pixels


def open_page(browser, url: str, viewport: dict | None = None):
    page = browser.new_page(viewport=viewport or {"width": 1200, "height": 1400})
    page.goto(url)
    page.wait_for_selector("#slide-output td", state="attached")  # the page has started
    return page


def draw(page, strokes: list[list[tuple[float, float]]], clear: bool = True,
         where=None) -> list[float]:
    """Clear the pad and draw `strokes` (lists of (x, y) in pad pixels) with the mouse; the
    seconds each move took, as Chromium dispatched it to the page and the page handled it.
    `where`: the element holding the pad (a notebook's widget), if not the page itself."""
    where = where or page
    if clear:
        where.locator("#clear").click()
    pad = where.locator(".pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    at = lambda x, y: (box["x"] + x * box["width"] / PAD, box["y"] + y * box["height"] / PAD)
    moves = []
    for stroke in strokes:
        page.mouse.move(*at(*stroke[0]))
        page.mouse.down()
        for x, y in stroke[1:]:
            started = time.perf_counter()
            page.mouse.move(*at(x, y))
            moves.append(time.perf_counter() - started)
        page.mouse.up()
    return moves


def read(page, where=None) -> str:
    """The digit shown once the answer shown is the one to the drawing now on the pad (each
    change of the pad counts up its data-drawing; the answer shown carries the count it
    answers), on the page or in `where` (a notebook's widget)."""
    where = where or page
    marks = [where.locator(s).element_handle() for s in (".pad", ".digit")]
    page.wait_for_function("([pad, digit]) => pad.dataset.drawing === digit.dataset.drawing",
                           arg=marks)
    return where.locator(".digit").text_content()


def probabilities(where) -> list[float]:
    """The ten probabilities behind the bars, as PyTorch gave them (not as rounded there)."""
    return where.locator("#bars .bar").evaluate_all("rows => rows.map((r) => Number(r.dataset.p))")


def shown(page) -> str:
    """The digit the page shows once its answer is for the picture now on the pad: the
    server is asked for that picture's digit, and the page waited for (5 s at most)."""
    digit, on_page = page.evaluate("""async () => {
        const pad = document.getElementById("pad").toDataURL("image/png");
        const r = await fetch("/api/predict", {method: "POST",
            headers: {"Content-Type": "application/json"}, body: JSON.stringify({image: pad})});
        const digit = String((await r.json()).digit), shown = document.getElementById("digit");
        for (let i = 0; i < 200 && shown.textContent !== digit; i++)
            await new Promise((go) => setTimeout(go, 25));
        return [digit, shown.textContent];
    }""")
    if on_page != digit:
        raise UserError(f"the page shows {on_page} 5 s after the stroke; its picture reads {digit}")
    return digit


def drawing_times(page, where=None) -> list[float]:
    """The page's main-thread milliseconds for each answer it drew since Clear (it notes
    them), on the page or in `where` (a notebook's widget)."""
    noted = (where or page).locator("#timing").get_attribute("data-drawn-ms")
    return [float(t) for t in noted.split()] if noted else []


def widest(page) -> dict:
    """How far right the page reaches (its scroll width), and the element shown furthest
    right, with where its right edge is: nothing of a card may be cut off or scrolled."""
    return page.evaluate("""() => {
        let far = {right: document.documentElement.scrollWidth, what: "the page"};
        for (const e of document.querySelectorAll("main *")) {
            const box = e.getBoundingClientRect();
            if (box.width && box.right > far.right)
                far = {right: box.right, what: e.id || e.tagName.toLowerCase() + "." + e.className};
        }
        return far;
    }""")
