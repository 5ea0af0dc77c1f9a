""".env.example lists every setting of every process, and nothing that no one reads."""

from collections import Counter

import pytest

from tests.ops import compose
from tests.ops.deployables import ALL, all_setting_names, setting_env_names


@pytest.mark.parametrize("deployable", ALL, ids=[d.name for d in ALL])
def test_lists_every_setting(deployable):
    listed = {name for name, _, _ in compose.env_example_entries()}
    missing = [names[0] for names in setting_env_names(deployable.settings_class()).values()
               if not set(names) & listed]
    missing += [name for name, _ in deployable.extra_env if name not in listed]
    assert missing == []


def test_lists_nothing_unknown():
    used: set[str] = set()
    compose.interpolate_tree(compose.load_raw(), {"SECRET_KEY": "x"}, used)
    known = set(all_setting_names()) | used | {"COMPOSE_PROFILES"}
    listed = [name for name, _, _ in compose.env_example_entries()]
    assert sorted(set(listed) - known) == []


def test_lists_each_name_once():
    counts = Counter(name for name, _, _ in compose.env_example_entries())
    assert [name for name, count in counts.items() if count > 1] == []


def test_ships_no_secrets():
    values = compose.env_example_values()
    assert values.get("SECRET_KEY") == "", "the operator generates the secret; compose refuses an empty one"
    assert "OPENROUTER_API_KEY" not in values
    assert "MOBIX_ADMIN_PASSWORD" not in values


def test_reader_sees_set_and_commented_lines(tmp_path):
    path = tmp_path / ".env.example"
    path.write_text("# heading\nA=1\n# B=two words\n#C=\nnot a setting\n")
    assert compose.env_example_entries(path) == [("A", "1", False), ("B", "two words", True), ("C", "", True)]
    assert compose.env_example_values(path) == {"A": "1"}
