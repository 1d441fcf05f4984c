from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from examples.settings import PAGE


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PAGE.replace("{category}", ""))


def running(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PAGE.replace("{category}", "running"))


def hero(request: HttpRequest) -> JsonResponse:
    decision = request.opmaat.decide(["hero"])["hero"]  # type: ignore[attr-defined]
    return JsonResponse({"campaign": decision.campaign, "html": decision.html})
