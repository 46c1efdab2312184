"""The questionnaire: the answered criteria's questions, asked in the terminal (rich prompts) or
read from a YAML file.

An answers file maps a question's id to ``yes``/``no`` (``true``/``false``), or to a mapping
with ``answer`` and an optional ``note``::

    documented_process: yes
    lead_definitions: {answer: yes, note: "signed off by the CMO, 2017-01"}
    sales_methodology: no
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.prompt import Confirm, Prompt

from .model import Criterion, MaturityError
from .scoring import Answer

YES = {"yes", "y", "true", "1", "on"}
NO = {"no", "n", "false", "0", "off"}


def questions(criteria: Sequence[Criterion]) -> list[Criterion]:
    return [c for c in criteria if c.evidence == "answered"]


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    if text in YES:
        return True
    if text in NO:
        return False
    raise MaturityError(f"{where}: answer {value!r} is not yes or no")


def parse_answers(raw: Any, criteria: Sequence[Criterion], source: str = "<answers>"
                  ) -> list[Answer]:
    """Answers from a parsed YAML document (every id must be a question of the model)."""
    if not isinstance(raw, Mapping):
        raise MaturityError(f"{source}: expected a mapping of question id to yes/no")
    known = {c.name for c in questions(criteria)}
    unknown = sorted(str(k) for k in raw if str(k) not in known)
    if unknown:
        raise MaturityError(f"{source}: unknown question(s) {', '.join(unknown)}; the questions "
                            f"are: {', '.join(sorted(known))}")
    out = []
    for key, value in raw.items():
        where = f"{source}: {key}"
        note = None
        if isinstance(value, Mapping):
            extra = sorted(set(map(str, value)) - {"answer", "note"})
            if "answer" not in value or extra:
                raise MaturityError(f"{where}: expected {{answer: yes|no, note: text}}")
            note = None if value.get("note") is None else str(value["note"])
            value = value["answer"]
        out.append(Answer(str(key), _as_bool(value, where), note))
    return out


def read_answers(path: Path, criteria: Sequence[Criterion]) -> list[Answer]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MaturityError(f"{path}: cannot read the answers file ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        raise MaturityError(f"{path}:{at} not valid YAML") from None
    return parse_answers(raw or {}, criteria, str(path))


def ask(criteria: Sequence[Criterion], previous: Mapping[str, Answer], console: Console
        ) -> list[Answer]:
    """Ask every question in the terminal (the previous answer is the default)."""
    out = []
    qs = questions(criteria)
    for i, c in enumerate(qs, start=1):
        console.print(f"[bold]{i}/{len(qs)}[/bold] level {c.level} · [cyan]{c.name}[/cyan]")
        before = previous.get(c.name)
        yes = Confirm.ask(c.question or c.description, console=console,
                          default=before.answer if before else False)
        note = Prompt.ask("  note (optional)", console=console,
                          default=(before.note or "") if before else "", show_default=False)
        out.append(Answer(c.name, yes, note.strip() or None))
    return out
