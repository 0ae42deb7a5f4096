"""MkDocs hooks that build pytcn's site from the repository's own files (``mkdocs.yml`` names this file).

The site mirrors the repository: README.md is the landing page (index.html), and the tutorials, docs/ and
benchmarks/ keep their paths, so that every relative link written for GitHub works on the site too. The only page
written for the site alone is the API reference, in docs/site/ (the docs_dir). A link to a Python source file
outside tutorials/ (the README points into pytcn/ and kernels/) becomes a link to a page showing that file.

Solutions, the cells tagged "hide-cell" in the tutorials, are folded: each is wrapped in <details>.
"""
import posixpath
import re
from pathlib import Path

from bs4 import BeautifulSoup
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent

#: the repository's files that make up the site, beside docs/site/; README.md becomes index.html
PAGES = ("README.md", "tutorials/*.py", "tutorials/figures/*.png", "tutorials/explorer/*.html", "tutorials/data/*.md",
         "docs/*.md", "docs/design/*.md",
         "docs/figures/*.png", "docs/results.sqlite", "benchmarks/*.md", "benchmarks/figures/*.png")

#: a markdown link to a Python file: ](path.py) or ](path.py#anchor); web links are told apart by their scheme
PY_LINK = re.compile(r"\]\(([^)#\s]+\.py)(#[^)\s]*)?\)")

#: the repository paths of the Python sources that get a page of their own (filled by on_files)
SOURCES = set()


def _source_of(link, page_uri):
    """The repository path a page's link to a .py file names, when it is a source and not a tutorial
    (tutorials/*.py are pages already), else None."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^/", link):
        return None  # a URL (http:, ftp:, ...) or an absolute path: not a file of the repository
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page_uri), link))
    if target.startswith("../") or (target.startswith("tutorials/") and target.count("/") == 1):
        return None  # outside the repository, or a tutorial (tutorials/build/'s exercises are sources)
    return target


@event_priority(100)  # before mkdocs-jupyter, which must see the tutorials among the files
def on_files(files, config):
    SOURCES.clear()
    for pattern in PAGES:
        for path in sorted(ROOT.glob(pattern)):
            uri = path.relative_to(ROOT).as_posix()
            # a file of the repository, at its own path (README.md becomes index.html, as MkDocs does by itself)
            files.append(File(uri, str(ROOT), config.site_dir, config.use_directory_urls))
            if path.suffix == ".md":
                SOURCES.update(filter(None, (_source_of(link, uri) for link, _ in PY_LINK.findall(path.read_text()))))
    for uri in sorted(SOURCES):
        path = ROOT / uri
        if path.is_file():  # a link to a missing file is left alone: MkDocs reports it, and --strict fails on it
            page = f"# `{uri}`\n\n```python\n{path.read_text()}\n```\n"
            files.append(File.generated(config, uri + ".md", content=page))
    return files


def on_page_markdown(markdown, page, config, files):
    # links to Python sources point at their pages: memory.py -> memory.py.md (written above)
    def to_page(m):
        target = _source_of(m.group(1), page.file.src_uri)
        if target not in SOURCES or not (ROOT / target).is_file():
            return m.group(0)
        return f"]({m.group(1)}.md{m.group(2) or ''})"

    return PY_LINK.sub(to_page, markdown)


def on_page_content(html, page, config, files):
    if not page.file.src_uri.startswith("tutorials/"):
        return html
    soup = BeautifulSoup(html, "html.parser")
    # the outermost element of each tagged cell (nbconvert's template puts the tag's class on nested ones too)
    cells = [c for c in soup.select(".celltag_hide-cell") if c.find_parent(class_="celltag_hide-cell") is None]
    for cell in cells:
        details = soup.new_tag("details", attrs={"class": "solution"})
        summary = soup.new_tag("summary")
        summary.string = "Solutions (click to unfold)"
        cell.wrap(details)
        details.insert(0, summary)
    return str(soup) if cells else html
