"""IMS QTI 1.2 for Canvas: a zip of ``imsmanifest.xml``, one assessment (a quiz) per variant, and
the network pictures.

Each assessment is a text-only item with the variant's sheet, then one Canvas
``numerical_question`` per blank: ``render_fib fibtype="Decimal"`` and one ``respcondition`` that
sets SCORE to 100 for the key or any number within the tolerance (``varequal`` or
``vargte``/``varlte``), as Canvas writes its own exports.

Only the key is given: Canvas counts every answer of a numerical question as fully right, so
the values of the classic mistakes (which Moodle's formats and PrairieLearn carry with
feedback) would earn full marks there and are left out.

Canvas keeps numerical answers to 4 decimal places (a key below 1e-4 becomes 0). A sheet that
asks for more than 4 decimals has its blanks asked in units of 10^-(decimals-4), so every key
and margin is a multiple of 1e-4 in those units; the item says so.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

from derive.i18n import _
from derive.render.html import plain
from derive.worksheets.lms import html_math, intro_markdown, number_text, variant_blanks

NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
MANIFEST_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"
#: Canvas stores numerical answers with this many decimals.
CANVAS_DECIMALS = 4
#: A fixed timestamp for the zip entries: the same run writes the same bytes.
ZIP_TIME = (2000, 1, 1, 0, 0, 0)


def scale_of(decimals: int) -> int:
    """The power of ten a sheet's answers are multiplied by for Canvas (0 up to 4 decimals)."""
    return max(0, decimals - CANVAS_DECIMALS)


def _field(parent: ET.Element, label: str, entry: str) -> None:
    f = ET.SubElement(parent, "qtimetadatafield")
    ET.SubElement(f, "fieldlabel").text = label
    ET.SubElement(f, "fieldentry").text = entry


def _item(section: ET.Element, ident: str, title: str, kind: str, points: str, text: str) -> ET.Element:
    item = ET.SubElement(section, "item", {"ident": ident, "title": title})
    meta = ET.SubElement(ET.SubElement(item, "itemmetadata"), "qtimetadata")
    _field(meta, "question_type", kind)
    _field(meta, "points_possible", points)
    presentation = ET.SubElement(item, "presentation")
    ET.SubElement(ET.SubElement(presentation, "material"), "mattext", {"texttype": "text/html"}).text = text
    return item


def assessment(run, v) -> tuple[str, str]:
    """(identifier, the assessment XML) of one variant."""
    decimals = run.settings.rounding.decimals
    scale = scale_of(decimals)
    shown = decimals - scale
    ident = f"derive-{run.base.name}-{run.code(v)}"
    root = ET.Element("questestinterop", {"xmlns": NS})
    a = ET.SubElement(root, "assessment", {"ident": ident, "title": _("%(title)s: variant %(label)s") % {
        "title": plain(run.title), "label": v.label}})
    meta = ET.SubElement(a, "qtimetadata")
    _field(meta, "cc_maxattempts", "1")
    section = ET.SubElement(a, "section", {"ident": "root_section"})
    intro = html_math(intro_markdown(run, v))
    if scale:
        intro += "<p>" + _("Give every answer in units of %(unit)s: write 0.000123 as %(example)s (the platform keeps "
                           "4 decimal places).") % {"unit": f"10<sup>-{scale}</sup>",
                                                     "example": number_text(0.000123 * 10**scale, shown)} + "</p>"
    _item(section, f"{ident}-network", run.intro_name(v), "text_only_question",
          "0", intro)
    for b in variant_blanks(run, v, mistakes=False):
        # Markdown math, as the rest of the text goes through html_math (HTML there would be escaped)
        unit = (" " + _("in units of %(unit)s") % {"unit": f"$10^{{-{scale}}}$"}) if scale else ""
        text = html_math(_("Blank %(n)s (%(where)s): %(quantity)s = ?") % {"n": b.number, "where": b.where,
                                                                          "quantity": b.label}
                         + f"{unit} {run.settings.rounding.describe()}")
        item = _item(section, f"{ident}-b{b.number}", _("Variant %(label)s, blank %(n)s: %(name)s") % {
                         "label": v.label, "n": b.number, "name": b.name},
                     "numerical_question", "1", text)
        presentation = item.find("presentation")
        response = ET.SubElement(presentation, "response_str", {"ident": "response1", "rcardinality": "Single"})
        ET.SubElement(ET.SubElement(response, "render_fib", {"fibtype": "Decimal"}), "response_label",
                      {"ident": "answer1"})
        processing = ET.SubElement(item, "resprocessing")
        ET.SubElement(ET.SubElement(processing, "outcomes"), "decvar",
                      {"maxvalue": "100", "minvalue": "0", "varname": "SCORE", "vartype": "Decimal"})
        condition = ET.SubElement(processing, "respcondition", {"continue": "No"})
        either = ET.SubElement(ET.SubElement(condition, "conditionvar"), "or")
        key, margin = b.key * 10**scale, b.tolerance * 10**scale
        ET.SubElement(either, "varequal", {"respident": "response1"}).text = number_text(key, shown)
        both = ET.SubElement(either, "and")
        ET.SubElement(both, "vargte", {"respident": "response1"}).text = number_text(key - margin, shown + 3)
        ET.SubElement(both, "varlte", {"respident": "response1"}).text = number_text(key + margin, shown + 3)
        ET.SubElement(condition, "setvar", {"action": "Set", "varname": "SCORE"}).text = "100"
    ET.indent(root)
    return ident, '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def manifest(run, entries: list[tuple[str, str]]) -> str:
    """imsmanifest.xml: one imsqti_xmlv1p2 resource per assessment, its picture a file of it."""
    root = ET.Element("manifest", {"xmlns": MANIFEST_NS, "identifier": f"derive-{run.base.name}-{run.seed}"})
    meta = ET.SubElement(root, "metadata")
    ET.SubElement(meta, "schema").text = "IMS Content"
    ET.SubElement(meta, "schemaversion").text = "1.1.3"
    ET.SubElement(root, "organizations")
    resources = ET.SubElement(root, "resources")
    for ident, picture in entries:
        res = ET.SubElement(resources, "resource", {"identifier": ident, "type": "imsqti_xmlv1p2",
                                                    "href": f"{ident}/{ident}.xml"})
        ET.SubElement(res, "file", {"href": f"{ident}/{ident}.xml"})
        ET.SubElement(res, "file", {"href": f"{ident}/{picture}"})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def package(run, parts: list[tuple[str, str, str, bytes]]) -> bytes:
    """qti.zip from each variant's (identifier, assessment XML, picture name, picture)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        def put(name: str, data: str | bytes) -> None:
            z.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, compress_type=zipfile.ZIP_DEFLATED)

        put("imsmanifest.xml", manifest(run, [(ident, picture) for ident, _, picture, _ in parts]))
        for ident, xml, picture, svg in parts:
            put(f"{ident}/{ident}.xml", xml)
            put(f"{ident}/{picture}", svg)
    return buffer.getvalue()
