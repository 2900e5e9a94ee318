"""Stamping: many one-page PDFs that share a frame (everything that is the same on each, laid
out once by WeasyPrint) and differ in a layer of positioned text, lines and boxes drawn here.

A run's bills are the same page but for their figures: laying the whole page out again for every
bill (what one WeasyPrint call per bill does) spends nearly all its time on the parts that never
change, and each box of those costs WeasyPrint most of a millisecond. So WeasyPrint renders the
frame once (`Frame.of(pdf)`: its page's content and the objects it uses, kept as bytes), and each
document is the frame's bytes plus a content stream of its own in a font of our own (DejaVu Sans,
subset to the Latin characters once per process), written as a PDF in about a millisecond.

Coordinates are millimetres from the page's top-left corner (as the frame's CSS positions are);
a text's `y` is its baseline. Text is measured with the font's advance widths (no kerning), so a
right-aligned amount ends where it should and a long name is cut with an ellipsis.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

MM = 72 / 25.4
# Always in a font: what stands in for a character the font lacks, and the ellipsis.
FALLBACKS = "?…"
FONT_FILES = {False: ("DejaVu Sans", "DejaVuSans.ttf"), True: ("DejaVu Sans:bold", "DejaVuSans-Bold.ttf")}
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF")


class StampUnavailable(Exception):
    """No DejaVu Sans on this machine, or a frame that is not a one-page WeasyPrint PDF."""


# --- the layer ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Text:
    x: float  # the left edge, the right edge (align="right") or the middle (align="center")
    y: float  # the baseline
    text: str
    size: float = 9.0
    bold: bool = False
    color: str = "#1d2733"
    align: str = "left"
    max_width: float | None = None  # cut with "…" beyond this (mm)


@dataclass(frozen=True)
class Box:
    x: float
    y: float  # the top edge
    width: float
    height: float
    fill: str | None = None
    stroke: str | None = None
    line_width: float = 0.3  # mm
    dashed: bool = False


def _rgb(color: str) -> str:
    value = color.lstrip("#")
    return " ".join(f"{int(value[i:i + 2], 16) / 255:.3f}" for i in (0, 2, 4))


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


# --- the font -------------------------------------------------------------------------------
def _font_path(bold: bool) -> Path:
    pattern, name = FONT_FILES[bold]
    for folder in FONT_DIRS:
        if (Path(folder) / name).exists():
            return Path(folder) / name
    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True,  # noqa: S603,S607
                               check=False).stdout.strip()
        if found.endswith(name):
            return Path(found)
    raise StampUnavailable(f"{name} not found (Debian: fonts-dejavu-core)")


@lru_cache(maxsize=2)
def _font_file(bold: bool) -> bytes:
    return _font_path(bold).read_bytes()


@lru_cache(maxsize=2)
def _advances(bold: bool) -> dict[str, int]:
    """Every character's advance (per 1000 em) in the whole font, for fitting text before a
    batch's fonts are subset; a rough 0.6 em each where DejaVu is missing."""
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(io.BytesIO(_font_file(bold)), lazy=True)
    except StampUnavailable:
        return {}
    scale = 1000 / font["head"].unitsPerEm
    metrics = font["hmtx"]
    return {chr(code): round(metrics[name][0] * scale) for code, name in font.getBestCmap().items()}


def measure(text: str, size: float, bold: bool = False) -> float:
    """The width of `text` in millimetres at `size` points."""
    advances = _advances(bold)
    fallback = advances.get("?", 600)
    return sum(advances.get(ch, fallback) for ch in text) * size / 1000 / MM


def fit(text: str, size: float, max_width: float, *, bold: bool = False, min_size: float | None = None) -> tuple[str, float]:
    """`text` at the largest size from `size` down to `min_size` at which it is `max_width`
    wide at most, cut with "…" if even that is too wide."""
    while measure(text, size, bold) > max_width and min_size is not None and size - 0.5 >= min_size:
        size -= 0.5
    if measure(text, size, bold) > max_width:
        while text and measure(text + "…", size, bold) > max_width:
            text = text[:-1]
        text = text.rstrip() + "…"
    return text, size


class Font:
    """DejaVu Sans (or its bold) subset to the characters a batch uses (without hinting, which
    is most of DejaVu's size): its PDF objects, widths and glyph codes."""

    def __init__(self, bold: bool, chars: str) -> None:
        from fontTools import subset
        from fontTools.ttLib import TTFont

        self.bold = bold
        font = TTFont(io.BytesIO(_font_file(bold)), lazy=True)
        options = subset.Options()
        options.layout_features, options.name_IDs, options.hinting, options.notdef_outline = [], [], False, True
        options.drop_tables += ["FFTM", "kern", "GPOS", "GSUB", "GDEF"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(text="".join(sorted(set(chars) | set(FALLBACKS))))
        subsetter.subset(font)
        buffer = io.BytesIO()
        font.save(buffer)
        self.file = buffer.getvalue()
        order = {name: gid for gid, name in enumerate(font.getGlyphOrder())}
        self.gids = {chr(code): order[name] for code, name in font.getBestCmap().items()}
        scale = 1000 / font["head"].unitsPerEm
        self.advance = {gid: round(font["hmtx"][name][0] * scale) for name, gid in order.items()}
        self.ascent = round(font["hhea"].ascent * scale)
        self.descent = round(font["hhea"].descent * scale)
        head = font["head"]
        self.bbox = [round(v * scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax)]
        self.name = ("MJSAAB+DejaVuSans-Bold" if bold else "MJSAAA+DejaVuSans")

    def glyphs(self, text: str) -> list[int]:
        fallback = self.gids.get("?", 0)
        return [self.gids.get(ch, fallback) for ch in text]

    def width(self, text: str, size: float) -> float:
        """In millimetres at `size` points."""
        return sum(self.advance.get(g, 0) for g in self.glyphs(text)) * size / 1000 / MM

    def fit(self, text: str, size: float, max_width: float | None) -> str:
        if max_width is None or self.width(text, size) <= max_width:
            return text
        while text and self.width(text + "…", size) > max_width:
            text = text[:-1]
        return text.rstrip() + "…"

    def objects(self, first: int) -> tuple[bytes, list[bytes]]:
        """(the Type0 font's reference, its five objects numbered from `first`)."""
        used = sorted(set(self.gids.values()))
        widths = " ".join(f"{g} [{self.advance[g]}]" for g in used)
        to_unicode = _to_unicode({g: ch for ch, g in self.gids.items()})
        data = zlib.compress(self.file)
        objs = [
            f"<</Type /Font/Subtype /Type0/BaseFont /{self.name}/Encoding /Identity-H/DescendantFonts [{first + 1} 0 R]"
            f"/ToUnicode {first + 4} 0 R>>".encode(),
            f"<</Type /Font/Subtype /CIDFontType2/BaseFont /{self.name}/CIDSystemInfo <</Registry (Adobe)"
            f"/Ordering (Identity)/Supplement 0>>/CIDToGIDMap /Identity/DW 0/W [{widths}]/FontDescriptor {first + 2} 0 R>>".encode(),
            f"<</Type /FontDescriptor/FontName /{self.name}/Flags 32/FontBBox [{' '.join(map(str, self.bbox))}]"
            f"/ItalicAngle 0/Ascent {self.ascent}/Descent {self.descent}/CapHeight {self.ascent}/StemV {120 if self.bold else 80}"
            f"/FontFile2 {first + 3} 0 R>>".encode(),
            _stream(data, f"/Length1 {len(self.file)}/Filter /FlateDecode"),
            _stream(zlib.compress(to_unicode), "/Filter /FlateDecode"),
        ]
        return f"{first} 0 R".encode(), objs


def _to_unicode(chars: dict[int, str]) -> bytes:
    entries = "\n".join(f"<{g:04x}> <{''.join(f'{u:04x}' for u in _utf16(ch))}>" for g, ch in sorted(chars.items()))
    return ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CIDSystemInfo <</Registry (Adobe)"
            "/Ordering (UCS)/Supplement 0>> def\n/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            "1 begincodespacerange\n<0000> <ffff>\nendcodespacerange\n"
            f"{len(chars)} beginbfchar\n{entries}\nendbfchar\nendcmap\nCMapName currentdict /CMap defineresource pop\n"
            "end\nend\n").encode()


def _utf16(ch: str) -> list[int]:
    data = ch.encode("utf-16-be")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


@dataclass(frozen=True)
class Fonts:
    """The two fonts of a batch of layers, subset to what they say."""

    regular: Font
    bold: Font

    @classmethod
    def for_layers(cls, layers: list[list[Text | Box]]) -> Fonts:
        chars: dict[bool, set[str]] = {False: set(), True: set()}
        for layer in layers:
            for item in layer:
                if isinstance(item, Text):
                    chars[item.bold].update(item.text)
        return cls(Font(False, "".join(chars[False])), Font(True, "".join(chars[True])))

    def of(self, bold: bool) -> Font:
        return self.bold if bold else self.regular


def _stream(data: bytes, extra: str = "") -> bytes:
    return f"<<{extra}/Length {len(data)}>>\nstream\n".encode() + data + b"\nendstream"


# --- drawing --------------------------------------------------------------------------------
def draw(items: list[Text | Box], fonts: Fonts, page_height: float) -> bytes:
    """The layer as PDF drawing operators (the default coordinate system: points, y up)."""
    out: list[str] = []
    for item in items:
        if isinstance(item, Box):
            x, y = item.x * MM, page_height - (item.y + item.height) * MM
            w, h = item.width * MM, item.height * MM
            if item.fill:
                out.append(f"{_rgb(item.fill)} rg {_num(x)} {_num(y)} {_num(w)} {_num(h)} re f")
            if item.stroke:
                dash = "[2 1.5] 0 d" if item.dashed else "[] 0 d"
                out.append(f"{dash} {_num(item.line_width * MM)} w {_rgb(item.stroke)} RG "
                           f"{_num(x)} {_num(y)} {_num(w)} {_num(h)} re S")
            continue
        f = fonts.of(item.bold)
        text = f.fit(item.text, item.size, item.max_width)
        if not text:
            continue
        width = f.width(text, item.size)
        left = item.x - (width if item.align == "right" else width / 2 if item.align == "center" else 0)
        codes = "".join(f"{g:04x}" for g in f.glyphs(text))
        out.append(f"BT /MJS{int(item.bold)} {_num(item.size)} Tf {_rgb(item.color)} rg "
                   f"1 0 0 1 {_num(left * MM)} {_num(page_height - item.y * MM)} Tm <{codes}> Tj ET")
    return "\n".join(out).encode()


# --- the frame ------------------------------------------------------------------------------
_OBJ = re.compile(rb"(\d+) 0 obj\n")
_REF = re.compile(rb"(\d+) 0 R")
_PAGE = re.compile(rb"/Type /Page(?!s)")


@dataclass
class Frame:
    """A one-page PDF written by WeasyPrint with `uncompressed_pdf=True`: its page's content
    and every object the page's resources and links use, renumbered from 1, streams compressed."""

    media_box: bytes
    content: bytes  # compressed
    resources: bytes  # the page's /Resources value, with our fonts added to its font dictionary
    annots: bytes
    objects: list[bytes]
    page_height: float

    @classmethod
    def of(cls, pdf: bytes, fonts: Fonts) -> Frame:
        objects = _objects(pdf)
        pages = [n for n, (head, _) in objects.items() if _PAGE.search(head)]
        if len(pages) != 1:
            raise StampUnavailable(f"a frame has one page, not {len(pages)}")
        page = objects[pages[0]][0]
        contents = _value(page, b"/Contents")
        resources = _value(page, b"/Resources")
        annots = _value(page, b"/Annots") or b"[]"
        media_box = _value(page, b"/MediaBox")
        height = float(media_box.strip(b"[]").split()[3])
        keep: list[int] = []
        todo = [int(n) for n in _REF.findall(resources + annots)]
        while todo:
            n = todo.pop()
            if n in keep:
                continue
            keep.append(n)
            head, _ = objects[n]
            todo.extend(int(m) for m in _REF.findall(re.sub(rb"/P \d+ 0 R", b"", head)))
        keep.sort()
        # Numbers 1-5 are the document's own (catalog, pages, page, "q", the frame's content),
        # then the frame's objects, then our two fonts (five objects each), then the layer, info.
        renumber = {old: 6 + i for i, old in enumerate(keep)}
        fonts_at = 6 + len(keep)

        def fix(data: bytes) -> bytes:
            return _REF.sub(lambda m: b"%d 0 R" % renumber[int(m.group(1))], re.sub(rb"/P \d+ 0 R", b"", data))

        font_refs = {}
        font_objects: list[bytes] = []
        for bold in (False, True):
            ref, objs = fonts.of(bold).objects(fonts_at + 5 * bold)
            font_refs[bold] = ref
            font_objects.extend(objs)
        ours = b"/MJS0 " + font_refs[False] + b"/MJS1 " + font_refs[True]
        resources = fix(resources)
        out: list[bytes] = []
        for old in keep:
            head, data = objects[old]
            head = fix(head)
            if data is not None and b"/Filter" not in head:
                data = zlib.compress(data)
                head = re.sub(rb"/Length \d+", b"/Filter /FlateDecode/Length %d" % len(data), head)
            out.append(head if data is None else _rejoin(head, data))
        resources = _add_fonts(resources, out, ours)
        _, content = objects[int(_REF.findall(contents)[0])]
        return cls(media_box=media_box, content=zlib.compress(content or b""), resources=resources,
                   annots=fix(annots), objects=out + font_objects, page_height=height)

    def document(self, layer: bytes, *, title: str = "", author: str = "") -> bytes:
        """One PDF: this frame with `layer` (drawing operators) over it."""
        base = 6 + len(self.objects)
        layer_z = zlib.compress(b"Q\n" + layer)
        stamp = datetime.now(UTC).strftime("D:%Y%m%d%H%M%SZ")
        own = [
            b"<</Type /Catalog/Pages 2 0 R>>",
            b"<</Type /Pages/Kids [3 0 R]/Count 1>>",
            b"<</Type /Page/Parent 2 0 R/MediaBox " + self.media_box + b"/Contents [4 0 R 5 0 R %d 0 R]" % base
            + b"/Resources " + self.resources + b"/Annots " + self.annots + b">>",
            _stream(b"q\n"),
            _stream(self.content, "/Filter /FlateDecode"),
        ]
        tail = [_stream(layer_z, "/Filter /FlateDecode"),
                b"<</Title " + _pdf_string(title) + b"/Author " + _pdf_string(author)
                + b"/Producer (MajiSmart)/CreationDate (" + stamp.encode() + b")>>"]
        return _write(own + self.objects + tail, info=base + 1)


def _rejoin(head: bytes, data: bytes) -> bytes:
    return head + b"\nstream\n" + data + b"\nendstream"


def _add_fonts(resources: bytes, objects: list[bytes], ours: bytes) -> bytes:
    """Our fonts join the page's font dictionary, wherever it is: in /Resources or an object of
    its own, /Resources itself inline or an object (the frame's objects are numbered from 6)."""
    ref = _REF.fullmatch(resources.strip())
    if ref:
        index = int(ref.group(1)) - 6
        objects[index] = _add_fonts(objects[index], objects, ours)
        return resources
    found = re.search(rb"/Font (\d+) 0 R", resources)
    if found:
        index = int(found.group(1)) - 6
        objects[index] = objects[index].replace(b"<<", b"<<" + ours, 1)
        return resources
    if b"/Font <<" in resources:
        return resources.replace(b"/Font <<", b"/Font <<" + ours, 1)
    return resources.replace(b"<<", b"<</Font <<" + ours + b">>", 1)


def _pdf_string(text: str) -> bytes:
    return b"<feff" + text.encode("utf-16-be").hex().encode() + b">"


def _objects(pdf: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Each object of an uncompressed PDF: (its dictionary, its stream's bytes or None)."""
    found: dict[int, tuple[bytes, bytes | None]] = {}
    for match in _OBJ.finditer(pdf):
        start = match.end()
        number = int(match.group(1))
        stream_at = pdf.find(b"stream\n", start)
        end_at = pdf.find(b"endobj", start)
        if 0 <= stream_at < end_at:
            head = pdf[start:stream_at].rstrip()
            length_of = re.search(rb"/Length (\d+)", head)
            if length_of is None:
                raise ValueError(f"PDF object {number}: a stream without /Length")
            length = int(length_of.group(1))
            data = pdf[stream_at + len(b"stream\n"):stream_at + len(b"stream\n") + length]
            found[number] = (head, data)
        else:
            found[number] = (pdf[start:end_at].rstrip(), None)
    return found


def _value(head: bytes, key: bytes) -> bytes:
    """A key's value in a dictionary: a reference, an array, or a nested dictionary."""
    at = head.find(key + b" ")
    if at < 0:
        at = head.find(key + b"[")
        if at < 0:
            at = head.find(key + b"<<")
            if at < 0:
                return b""
    i = at + len(key)
    while head[i:i + 1] == b" ":
        i += 1
    if head[i:i + 2] == b"<<":
        depth, j = 0, i
        while j < len(head):
            if head[j:j + 2] == b"<<":
                depth, j = depth + 1, j + 2
            elif head[j:j + 2] == b">>":
                depth, j = depth - 1, j + 2
                if depth == 0:
                    return head[i:j]
            else:
                j += 1
    if head[i:i + 1] == b"[":
        return head[i:head.index(b"]", i) + 1]
    ref = _REF.match(head, i)
    return ref.group(0) if ref else b""


def _write(objects: list[bytes], *, info: int) -> bytes:
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R/Info %d 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return bytes(out)
