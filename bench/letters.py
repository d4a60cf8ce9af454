"""Benchmark: render a batch of 복지등기 letters into one PDF with its CSV manifest.

Run `.venv/bin/python bench/letters.py [--letters 10000] [--out DIR]`. Households come from the
seeded demo generator (fictitious Korean names and addresses); each letter body is a mail-merged
template like a real mailing's. Prints letters, pages, seconds, pages/s, file size (MB and
bytes/page) and peak memory (ru_maxrss), then checks with pdftotext that the first and the last
page carry their registered numbers. Target on a 2-core machine: >= 100 pages/s.
"""

from __future__ import annotations

import argparse
import csv
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script from anywhere

from demo.world import MUNICIPALITY_NAME, DemoHousehold, generate_households  # noqa: E402
from municipalities.mail.fonts import register_fonts  # noqa: E402
from municipalities.mail.letters import LetterItem, Sender, render_letters  # noqa: E402

SEED = 2026
TARGET_PAGES_PER_S = 100
SENDER = Sender(
    name=f"{MUNICIPALITY_NAME}청",
    department="복지정책과 희망복지지원팀",
    road_address=f"{MUNICIPALITY_NAME} 가온대로 100",
    postal_code="06236",
    phone="02-2100-1234",
)
TITLE = "생활이 어려우신 분께 드리는 복지서비스 안내"
ISSUED_ON = date(2026, 12, 7)

# Programmes offered on top of the general ones, by household type (what a mailing's template
# would merge in).
_PROGRAMMES = {
    "single_elderly": "- 노인맞춤돌봄서비스: 안부 확인, 가사·외출 지원, 응급안전안심서비스",
    "elderly_couple": "- 노인맞춤돌봄서비스: 안부 확인, 가사·외출 지원, 응급안전안심서비스",
    "grandparent_grandchild": "- 드림스타트, 아동 급식 지원, 조손가정 양육비 지원",
    "single_parent": "- 한부모가족 아동양육비, 학용품비, 생활보조금",
    "disabled_member": "- 장애인 활동지원, 장애수당, 보조기기 지원",
    "single_young": "- 청년 월세 한시 특별지원, 청년마음건강 바우처, 국민취업지원제도",
    "single_middle_aged": "- 중장년 1인 가구 안부 확인, 국민취업지원제도, 건강검진 안내",
    "other": "- 통합사례관리: 담당 사회복지사가 필요한 서비스를 함께 찾아 드립니다.",
}


def letter_body(household: DemoHousehold) -> str:
    """The merged letter text for one household."""
    address = household.road_address + (
        f" {household.address_detail}" if household.address_detail else ""
    )
    return f"""{household.name} 님께

안녕하십니까? {SENDER.name} {SENDER.department}입니다. 요즘 어떻게 지내시는지 안부를 여쭙고, \
어려운 일이 있으시면 함께 해결 방법을 찾아 드리고자 이 복지등기 우편을 보내 드립니다. 이 우편은 \
집배원이 댁으로 직접 전해 드리며, 전해 드리는 자리에서 간단히 안부를 여쭐 수 있습니다.

생활비, 병원비, 집세, 공과금 때문에 걱정이 있으시거나 몸이 불편해 혼자 지내시기 어려우시면 아래 \
지원을 받으실 수 있는지 함께 알아보겠습니다. 신청하지 않으셔도 불이익은 전혀 없습니다.

받으실 수 있는 지원
- 기초생활보장: 생계급여, 의료급여, 주거급여, 교육급여
- 긴급복지지원: 갑작스러운 위기에 생계비·의료비·주거비 지원
- 에너지바우처와 전기·가스·수도요금 감면
{_PROGRAMMES[household.household_type]}

찾아뵙고 상담하기를 원하시면 {address} 댁으로 담당 사회복지사가 방문하겠습니다. 평일 오전 \
9시부터 오후 6시까지 아래 번호로 전화 주시거나 가까운 행정복지센터를 찾아 주십시오. 전화 \
한 통이면 충분합니다.

이 안내문의 내용은 다른 사람에게 알리지 않으며, 상담 내용은 복지서비스 제공을 위해서만 \
사용합니다."""


def registered_number(sequence: int) -> str:
    """A fictitious 13-digit number: "7", year "26", a 9-digit sequence and one check digit."""
    stem = f"726{sequence:09d}"
    return stem + str(sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(stem)) % 10)


def make_items(count: int) -> list[LetterItem]:
    """Generate `count` letters for fictitious households of the demo gu."""
    return [
        LetterItem(
            registered_number=registered_number(index + 1),
            addressee=household.name,
            road_address=household.road_address,
            address_detail=household.address_detail,
            postal_code=household.postal_code,
            body=letter_body(household),
        )
        for index, household in enumerate(generate_households(count, SEED))
    ]


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def page_text(pdf: Path, page: int) -> str:
    """pdftotext of one page."""
    result = subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def check_output(pdf: Path, manifest: Path, items: list[LetterItem], pages: int) -> list[str]:
    """Problems found in the PDF and manifest: first/last page numbers, row count."""
    problems: list[str] = []
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if len(rows) != len(items):
        problems.append(f"manifest has {len(rows)} rows for {len(items)} letters")
    if shutil.which("pdftotext") is None:
        problems.append("pdftotext not installed (apt-get install poppler-utils): text not checked")
        return problems
    last_first_page = int(rows[-1]["page"]) if rows else pages
    for label, page, item in (("first", 1, items[0]), ("last", last_first_page, items[-1])):
        text = page_text(pdf, page)
        if item.registered_number not in text or item.addressee not in text:
            problems.append(f"{label} letter: number or addressee missing on page {page}")
    if "복지등기" not in page_text(pdf, pages):
        problems.append(f"page {pages}: label missing")
    return problems


def main() -> int:
    """Generate, render, measure and check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=10_000)
    parser.add_argument("--out", type=Path, help="directory for letters.pdf/manifest.csv (kept)")
    args = parser.parse_args()
    if args.letters < 1:
        parser.error("--letters must be >= 1")

    started = time.perf_counter()
    register_fonts()  # first run ever: instantiates the static fonts into the cache (~17 s)
    fonts_s = time.perf_counter() - started
    started = time.perf_counter()
    items = make_items(args.letters)
    generate_s = time.perf_counter() - started
    before_mb = peak_mb()

    out_dir = args.out or Path(tempfile.mkdtemp(prefix="bench_letters_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    pdf, manifest = out_dir / "letters.pdf", out_dir / "manifest.csv"
    started, cpu_started = time.perf_counter(), time.process_time()
    with pdf.open("wb") as out, manifest.open("w", newline="", encoding="utf-8-sig") as rows:
        pages = render_letters(
            iter(items), SENDER, out, title=TITLE, manifest=rows, issued_on=ISSUED_ON
        )
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    size = pdf.stat().st_size

    print(f"machine      {platform.machine()} {platform.python_version()}, 1 process")
    print(f"fonts        {fonts_s:8.2f} s (register; instantiation only on a cold cache)")
    print(f"generate     {generate_s:8.2f} s ({args.letters} households and letter bodies)")
    print(f"letters      {args.letters:8d}")
    print(f"pages        {pages:8d}")
    print(f"seconds      {seconds:8.2f}   (CPU {cpu_seconds:.2f} s; wall time includes other load)")
    rate = pages / seconds
    verdict = "ok" if rate >= TARGET_PAGES_PER_S else "BELOW TARGET"
    print(f"pages/s      {rate:8.1f}   (target >= {TARGET_PAGES_PER_S}: {verdict}; ", end="")
    print(f"{pages / cpu_seconds:.1f} per CPU second)")
    print(f"file size    {size / 1e6:8.2f} MB ({size / pages:,.0f} bytes/page)")
    print(f"peak memory  {peak_mb():8.1f} MB (ru_maxrss; {before_mb:.1f} MB before rendering)")
    print(f"output       {pdf}")
    problems = check_output(pdf, manifest, items, pages)
    for problem in problems:
        print(f"CHECK FAILED {problem}")
    if not problems:
        print("check        ok (pdftotext: first and last letters carry their numbers)")
    if args.out is None:
        shutil.rmtree(out_dir)
    return 1 if problems or rate < TARGET_PAGES_PER_S else 0


if __name__ == "__main__":
    sys.exit(main())
