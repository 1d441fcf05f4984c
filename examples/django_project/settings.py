"""A one-app Django project using OpmaatDjangoMiddleware (no database needed)."""

from __future__ import annotations

from examples.settings import CAMPAIGNS, SECRET_KEYS

SECRET_KEY = "example-only-django-key"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = "examples.django_project.urls"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, object] = {}
MIDDLEWARE = ["opmaat.middleware.django.OpmaatDjangoMiddleware"]
OPMAAT = {"config": CAMPAIGNS, "secret_keys": SECRET_KEYS, "secure_cookies": False}
USE_TZ = True
