"""``.. cli-reference:: MODULE:FUNCTION``: a command-line reference made from the parser.

The function returns the program's :class:`argparse.ArgumentParser`; the
directive writes one section per sub-command (verb) with its description,
usage line and every option with its help, exactly the texts ``--help``
prints, so the reference is never written twice.  The texts come from
``cli_text.reference`` (argparse only, so the tests read them without
Sphinx).  Help strings are written for a terminal, so they are set as plain
text (no reST markup is read in them: ``|lambdas|*|zetas|`` stays as it is),
and ``conf.py`` turns smart quotes off so that ``--overwrite`` stays two hyphens.
"""

import importlib

from cli_text import reference
from docutils import nodes
from sphinx.util.docutils import SphinxDirective


class CLIReference(SphinxDirective):
    required_arguments = 1

    def _render(self, section):
        node = nodes.section(ids=[nodes.make_id(section.key)],
                             names=[nodes.fully_normalize_name(section.key)])
        node += nodes.title(text=section.title)
        self.state.document.note_implicit_target(node, node)
        if section.summary:
            node += nodes.paragraph("", "", nodes.emphasis(text=section.summary))
        for para in section.paragraphs:
            node += nodes.paragraph(text=para)
        node += nodes.literal_block(section.usage, section.usage, language="text")
        for title, options in section.groups:
            node += nodes.rubric(text=title)
            items = nodes.definition_list()
            for option in options:
                item = nodes.definition_list_item()
                item += nodes.term("", "", nodes.literal(text=option.invocation))
                item += nodes.definition("", nodes.paragraph(text=option.help))
                items += item
            node += items
        if section.epilog:
            node += nodes.paragraph(text=section.epilog)
        return node

    def run(self):
        module_name, func_name = self.arguments[0].split(":")
        parser = getattr(importlib.import_module(module_name), func_name)()
        return [self._render(section) for section in reference(parser)]


def setup(app):
    app.add_directive("cli-reference", CLIReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
