"""PDF: the HTML report laid out by WeasyPrint (an optional dependency with system libraries).

WeasyPrint would fetch images and stylesheets that a page names; a report built from
attacker-controlled data must never make the machine that renders it send a request, so every
fetch is refused (the HTML names none anyway).

Needs: ``pip install weasyprint`` and, on Debian/Ubuntu, ``libpango-1.0-0 libpangoft2-1.0-0
libharfbuzz-subset0`` plus a font (``fonts-dejavu-core``).
"""

from __future__ import annotations

import logging
from typing import Any

from firebrick.errors import FirebrickError
from firebrick.model import ScanResult
from firebrick.report import html as html_report


class PdfUnavailable(FirebrickError):
    """WeasyPrint or its system libraries are missing."""


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: pango/harfbuzz shared libraries missing
        raise PdfUnavailable(
            "PDF output needs WeasyPrint: pip install weasyprint, and on Debian/Ubuntu "
            "apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 "
            f"fonts-dejavu-core ({type(exc).__name__}: {exc})"
        ) from exc
    return weasyprint


def available() -> bool:
    try:
        _weasyprint()
    except PdfUnavailable:
        return False
    return True


def _deny_fetcher(weasyprint: Any) -> Any:
    urls = getattr(weasyprint, "urls", None)
    base = getattr(urls, "URLFetcher", None)
    if base is not None:  # WeasyPrint >= 66: fetchers are URLFetcher instances

        class _Deny(base):  # type: ignore[misc, valid-type]
            def fetch(self, url: str, headers: Any = None) -> Any:
                raise ValueError(f"firebrick reports fetch nothing: {url[:80]}")

        return _Deny()

    def deny(url: str, *args: Any, **kwargs: Any) -> Any:  # older WeasyPrint: a function
        raise ValueError(f"firebrick reports fetch nothing: {url[:80]}")

    return deny


def render(result: ScanResult) -> bytes:
    weasyprint = _weasyprint()
    # WeasyPrint warns on every refused fetch and CSS property it ignores; that is noise here.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    document = weasyprint.HTML(
        string=html_report.render(result, pdf=True),
        url_fetcher=_deny_fetcher(weasyprint),
    )
    pdf = document.write_pdf()
    assert isinstance(pdf, bytes)
    return pdf
