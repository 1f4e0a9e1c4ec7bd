import pytest

from mlaas_kernel._registry import Registry, UnknownNameError


def test_get_returns_registered_and_unknown_lists_valid_names():
    reg = Registry("widget kind")
    reg.register("b", 2)

    @reg.register("a")
    def a():
        return 1

    assert reg.get("a") is a and reg.get("b") == 2
    assert reg.names() == ["a", "b"] and "a" in reg and "zzz" not in reg
    with pytest.raises(UnknownNameError, match=r"unknown widget kind 'zzz'; valid names: a, b"):
        reg.get("zzz")


def test_register_twice_under_one_name_is_an_error():
    reg = Registry("thing")
    reg.register("x", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x", 2)


class _EP:
    def __init__(self, name, value, loader):
        self.name, self.value, self._loader = name, value, loader

    def load(self):
        return self._loader()


def test_plugins_load_lazily_and_a_broken_one_only_warns(monkeypatch):
    loaded = []

    def good():
        loaded.append("good")
        return "GOOD"

    def broken():
        raise ImportError("missing dependency of the plugin")

    reg = Registry("source", entry_point_group="test.group")
    monkeypatch.setattr(reg, "_entry_points", lambda: [_EP("good", "pkg:good", good), _EP("bad", "pkg:bad", broken)])
    assert reg.names() == ["bad", "good"]
    assert loaded == []  # listing names does not import plugins
    assert reg.get("good") == "GOOD" and loaded == ["good"]
    with pytest.warns(RuntimeWarning, match="plugin 'bad'.*failed to load"):
        with pytest.raises(UnknownNameError):
            reg.get("bad")
