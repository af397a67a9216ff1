"""`--backend` takes the registry's names as they are when the command line is parsed."""

from clihelp import invoke, write_spec

from superbatch.backends import registry


def test_a_backend_registered_after_the_command_line_loaded_is_a_choice(tmp_path, monkeypatch):
    import superbatch.cli  # noqa: F401 - the commands (and their options) are defined now

    monkeypatch.setitem(registry.BACKENDS, "later", "fakebackend:FakeBackend")
    (tmp_path / "w.py").write_text("")
    spec = write_spec(
        tmp_path,
        "name: later\nworker: {command: 'python {worker_dir}/w.py'}\nparameters: {x: [1]}\n",
    )
    done = invoke("validate", spec, "--backend", "later")
    assert done.code == 0, done.stdout + done.stderr
    refused = invoke("validate", spec, "--backend", "nowhere")
    assert (
        refused.code == 2 and "'nowhere' is not one of 'local', 'azure', 'fake'" in refused.stderr
    )
