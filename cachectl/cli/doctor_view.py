"""How `cachectl doctor` draws a diagnosis: findings grouped by severity, worst first.

Built on cli.render's console, units and escaping; Rich is imported in the function that draws.
Every line wraps at the console's width (80 columns included): names from Redis are shortened
in the middle, figures and sentences wrap between words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachectl.cli.render import count, duration, elapsed, name, number, out, ratio, safe, size

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

    from cachectl.ops.doctor import Diagnosis, Figure, Finding

#: Heading and mark of each severity, worst first.
HEADINGS = (("error", "Errors", "bold red"), ("warning", "Warnings", "bold yellow"),
            ("info", "Information", "bold"))  # fmt: skip
#: Cells of a key, prefix or tag named in a finding at most (--json has them whole).
ITEM_CELLS = 60
PLURAL = {"key": "keys", "prefix": "prefixes", "tag": "tags", "node": "nodes"}


def figure_text(figure: Figure) -> str:
    """A figure in its unit: '1.5 MiB', '10.0%', '0.25 ms'; '~' when extrapolated."""
    value = figure.value
    if value is None:
        shown = "-"
    elif isinstance(value, str):
        shown = value
    elif figure.unit == "bytes":
        shown = size(int(value))
    elif figure.unit == "ratio":
        shown = ratio(float(value))
    elif figure.unit == "factor":
        shown = f"{value:,.2f}"
    elif figure.unit == "ms":
        shown = f"{value:,.3f} ms"
    elif figure.unit == "seconds":
        shown = duration(float(value))
    elif figure.unit == "per_second":
        shown = f"{value:,.2f}/s"
    else:
        shown = number(int(value)) if float(value).is_integer() else f"{value:,.2f}"
    return ("~" if figure.estimated and value is not None else "") + shown


def _lines(text: str, room: int) -> list[str]:
    """text made safe and wrapped in room cells (a wide character takes two), between words
    where it can, a word longer than a line folded."""
    from rich.text import Text

    lines = Text(name(text, 4000)).wrap(out(), max(room, 20), overflow="fold")
    return [line.plain.rstrip() for line in lines] or [""]


def _wrapped(text: str, indent: int) -> list[Text]:
    """text wrapped at the console's width, every line indented (no padding to the right: a
    report in a file has no trailing blanks)."""
    from rich.text import Text

    return [Text(" " * indent + line) for line in _lines(text, out().width - indent)]


def _items(items: list[str], indent: int) -> list[Text]:
    """'a; b; c' wrapped between items, so that no figure is cut from its unit (an item
    longer than a line wraps between its words)."""
    from rich.cells import cell_len
    from rich.text import Text

    room = max(out().width - indent, 20)
    lines: list[str] = []
    current = ""
    for item in (name(item, 4000) for item in items):
        joined = f"{current}; {item}" if current else item
        if cell_len(joined) <= room:
            current = joined
            continue
        if current:
            lines.append(current + ";")
        if cell_len(item) <= room:
            current = item
        else:
            *whole, current = _lines(item, room)
            lines += whole
    lines.append(current)
    return [Text(" " * indent + line) for line in lines if line]


def _named(text: str, finding: Finding) -> str:
    """text with the finding's subject shortened in the middle where it is long (a 100 KB tag
    name in a title; --json has it whole)."""
    subject = finding.subject
    short = name(subject, ITEM_CELLS)
    return text if short == safe(subject) else text.replace(subject, short)


def _finding(finding: Finding, style: str) -> list[RenderableType]:
    from rich.text import Text

    title = name(f"{finding.id}  {_named(finding.title, finding)}", 4000)
    first = _lines(title, out().width)[0]
    head = Text(first)
    head.stylize(style, 0, len(finding.id))
    lines: list[RenderableType] = [head]
    rest = title[len(first) :].strip()
    if rest:  # the title's other lines, indented under its first
        lines += _wrapped(rest, 2)
    lines += _items([f"{f.label}: {figure_text(f)}" for f in finding.evidence], 4)
    body = []
    affected = finding.affected
    if affected is not None and affected.items:
        shown = ", ".join(name(item, ITEM_CELLS) for item in affected.items)
        total = affected.total
        more = ""
        if total is not None and total > len(affected.items):
            approx = "~" if finding.sample is not None and not finding.sample.exact else ""
            more = f" ({number(len(affected.items))} of {approx}{number(total)})"
        body.append(f"{PLURAL[affected.kind]}: {shown}{more}")
    sample = finding.sample
    if sample is not None and not sample.exact:
        population = "?" if sample.population is None else number(sample.population)
        body.append(
            f"sampled {number(sample.size)} of {population} entries: figures marked ~ are "
            "extrapolated from the sample"
        )
    body.append(f"-> {_named(finding.recommendation, finding)}")
    for part in body:
        lines += _wrapped(part, 4)
    return lines


def diagnosis_view(diagnosis: Diagnosis) -> RenderableType:
    """The whole report."""
    from rich.console import Group
    from rich.text import Text

    scope = diagnosis.scope
    where = f"namespace '{diagnosis.namespace}'"
    if diagnosis.prefix is not None:
        where = f"prefix '{diagnosis.prefix}' of {where}"
    parts: list[RenderableType] = [
        Text(name(f"Doctor: {where} on {diagnosis.url}"), style="bold"),
        *_wrapped(
            f"{count(scope.entries, 'entry', 'entries')} under "
            f"{count(scope.prefixes, 'prefix', 'prefixes')} and "
            f"{count(scope.tag_sets, 'tag set')} on "
            f"{count(scope.primaries, 'primary', 'primaries')}, counted exactly; "
            f"{count(scope.sampled, 'entry', 'entries')} sampled "
            f"(--sample {number(scope.sample_limit)}); "
            f"examined in {elapsed(scope.seconds)}.",
            0,
        ),
    ]
    counts = diagnosis.counts()
    for severity, heading, style in HEADINGS:
        found = [f for f in diagnosis.findings if f.severity == severity]
        if not found:
            continue
        parts += [Text(""), Text(f"{heading} ({number(counts[severity])})", style=style)]
        for finding in found:
            parts += _finding(finding, style)
    for finding_id, n in diagnosis.omitted.items():
        parts.append(
            Text(f"... and {count(n, 'more ' + finding_id + ' finding')} (at most 20 are listed)")
        )
    if diagnosis.notes:
        parts += [Text(""), Text("Notes", style="bold")]
        for note in diagnosis.notes:
            first, *rest = _wrapped(note, 2)
            parts += [Text("- ") + first[2:], *rest]
    summary = ", ".join(
        count(counts[severity], noun, plural)
        for severity, noun, plural in (
            ("error", "error", None),
            ("warning", "warning", None),
            ("info", "information finding", None),
        )
        if counts[severity]
    )
    parts += [Text(""), Text(f"{summary}." if summary else "No findings.")]
    return Group(*parts)


def show_diagnosis(diagnosis: Diagnosis) -> None:
    """Print the report."""
    out().print(diagnosis_view(diagnosis))
