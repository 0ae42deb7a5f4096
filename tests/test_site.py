"""The site: built with the README's one command in the tutorials' reduced mode, then every page opened in headless
Chromium from file:// (as a learner opens site/index.html, with no server).

A page fails on a link to a file that is not there, an image that did not load, anything Chromium logs as an error
(a script's exception, a resource that failed to load), or a tutorial whose output holds a traceback; every page the
build wrote must be reachable from the landing page, whose screenshot the test takes.

Needs Chromium and its driver (Debian: apt-get install chromium chromium-driver; .ci/run installs them) and the
Fashion-MNIST files that tutorial 08 trains on (apt-get install dataset-fashion-mnist, or pytcn download
fashion-mnist). Without them it is skipped and says why, except on CI (CI=true), where .ci/run installs them.
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
from collections import deque
from urllib.parse import unquote, urlsplit

import matplotlib.image
import numpy as np
import pytest

import pytcn
from tests.helpers import ON_CI, needs_fashion_mnist

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


pytestmark = [
    pytest.mark.skipif(not ON_CI and (CHROMIUM is None or CHROMEDRIVER is None),
                       reason="needs Chromium and chromedriver: apt-get install chromium chromium-driver"),
    needs_fashion_mnist,  # the build runs tutorial 08
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built as the README says, in the tutorials' reduced mode."""
    out = tmp_path_factory.mktemp("site") / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--site-dir", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=900,
                            env=dict(os.environ, PYTCN_QUICK="1", NO_MKDOCS_2_WARNING="1"))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-20000:]
    return out


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM and CHROMEDRIVER, "Chromium or chromedriver not found: apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


#: the figures each tutorial shows in its output (a figure that is saved but not shown, or shown as the text
#: "<Figure size ...>", does not count)
FIGURES = {"00": 2, "01": 1, "02": 2, "03": 2, "04": 2, "05": 1, "06": 1, "07": 1, "08": 3, "09": 1, "10": 1, "11": 1,
           "12": 1, "13": 1, "14": 1, "15": 1, "16": 1}


def local_path(url):
    """The file a file:// URL names (without its #fragment), or None for a URL of the web."""
    parts = urlsplit(url)
    return pathlib.Path(unquote(parts.path)) if parts.scheme == "file" else None


def problems_of_page(driver):
    """What is wrong with the page open in ``driver``: broken images, errors in the browser's log, tracebacks."""
    problems = []
    broken = driver.execute_script(
        "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 200))")
    problems += [f"image did not load: {src}" for src in broken]
    problems += [f"browser log: {entry['message']}" for entry in driver.get_log("browser")
                 if entry["level"] == "SEVERE"]
    text = driver.execute_script("return document.body.innerText")
    if "Traceback (most recent call last)" in text:
        problems.append("a traceback in the page (an execution error in a notebook)")
    if "<Figure size" in text:
        problems.append("a figure shown as text, not drawn")
    stderr = driver.execute_script("return [...document.querySelectorAll("
                                   "'[data-mime-type=\"application/vnd.jupyter.stderr\"]')].map(e => e.innerText)")
    problems += [f"a tutorial wrote to stderr: {message[:300]}" for message in stderr]
    return problems


def test_site_builds_and_every_page_opens_in_chromium(site, browser, tmp_path):
    index = site / "index.html"
    assert index.is_file(), "the build wrote no index.html"
    queue, seen, problems = deque([index]), {index}, {}
    while queue:
        page = queue.popleft()
        browser.get(page.as_uri())
        found = problems_of_page(browser)
        if page.parent.name == "tutorials":
            n_figures = browser.execute_script("return document.querySelectorAll('.jp-OutputArea-output img').length")
            if n_figures != FIGURES[page.name[:2]]:
                found.append(f"{n_figures} figures shown, not {FIGURES[page.name[:2]]}")
            folds = browser.execute_script("return [document.querySelectorAll('details.solution').length, "
                                           "document.querySelectorAll('details details').length]")
            if folds != [1, 0]:
                found.append(f"{folds[0]} folds of solutions ({folds[1]} nested), not one")
        for url in browser.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.href)"):
            target = local_path(url)
            if target is None:
                continue  # a link to the web, not checked offline
            if not target.is_relative_to(site):
                found.append(f"links to a file outside the site: {target}")
            elif not target.exists():
                found.append(f"links to a missing page: {target.relative_to(site)}")
            elif target.suffix == ".html" and target not in seen:
                seen.add(target)
                queue.append(target)
        if found:
            problems[page.relative_to(site).as_posix()] = found
    assert not problems, problems

    written = {p for p in site.rglob("*.html") if p.name != "404.html"}
    assert written - seen == set(), f"pages no link leads to: {sorted(p.relative_to(site) for p in written - seen)}"
    tutorials = {p.name for p in (ROOT / "tutorials").glob("*.py")}
    assert {p.name[:-len(".html")] + ".py" for p in seen if p.parent == site / "tutorials"} == tutorials
    api = (site / "api.html").read_text()
    assert api.count('class="doc doc-heading"') >= 20  # the API reference is there
    # with the docstrings' aligned tables as written (docs/site_docstrings.py), not run into one line
    assert re.search(r"<pre>(?:(?!</pre>).)*nb_filters +channels of every block[^\n]*\nkernel_size +K, taps", api, re.S)

    browser.get(index.as_uri())
    screenshot = tmp_path / "landing.png"
    browser.save_screenshot(str(screenshot))
    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[1] == 1280, pixels.shape  # the window's width (its height depends on the browser's frame)
    assert np.std(pixels[..., :3]) > 0.05, "the landing page's screenshot is blank"
    print("landing page:", screenshot)


@pytest.mark.parametrize("K, dilations, stacks", [(2, [5, 10], 1), (2, [1, 3, 9], 1), (3, [1, 2, 4, 8], 2),
                                                  (1, [3, 7], 1), (2, [2, 4], 2), (2, [1, 4, 2], 1)])
def test_the_dilation_explorer_agrees_with_pytcn_plot(site, browser, K, dilations, stacks):
    """Tutorial 12's explorer (JavaScript, in the page) counts the steps read and applies the rule as
    pytcn.plot.holes and dilation_rule do; a wrong input is said, not drawn."""
    from pytcn.plot import dilation_rule, holes

    browser.get((site / "tutorials" / "12_dilation_explorer.html").as_uri())
    set_and_read = """
        document.getElementById('explorer-k').value = arguments[0];
        document.getElementById('explorer-dilations').value = arguments[1];
        document.getElementById('explorer-stacks').value = arguments[2];
        window.pytcnExplorerUpdate();
        return [document.getElementById('explorer-summary').textContent,
                document.getElementById('explorer-rule').textContent,
                document.querySelectorAll('#explorer-svg circle').length];"""
    summary, rule_text, circles = browser.execute_script(set_and_read, K, ",".join(map(str, dilations)), stacks)
    R = pytcn.receptive_field(K, dilations, stacks)
    n_holes = len(holes(K, dilations, stacks))
    assert summary == f"R = {R}: the last output spans {R} input steps and reads {R - n_holes} of them ({n_holes} " \
                      f"holes, orange)"
    assert circles == R * (2 * len(dilations) * stacks + 1)  # a dot per step of each row, R steps drawn
    broken = dilation_rule(K, dilations, stacks)
    if broken is None:
        assert rule_text.startswith("Every dilation obeys the rule")
    else:
        assert rule_text.startswith(f"Dilation {broken[0]} breaks the rule") and rule_text.endswith(f", {broken[1]}.")
    wrong, _, drawn = browser.execute_script(set_and_read, K, "1,0", stacks)
    assert wrong.startswith("dilations must be whole numbers") and drawn == 0
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
