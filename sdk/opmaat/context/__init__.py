"""The request-context sources of the visitor profile: where, on what, from where, when.

Each turns one piece of a request into plain profile attributes and never raises on what a
visitor sends: bad input gives the neutral value (``{}``, None or ``"other"``).
"""

from __future__ import annotations

from opmaat.context.clock import local_time as local_time
from opmaat.context.device import parse_device as parse_device
from opmaat.context.geo import GeoReader as GeoReader
from opmaat.context.geo import geo_from_headers as geo_from_headers
from opmaat.context.network import TrustedProxies as TrustedProxies
from opmaat.context.network import client_ip as client_ip
from opmaat.context.referrer import classify_referrer as classify_referrer
from opmaat.context.utm import parse_utm as parse_utm
