"""``.. cli-reference:: MODULE:FUNCTION``: a command-line reference made from the parser.

The function returns the program's :class:`argparse.ArgumentParser`; the
directive writes one section per sub-command (verb) with its description,
usage line and every option with its help, exactly the texts ``--help``
prints, so the reference is never written twice.  Help strings are written
for a terminal, so they are set as plain text (no reST markup is read in
them: ``|lambdas|*|zetas|`` stays as it is).
"""

import argparse
import importlib

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def _subparsers(parser):
    """(name, help, subparser) of every verb, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name), sub


def _help(action, prog):
    """The help of ``action`` with ``%(default)s`` and ``%%`` expanded, as argparse does."""
    if action.help is None or action.help == argparse.SUPPRESS:
        return None
    params = dict(vars(action), prog=prog)
    for key in list(params):
        if params[key] is argparse.SUPPRESS:
            del params[key]
    if params.get("choices") is not None:
        params["choices"] = ", ".join(map(str, params["choices"]))
    return action.help % params


def _invocation(action):
    """``-o, --output DIR`` as argparse writes it in the option list."""
    formatter = argparse.HelpFormatter(prog="")
    return formatter._format_action_invocation(action)


class CLIReference(SphinxDirective):
    required_arguments = 1

    def _section(self, title, key):
        section = nodes.section(ids=[nodes.make_id(key)], names=[nodes.fully_normalize_name(key)])
        section += nodes.title(text=title)
        self.state.document.note_implicit_target(section, section)
        return section

    def _options(self, parser):
        blocks = []
        for group in parser._action_groups:
            actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS
                       and not isinstance(a, argparse._SubParsersAction)]
            if not actions:
                continue
            blocks.append(nodes.rubric(text=group.title.capitalize()))
            items = nodes.definition_list()
            for action in actions:
                item = nodes.definition_list_item()
                item += nodes.term("", "", nodes.literal(text=_invocation(action)))
                text = _help(action, parser.prog)
                item += nodes.definition("", nodes.paragraph(text=text or ""))
                items += item
            blocks.append(items)
        return blocks

    def _describe(self, parser, title, key, summary=None):
        section = self._section(title, key)
        if summary:
            section += nodes.paragraph("", "", nodes.emphasis(text=summary))
        if parser.description:
            for para in parser.description.split("\n\n"):
                section += nodes.paragraph(text=" ".join(para.split()))
        usage = parser.format_usage().strip()
        section += nodes.literal_block(usage, usage, language="text")
        for block in self._options(parser):
            section += block
        if parser.epilog:
            section += nodes.paragraph(text=parser.epilog)
        return section

    def run(self):
        module_name, func_name = self.arguments[0].split(":")
        parser = getattr(importlib.import_module(module_name), func_name)()
        prog = parser.prog
        out = [self._describe(parser, f"{prog}", f"cli-{prog}")]
        for name, summary, sub in _subparsers(parser):
            out.append(self._describe(sub, f"{prog} {name}", f"cli-{name}", summary))
        return out


def setup(app):
    app.add_directive("cli-reference", CLIReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
