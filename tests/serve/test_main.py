"""`s1 serve`'s address checks: a bad or busy port is one line and exit 2, and the no-key warning
shows, before the model loads."""

from __future__ import annotations

import socket

import pytest
from helpers import free_port

from s1.cli import main
from s1.serve.main import ListenError, check_listen


@pytest.mark.parametrize("port", [0, -1, 65536, 99999])
def test_ports_outside_the_range(port):
    with pytest.raises(ListenError, match=f"--port must be between 1 and 65535, got {port}"):
        check_listen("127.0.0.1", port, None)


def test_a_port_in_use():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(ListenError, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"):
            check_listen("127.0.0.1", port, None)


def test_warning_only_beyond_this_machine_without_a_key():
    for host in ("127.0.0.1", "localhost", "127.0.0.2"):
        assert check_listen(host, free_port(), None) is None
    warning = check_listen("0.0.0.0", free_port(), None)
    assert warning.startswith("s1 serve: warning: 0.0.0.0 is reachable from other machines and no API key")
    assert check_listen("0.0.0.0", free_port(), "sekret") is None


def test_the_cli_checks_before_loading_the_model(capsys, tmp_path):
    missing = str(tmp_path / "no-model")  # loading it would fail: an error about it means the check came late
    assert main(["serve", "--port", "99999", "--model", missing]) == 2
    assert capsys.readouterr().err.splitlines() == ["s1: error: --port must be between 1 and 65535, got 99999"]
    assert main(["serve", "--host", "0.0.0.0", "--port", str(free_port()), "--model", missing]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith("s1 serve: warning: 0.0.0.0 is reachable") and "no-model" in err[1]
