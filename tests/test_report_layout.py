"""The HTML and PDF reports scale: summary first, an index with anchors, folded evidence, the
scoring arithmetic last; the PDF has a contents page, page numbers and cut evidence (issue 19)."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from firebrick.report import html, pdf
from reportdata import internal_read, make_result


def _result_with_long_evidence():
    result = make_result()
    big = internal_read(excerpt="A" * 6000 + "END-OF-BODY")
    big.operation = "GET /big"
    result.findings.append(big)
    return result


def test_template_is_package_data_rendered_with_autoescape() -> None:
    tpl = resources.files("firebrick.report") / "templates" / "report.html"
    assert tpl.is_file() and "autoescape" not in tpl.read_text().split("\n", 1)[0]
    from jinja2 import Environment

    assert isinstance(html._template().environment, Environment)
    assert html._template().environment.autoescape is True


def test_html_order_index_anchors_and_folded_evidence() -> None:
    result = make_result()
    doc = html.render(result)
    order = ["summary", "coverage", "index", "findings", "ledger", "warnings", "scoring"]
    at = [doc.index(f'<section id="{s}"') for s in order]
    assert at == sorted(at), dict(zip(order, at, strict=True))
    # the scoring arithmetic is the last thing in the page
    assert doc.rindex("</section>") > doc.index(html.e(result.score_explanation[-1]))
    assert doc.index(html.e(result.score_explanation[0])) > doc.index('<section id="scoring"')
    # every index link lands on a finding of the page; every finding is listed
    links = re.findall(r'<a href="#(finding-\d+)">', doc)
    ids = set(re.findall(r'<div class="finding" id="(finding-\d+)"', doc))
    assert len(ids) == len(result.findings) and set(links) == ids
    index = doc[doc.index('<section id="index"') : doc.index('<section id="findings"')]
    assert "By severity" in index and "By category" in index
    for f in result.findings:
        assert f"<td>{html.e(f.category)}</td>" in index
    # evidence folds: each exchange sits inside a <details>
    findings = doc[doc.index('<section id="findings"') :]
    blocks = findings.split('<div class="finding"')[1:]
    with_replay = [b for b in blocks if '<div class="label">Replay</div>' in b]
    assert with_replay
    for b in with_replay:
        replay = b.index('<div class="label">Replay</div>')
        assert b.index("<details>") < replay < b.index("</details>")


def test_html_keeps_whole_evidence_pdf_html_cuts_it() -> None:
    result = _result_with_long_evidence()
    assert "END-OF-BODY" in html.render(result)
    printed = html.render(result, pdf=True)
    assert "END-OF-BODY" not in printed and html.e(html.TRUNCATED) in printed
    assert '<section id="contents"' in printed and "counter(pages)" in printed


needs_pdf = pytest.mark.skipif(
    not pdf.available() or not shutil.which("pdftotext"),
    reason="PDF needs weasyprint (pip) and poppler-utils (apt)",
)


@needs_pdf
def test_pdf_has_contents_page_numbers_and_cut_evidence(tmp_path: Path) -> None:
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf.render(_result_with_long_evidence()))
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    pages = [p for p in text.split("\f") if p.strip()]
    assert re.search(r"Grade\s+F", pages[0])  # the summary first
    # every page is numbered "page i of n"
    for i, page in enumerate(pages, 1):
        assert f"page {i} of {len(pages)}" in page, (i, page[-200:])
    # page 2: the contents, each section with the page it starts on
    assert pages[1].lstrip().startswith("Contents")
    listed = dict(
        re.findall(r"•?\s*([A-Z][A-Za-z ()\d]+?)\s*(?:\. ?)+\s*(\d+)\s*$", pages[1], re.M)
    )
    assert {"Coverage", "Findings index", "How the score was computed"} <= {
        k.strip() for k in listed
    }, listed
    for title, page_no in listed.items():
        heading = title.split(" (")[0].strip()
        assert heading in pages[int(page_no) - 1], (title, page_no)
    assert "How the score was computed" in pages[-1]  # the arithmetic last
    # the index comes right after the contents, before the findings
    assert "Findings index" in pages[2]
    assert "END-OF-BODY" not in text and "full evidence is in the JSON report" in text
