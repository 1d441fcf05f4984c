"""The marketing cockpit: login, campaign numbers, pause/resume, preview."""
