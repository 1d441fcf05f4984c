"""The campaign file: loading, validation and the compiled campaigns the engine runs."""

from opmaat.campaigns.loader import check_file as check_file
from opmaat.campaigns.loader import load_campaigns as load_campaigns
from opmaat.campaigns.loader import load_campaigns_text as load_campaigns_text
from opmaat.campaigns.model import Campaign as Campaign
from opmaat.campaigns.model import CampaignSet as CampaignSet
from opmaat.campaigns.model import Frequency as Frequency
from opmaat.campaigns.model import Schedule as Schedule
from opmaat.campaigns.model import SiteSettings as SiteSettings
from opmaat.campaigns.model import Slot as Slot
from opmaat.campaigns.model import Variant as Variant
