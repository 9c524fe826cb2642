"""The ABA session note: skill-acquisition targets (trials, correct responses, the prompt level
reached) and problem behaviours (frequency, duration), with each target's accuracy computed —
never typed — plus a summary and a plan.

Stored as the note's sections (encrypted like every note):
    {"targets": [{"name", "trials", "correct", "prompt_level"}],
     "behaviours": [{"name", "frequency", "duration_seconds"}],
     "summary": "", "plan": ""}
`aba_text` renders it as text per section, so versions, differences, the PDF and the read-only
page show ABA notes as they show SOAP ones."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinic.core.errors import field_error

MAX_ROWS = 40
MAX_TRIALS = 1000
MAX_FREQUENCY = 10_000
MAX_DURATION = 24 * 3600
MAX_NAME = 200
TEXT_KEYS = ("summary", "plan")
KEYS = ("targets", "behaviours", *TEXT_KEYS)
# least to most intrusive
PROMPT_LEVELS = {
    "independent": gettext_lazy("Independent"),
    "gestural": gettext_lazy("Gestural"),
    "verbal": gettext_lazy("Verbal"),
    "model": gettext_lazy("Model"),
    "partial_physical": gettext_lazy("Partial physical"),
    "full_physical": gettext_lazy("Full physical"),
}


def blank() -> dict:
    return {"targets": [], "behaviours": [], "summary": "", "plan": ""}


def _whole(value: Any, field: str, high: int, *, required: bool = True) -> int | None:
    if value in (None, "") and not required:
        return None
    if isinstance(value, bool):
        raise field_error(field, _("Give a whole number."))
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise field_error(field, _("Give a whole number.")) from None
    if not 0 <= number <= high:
        raise field_error(field, _("Between 0 and %(high)d.") % {"high": high})
    return number


def _name(value: Any, field: str) -> str:
    name = "" if value is None else str(value).strip()
    if not name:
        raise field_error(field, _("Name it."))
    if len(name) > MAX_NAME:
        raise field_error(field, _("At most %(n)d characters.") % {"n": MAX_NAME})
    return name


def _rows(value: Any, field: str) -> list:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or len(value) > MAX_ROWS:
        raise field_error(field, _("A list of at most %(n)d rows.") % {"n": MAX_ROWS})
    return value


def aba_clean(sections: Any, text_clean) -> dict:
    """The ABA sections checked: every row named, correct ≤ trials, a known prompt level,
    counts within range; `text_clean(value, field)` checks the free texts."""
    if not isinstance(sections, dict):
        raise field_error(
            "sections", _("Must be an object with: %(keys)s.") % {"keys": ", ".join(KEYS)}
        )
    unknown = sorted(set(sections) - set(KEYS))
    if unknown:
        raise field_error(
            f"sections.{unknown[0]}",
            _("Not a section of this template (%(keys)s).") % {"keys": ", ".join(KEYS)},
        )
    targets = []
    for i, row in enumerate(_rows(sections.get("targets"), "sections.targets")):
        at = f"sections.targets.{i}"
        if not isinstance(row, dict) or set(row) - {"name", "trials", "correct", "prompt_level"}:
            raise field_error(at, _("Each target is {name, trials, correct, prompt_level}."))
        trials = _whole(row.get("trials"), f"{at}.trials", MAX_TRIALS)
        correct = _whole(row.get("correct"), f"{at}.correct", MAX_TRIALS)
        if correct > trials:
            raise field_error(f"{at}.correct", _("More correct responses than trials."))
        prompt = row.get("prompt_level") or "independent"
        if prompt not in PROMPT_LEVELS:
            raise field_error(
                f"{at}.prompt_level",
                _("Must be one of: %(values)s.") % {"values": ", ".join(PROMPT_LEVELS)},
            )
        targets.append(
            {
                "name": _name(row.get("name"), f"{at}.name"),
                "trials": trials,
                "correct": correct,
                "prompt_level": prompt,
            }
        )
    behaviours = []
    for i, row in enumerate(_rows(sections.get("behaviours"), "sections.behaviours")):
        at = f"sections.behaviours.{i}"
        if not isinstance(row, dict) or set(row) - {"name", "frequency", "duration_seconds"}:
            raise field_error(at, _("Each behaviour is {name, frequency, duration_seconds}."))
        behaviours.append(
            {
                "name": _name(row.get("name"), f"{at}.name"),
                "frequency": _whole(row.get("frequency"), f"{at}.frequency", MAX_FREQUENCY),
                "duration_seconds": _whole(
                    row.get("duration_seconds"),
                    f"{at}.duration_seconds",
                    MAX_DURATION,
                    required=False,
                ),
            }
        )
    return {
        "targets": targets,
        "behaviours": behaviours,
        **{key: text_clean(sections.get(key), f"sections.{key}") for key in TEXT_KEYS},
    }


def accuracy(target: dict) -> int | None:
    """Per cent of trials answered correctly (rounded), None without trials."""
    trials = target.get("trials") or 0
    return round(100 * (target.get("correct") or 0) / trials) if trials else None


def aba_text(sections: Any) -> list[tuple[str, str, str]]:
    """(key, title, text) per section: one line per target and behaviour."""
    sections = sections or {}
    lines = []
    for t in sections.get("targets") or []:
        score = accuracy(t)
        lines.append(
            _("%(name)s: %(correct)s/%(trials)s correct (%(accuracy)s), prompt: %(prompt)s")
            % {
                "name": t["name"],
                "correct": t["correct"],
                "trials": t["trials"],
                "accuracy": f"{score} %" if score is not None else "—",
                "prompt": PROMPT_LEVELS.get(t.get("prompt_level"), t.get("prompt_level")),
            }
        )
    behaviour_lines = []
    for b in sections.get("behaviours") or []:
        line = _("%(name)s: %(frequency)s times") % b
        if b.get("duration_seconds") is not None:
            line += ", " + _("%(seconds)s s in all") % {"seconds": b["duration_seconds"]}
        behaviour_lines.append(line)
    return [
        ("targets", _("Targets"), "\n".join(lines)),
        ("behaviours", _("Behaviours"), "\n".join(behaviour_lines)),
        ("summary", _("Session summary"), sections.get("summary", "")),
        ("plan", _("Plan"), sections.get("plan", "")),
    ]


def aba_from_form(data, extra_rows: int = 0) -> dict:
    """The editor's fields (t_name_i, t_trials_i, t_correct_i, t_prompt_i; b_name_i, b_freq_i,
    b_dur_i; s_summary, s_plan) as sections; rows left wholly empty are dropped."""
    targets, behaviours = [], []
    i = 0
    while f"t_name_{i}" in data:
        row = {
            "name": data.get(f"t_name_{i}", ""),
            "trials": data.get(f"t_trials_{i}", ""),
            "correct": data.get(f"t_correct_{i}", ""),
            "prompt_level": data.get(f"t_prompt_{i}", "") or "independent",
        }
        if any(str(row[k]).strip() for k in ("name", "trials", "correct")):
            targets.append(row)
        i += 1
    i = 0
    while f"b_name_{i}" in data:
        row = {
            "name": data.get(f"b_name_{i}", ""),
            "frequency": data.get(f"b_freq_{i}", ""),
            "duration_seconds": data.get(f"b_dur_{i}", ""),
        }
        if any(str(v).strip() for v in row.values()):
            behaviours.append(row)
        i += 1
    return {
        "targets": targets,
        "behaviours": behaviours,
        "summary": data.get("s_summary", ""),
        "plan": data.get("s_plan", ""),
    }
