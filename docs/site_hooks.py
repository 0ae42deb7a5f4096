"""MkDocs hooks that build pytcn's site from the repository's own files (``mkdocs.yml`` names this file).

The site mirrors the repository: README.md is the landing page (index.html), and the tutorials, docs/ and
benchmarks/ keep their paths, so that every relative link written for GitHub works on the site too. The only page
written for the site alone is the API reference, in docs/site/ (the docs_dir). A link to a Python source file
outside tutorials/ (the README points into pytcn/ and kernels/) becomes a link to a page showing that file.

Solutions, the cells tagged "hide-cell" in the tutorials, are folded: each is wrapped in <details>.
"""
import re
from pathlib import Path

from bs4 import BeautifulSoup
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent

#: the repository's files that make up the site, beside docs/site/; README.md becomes index.html
PAGES = ("README.md", "tutorials/*.py", "tutorials/figures/*.png", "docs/*.md", "docs/figures/*.png",
         "docs/results.sqlite", "benchmarks/*.md")

#: a markdown link to a Python file that is not a tutorial: (text)(path.py)
SOURCE_LINK = re.compile(r"\]\(((?!tutorials/)(?!https?://)[^)#\s]+\.py)\)")


def _source_links(markdown):
    return set(SOURCE_LINK.findall(markdown))


@event_priority(100)  # before mkdocs-jupyter, which must see the tutorials among the files
def on_files(files, config):
    sources = set()
    for pattern in PAGES:
        for path in sorted(ROOT.glob(pattern)):
            uri = path.relative_to(ROOT).as_posix()
            # a file of the repository, at its own path (README.md becomes index.html, as MkDocs does by itself)
            files.append(File(uri, str(ROOT), config.site_dir, config.use_directory_urls))
            if path.suffix == ".md":
                page_dir = path.parent.relative_to(ROOT)
                sources |= {(page_dir / link).as_posix() for link in _source_links(path.read_text())}
    for uri in sorted(sources):
        path = ROOT / uri
        if not path.is_file():
            continue  # mkdocs reports the broken link (and --strict fails on it)
        page = f"# `{uri}`\n\n```python\n{path.read_text()}\n```\n"
        files.append(File.generated(config, uri + ".md", content=page))
    return files


def on_page_markdown(markdown, page, config, files):
    # links to Python sources point at their pages: memory.py -> memory.py.md (written above)
    return SOURCE_LINK.sub(lambda m: f"]({m.group(1)}.md)", markdown)


def on_page_content(html, page, config, files):
    if not page.file.src_uri.startswith("tutorials/"):
        return html
    soup = BeautifulSoup(html, "html.parser")
    cells = soup.select("div.celltag_hide-cell")
    for cell in cells:
        details = soup.new_tag("details", attrs={"class": "solution"})
        summary = soup.new_tag("summary")
        summary.string = "Solutions (click to unfold)"
        cell.wrap(details)
        details.insert(0, summary)
    return str(soup) if cells else html
