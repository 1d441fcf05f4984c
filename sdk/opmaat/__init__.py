"""opmaat: on-site personalization. The engine, usable with no server at all."""

from __future__ import annotations

# First: which build runs, before any compiled module is imported (opmaat/compiled.py).
from opmaat import compiled as compiled
from opmaat.campaigns import CampaignSet as CampaignSet
from opmaat.campaigns import check_file as check_file
from opmaat.campaigns import load_campaigns as load_campaigns
from opmaat.campaigns import load_campaigns_text as load_campaigns_text
from opmaat.conditions import compile_condition as compile_condition
from opmaat.conditions import evaluate_condition as evaluate_condition
from opmaat.engine import Decision as Decision
from opmaat.engine import Engine as Engine
from opmaat.errors import ConditionError as ConditionError
from opmaat.errors import ConfigError as ConfigError
from opmaat.errors import OpmaatError as OpmaatError
from opmaat.errors import Problem as Problem

__version__ = "0.1.0"
