"""Widgets driven through their public triggers, no browser."""

import pytest

from mlaas_widgets import BackendBadge


def test_badge_shows_the_cpu_reason_and_follows_fallbacks_live(compute_state, monkeypatch):
    compute = compute_state
    monkeypatch.setenv("MLAAS_DEVICE", "cpu")
    badge = BackendBadge()
    assert badge.device == "cpu" and badge.detail == "MLAAS_DEVICE=cpu asks for the CPU"
    assert badge.fallbacks == []
    compute.estimator("KMeans", n_clusters=2)
    assert badge.fallbacks == ["KMeans: MLAAS_DEVICE=cpu asks for the CPU"]
    compute.estimator("KMeans", n_clusters=3)
    assert badge.fallbacks == ["KMeans: MLAAS_DEVICE=cpu asks for the CPU (2x)"]
    badge.close()
    compute.estimator("PCA")
    assert len(badge.fallbacks) == 1  # closed badges stop listening


def test_badge_toggle_and_gpu_view(compute_state, monkeypatch):
    compute = compute_state
    monkeypatch.setattr(compute, "detect", lambda refresh=False: compute.DeviceInfo("gpu", "auto", "1 NVIDIA GPU(s) usable", ("NVIDIA H100",)))
    badge = BackendBadge()
    assert (badge.device, badge.detail) == ("gpu", "NVIDIA H100")
    assert badge.expanded is False
    badge.toggle()
    assert badge.expanded is True
    state = badge.get_state()
    assert state["device"] == "gpu" and "_esm" in state


def test_every_trait_has_help():
    own = set(BackendBadge.class_own_traits())
    assert own >= {"device", "detail", "fallbacks", "expanded"}
    for name in own:
        if not name.startswith("_"):
            assert BackendBadge.class_traits()[name].help, name
