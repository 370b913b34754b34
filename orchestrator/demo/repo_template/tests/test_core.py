from textkit.core import normalize_space


def test_normalize_space_collapses_runs():
    assert normalize_space("  a \t b\n\nc ") == "a b c"
