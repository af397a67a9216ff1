"""A multi-point task's outputs are kept as the one tar it uploaded: decoded from it in point
order, checked when read, fetched again when deleted, and split into files for reduce: none."""

from __future__ import annotations

from relhelpers import job_ids, job_spec


def test_outputs_of_multi_point_tasks_stay_in_their_tars(rig):
    spec = job_spec(
        rig.root,
        "tars",
        12,
        tasks="{points_per_task: 5, max_retries: 0}",
        extra="  cleanup: {job: false}\n",
    )
    first = rig.run("run", spec, "--backend", "azure", "--json")
    assert first.code == 0, first.stderr
    assert first.json["result"] == [x * 2 for x in range(12)]
    outputs = spec.parent / ".superbatch" / job_ids(spec)[0] / "outputs"
    tars = sorted(p.name for p in outputs.iterdir())
    assert tars == ["task-00000.tar", "task-00001.tar", "task-00002.tar"]
    # a damaged local copy is named, never silently replaced; deleted, it is fetched again
    damaged = outputs / "task-00001.tar"
    damaged.write_bytes(b"not a tar" * 100)
    again = rig.run("collect", spec, "--backend", "azure")
    assert again.code == 1 and "task-00001" in again.stderr and "delete it" in again.stderr
    damaged.unlink()
    fetched = rig.run("collect", spec, "--backend", "azure", "--json")
    assert fetched.code == 0, fetched.stderr
    assert fetched.json["result"] == [x * 2 for x in range(12)]
    # reduce: none hands over a directory with a file per point
    spec.write_text(spec.read_text().replace("reduce: list", "reduce: none"))
    files = rig.run("collect", spec, "--backend", "azure", "--json")
    assert files.code == 0, files.stderr
    assert {f"task_{i}_outputs.pickle" for i in range(12)} <= {p.name for p in outputs.iterdir()}
