"""The worker file contract: the seed's names, kept in step with worker/constants.py."""

import runpy

from clihelp import REPO

from superbatch.contract import names as contract
from superbatch.contract.names import file_names


def test_names_are_the_seeds():
    assert contract.GLOBAL_CONFIG_FILE == "config.pickle"
    assert contract.TASK_INPUTS_FILE == "inputs.pickle"
    assert contract.TASK_OUTPUTS_FILE == "outputs.pickle"
    assert contract.LOCAL_INPUTS_PATTERN == "task_{}_inputs.pickle"
    assert contract.LOCAL_OUTPUTS_PATTERN == "task_{}_outputs.pickle"


def test_worker_constants_equal_the_package_contract():
    worker = runpy.run_path(str(REPO / "worker" / "constants.py"))
    for name in (
        "GLOBAL_CONFIG_FILE",
        "TASK_INPUTS_FILE",
        "TASK_OUTPUTS_FILE",
        "LOCAL_INPUTS_PATTERN",
        "LOCAL_OUTPUTS_PATTERN",
    ):
        assert worker[name] == getattr(contract, name), name


def test_scaffolded_constants_equal_the_package_contract(tmp_path):
    from superbatch.spec.scaffold import scaffold

    scaffold(str(tmp_path), "demo", False)
    worker = runpy.run_path(str(tmp_path / "worker" / "constants.py"))
    assert worker["TASK_OUTPUTS_FILE"] == contract.TASK_OUTPUTS_FILE
    assert worker["LOCAL_INPUTS_PATTERN"] == contract.LOCAL_INPUTS_PATTERN


def test_json_format_uses_the_same_names_with_json_suffix():
    names = file_names("json")
    assert (names.config, names.inputs, names.outputs) == (
        "config.json",
        "inputs.json",
        "outputs.json",
    )
    assert names.local_outputs(7) == "task_7_outputs.json"
    assert file_names("joblib").local_inputs(3) == "task_3_inputs.pickle"
