import pytest

from gwaskit._threads import default_threads
from gwaskit.errors import InputError


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5"])
def test_bad_gwaskit_threads_is_one_line(monkeypatch, value):
    monkeypatch.setenv("GWASKIT_THREADS", value)
    with pytest.raises(InputError, match=rf"^GWASKIT_THREADS: expected a positive integer, got {value!r}$"):
        default_threads()


def test_gwaskit_threads(monkeypatch):
    monkeypatch.setenv("GWASKIT_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("GWASKIT_THREADS")
    assert default_threads() >= 1
