"""Print-ready 복지등기 letters: one A4 PDF per batch and its CSV manifest (pure: no Flask, no DB).

Each letter is A4 portrait, Z-folded at 99 mm and 198 mm (so the top panel faces out) into a
Korean standard window envelope (규격 창봉투 220 x 105 mm). The top panel carries, from the top:

* the sender block (return address) at the top left, above the window;
* the **window area** (``WINDOW``: 90 x 45 mm, 20 mm from the left edge, 45 mm from the top edge
  of the sheet, so it sits wholly inside the 99 mm top panel): the label "복지등기", the
  registered number as a Code 128 barcode with its digits, and the recipient block (postal code,
  road address, detail, addressee + "귀하"). Everything in it stays ``WINDOW_INSET`` inside the
  window edges because a folded sheet moves a few millimetres in the envelope.

The letter itself starts below the first fold and ends with the date of issue, the signature
and who to call. A long body continues on further pages, each with a continuation header and a
footer naming the registered number, so an inserting machine or a person can keep the sheets of
one envelope together.

Registered numbers are printed in two forms: grouped 7-6 ("7261234-567890", how a person reads
it out, ``format_registered_number``) under the barcode, and as 13 plain digits in every page's
footer (what one types or searches for). The barcode encodes the 13 plain digits.

Fonts: Noto Sans KR Regular/Bold (see ``municipalities.fonts``), subset and embedded.
"""

import csv
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import BinaryIO, TextIO
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph

from municipalities.mail.fonts import register_fonts


@dataclass(frozen=True)
class LetterItem:
    """One mail item to print: its registered number, recipient and merged letter text."""

    registered_number: str  # 13 digits, already valid
    addressee: str
    road_address: str
    address_detail: str | None
    postal_code: str | None
    body: str  # Korean text; a blank line separates paragraphs, a single newline breaks a line


@dataclass(frozen=True)
class Sender:
    """The sending municipality's team: printed as return address and signature.

    Only the name is always known; a part left empty is printed nowhere, nor is its punctuation
    (no "()" without a postal code, no bare "전화" without a phone number).
    """

    name: str  # e.g. "서울특별시 가온구청"
    department: str | None = None  # e.g. "복지정책과 희망복지지원팀"
    road_address: str | None = None
    postal_code: str | None = None
    phone: str | None = None
    contact_person: str | None = None  # e.g. "한지은 주무관"

    def name_line(self) -> str:
        """The municipality and its department."""
        return _joined(" ", self.name, self.department)

    def address_line(self) -> str:
        """The return address: road address and (postal code), whichever are given."""
        return _joined(" ", self.road_address, self.postal_code and f"({self.postal_code})")

    def phone_line(self) -> str:
        """The contact person and the phone number, whichever are given."""
        return _joined(
            " · ",
            self.contact_person and f"담당 {self.contact_person}",
            self.phone and f"전화 {self.phone}",
        )

    def contact_line(self) -> str:
        """Who to call, under the signature: department, contact person and phone."""
        return _joined(" · ", self.department, self.phone_line())


def _joined(separator: str, *parts: str | None) -> str:
    """The parts that are given (not None, not blank), joined."""
    return separator.join(part for part in parts if part and part.strip())


def _issue_date_text(day: date) -> str:
    """The date of issue as printed above the signature: "2026년 12월 7일"."""
    return f"{day.year}년 {day.month}월 {day.day}일"


@dataclass(frozen=True)
class Box:
    """A rectangle in PDF points, origin at the bottom-left corner of the page."""

    name: str
    x: float
    y: float
    width: float
    height: float

    def inside(self, other: "Box", tolerance: float = 0.01) -> bool:
        """True when this box lies wholly inside `other`."""
        return (
            self.x >= other.x - tolerance
            and self.y >= other.y - tolerance
            and self.x + self.width <= other.x + other.width + tolerance
            and self.y + self.height <= other.y + other.height + tolerance
        )


PAGE_WIDTH, PAGE_HEIGHT = A4


def _from_top(x_mm: float, top_mm: float, width_mm: float, height_mm: float, name: str) -> Box:
    """A box given in millimetres from the top-left corner (how envelope specs are written)."""
    return Box(
        name, x_mm * mm, PAGE_HEIGHT - (top_mm + height_mm) * mm, width_mm * mm, height_mm * mm
    )


# Window of the standard Korean window envelope (규격 창봉투 220 x 105 mm for A4 folded in three):
# 90 x 45 mm, 20 mm from the sheet's left edge and 45 mm from its top edge. On the folded sheet
# that is 45-90 mm down the 99 mm top panel, which matches the window's position on the envelope.
WINDOW = _from_top(20, 45, 90, 45, "window")
# Folded letters shift in the envelope; nothing that must show is printed within 4 mm of the edge.
WINDOW_INSET = 4 * mm
WINDOW_SAFE = Box(
    "window_safe",
    WINDOW.x + WINDOW_INSET,
    WINDOW.y + WINDOW_INSET,
    WINDOW.width - 2 * WINDOW_INSET,
    WINDOW.height - 2 * WINDOW_INSET,
)
# Return address: top left, above the window (on the envelope it sits under the flap edge or in
# a second window; printing it on the letter keeps envelopes generic).
SENDER_AREA = _from_top(20, 14, 90, 26, "sender_area")
FOLD_MARKS_MM = (99.0, 198.0)  # A4 297 mm in three equal panels
MARGIN_X = 20 * mm
BODY_WIDTH = PAGE_WIDTH - 2 * MARGIN_X
FIRST_BODY_TOP = PAGE_HEIGHT - 108 * mm  # just below the first fold, with some air
NEXT_BODY_TOP = PAGE_HEIGHT - 26 * mm  # below the continuation header
BODY_BOTTOM = 22 * mm  # above the footer
FOOTER_BASELINE = 12 * mm

# Code 128 of the 13 digits: start C, six digit pairs, code B, the last digit, check, stop = 123
# modules; at 0.33 mm (within the 0.25-0.5 mm scanners like) that is 41 mm of bars.
BARCODE_MODULE = 0.33 * mm
BARCODE_HEIGHT = 8 * mm
BARCODE_QUIET = 10 * BARCODE_MODULE  # the quiet zone Code 128 requires on each side
LABEL = "복지등기"

_FUZZ = 1e-6


def _check_number(number: str) -> None:
    # The layout assumes 13 digits (barcode width, 7-6 grouping); anything else is a caller bug.
    if len(number) != 13 or not number.isascii() or not number.isdigit():
        raise ValueError(f"registered number must be 13 digits, got {number!r}")


def format_registered_number(number: str) -> str:
    """Group a 13-digit registered number 7-6 the way it is read out: "7261234-567890"."""
    return f"{number[:7]}-{number[7:]}"


# --- text helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """One line of text placed on the page (x, baseline in points)."""

    name: str
    text: str
    font: str
    size: float
    x: float
    baseline: float

    def box(self) -> Box:
        ascent, descent = pdfmetrics.getAscentDescent(self.font, self.size)
        width = pdfmetrics.stringWidth(self.text, self.font, self.size)
        return Box(self.name, self.x, self.baseline + descent, width, ascent - descent)


def _wrap_words(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy wrap at spaces (Korean addresses break between 어절); split an overlong word."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if pdfmetrics.stringWidth(candidate, font, size) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        while pdfmetrics.stringWidth(current, font, size) > width:
            cut = len(current) - 1
            while cut > 1 and pdfmetrics.stringWidth(current[:cut], font, size) > width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
    if current:
        lines.append(current)
    return lines


def _stack(
    blocks: list[tuple[str, str, str, float, int]], box: Box, leading: float, top_gap: float = 0
) -> list[_Line] | None:
    """Stack wrapped text blocks top-down inside `box`; None when they do not fit.

    A block is (name, text, font, size, max_lines).
    """
    lines: list[_Line] = []
    y = box.y + box.height - top_gap
    for name, text, font, size, max_lines in blocks:
        wrapped = _wrap_words(text, font, size, box.width)
        if len(wrapped) > max_lines:
            return None
        ascent, descent = pdfmetrics.getAscentDescent(font, size)
        for part in wrapped:
            baseline = y - ascent
            if baseline + descent < box.y - _FUZZ:
                return None
            lines.append(_Line(name, part, font, size, box.x, baseline))
            y = baseline + descent - leading * size
    return lines


# --- the part that shows through the window -----------------------------------------------------


@dataclass(frozen=True)
class WindowLayout:
    """Everything printed inside the envelope window, positioned: the test seam for placement."""

    label: _Line
    label_frame: Box
    barcode: Box  # including the quiet zones
    barcode_digits: _Line
    recipient: list[_Line]

    def boxes(self) -> list[Box]:
        """Boxes of every element drawn in the window."""
        return [
            self.label.box(),
            self.label_frame,
            self.barcode,
            self.barcode_digits.box(),
            *(line.box() for line in self.recipient),
        ]


@lru_cache(maxsize=1)
def _barcode_width() -> float:
    # Every 13-digit number encodes to the same 123 modules (see BARCODE_MODULE).
    return _barcode("0000000000000").width


def _barcode(number: str) -> Code128:
    return Code128(
        number,
        barWidth=BARCODE_MODULE,
        barHeight=BARCODE_HEIGHT,
        quiet=1,
        lquiet=BARCODE_QUIET,
        rquiet=BARCODE_QUIET,
        humanReadable=0,
    )


def window_layout(item: LetterItem) -> WindowLayout:
    """Place label, barcode and recipient inside WINDOW_SAFE; ValueError if they do not fit."""
    fonts = register_fonts()
    safe = WINDOW_SAFE
    top = safe.y + safe.height
    # Top row: boxed label on the left, barcode with its digits on the right.
    label_size = 11.0
    label_width = pdfmetrics.stringWidth(LABEL, fonts.bold, label_size)
    ascent, descent = pdfmetrics.getAscentDescent(fonts.bold, label_size)
    pad = 1.5 * mm
    label_frame = Box(
        "label_frame",
        safe.x,
        top - (ascent - descent) - 2 * pad,
        label_width + 2 * pad,
        ascent - descent + 2 * pad,
    )
    label = _Line("label", LABEL, fonts.bold, label_size, safe.x + pad, top - pad - ascent)
    bar_width = _barcode_width()
    barcode = Box(
        "barcode", safe.x + safe.width - bar_width, top - BARCODE_HEIGHT, bar_width, BARCODE_HEIGHT
    )
    digits_size = 7.5
    digits_text = format_registered_number(item.registered_number)
    digits_ascent, _ = pdfmetrics.getAscentDescent(fonts.regular, digits_size)
    digits_width = pdfmetrics.stringWidth(digits_text, fonts.regular, digits_size)
    digits = _Line(
        "barcode_digits",
        digits_text,
        fonts.regular,
        digits_size,
        barcode.x + (bar_width - digits_width) / 2,
        barcode.y - 0.6 * mm - digits_ascent,
    )
    row_bottom = min(label_frame.y, digits.box().y)
    # Recipient block below the top row; shrink the type until it fits (long addresses).
    area = Box("recipient_area", safe.x, safe.y, safe.width, row_bottom - 2 * mm - safe.y)
    for scale in (1.0, 0.93, 0.86, 0.8, 0.74, 0.68):
        blocks = [
            ("postal_code", item.postal_code or "", fonts.regular, 9.5 * scale, 1),
            ("road_address", item.road_address, fonts.regular, 10 * scale, 2 if scale > 0.8 else 3),
            ("address_detail", item.address_detail or "", fonts.regular, 10 * scale, 2),
            ("addressee", f"{item.addressee} 귀하", fonts.bold, 12.5 * scale, 1),
        ]
        recipient = _stack([b for b in blocks if b[1]], area, leading=0.18)
        if recipient is not None:
            return WindowLayout(label, label_frame, barcode, digits, recipient)
    raise ValueError(
        f"address of {item.registered_number} does not fit the envelope window; shorten it"
    )


def sender_layout(sender: Sender) -> list[_Line]:
    """Place the return address inside SENDER_AREA."""
    fonts = register_fonts()
    blocks = [
        ("sender_caption", "보내는 사람", fonts.regular, 7.0, 1),
        ("sender_name", sender.name_line(), fonts.bold, 8.5, 2),
        ("sender_address", sender.address_line(), fonts.regular, 8, 2),
        ("sender_phone", sender.phone_line(), fonts.regular, 8, 1),
    ]
    lines = _stack([b for b in blocks if b[1]], SENDER_AREA, leading=0.2)
    if lines is None:
        raise ValueError("the sender's name and address do not fit the return-address area")
    return lines


# --- the letter body ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _styles() -> dict[str, ParagraphStyle]:
    fonts = register_fonts()
    body = ParagraphStyle(
        "body", fontName=fonts.regular, fontSize=10.5, leading=17, wordWrap="CJK", spaceAfter=6
    )
    return {
        "title": ParagraphStyle(
            "title",
            parent=body,
            fontName=fonts.bold,
            fontSize=16,
            leading=22,
            alignment=TA_CENTER,
            spaceAfter=14,
        ),
        "greeting": ParagraphStyle("greeting", parent=body, fontName=fonts.bold, spaceAfter=8),
        "body": body,
        "signature": ParagraphStyle(
            "signature",
            parent=body,
            fontName=fonts.bold,
            fontSize=14,
            leading=20,
            alignment=TA_CENTER,
            spaceBefore=4,
            spaceAfter=0,
        ),
        "issued": ParagraphStyle(
            "issued", parent=body, alignment=TA_CENTER, spaceBefore=18, spaceAfter=0
        ),
        "contact": ParagraphStyle(
            "contact", parent=body, fontSize=9, leading=13, alignment=TA_CENTER, spaceAfter=0
        ),
    }


class _Paragraph(Paragraph):
    """A Paragraph that remembers its last wrap: line breaking depends only on the width."""

    _wrapped: tuple[float, tuple[float, float]] | None = None

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        # split() may drop blPara (orphan control), so the cache also needs it to still be there.
        if self._wrapped is not None and self._wrapped[0] == availWidth and hasattr(self, "blPara"):
            return self._wrapped[1]
        size = super().wrap(availWidth, availHeight)
        self._wrapped = (availWidth, size)
        return size


class _ParagraphCache:
    """Parsed and wrapped paragraphs of one render call, least recently used dropped first."""

    # Mail merge repeats most paragraphs verbatim across a batch; a wrapped paragraph can be
    # drawn again (drawing does not change it), so each distinct paragraph is parsed and broken
    # into lines once. Per call, not per process: drawOn() briefly sets the flowable's canvas,
    # so sharing one object between threads could draw on the wrong document.
    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str], _Paragraph] = OrderedDict()

    def get(self, text: str, style: str) -> _Paragraph:
        key = (text, style)
        paragraph = self._entries.get(key)
        if paragraph is not None:
            self._entries.move_to_end(key)
            return paragraph
        markup = escape(text).replace("\n", "<br/>")
        paragraph = self._entries[key] = _Paragraph(markup, _styles()[style])
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return paragraph


class _KeepWhole(Flowable):
    """Flowables that must share a page (the signature block); never split."""

    def __init__(self, parts: list[Flowable]) -> None:
        super().__init__()
        self.parts = parts

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        height = 0.0
        for index, part in enumerate(self.parts):
            _, part_height = part.wrap(availWidth, availHeight)
            height += part_height + (part.getSpaceBefore() if index else 0)
            height += part.getSpaceAfter() if index < len(self.parts) - 1 else 0
        self.width, self.height = availWidth, height
        return availWidth, height

    def getSpaceBefore(self) -> float:  # noqa: N802
        return self.parts[0].getSpaceBefore()

    def draw(self) -> None:
        y = self.height
        for index, part in enumerate(self.parts):
            y -= part.getSpaceBefore() if index else 0
            y -= part.height
            part.drawOn(self.canv, 0, y)
            y -= part.getSpaceAfter()


def _paragraphs(body: str) -> list[str]:
    """Split merged text at blank lines; keep single newlines as line breaks."""
    lines = [line.rstrip() for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return paragraphs


def _closing(sender: Sender, issued_on: date, cache: _ParagraphCache) -> _KeepWhole:
    """The date of issue, the signature and who to call: the same under every letter."""
    parts = [cache.get(_issue_date_text(issued_on), "issued"), cache.get(sender.name, "signature")]
    contact = sender.contact_line()
    if contact:
        parts.append(cache.get(contact, "contact"))
    return _KeepWhole(parts)


def _flowables(
    item: LetterItem, title: str, closing: _KeepWhole, cache: _ParagraphCache
) -> list[Flowable]:
    flowables: list[Flowable] = [cache.get(title, "title")]
    paragraphs = _paragraphs(item.body)
    # A short one-line opening ("김순자 님께") is the greeting: set in bold.
    if paragraphs and "\n" not in paragraphs[0] and len(paragraphs[0]) <= 40:
        flowables.append(cache.get(paragraphs.pop(0), "greeting"))
    flowables.extend(cache.get(text, "body") for text in paragraphs)
    flowables.append(closing)
    return flowables


# A placed flowable: (flowable, space above it, its height).
_Page = list[tuple[Flowable, float, float]]


def _paginate(flowables: list[Flowable]) -> list[_Page]:
    """Break the letter into pages: the first below the fold, the next ones full height."""
    pages: list[_Page] = [[]]
    avail = FIRST_BODY_TOP - BODY_BOTTOM
    queue = list(flowables)
    while queue:
        flowable = queue.pop(0)
        page = pages[-1]
        space = flowable.getSpaceBefore() if page else 0.0
        _, height = flowable.wrap(BODY_WIDTH, avail - space)
        if height <= avail - space + _FUZZ:
            page.append((flowable, space, height))
            avail -= space + height + flowable.getSpaceAfter()
            continue
        parts = (
            [] if isinstance(flowable, _KeepWhole) else flowable.split(BODY_WIDTH, avail - space)
        )
        if len(parts) >= 2:
            first = parts[0]
            _, height = first.wrap(BODY_WIDTH, avail - space)
            page.append((first, space, height))
            queue[0:0] = parts[1:]
        elif not page:
            raise ValueError("a paragraph does not fit on an empty page")
        else:
            queue.insert(0, flowable)
        pages.append([])
        avail = NEXT_BODY_TOP - BODY_BOTTOM
    return pages


def _page_count(item: LetterItem, title: str, closing: _KeepWhole, cache: _ParagraphCache) -> int:
    return len(_paginate(_flowables(item, title, closing, cache)))


# --- drawing -----------------------------------------------------------------------------------


def _draw_line(canvas: Canvas, line: _Line) -> None:
    canvas.setFont(line.font, line.size)
    canvas.drawString(line.x, line.baseline, line.text)


def _draw_centred(canvas: Canvas, font: str, size: float, y: float, text: str) -> None:
    canvas.setFont(font, size)
    canvas.drawCentredString(PAGE_WIDTH / 2, y, text)


def _draw_envelope_panel(canvas: Canvas, item: LetterItem, sender_lines: list[_Line]) -> None:
    for line in sender_lines:
        _draw_line(canvas, line)
    layout = window_layout(item)
    frame = layout.label_frame
    canvas.setLineWidth(0.8)
    canvas.rect(frame.x, frame.y, frame.width, frame.height, stroke=1, fill=0)
    _draw_line(canvas, layout.label)
    _barcode(item.registered_number).drawOn(canvas, layout.barcode.x, layout.barcode.y)
    _draw_line(canvas, layout.barcode_digits)
    for line in layout.recipient:
        _draw_line(canvas, line)
    # Fold marks in the left margin guide folding machines and people alike.
    canvas.setLineWidth(0.3)
    for fold in FOLD_MARKS_MM:
        y = PAGE_HEIGHT - fold * mm
        canvas.line(0, y, 6 * mm, y)


def _draw_continuation_header(canvas: Canvas, item: LetterItem) -> None:
    fonts = register_fonts()
    number = format_registered_number(item.registered_number)
    canvas.setFont(fonts.regular, 8)
    canvas.drawString(MARGIN_X, PAGE_HEIGHT - 18 * mm, f"{item.addressee} 귀하 · {LABEL} {number}")
    canvas.drawRightString(PAGE_WIDTH - MARGIN_X, PAGE_HEIGHT - 18 * mm, "(계속)")
    canvas.setLineWidth(0.3)
    canvas.line(MARGIN_X, PAGE_HEIGHT - 20 * mm, PAGE_WIDTH - MARGIN_X, PAGE_HEIGHT - 20 * mm)


def _draw_footer(canvas: Canvas, item: LetterItem, page: int, pages: int) -> None:
    fonts = register_fonts()
    text = f"{LABEL} 등기번호 {item.registered_number}  ·  {page}/{pages}"
    _draw_centred(canvas, fonts.regular, 7.5, FOOTER_BASELINE, text)


def _compress_last_page(canvas: Canvas) -> None:
    """Deflate the page just finished now instead of at save()."""
    # reportlab keeps every page's raw content stream until save(); deflating each page as it
    # is finished cuts the memory a 10,000-page batch gains by a third (150 -> 100 MB). The
    # stream is marked as already filtered, so reportlab writes it as is - and without the
    # ASCII85 layer it would add (-18 % file size).
    page = canvas._doc.Pages.pages[-1]
    if page.stream is None or page.Contents:
        return
    raw = page.stream.encode("latin-1") if isinstance(page.stream, str) else page.stream
    dictionary = pdfdoc.PDFDictionary({"Filter": pdfdoc.PDFArray([pdfdoc.PDFName("FlateDecode")])})
    page.Contents = pdfdoc.PDFStream(dictionary, zlib.compress(raw))
    page.stream = None


def _render_item(
    canvas: Canvas,
    item: LetterItem,
    sender_lines: list[_Line],
    title: str,
    closing: _KeepWhole,
    cache: _ParagraphCache,
) -> int:
    _check_number(item.registered_number)
    pages = _paginate(_flowables(item, title, closing, cache))
    for number, placed in enumerate(pages, start=1):
        if number == 1:
            _draw_envelope_panel(canvas, item, sender_lines)
            y = FIRST_BODY_TOP
        else:
            _draw_continuation_header(canvas, item)
            y = NEXT_BODY_TOP
        for flowable, space, height in placed:
            y -= space + height
            flowable.drawOn(canvas, MARGIN_X, y)
            y -= flowable.getSpaceAfter()
        _draw_footer(canvas, item, number, len(pages))
        canvas.showPage()
        _compress_last_page(canvas)
    return len(pages)


MANIFEST_FIELDS = (
    "registered_number",
    "addressee",
    "postal_code",
    "road_address",
    "address_detail",
    "page",
    "pages",
)
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: str | int | None) -> str | int:
    """Neutralise spreadsheet formulas: a text cell starting with = + - @ TAB CR gets a "'"."""
    if value is None:
        return ""
    if isinstance(value, int):
        return value
    return f"'{value}" if value.startswith(_FORMULA_PREFIXES) else value


class _ManifestWriter:
    def __init__(self, out: TextIO) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")
        self._writer.writerow(MANIFEST_FIELDS)
        self.rows = 0

    def write(self, item: LetterItem, first_page: int, pages: int) -> None:
        self._writer.writerow(
            [
                _csv_cell(value)
                for value in (
                    item.registered_number,
                    item.addressee,
                    item.postal_code,
                    item.road_address,
                    item.address_detail,
                    first_page,
                    pages,
                )
            ]
        )
        self.rows += 1


def render_letters(
    items: Iterable[LetterItem],
    sender: Sender,
    out: BinaryIO,
    title: str = "복지등기",
    manifest: TextIO | None = None,
    *,
    issued_on: date,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write one A4 PDF with a letter per item to `out`; return the number of pages.

    Every letter is dated `issued_on` above the signature. When `manifest` is given, the
    batch's CSV manifest is written in the same pass (see ``manifest_csv``), which lets `items`
    be a one-shot iterator. `progress` hears the number of letters rendered after each one.
    """
    fonts = register_fonts()
    # initialFontName: otherwise every page preamble refers to (non-embedded) Helvetica.
    canvas = Canvas(out, pagesize=A4, pageCompression=1, invariant=1, initialFontName=fonts.regular)
    canvas.setTitle(title)
    canvas.setAuthor(sender.name)
    canvas.setSubject(LABEL)
    canvas.setCreator("welfare-post")
    sender_lines = sender_layout(sender)
    writer = _ManifestWriter(manifest) if manifest is not None else None
    cache = _ParagraphCache()
    closing = _closing(sender, issued_on, cache)
    total = 0
    for letters, item in enumerate(items, start=1):
        pages = _render_item(canvas, item, sender_lines, title, closing, cache)
        if writer is not None:
            writer.write(item, total + 1, pages)
        total += pages
        if progress is not None:
            progress(letters)
    if total == 0:
        raise ValueError("no letters to render")
    canvas.save()
    return total


def manifest_csv(
    items: Iterable[LetterItem],
    out: TextIO,
    *,
    sender: Sender,
    issued_on: date,
    title: str = "복지등기",
) -> int:
    """Write the printing office's CSV manifest for a batch; return the number of rows.

    One row per item, in PDF order: registered_number, addressee, postal_code, road_address,
    address_detail, page (the item's first page in the PDF, 1-based) and pages (its sheet count).
    The addressee's name is included on purpose: the printing office needs it to check each
    sheet against its envelope; treat the file as personal data (encrypt in transit, delete
    after printing). Text cells that a spreadsheet would read as a formula get a leading "'".
    Open `out` with ``newline=""`` (and ``encoding="utf-8-sig"`` if it will be opened in Excel).
    Page numbers come from the same pagination as ``render_letters``, hence `sender`,
    `issued_on` and `title` (the title, date and signature take space);
    render_letters(manifest=...) does both in one pass.
    """
    writer = _ManifestWriter(out)
    cache = _ParagraphCache()
    closing = _closing(sender, issued_on, cache)
    page = 1
    for item in items:
        pages = _page_count(item, title, closing, cache)
        writer.write(item, page, pages)
        page += pages
    return writer.rows
