"""The wellbeing survey answers the benches upload (form wellbeing v1)."""

from __future__ import annotations

#: Nobody home, three signs of trouble: the form's emergency rules fire.
EMERGENCY = {
    "contact": "absent",
    "mobility_difficulty": False,
    "needs_help": True,
    "mail_piling": True,
    "bad_smell": True,
    "insects": False,
    "rubbish_bottles": False,
    "lights_tv_on_absent": True,
    "vacancy_signs": "none",
    "emergency_now": False,
}
#: The addressee met, all well: no alert.
INTERVIEW = {
    "contact": "met_addressee",
    "mobility_difficulty": False,
    "consent_contact": True,
    "emergency_now": False,
    "meals": "regular",
}
