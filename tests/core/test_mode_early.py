"""check_mode_early: the mode asked is refused before any index is read when this machine
cannot give it whatever the target (`--mode root` when not root, `--mode unshare` without
user namespaces), with the very UsageError the late check (choose_mode) raises."""
from __future__ import annotations

import os

import pytest

from bootstrap.errors import UsageError
from bootstrap.machine import check_mode_early
from bootstrap.sandbox import detect_mode, runner


def _late(mode: str) -> UsageError:
    with pytest.raises(UsageError) as err:
        detect_mode(mode, lambda line: None)
    return err.value


def test_root_mode_as_a_user_fails_early_as_it_would_late(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 65534)
    with pytest.raises(UsageError) as err:
        check_mode_early("root")
    assert err.value.message == "mode root is not possible: not running as root"
    assert (err.value.message, err.value.hint) == (_late("root").message, _late("root").hint)
    assert err.value.exit_code == 2


def test_unshare_mode_without_user_namespaces_fails_early(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 65534)
    monkeypatch.setattr(runner, "unshare_unavailable", lambda user=None: "unprivileged user namespaces are disabled")
    with pytest.raises(UsageError) as err:
        check_mode_early("unshare")
    assert err.value.message == "mode unshare is not possible: unprivileged user namespaces are disabled"
    assert err.value.hint == _late("unshare").hint


@pytest.mark.parametrize("mode", ["auto", "extract"])
def test_auto_and_extract_always_pass(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 65534)
    monkeypatch.setattr(runner, "unshare_unavailable", lambda user=None: "no")
    check_mode_early(mode)


def test_an_unknown_mode_fails_early() -> None:
    with pytest.raises(UsageError) as err:
        check_mode_early("chroot")
    assert "unknown mode" in err.value.message
