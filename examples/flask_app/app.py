"""Flask: the WSGI middleware wraps ``app.wsgi_app``; ``request.environ["opmaat.page"]`` decides.

Run: ``.venv/bin/flask --app examples.flask_app.app run``
"""

from __future__ import annotations

from flask import Flask, request

from examples.settings import CAMPAIGNS, PAGE, SECRET_KEYS
from opmaat.middleware import OpmaatWSGIMiddleware

app = Flask(__name__)
app.wsgi_app = OpmaatWSGIMiddleware(  # type: ignore[method-assign]
    app.wsgi_app, config=CAMPAIGNS, secret_keys=SECRET_KEYS, secure_cookies=False
)


@app.get("/")
def home() -> str:
    return PAGE.replace("{category}", "")


@app.get("/running")
def running() -> str:
    return PAGE.replace("{category}", "running")


@app.get("/hero.json")
def hero() -> dict[str, str | None]:
    decision = request.environ["opmaat.page"].decide(["hero"])["hero"]
    return {"campaign": decision.campaign, "html": decision.html}
