#!/usr/bin/env node
// An alias moved under load: autocannon at 64 connections on POST /v1/models/<name>@production/predict
// against a running API (BASE, default http://127.0.0.1:3999; API_KEY if it needs one) while
// `production` moves from version 1 to 2 and back (a rollback). Every answer is classified by the
// x-model-id it carries and by when its request was sent: a request sent after a move's PUT
// returned must be answered by the new version; one sent before may be answered by either (it
// was in flight). Prints the counts; exits 1 on any error or any answer from the wrong version.
// It trains its two models through the API first (a worker must be running).
'use strict';
const autocannon = require('autocannon');

const BASE = process.env.BASE ?? 'http://127.0.0.1:3999';
const SECONDS = Number(process.env.SECONDS ?? 20);
const auth = process.env.API_KEY ? { authorization: `Bearer ${process.env.API_KEY}` } : {};
const json = { 'content-type': 'application/json', ...auth };

async function call(method, path, body, headers = json) {
  const res = await fetch(BASE + path, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function trainModel(datasetId, seed, units) {
  const { jobId } = await call('POST', '/v1/training-jobs', {
    datasetId,
    target: 'label',
    task: 'classification',
    model: { hidden: [{ units }] },
    training: { epochs: 3, seed },
  });
  for (;;) {
    const job = await call('GET', `/v1/training-jobs/${jobId}`);
    if (job.state === 'completed') return job;
    if (job.state === 'failed' || job.state === 'cancelled') throw new Error(`job ${jobId} ${job.state}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function main() {
  let csv = 'a,b,color,label';
  for (let i = 0; i < 200; i++)
    csv += `\n${(i % 13) / 3},${(i % 7) / 2},${i % 2 ? 'red' : 'blue'},${(i * 7) % 3 === 0 ? 'yes' : 'no'}`;
  const dataset = await call('POST', '/v1/datasets', csv, { 'content-type': 'text/csv', ...auth });
  const [one, two] = [await trainModel(dataset.id, 1, 4), await trainModel(dataset.id, 2, 8)];
  const name = `load${Date.now()}`;
  await call('POST', `/v1/model-names/${name}/versions`, { jobId: one.jobId });
  await call('POST', `/v1/model-names/${name}/versions`, { jobId: two.jobId });
  await call('PUT', `/v1/model-names/${name}/aliases/production`, { version: 1 });
  const versionOf = { [one.modelId]: 1, [two.modelId]: 2 };

  /** [time the PUT returned, the version it set]; a request sent after it must get that version. */
  const moves = [[0, 1]];
  const expected = (sentAt) => moves.filter(([at]) => at <= sentAt).at(-1)[1];
  const counts = { answers: 0, errors: 0, inFlightOld: 0, wrongVersion: 0, byVersion: { 1: 0, 2: 0 } };
  const instance = autocannon({
    url: `${BASE}/v1/models/${name}@production/predict`,
    connections: 64,
    pipelining: 1,
    duration: SECONDS,
    requests: [
      {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ rows: [{ a: 1.5, b: 2, color: 'red' }] }),
        setupRequest: (request, context) => {
          context.sentAt = performance.now();
          return request;
        },
        onResponse: (status, _body, context, headers) => {
          counts.answers++;
          if (status !== 200) return void counts.errors++;
          // autocannon gives the raw headers as a flat [name, value, …] list.
          const list = Array.isArray(headers) ? headers : Object.entries(headers ?? {}).flat();
          const at = list.findIndex((h, i) => i % 2 === 0 && String(h).toLowerCase() === 'x-model-id');
          const version = versionOf[String(list[at + 1])];
          if (version === undefined) return void counts.errors++;
          counts.byVersion[version]++;
          const want = expected(context.sentAt);
          if (version === want) return;
          // Sent before the latest move returned? Then the old version is a legitimate in-flight answer.
          const previous = moves.filter(([at]) => at <= context.sentAt).length;
          if (previous < moves.length && version !== want) counts.inFlightOld++;
          else counts.wrongVersion++;
        },
      },
    ],
  });
  instance.on('error', () => counts.errors++);
  const move = async (version) => {
    await call('PUT', `/v1/model-names/${name}/aliases/production`, { version });
    moves.push([performance.now(), version]);
  };
  setTimeout(() => void move(2), (SECONDS * 1000) / 3);
  setTimeout(() => void move(1), (SECONDS * 2000) / 3);
  const result = await instance;
  const report = {
    connections: 64,
    seconds: SECONDS,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + counts.errors,
    timeouts: result.timeouts,
    ...counts,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
  };
  console.log(JSON.stringify(report, null, 2));
  process.exit(report.errors > 0 || report.non2xx > 0 || counts.wrongVersion > 0 || report.timeouts > 0 ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
