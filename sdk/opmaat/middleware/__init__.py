"""Personalization inside a Python web app: ASGI and WSGI middleware over the SDK."""

from opmaat.middleware.asgi import OpmaatMiddleware as OpmaatMiddleware
from opmaat.middleware.page import PagePersonalization as PagePersonalization
from opmaat.middleware.wsgi import OpmaatWSGIMiddleware as OpmaatWSGIMiddleware
from opmaat.middleware.wsgi import SyncPage as SyncPage
