"""Prompt files: loaded by name@version, strict and sandboxed rendering, a ref for provenance."""

from __future__ import annotations

import hashlib

import pytest

from shelfgraph.prompting import PromptNotFoundError, latest_version, load_prompt, versions


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "imputation"
    folder.mkdir()
    (folder / "v1.j2").write_text("Title: {{ title }}\n{% for a in attributes %}{{ a }}:\n{% endfor %}")
    (folder / "v2.j2").write_text("v2 {{ title }}")
    (folder / "v10.j2").write_text("v10 {{ title }}")
    return tmp_path


def test_renders_a_version_with_a_ref_naming_version_and_template_hash(root):
    prompt = load_prompt("imputation@v1", root)
    rendered = prompt.render(title="Folgers Coffee", attributes=["Brand", "Flavor"])
    assert rendered.text == "Title: Folgers Coffee\nBrand:\nFlavor:\n"
    digest = hashlib.sha256((root / "imputation" / "v1.j2").read_bytes()).hexdigest()[:12]
    assert rendered.ref == f"imputation@v1#{digest}"
    assert (rendered.name, rendered.version) == ("imputation", "v1")


def test_versions_sort_numerically_and_a_bare_name_means_the_latest(root):
    assert versions("imputation", root) == ["v1", "v2", "v10"]
    assert latest_version("imputation", root) == "v10"
    assert load_prompt("imputation", root).render(title="x").text == "v10 x"


def test_a_changed_template_gets_a_different_ref(root):
    before = load_prompt("imputation@v2", root).ref
    (root / "imputation" / "v2.j2").write_text("v2 changed {{ title }}")
    assert load_prompt("imputation@v2", root).ref != before


def test_a_missing_variable_fails_instead_of_rendering_empty(root):
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError, match="title"):
        load_prompt("imputation@v2", root).render()


def test_templates_are_sandboxed(tmp_path):
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "v1.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        load_prompt("evil@v1", tmp_path).render()


def test_unknown_prompt_or_version_errors_list_what_exists(root):
    with pytest.raises(PromptNotFoundError, match="versions: v1, v2, v10"):
        load_prompt("imputation@v3", root)
    with pytest.raises(PromptNotFoundError, match="known prompts: imputation"):
        load_prompt("cleaning@v1", root)


def test_prompts_may_live_in_nested_folders(root):
    (root / "qa" / "intent").mkdir(parents=True)
    (root / "qa" / "intent" / "v1.j2").write_text("Q: {{ question }}")
    assert load_prompt("qa/intent@v1", root).render(question="why").ref.startswith("qa/intent@v1#")
    with pytest.raises(PromptNotFoundError, match="known prompts: imputation, qa/intent"):
        load_prompt("nothing", root)


def test_the_shipped_prompts_all_load():
    from shelfgraph.prompting import PROMPTS_DIR, prompt_names

    for name in prompt_names(PROMPTS_DIR):
        for version in versions(name):
            assert load_prompt(f"{name}@{version}").ref.startswith(f"{name}@{version}#")
