from __future__ import annotations

from django.urls import path

from examples.django_project import views

urlpatterns = [
    path("", views.home),
    path("running", views.running),
    path("hero.json", views.hero),
]
