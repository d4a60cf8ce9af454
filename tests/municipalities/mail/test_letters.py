"""Letter production (municipalities.mail.letters): text, fonts, barcode, window, manifest.

Pure: no app, no database. The PDF checks use poppler-utils (pdftotext, pdffonts, pdftoppm) and
the barcode is decoded with zxing-cpp; each test that needs one of them skips, saying which,
when it is missing.
"""

import csv
import io
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from defusedxml import ElementTree

from municipalities.mail.letters import (
    FOLD_MARKS_MM,
    SENDER_AREA,
    WINDOW,
    WINDOW_SAFE,
    LetterItem,
    Sender,
    _barcode,
    format_registered_number,
    manifest_csv,
    render_letters,
    sender_layout,
    window_layout,
)

MM = 72 / 25.4
A4_HEIGHT = 297 * MM


@pytest.fixture(autouse=True)
def db_session():
    """Override the suite's database fixture: letter production needs no app and no database."""
    yield None


SENDER = Sender(
    name="서울특별시 가온구청",
    department="복지정책과 희망복지지원팀",
    road_address="서울특별시 가온구 가온대로 100",
    postal_code="06236",
    phone="02-2100-1234",
    contact_person="한지은 주무관",
)
ISSUED_ON = date(2026, 12, 7)

BODY = """{name} 님께

안녕하십니까? 가온구청 희망복지지원팀입니다. 요즘 어떻게 지내시는지 안부를 여쭙고자 복지등기 \
우편을 보내 드립니다. 집배원이 직접 전해 드립니다.

받으실 수 있는 지원
- 기초생활보장: 생계·의료·주거·교육급여
- 긴급복지지원 <위기> & 에너지바우처

궁금하신 점은 아래 번호로 전화 주십시오."""

LONG_PARAGRAPH = (
    "생활이 어려우신 분들을 위한 지원 제도는 여러 가지가 있으며 신청 방법과 기준이 서로 다릅니다. "
    * 12
)


def _item(number: str, name: str, **changes: object) -> LetterItem:
    values: dict[str, object] = {
        "registered_number": number,
        "addressee": name,
        "road_address": "서울특별시 가온구 누리대로 123-45",
        "address_detail": "가온아파트 101동 1203호",
        "postal_code": "06236",
        "body": BODY.format(name=name),
    }
    values.update(changes)
    return LetterItem(**values)  # type: ignore[arg-type]


ITEMS = [
    _item("7260000000017", "김순자"),
    _item("7260000000025", "이영수", address_detail=None, postal_code=None),
    _item(
        "7260000000033",
        "박민준",
        body=BODY.format(name="박민준") + "\n\n" + "\n\n".join([LONG_PARAGRAPH] * 4),
    ),
    _item("7260000000041", "최은주"),
]


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed (apt-get install -y poppler-utils)")
    return path


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """The ITEMS rendered once: (pdf path, page count, manifest text)."""
    pdf = tmp_path_factory.mktemp("letters") / "letters.pdf"
    manifest = io.StringIO(newline="")
    with pdf.open("wb") as out:
        pages = render_letters(
            iter(ITEMS),
            SENDER,
            out,
            title="복지서비스 안내",
            manifest=manifest,
            issued_on=ISSUED_ON,
        )
    return pdf, pages, manifest.getvalue()


def _squash(text: str) -> str:
    # CJK wrapping may break a line inside a word, so compare text with all whitespace removed.
    return re.sub(r"\s+", "", text)


def _page_texts(pdf: Path) -> list[str]:
    _require("pdftotext")
    return _run("pdftotext", "-layout", str(pdf), "-").split("\f")


def _body_text(pdf: Path) -> str:
    """All pages' text without footers and continuation headers, so a body reads on across pages."""
    return "\n".join(
        line
        for page in _page_texts(pdf)
        for line in page.splitlines()
        if "등기번호" not in line and "(계속)" not in line
    )


# --- text and pages ------------------------------------------------------------------------------


def test_pdftotext_gets_back_the_korean_text_names_and_numbers(rendered):
    pdf, _, _ = rendered
    text = "\n".join(_page_texts(pdf))
    squashed = _squash(_body_text(pdf))
    for item in ITEMS:
        assert _squash(item.body) in squashed  # the whole merged body, escaping included
        assert f"{item.addressee}귀하" in squashed
        assert item.registered_number in text  # the footer's plain digits
        assert format_registered_number(item.registered_number) in text  # under the barcode
    assert _squash(SENDER.name + SENDER.department) in squashed
    assert "복지서비스 안내" in text and "복지등기" in text


def test_every_letter_carries_the_date_of_issue_and_the_whole_sender(rendered):
    pdf, _, _ = rendered
    pages = [_squash(page) for page in _page_texts(pdf)]
    first = [page for page in pages if re.search(r"·1/\d+$", page)]
    last = [page for page in pages if re.search(r"·(\d+)/\1$", page)]
    assert len(first) == len(last) == len(ITEMS)
    for page in first:  # the return address
        assert _squash("서울특별시 가온구 가온대로 100 (06236)") in page
        assert _squash("담당 한지은 주무관 · 전화 02-2100-1234") in page
    for page in last:  # dated above the signature, who to call below it
        closing = (
            "2026년 12월 7일 서울특별시 가온구청 복지정책과 희망복지지원팀 · 담당 한지은 주무관"
        )
        assert _squash(closing) in page


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"department": "복지정책과"},
        {"road_address": "서울특별시 가온구 가온대로 100"},
        {"postal_code": "06236", "contact_person": "한지은 주무관"},
        {"phone": "02-2100-1234"},
    ],
    ids=["name-only", "department", "address", "postal-code-and-person", "phone"],
)
def test_a_sender_field_left_empty_prints_neither_it_nor_its_punctuation(given, tmp_path):
    sender = Sender(name="서울특별시 가온구", **given)
    pdf = tmp_path / "letter.pdf"
    with pdf.open("wb") as out:
        # A body without the words checked for, so only the sender blocks could print them.
        render_letters(
            [_item(ITEMS[1].registered_number, "이영수", body="안녕하십니까?")],
            sender,
            out,
            issued_on=ISSUED_ON,
        )
    text = _page_texts(pdf)[0]
    lines = [line.strip() for line in text.splitlines()]
    assert "()" not in _squash(text) and "( )" not in text
    assert ("전화" in text) == ("phone" in given)
    assert ("담당" in text) == ("contact_person" in given)
    assert not [line for line in lines if line.startswith("·") or line.endswith("·")]
    assert "2026년 12월 7일" in text and "보내는 사람" in text
    for value in given.values():
        assert _squash(value) in _squash(text)
    if "postal_code" in given and "road_address" not in given:
        assert "(06236)" in text


def test_blank_line_starts_a_paragraph_and_a_newline_breaks_the_line(rendered):
    pdf, _, _ = rendered
    lines = [line.strip() for line in _page_texts(pdf)[0].splitlines()]
    assert "받으실 수 있는 지원" in lines
    assert "- 기초생활보장: 생계·의료·주거·교육급여" in lines
    assert "- 긴급복지지원 <위기> & 에너지바우처" in lines


def test_one_page_per_letter_and_a_continuation_page_for_a_long_body(rendered):
    pdf, pages, _ = rendered
    assert pages == len(ITEMS) + 1  # the third letter runs onto a second sheet
    info = _run(_require("pdfinfo"), str(pdf))
    assert re.search(rf"^Pages:\s+{pages}$", info, re.MULTILINE)
    texts = _page_texts(pdf)
    continued = texts[3]
    assert "(계속)" in continued and "박민준 귀하" in continued
    assert "7260000000033" in continued and "2/2" in continued
    assert "1/2" in texts[2] and "1/1" in texts[4]
    # The signature block closes the letter, once.
    assert _squash(texts[3]).count(_squash(SENDER.name)) == 1


def test_fonts_are_embedded_korean_subsets_and_nothing_else(rendered):
    pdf, _, _ = rendered
    raw = pdf.read_bytes()
    assert b"/FontFile2" in raw  # embedded TrueType programs
    assert b"Helvetica" not in raw  # no reference to a standard font that is not embedded
    rows = _run(_require("pdffonts"), str(pdf)).splitlines()[2:]
    assert len(rows) >= 2
    for row in rows:
        name, *_, emb, sub, uni, _obj, _gen = row.split()
        assert re.fullmatch(r"[A-Z]{6}\+NotoSansKR-(Regular|Bold)", name), row
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row


def test_subsetting_keeps_the_file_small(rendered):
    pdf, pages, _ = rendered
    # The font files are 6 MB each; subsets of the few hundred glyphs used are a few tens of KB.
    assert pdf.stat().st_size < 150_000
    assert pages == 5


def test_empty_batch_and_malformed_numbers_are_refused():
    with pytest.raises(ValueError, match="no letters"):
        render_letters([], SENDER, io.BytesIO(), issued_on=ISSUED_ON)
    for bad in ("726000000001", "72600000000171", "726000000001X", "７２６０００００００００１７"):
        with pytest.raises(ValueError, match="13 digits"):
            render_letters([_item(bad, "김순자")], SENDER, io.BytesIO(), issued_on=ISSUED_ON)


# --- barcode -------------------------------------------------------------------------------------


def test_barcodes_on_the_printed_pages_decode_to_the_numbers(rendered, tmp_path):
    pdf, _, _ = rendered
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (barcode decoder) not installed")
    from PIL import Image

    subprocess.run(
        [_require("pdftoppm"), "-r", "200", "-png", str(pdf), str(tmp_path / "page")], check=True
    )
    images = sorted(tmp_path.glob("page-*.png"))
    decoded = []
    for image in images:
        with Image.open(image) as page:
            results = zxingcpp.read_barcodes(page)
        decoded.append([(r.format.name, r.text) for r in results])
    code128 = zxingcpp.BarcodeFormat.Code128.name
    expected = [[(code128, item.registered_number)] for item in ITEMS]
    expected.insert(3, [])  # the continuation sheet carries no barcode
    assert decoded == expected


def test_barcode_pattern_round_trips_through_a_module_width_decoder():
    """Decode the encoder's own bar/space widths back to digits (no image, no external tool)."""
    from reportlab.graphics.barcode import code128 as spec

    by_pattern = {pattern: value for value, pattern in spec._patterns.items()}
    set_c = {value: digits for digits, value in spec.setc.items() if digits.isdigit()}
    set_b = {value: char for char, value in spec.setb.items() if len(char) == 1}
    for number in ("7260000000017", "0000000000000", "9999999999999", "1234567890123"):
        barcode = _barcode(number)
        barcode.validate()
        barcode.encode()
        barcode.decompose()
        widths = barcode.decomposed
        assert (len(widths) - 7) % 6 == 0
        symbols = [widths[i : i + 6] for i in range(0, len(widths) - 7, 6)]
        values = [by_pattern[s] for s in symbols]
        assert by_pattern[widths[-7:]] == 106  # stop
        start, *data, check = values
        assert check == (start + sum(i * v for i, v in enumerate(data, 1))) % 103
        current = {103: None, 104: set_b, 105: set_c}[start]
        out = ""
        for value in data:
            if value == 100 and current is set_c:
                current = set_b
            elif value == 99 and current is set_b:
                current = set_c
            else:
                out += current[value]
        assert out == number


# --- placement -----------------------------------------------------------------------------------


def test_window_sits_in_the_top_panel_and_the_sender_block_above_it():
    top_panel_bottom = A4_HEIGHT - FOLD_MARKS_MM[0] * MM
    assert WINDOW.y >= top_panel_bottom
    assert WINDOW_SAFE.inside(WINDOW)
    assert SENDER_AREA.y >= WINDOW.y + WINDOW.height  # return address above the window
    for line in sender_layout(SENDER):
        assert line.box().inside(SENDER_AREA), line


@pytest.mark.parametrize(
    "item",
    [
        ITEMS[0],
        ITEMS[1],
        _item(
            "7260000000058",
            "남궁옥분",
            road_address="서울특별시 가온구 은행나무로 12번길 345-67 (가온동, 가온꿈에그린아파트)",
            address_detail="가온꿈에그린아파트 제101동 제1203호 (뒷동 지하 1층 출입구)",
        ),
    ],
    ids=["detail", "no-detail", "long-address"],
)
def test_everything_meant_for_the_window_lies_inside_it(item):
    layout = window_layout(item)
    for box in layout.boxes():
        assert box.inside(WINDOW_SAFE), box
    names = [line.name for line in layout.recipient]
    assert names[-1] == "addressee" and layout.recipient[-1].text == f"{item.addressee} 귀하"
    assert "road_address" in names


def test_an_address_too_long_for_the_window_is_refused():
    with pytest.raises(ValueError, match="window"):
        window_layout(_item("7260000000066", "김순자", road_address="가온대로 " * 60))


def test_printed_addressee_block_and_barcode_lie_inside_the_window(rendered):
    pdf, _, _ = rendered
    _require("pdftotext")
    html = _run("pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-")
    words = [
        (w.text or "", *(float(w.attrib[k]) for k in ("xMin", "yMin", "xMax", "yMax")))
        for w in ElementTree.fromstring(html).iter("{http://www.w3.org/1999/xhtml}word")
    ]
    # pdftotext measures from the top-left corner, in points.
    left, top = WINDOW.x, A4_HEIGHT - (WINDOW.y + WINDOW.height)
    right, bottom = left + WINDOW.width, top + WINDOW.height
    in_window = {"06236", "누리대로", "123-45", "1203호", "귀하", "복지등기"}
    in_window.add(format_registered_number(ITEMS[0].registered_number))
    in_window.add("김순자")  # also in the greeting further down: the first occurrence counts
    boxes: dict[str, list[float]] = {}
    for text, *box in words:
        if text in in_window:
            boxes.setdefault(text, box)
    assert set(boxes) == in_window
    for text, (x0, y0, x1, y1) in boxes.items():
        assert left <= x0 and x1 <= right and top <= y0 and y1 <= bottom, text


# --- manifest ------------------------------------------------------------------------------------


def test_manifest_has_one_row_per_item_with_page_numbers(rendered):
    _, _, manifest = rendered
    rows = list(csv.DictReader(io.StringIO(manifest)))
    assert [row["registered_number"] for row in rows] == [i.registered_number for i in ITEMS]
    assert [row["addressee"] for row in rows] == [i.addressee for i in ITEMS]
    assert [(row["page"], row["pages"]) for row in rows] == [
        ("1", "1"),
        ("2", "1"),
        ("3", "2"),
        ("5", "1"),
    ]
    assert rows[1]["address_detail"] == "" and rows[1]["postal_code"] == ""
    # The standalone function paginates exactly as rendering does.
    standalone = io.StringIO(newline="")
    written = manifest_csv(
        ITEMS, standalone, sender=SENDER, issued_on=ISSUED_ON, title="복지서비스 안내"
    )
    assert written == len(ITEMS)
    assert standalone.getvalue() == manifest


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_manifest_neutralises_formula_like_cells(prefix):
    item = _item(
        "7260000000074",
        f'{prefix}HYPERLINK("http://x")',
        road_address=f"{prefix}1+1",
        address_detail=f"{prefix}cmd|' /C calc'!A0",
    )
    out = io.StringIO(newline="")
    assert manifest_csv([item, ITEMS[0]], out, sender=SENDER, issued_on=ISSUED_ON) == 2
    header, row, plain = list(csv.reader(io.StringIO(out.getvalue())))
    assert header[:5] == [
        "registered_number",
        "addressee",
        "postal_code",
        "road_address",
        "address_detail",
    ]
    assert row[1] == f"'{item.addressee}"
    assert row[3] == f"'{item.road_address}"
    assert row[4] == f"'{item.address_detail}"
    assert row[0] == "7260000000074"  # digits are left alone
    assert plain[1] == "김순자" and plain[3] == ITEMS[0].road_address
