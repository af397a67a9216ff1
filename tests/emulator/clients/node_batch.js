// Drives the Batch emulator with the Node.js SDK @azure/batch 10.2.0 (api-version
// 2022-10-01.16.0) and prints one JSON object of what it observed, for test_clients.py.
// Usage: node node_batch.js ENDPOINT ACCOUNT KEY
"use strict";
const { BatchServiceClient, BatchSharedKeyCredentials } = require("@azure/batch");

const [endpoint, account, key] = process.argv.slice(2);
const client = new BatchServiceClient(new BatchSharedKeyCredentials(account, key), endpoint);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function text(response) {
  const chunks = [];
  for await (const chunk of response.readableStreamBody) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

async function errorOf(promise) {
  try { await promise; return null; } catch (e) { return { status: e.statusCode, code: e.code }; }
}

async function main() {
  const out = { apiVersion: client.apiVersion };
  await client.pool.add({
    id: "nodepool", vmSize: "standard_d2s_v3", targetDedicatedNodes: 2,
    virtualMachineConfiguration: {
      imageReference: { publisher: "canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
      nodeAgentSKUId: "batch.node.ubuntu 24.04" },
  });
  await client.job.add({
    id: "nodejob", poolInfo: { poolId: "nodepool" }, usesTaskDependencies: true,
    commonEnvironmentSettings: [{ name: "FROM_JOB", value: "common" }],
    jobPreparationTask: { commandLine: "/bin/sh -c 'echo prepared > ready'" },
    constraints: { maxTaskRetryCount: 1 },
  });
  await client.task.add("nodejob", { id: "first", commandLine: "/bin/sh -c 'echo $FROM_JOB'" });
  const added = await client.task.addCollection("nodejob", [
    ...Array.from({ length: 12 }, (_, i) => ({ id: `t${i}`, commandLine: "/bin/true" })),
    { id: "after", commandLine: "/bin/sh -c 'cat $AZ_BATCH_JOB_PREP_WORKING_DIR/ready'",
      dependsOn: { taskIds: ["first"] } },
    { id: "flaky", commandLine: "/bin/sh -c 'exit 4'" },
  ]);
  out.added = added.value.map((r) => r.status);
  out.duplicate = await errorOf(client.task.add("nodejob", { id: "FIRST", commandLine: "/bin/true" }));

  for (let i = 0; i < 200; i++) {
    const counts = await client.job.getTaskCounts("nodejob");
    if (counts.taskCounts.completed === 15) { out.counts = counts.taskCounts; break; }
    await sleep(100);
  }
  let page = await client.task.list("nodejob", { taskListOptions: { maxResults: 5 } });
  const ids = page.map((t) => t.id);
  let pages = 1;
  while (page.odatanextLink) {
    page = await client.task.listNext(page.odatanextLink);
    ids.push(...page.map((t) => t.id));
    pages += 1;
  }
  out.listed = ids.length;
  out.pages = pages;
  const flaky = await client.task.get("nodejob", "flaky");
  out.flaky = { retryCount: flaky.executionInfo.retryCount, code: flaky.executionInfo.failureInfo.code,
                exitCode: flaky.executionInfo.exitCode };
  out.firstStdout = await text(await client.file.getFromTask("nodejob", "first", "stdout.txt"));
  out.afterStdout = await text(await client.file.getFromTask("nodejob", "after", "stdout.txt"));
  const files = await client.file.listFromTask("nodejob", "first", { fileListFromTaskOptions: { recursive: true } });
  out.files = files.map((f) => f.name).sort();
  const nodes = await client.computeNode.list("nodepool");
  out.nodes = nodes.length;
  const node = await client.computeNode.get("nodepool", nodes[0].id);
  out.nodeState = node.state;
  out.prep = (await client.job.listPreparationAndReleaseTaskStatus("nodejob")).map(
    (s) => s.jobPreparationTaskExecutionInfo.state);
  out.missing = await errorOf(client.job.get("nojob"));
  const job = await client.job.get("nodejob");
  out.etagMatch = await errorOf(client.job.patch("nodejob", { priority: 3 }, { jobPatchOptions: { ifMatch: "0x1" } }));
  await client.job.patch("nodejob", { priority: 3 }, { jobPatchOptions: { ifMatch: job.eTag } });
  out.priority = (await client.job.get("nodejob")).priority;
  await client.job.terminate("nodejob");
  for (let i = 0; i < 100 && (await client.job.get("nodejob")).state !== "completed"; i++) await sleep(100);
  out.jobState = (await client.job.get("nodejob")).state;
  await client.job.deleteMethod("nodejob");                // DELETE without Content-Length
  await client.pool.deleteMethod("nodepool");
  // The service keeps a deleted pool 'deleting' for a while: read it until it is gone.
  out.poolDeleting = (await client.pool.get("nodepool")).state;
  for (let i = 0; i < 100 && !(await errorOf(client.pool.get("nodepool"))); i++) await sleep(100);
  out.poolGone = await errorOf(client.pool.get("nodepool"));
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && (e.stack || e.message || e));
  if (e && e.response) console.error(e.response.bodyAsText);
  process.exit(1);
});
