"""A Griffe extension for the site's API reference (``mkdocs.yml`` names it): pytcn's docstrings are plain text,
written to be read with ``help()``, and some of their paragraphs are tables aligned with spaces (an argument, then
its meaning in a column). Markdown would run such a paragraph into one line, so each is shown as preformatted
text, as written; every other paragraph is rendered as Markdown."""
import re

import griffe

#: a line of an aligned table: a term, two or more spaces, then text in a column
ALIGNED = re.compile(r"^\S.*?\S {2,}\S")


def preformat_tables(text):
    """``text`` with each paragraph that holds two or more aligned lines (and is not already indented code) fenced:
    one line with two spaces in it is prose, not a table."""
    paragraphs = re.split(r"\n[ \t]*\n", text)
    for k, paragraph in enumerate(paragraphs):
        lines = paragraph.split("\n")
        if sum(bool(ALIGNED.match(line)) for line in lines) >= 2 and not all(line.startswith("    ") for line in lines):
            paragraphs[k] = "```text\n" + paragraph + "\n```"
    return "\n\n".join(paragraphs)


class AlignedTables(griffe.Extension):
    def on_instance(self, *, node, obj, agent, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = preformat_tables(obj.docstring.value)
