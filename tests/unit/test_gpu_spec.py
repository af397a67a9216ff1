"""Issue 26, item 5: ``azure.pool.gpus`` in the spec: a GPU size implies it, a size without
GPUs refuses it (exit 2 naming both keys, nothing created, also under --json)."""

import pytest
from clihelp import invoke, write_spec

from superbatch.spec.load import load_spec

SPEC = """\
name: g
worker: {command: x, image: r.io/w:1}
parameters: {x: [1, 2]}
azure:
  pool:
    vm_size: SIZE
"""


def spec_with(tmp_path, size: str, gpus: str | None = None):
    text = SPEC.replace("SIZE", size) + (f"    gpus: {gpus}\n" if gpus is not None else "")
    return write_spec(tmp_path, text)


@pytest.mark.parametrize(
    "size, gpus, gpu",
    [
        ("standard_nc4as_t4_v3", None, True),  # the size says it
        ("Standard_ND96asr_v4", None, True),
        ("standard_nv36ads_a10_v5", "2", True),
        ("standard_nc6s_v3", "false", False),  # on purpose: the usual image
        ("standard_d2s_v3", None, False),
        ("standard_d2s_v3", "false", False),
    ],
)
def test_a_gpu_pool_is_the_size_or_the_key(tmp_path, size, gpus, gpu):
    assert load_spec(spec_with(tmp_path, size, gpus)).model.azure.pool.gpu is gpu


@pytest.mark.parametrize("gpus", ["true", "1"])
def test_gpus_on_a_size_without_gpus_is_exit_2_naming_both_keys(tmp_path, gpus):
    path = spec_with(tmp_path, "standard_d2s_v3", gpus)
    for args in ((), ("--json",)):
        result = invoke("validate", path, *args)
        assert result.code == 2, result
        text = result.stdout + result.stderr
        assert "line 5" in text and "azure.pool.gpus is" in text
        assert "azure.pool.vm_size standard_d2s_v3 has no GPU" in text
        assert "Traceback" not in text
    assert invoke("plan", path).code == 2
    assert not (tmp_path / ".superbatch").exists()


@pytest.mark.parametrize("gpus", ["0", "65", "lots", "1.5"])
def test_gpus_must_be_true_false_or_a_count(tmp_path, gpus):
    result = invoke("validate", spec_with(tmp_path, "standard_nc6s_v3", gpus))
    assert result.code == 2 and "line 7: azure.pool.gpus: must be true, false" in result.stderr
