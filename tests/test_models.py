"""The embedded model's first use: converted once from its GGUF, saying so in exactly one line, and
carrying its default thinking template."""

import pytest

from s1.models import EMBEDDED_TEMPLATE, embedded_path
from s1.templates import TEMPLATE_FILE, TEMPLATES, get_template


@pytest.mark.slow
def test_first_use_converts_once_and_says_so_in_one_line(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("S1_CACHE", str(tmp_path / "cache"))
    path = embedded_path()
    out, err = capfd.readouterr()
    assert err.splitlines() == [f"s1: converting the embedded model smollm2-135m once to {path} (about 30 s)"]
    assert out == "" and "\r" not in err  # no progress bar of the conversion
    assert (path / "model.safetensors").stat().st_size > 500e6 and (path / "config.json").is_file()
    assert [p.name for p in path.parent.iterdir()] == ["smollm2-135m"]  # nothing half-written left aside
    assert embedded_path() == path  # the second use finds it and says nothing
    assert capfd.readouterr() == ("", "")
    # the folder carries the embedded model's default thinking template, which `auto` picks
    assert EMBEDDED_TEMPLATE["smollm2-135m"] == "r1"
    assert get_template("auto", model_dir=path) == TEMPLATES["r1"]
    (path / TEMPLATE_FILE).unlink()  # a folder converted before the default existed gets it on next use
    embedded_path()
    assert get_template("auto", model_dir=path) == TEMPLATES["r1"] and capfd.readouterr() == ("", "")
