"""The way in: a README short enough to read, whose links all lead to pages
that exist, and pages whose links do too."""
import re

from tests.support.servers import ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


def test_the_readme_is_short_and_links_to_the_docs_pages():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    pages = {target for target, _ in LINK.findall(readme) if target.startswith("docs/")}
    assert len(pages) >= 5
    for target in pages:
        assert (ROOT / target).exists(), target


def test_every_link_of_the_docs_leads_somewhere():
    for page in [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target, _ in LINK.findall(page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            assert (page.parent / target).exists(), f"{page.name}: {target}"
