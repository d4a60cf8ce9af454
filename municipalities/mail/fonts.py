"""Korean TrueType fonts for letter production, embedded in every PDF (pure: no Flask, no DB).

The font comes from the pip package ``justmytype-intl-cjk`` (Noto Sans KR, SIL OFL 1.1), so the
project's own setup installs it and nothing is fetched from the network or the system at run time.
That package ships a *variable* font whose default instance is Thin (wght 100); reportlab embeds
only the default outlines of a variable font, so we instantiate static Regular (400) and Bold
(700) fonts with fontTools once, into a cache directory, and reuse them in every later process.
"""

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_PACKAGE = "justmytype_intl_cjk"
VARIABLE_FONT = "fonts/ofl/notosanskr/NotoSansKR[wght].ttf"
REGULAR = "NotoSansKR"
BOLD = "NotoSansKR-Bold"
WEIGHTS = {REGULAR: 400, BOLD: 700}
CACHE_ENV = "WELFARE_POST_FONT_CACHE"
# Bumped when the instancing recipe below changes, so stale cached instances are not reused.
_RECIPE = "1"
# Tables reportlab never reads (shaping, vertical metrics, variations): dropping them makes the
# cached file smaller and faster to load; the embedded subsets are unaffected.
_UNUSED_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "STAT", "vhea", "vmtx", "gasp", "HVAR", "MVAR")

_lock = threading.Lock()
_registered: "KoreanFonts | None" = None


@dataclass(frozen=True)
class KoreanFonts:
    """Names under which the fonts are registered with reportlab, and their files."""

    regular: str
    bold: str
    regular_path: Path
    bold_path: Path


def variable_font_path() -> Path:
    """Path of the variable Noto Sans KR shipped by the pip package."""
    path = Path(str(resources.files(FONT_PACKAGE).joinpath(VARIABLE_FONT)))
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: install the 'justmytype-intl-cjk' package")
    return path


def cache_dir() -> Path:
    """Where static instances are kept: $WELFARE_POST_FONT_CACHE, else the user's cache dir."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "welfare-post" / "fonts"


def static_instance(weight: int, directory: Path | None = None) -> Path:
    """Return a static TrueType instance of Noto Sans KR at `weight`, creating it on first use."""
    source = variable_font_path()
    stat = source.stat()
    # The key follows the source file, so upgrading the font package re-instantiates.
    key = hashlib.sha256(f"{_RECIPE}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target_dir = directory or cache_dir()
    target = target_dir / f"NotoSansKR-{weight}-{key}.ttf"
    if target.is_file():
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    # Imported here: fontTools is only needed the first time (~8 s per weight on 2 cores).
    from fontTools.ttLib import TTFont as FontToolsFont
    from fontTools.varLib import instancer

    font = instancer.instantiateVariableFont(
        FontToolsFont(str(source)), {"wght": weight}, updateFontNames=True
    )
    for tag in _UNUSED_TABLES:
        if tag in font:
            del font[tag]
    # Write then rename: concurrent first users (a process pool) never read a half-written file.
    fd, tmp = tempfile.mkstemp(dir=target_dir, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            font.save(handle)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a shared cache must be readable by all
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _instance_anywhere(weight: int) -> Path:
    try:
        return static_instance(weight)
    except OSError:
        # A service account without a writable home still gets fonts (rebuilt after a reboot).
        return static_instance(weight, Path(tempfile.gettempdir()) / "welfare-post-fonts")


def register_fonts() -> KoreanFonts:
    """Register Regular and Bold Noto Sans KR with reportlab, once per process."""
    global _registered
    with _lock:
        if _registered is None:
            paths = {name: _instance_anywhere(weight) for name, weight in WEIGHTS.items()}
            for name, path in paths.items():
                # subfontIndex 0; reportlab subsets to the glyphs used and embeds them.
                pdfmetrics.registerFont(TTFont(name, str(path)))
            # Lets <b> in Paragraph markup pick the bold instance.
            addMapping(REGULAR, 0, 0, REGULAR)
            addMapping(REGULAR, 1, 0, BOLD)
            addMapping(REGULAR, 0, 1, REGULAR)
            addMapping(REGULAR, 1, 1, BOLD)
            _registered = KoreanFonts(REGULAR, BOLD, paths[REGULAR], paths[BOLD])
        return _registered
