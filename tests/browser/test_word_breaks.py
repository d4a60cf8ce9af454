"""Korean words stay whole: no heading, table heading, badge, menu link, label or button of a
staff page breaks inside a word, at 1280 px and on a tablet (issue 18 item 8)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.no_db_rollback

# Each word (a run without spaces) of the elements a person scans must sit on one line.
WORDS_BROKEN = """() => {
  const broken = [];
  for (const el of document.querySelectorAll('h1, h2, h3, th, .badge, nav a, label, button')) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const word of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()]
          .filter((rect) => rect.width > 0).map((rect) => Math.round(rect.top)));
        if (lines.size > 1) broken.push(`${el.tagName.toLowerCase()}: ${word[0]}`);
      }
    }
  }
  return broken;
}"""


@pytest.mark.parametrize("who", ["social_worker", "municipal_admin", "dispatcher"])
def test_no_word_breaks_inside_itself_on_the_pages_of_the_menu(live, browsing, who):
    live.upload_emergency()
    page = browsing.page
    browsing.sign_in(who)
    own = urlsplit(live.base).netloc
    links = page.eval_on_selector_all("nav a[href]", "links => links.map(a => a.href)")
    pages = sorted({url for url in links if urlsplit(url).netloc == own} | {page.url})
    assert len(pages) >= 3, pages
    broken = {}
    for width, height in ((1280, 800), (768, 1024)):
        page.set_viewport_size({"width": width, "height": height})
        for url in pages:
            page.goto(url)
            found = page.evaluate(WORDS_BROKEN)
            if found:
                broken[f"{width}px {urlsplit(url).path}"] = found
    assert not broken, broken
