"""The API's content negotiation (settings REST_FRAMEWORK): its own module, because DRF imports it
while `rest_framework.views` is still loading (majismart.api imports the views)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from majismart.exports import FORMATS


class ExportNegotiation(DefaultContentNegotiation):
    """`?format=csv|xlsx` asks a list for a download (majismart.api.paginated streams it), not for a
    renderer: anything else the view answers (an error, a single object) stays JSON."""

    def select_renderer(self, request: Request, renderers: Iterable[BaseRenderer],
                        format_suffix: str | None = None) -> Any:
        if request.query_params.get(self.settings.URL_FORMAT_OVERRIDE) in FORMATS:
            renderer = next(iter(renderers))
            return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
