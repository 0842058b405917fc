"""The command-line reference as plain data, made from an :class:`argparse.ArgumentParser`.

This module imports only :mod:`argparse`: ``tests/test_docs.py`` checks the
reference without Sphinx or docutils installed, and the ``cli-reference``
directive (``cli_reference.py``) turns the same data into document nodes.
"""

import argparse

__all__ = ["Option", "Section", "reference", "render_text"]


class Option:
    """One option as ``--help`` lists it: ``invocation`` (``-o, --output DIR``) and ``help``."""

    def __init__(self, invocation, help):
        self.invocation = invocation
        self.help = help


class Section:
    """One program or verb: title, one-line summary, description paragraphs, usage line,
    option groups ``[(group title, [Option, ...]), ...]`` and epilog."""

    def __init__(self, key, title, summary, paragraphs, usage, groups, epilog):
        self.key = key
        self.title = title
        self.summary = summary
        self.paragraphs = paragraphs
        self.usage = usage
        self.groups = groups
        self.epilog = epilog


def subparsers(parser):
    """(name, help, subparser) of every verb, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name), sub


def expand_help(action, prog):
    """The help of ``action`` with ``%(default)s`` and ``%%`` expanded, as argparse does;
    ``None`` for an option without help."""
    if action.help is None or action.help == argparse.SUPPRESS:
        return None
    params = dict(vars(action), prog=prog)
    for key in list(params):
        if params[key] is argparse.SUPPRESS:
            del params[key]
    if params.get("choices") is not None:
        params["choices"] = ", ".join(map(str, params["choices"]))
    return action.help % params


def invocation(action):
    """``-o, --output DIR`` as argparse writes it in the option list."""
    return argparse.HelpFormatter(prog="")._format_action_invocation(action)


def _groups(parser):
    groups = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS
                   and not isinstance(a, argparse._SubParsersAction)]
        if actions:
            groups.append((group.title.capitalize(),
                           [Option(invocation(a), expand_help(a, parser.prog) or "")
                            for a in actions]))
    return groups


def _section(parser, title, key, summary=None):
    paragraphs = ([" ".join(p.split()) for p in parser.description.split("\n\n")]
                  if parser.description else [])
    return Section(key, title, summary, paragraphs, parser.format_usage().strip(),
                   _groups(parser), parser.epilog)


def reference(parser):
    """The program's section, then one per verb in the order they were added."""
    prog = parser.prog
    out = [_section(parser, prog, f"cli-{prog}")]
    for name, summary, sub in subparsers(parser):
        out.append(_section(sub, f"{prog} {name}", f"cli-{name}", summary))
    return out


def render_text(sections):
    """The whole reference as plain text (what the page shows, without markup)."""
    lines = []
    for section in sections:
        lines += [section.title, "=" * len(section.title)]
        if section.summary:
            lines.append(section.summary)
        lines += section.paragraphs + [section.usage]
        for title, options in section.groups:
            lines.append(title)
            for option in options:
                lines += [f"  {option.invocation}", f"      {option.help}"]
        if section.epilog:
            lines.append(section.epilog)
        lines.append("")
    return "\n".join(lines)
