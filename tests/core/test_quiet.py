"""Library chatter captured off the terminal comes back when the captured block fails."""
import pytest

from harness.quiet import captured_stdout


def test_captured_chatter_is_hidden_on_success_and_shown_on_failure(capsys):
    with captured_stdout():
        print("DeepSpeed op built successfully")
    assert capsys.readouterr().out == ""
    with pytest.raises(RuntimeError):
        with captured_stdout():
            print("gloo: cannot bind port")
            raise RuntimeError("init failed")
    assert "gloo: cannot bind port" in capsys.readouterr().out
