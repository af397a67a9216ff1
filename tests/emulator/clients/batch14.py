"""Driven by azure-batch 14.2 (the older, msrest-based SDK generation), in its own virtual
environment: the emulator's round-three behaviours as that SDK meets them. Prints one JSON
object of what it saw. Usage: python batch14.py ENDPOINT ACCOUNT KEY"""

import json
import sys
import time

import azure.batch.models as m
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyCredentials
from azure.batch.models import BatchErrorException

endpoint, account, key = sys.argv[1:4]
client = BatchServiceClient(SharedKeyCredentials(account, key), batch_url=endpoint)
IMAGE = m.VirtualMachineConfiguration(
    image_reference=m.ImageReference(publisher="canonical", offer="ubuntu-24_04-lts", sku="server"),
    node_agent_sku_id="batch.node.ubuntu 24.04",
)
seen = {"apiVersion": client.api_version}


def error(call):
    try:
        call()
    except BatchErrorException as exc:
        return {"status": exc.response.status_code, "code": exc.error.code}
    return None


def until(predicate, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit("timed out")


# A start task that fails: the node is starttaskfailed and takes no task.
client.pool.add(
    m.PoolAddParameter(
        id="failing",
        vm_size="standard_d2s_v3",
        virtual_machine_configuration=IMAGE,
        target_dedicated_nodes=1,
        start_task=m.StartTask(
            command_line="/bin/false", wait_for_success=True, max_task_retry_count=1
        ),
    )
)
node = until(
    lambda: next(
        (n for n in client.compute_node.list("failing") if n.state == "starttaskfailed"), None
    )
)
seen["startTask"] = {
    "state": node.state,
    "exitCode": node.start_task_info.exit_code,
    "retryCount": node.start_task_info.retry_count,
}
# Ranges the definition states: a priority past 1000 and taskSlotsPerNode past 256.
seen["priority"] = error(
    lambda: client.job.add(
        m.JobAddParameter(id="loud", priority=5000, pool_info=m.PoolInformation(pool_id="failing"))
    )
)
seen["slots"] = error(
    lambda: client.pool.add(
        m.PoolAddParameter(
            id="wide",
            vm_size="standard_d2s_v3",
            task_slots_per_node=1000,
            virtual_machine_configuration=IMAGE,
        )
    )
)
# An auto pool (azure-batch-samples' sample1_helloworld): made with the job, gone with it.
client.job.add(
    m.JobAddParameter(
        id="hello",
        pool_info=m.PoolInformation(
            auto_pool_specification=m.AutoPoolSpecification(
                auto_pool_id_prefix="hello",
                pool_lifetime_option="job",
                pool=m.PoolSpecification(
                    vm_size="standard_d2s_v3",
                    virtual_machine_configuration=IMAGE,
                    target_dedicated_nodes=1,
                ),
            )
        ),
    )
)
auto_pool = client.job.get("hello").execution_info.pool_id
seen["autoPoolListed"] = any(p.id == auto_pool for p in client.pool.list())
client.task.add("hello", m.TaskAddParameter(id="t1", command_line="/bin/sh -c 'echo hello'"))
until(lambda: client.task.get("hello", "t1").state == "completed")
seen["task"] = client.task.get("hello", "t1").execution_info.result
# A multi-instance task is refused when added, never run as an ordinary one.
seen["multiInstance"] = error(
    lambda: client.task.add(
        "hello",
        m.TaskAddParameter(
            id="mpi",
            command_line="/bin/true",
            multi_instance_settings=m.MultiInstanceSettings(
                number_of_instances=2, coordination_command_line="/bin/true"
            ),
        ),
    )
)
# Ended once its tasks are in (a job without tasks counts as complete, so this comes last).
client.job.patch("hello", m.JobPatchParameter(on_all_tasks_complete="terminateJob"))
until(lambda: client.job.get("hello").state == "completed")
until(lambda: all(p.id != auto_pool for p in client.pool.list()))
seen["autoPoolGone"] = True
# Deleting is not instant: 'deleting', and recreating the id meanwhile is 409.
client.job.add(m.JobAddParameter(id="gone", pool_info=m.PoolInformation(pool_id="failing")))
client.job.delete("gone")
seen["deletingState"] = client.job.get("gone").state
seen["recreate"] = error(
    lambda: client.job.add(
        m.JobAddParameter(id="gone", pool_info=m.PoolInformation(pool_id="failing"))
    )
)
until(lambda: error(lambda: client.job.get("gone")) is not None)
seen["afterDelete"] = error(lambda: client.job.get("gone"))
print(json.dumps(seen))
