import type { CrossValidationResult, EvaluationResult } from '../schemas/evaluation.schema';
import type { Diagnosis } from '../training/diagnosis';
import type { EvaluationSvgs } from './evaluation-charts';
import type { ChartedEpoch } from './curves-chart';
import type { JobReport } from './job-report';

/**
 * The report page of one training job: a self-contained HTML document (no script, no external
 * resource) with the configuration, the curves as inline SVG, the diagnosis, sparsity per layer
 * and the warnings. Every value from the request or the dataset is escaped.
 */
export function reportPage(report: JobReport, curvesSvg: string, evaluationCharts?: EvaluationSvgs): string {
  const { request, result, diagnosis } = report;
  const title = `fitwell · training job ${report.jobId}`;
  const modelEpoch = diagnosis?.evidence.modelEpoch ?? report.metrics.length;
  const kept = report.metrics.find((m) => m.epoch === modelEpoch) ?? report.metrics[report.metrics.length - 1];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>Training job <code>${esc(report.jobId)}</code></h1>
  <p class="meta">${esc(request.task)} of <code>${esc(request.target)}</code> on dataset <code>${esc(request.datasetId)}</code>
  · state <strong>${esc(report.state)}</strong> · seed ${report.seed}
  · ${report.metrics.length} of ${request.training.epochs} epochs
  ${result ? `· model <code>${esc(result.modelId)}</code> · backend ${esc(result.backend)}` : ''}
  · created ${esc(report.createdAt)}${report.finishedAt ? ` · finished ${esc(report.finishedAt)}` : ''}</p>
  ${report.error ? `<p class="error">Failed: ${esc(report.error)}</p>` : ''}
</header>
<main>
<section id="curves">
  <h2>Curves</h2>
  <figure class="chart">${curvesSvg}</figure>
</section>
${diagnosisSection(diagnosis, report.provisional)}
<section id="metrics">
  <h2>Metrics${kept ? ` of the kept model (epoch ${kept.epoch})` : ''}</h2>
  ${kept ? metricsTable(kept) : '<p>No epoch has finished yet.</p>'}
  ${result?.testMetrics ? `<h3>Held-out test rows</h3>${keyValues(result.testMetrics)}` : ''}
  ${earlyStoppingLine(report)}
</section>
${evaluationSection(result?.evaluation, evaluationCharts)}
${crossValidationSection(result?.crossValidation)}
${sparsitySection(report)}
${warningsSection(result?.warnings ?? [])}
<section id="config">
  <h2>Configuration</h2>
  ${configTable(report)}
  <details><summary>The full request, every default filled in</summary><pre>${esc(JSON.stringify(request, null, 2))}</pre></details>
</section>
</main>
</body>
</html>
`;
}

const STYLE = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #dde1e8; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 980px; padding: 24px 28px 48px; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f3f5f8; padding: 1px 4px; border-radius: 3px; }
.meta { color: var(--muted); margin: 0; }
.error { color: #a61b1b; font-weight: 600; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 700; color: #fff; }
.verdict.overfit { background: #c62828; } .verdict.underfit { background: #d97706; } .verdict.good-fit { background: #2e7d32; }
.verdict.still-improving { background: #1565c0; } .verdict.inconclusive { background: #6b7280; } .verdict.wrong-task { background: #7b1fa2; }
.provisional { color: var(--muted); font-style: italic; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure.chart { margin: 0; overflow-x: auto; }
figure.chart svg { max-width: 100%; height: auto; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.charts figure.chart { flex: 0 1 auto; }
ul { margin: 6px 0; padding-left: 22px; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; font-size: 12px; }
`;

function diagnosisSection(diagnosis: Diagnosis | undefined, provisional: boolean): string {
  if (!diagnosis) return '<section id="diagnosis"><h2>Diagnosis</h2><p>None yet: no epoch has finished.</p></section>';
  const e = diagnosis.evidence;
  const evidence: Record<string, unknown> = {
    'training loss': e.trainLoss,
    'validation loss': e.valLoss,
    'standard error of the validation loss': e.valLossStdError,
    'validation rows': e.validationRows,
    'gap (validation − training)': e.gap,
    'gap in standard errors': e.gapStdErrors,
    'relative gap (gap / validation loss)': e.relativeGap,
    'validation loss lowest at epoch': e.valLossBestEpoch,
    'validation loss rise since then': e.valLossRise,
    'validation curve turned': e.valLossTurned,
    'baseline loss (trivial predictor)': e.baselineLoss,
    'training loss / baseline': e.trainLossVsBaseline,
    'epoch of the kept weights': e.modelEpoch,
  };
  return `<section id="diagnosis">
  <h2>Diagnosis: <span class="verdict ${esc(diagnosis.verdict)}">${esc(diagnosis.verdict)}</span>
  ${provisional ? '<span class="provisional">(provisional: from the epochs so far)</span>' : ''}</h2>
  <ul class="reasons">${e.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>
  ${keyValues(evidence)}
  ${diagnosis.suggestions.length ? `<h3>What to try</h3><ol class="suggestions">${diagnosis.suggestions.map((s) => `<li>${esc(s)}</li>`).join('')}</ol>` : ''}
</section>`;
}

/** Training beside validation, both in inference mode; the training-mode loss on a row of its own. */
function metricsTable(m: ChartedEpoch): string {
  const rows: [string, number | undefined, number | undefined][] = [
    ['loss', m.trainLoss, m.valLoss],
    ['accuracy', m.accuracy, m.valAccuracy],
    ['MAE', m.mae, m.valMae],
  ];
  const body = rows
    .filter(([, t, v]) => t !== undefined || v !== undefined)
    .map(([name, t, v]) => `<tr><th>${name}</th><td class="num">${num(t)}</td><td class="num">${num(v)}</td></tr>`)
    .join('');
  return `<table><tr><th></th><th>training</th><th>validation</th></tr>${body}
  <tr><th>penalty</th><td class="num">${num(m.penalty)}</td><td></td></tr>
  <tr><th>training-mode loss (mean over the epoch's batches, dropout on)</th><td class="num">${num(m.trainingModeLoss)}</td><td></td></tr></table>
  <p class="meta">Training and validation figures are both measured in inference mode (dropout off, running batch-norm statistics) with the epoch's final weights.</p>`;
}

/** The kept model's evaluation (README, "Evaluation"): the figures of each row set, then the charts. */
function evaluationSection(evaluation: EvaluationResult | undefined, charts: EvaluationSvgs | undefined): string {
  if (!evaluation || (!evaluation.validation && !evaluation.test)) return '';
  const sets = (['validation', 'test'] as const).filter((s) => evaluation[s]);
  const names = [
    ['rows', 'rows'],
    ['logLoss', 'log loss'],
    ['accuracy', 'accuracy'],
    ['balancedAccuracy', 'balanced accuracy'],
    ['f1Macro', 'F1 (macro)'],
    ['f1Weighted', 'F1 (weighted)'],
    ['rocAuc', 'ROC AUC'],
    ['prAuc', 'PR AUC (average precision)'],
    ['brier', 'Brier score'],
    ['ece', 'ECE (10 bins)'],
    ['mse', 'MSE'],
    ['rmse', 'RMSE'],
    ['mae', 'MAE'],
    ['r2', 'R²'],
  ] as const;
  const value = (s: (typeof sets)[number], key: string) =>
    (evaluation[s] as Record<string, unknown> | undefined)?.[key] as number | undefined;
  const body = names
    .filter(([key]) => sets.some((s) => value(s, key) !== undefined))
    .map(
      ([key, label]) =>
        `<tr><th>${label}</th>${sets.map((s) => `<td class="num">${num(value(s, key))}</td>`).join('')}</tr>`,
    )
    .join('');
  const c = evaluation.calibration;
  const calibration = c
    ? `<p>Temperature scaling: T = ${num(c.temperature)}, fitted on the validation rows; ECE there ${num(c.validationEce.before)} → ${num(c.validationEce.after)}${c.testEce ? `, on the test rows ${num(c.testEce.before)} → ${num(c.testEce.after)}` : ''}; log loss ${num(c.validationLogLoss.before)} → ${num(c.validationLogLoss.after)}.</p>`
    : '';
  const t = evaluation.threshold;
  const threshold = t
    ? `<p>Decision threshold: ${num(t.value)} (${esc(t.objective)}); predict answers ${esc(String(evaluation.classes?.[1] ?? 1))} from there.</p>`
    : '';
  const figure = (id: string, svg?: string) => (svg ? `<figure class="chart" id="${id}">${svg}</figure>` : '');
  return `<section id="evaluation">
  <h2>Evaluation of the kept model</h2>
  <table><tr><th></th>${sets.map((s) => `<th>${s}</th>`).join('')}</tr>${body}</table>
  ${calibration}${threshold}
  ${charts ? `<div class="charts">${figure('confusion-chart', charts.confusion)}${figure('roc-chart', charts.roc)}${figure('reliability-chart', charts.reliability)}${figure('importance-chart', charts.importance)}</div>` : ''}
</section>`;
}

/** The fold table: each fold's figures, then mean ± sd across the folds and the out-of-fold figures. */
function crossValidationSection(cv: CrossValidationResult | undefined): string {
  if (!cv) return '';
  const keys = [
    'valLoss',
    'accuracy',
    'balancedAccuracy',
    'f1Macro',
    'rocAuc',
    'prAuc',
    'brier',
    'ece',
    'rmse',
    'mae',
    'r2',
    'bestEpoch',
  ].filter((k) => cv.summary[k] !== undefined);
  const value = (f: CrossValidationResult['perFold'][number], k: string) =>
    (k === 'valLoss' ? f.valLoss : k === 'bestEpoch' ? f.bestEpoch : (f.metrics as Record<string, unknown>)[k]) as
      number | undefined;
  const rows = cv.perFold
    .map(
      (f) =>
        `<tr><td>${f.fold}</td><td class="num">${f.rows.validation}</td>${keys.map((k) => `<td class="num">${num(value(f, k))}</td>`).join('')}</tr>`,
    )
    .join('');
  const summary = `<tr><th>mean ± sd</th><td></td>${keys.map((k) => `<td class="num">${num(cv.summary[k].mean)} ± ${num(cv.summary[k].sd)}</td>`).join('')}</tr>`;
  const oof = cv.outOfFold as Record<string, unknown> | undefined;
  const oofRow = oof
    ? `<tr><th>out of fold</th><td class="num">${num(oof.rows as number)}</td>${keys.map((k) => `<td class="num">${num(k === 'valLoss' ? (oof.logLoss as number | undefined) : (oof[k] as number | undefined))}</td>`).join('')}</tr>`
    : '';
  return `<section id="cross-validation">
  <h2>Cross-validation: ${cv.folds} folds over ${cv.rows} rows</h2>
  <table><tr><th>fold</th><th>rows</th>${keys.map((k) => `<th>${esc(k)}</th>`).join('')}</tr>${rows}${summary}${oofRow}</table>
  <p class="meta">Each fold's model trained on the other folds (early stopping on its own fold) and was discarded; the served model is the one trained on the request's split. Out of fold: every row predicted by the model that did not train on it (valLoss there: its log loss).</p>
</section>`;
}

function earlyStoppingLine(report: JobReport): string {
  const r = report.result;
  if (!r || r.bestEpoch === undefined) return '';
  const stopped = r.stoppedEpoch !== undefined ? `stopped at epoch ${r.stoppedEpoch}` : 'ran every epoch';
  return `<p>Early stopping: best epoch ${r.bestEpoch}, ${stopped}; the model keeps the ${r.restoredBestWeights ? 'best' : 'last'} epoch's weights.</p>`;
}

function sparsitySection(report: JobReport): string {
  const sparsity = report.result?.sparsity;
  if (!sparsity) return '';
  const rows = sparsity.layers
    .map(
      (l) =>
        `<tr><td><code>${esc(l.name)}</code></td><td class="num">${l.weights}</td><td class="num">${l.zeros}</td><td class="num">${pct(l.zeroShare)}</td></tr>`,
    )
    .join('');
  const eliminated = sparsity.eliminatedInputs.length
    ? `<p>Inputs whose outgoing weights are all zero (L1 eliminated them): ${sparsity.eliminatedInputs.map((n) => `<code>${esc(n)}</code>`).join(', ')}</p>`
    : '<p>No input lost all its outgoing weights.</p>';
  return `<section id="sparsity">
  <h2>Sparsity: ${pct(sparsity.zeroShare)} of kernel weights are exactly zero</h2>
  <table><tr><th>kernel</th><th>weights</th><th>zeros</th><th>share</th></tr>${rows}</table>
  ${eliminated}
</section>`;
}

function warningsSection(warnings: string[]): string {
  if (!warnings.length) return '';
  return `<section id="warnings"><h2>Warnings</h2><ul>${warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul></section>`;
}

function configTable(report: JobReport): string {
  const r = report.request;
  const layers = r.model.hidden
    .map((h, i) => {
      const norm = h.normalization.type;
      return `<tr><td>${i}</td><td class="num">${h.units}</td><td>${esc(h.activation)}</td><td>${esc(norm)}</td><td class="num">${h.dropout.rate}</td></tr>`;
    })
    .join('');
  const reg = r.regularization;
  const t = r.training;
  const es = t.earlyStopping;
  const settings: Record<string, unknown> = {
    regularization: `l1 ${reg.l1} (${reg.l1Mode}) · l2 ${reg.l2} · weightDecay ${reg.weightDecay}`,
    training: `${t.epochs} epochs · batch ${t.batchSize} · ${t.optimizer} · learning rate ${t.learningRate}`,
    split: `validation ${t.validationSplit} · test ${t.testSplit}`,
    'early stopping': es
      ? `monitor ${es.monitor} · patience ${es.patience} · minDelta ${es.minDelta} · restoreBestWeights ${es.restoreBestWeights}`
      : 'off',
    augmentation:
      [
        r.augmentation.gaussianNoise ? `gaussianNoise ${r.augmentation.gaussianNoise}` : '',
        r.augmentation.mixup ? `mixup ${r.augmentation.mixup}` : '',
      ]
        .filter(Boolean)
        .join(' · ') || 'off',
    'dropped features': r.features.drop.length ? r.features.drop.join(', ') : 'none',
  };
  return `<table><tr><th>hidden layer</th><th>units</th><th>activation</th><th>normalization</th><th>dropout</th></tr>${layers}</table>
  ${keyValues(settings)}`;
}

function keyValues(values: Record<string, unknown>): string {
  const rows = Object.entries(values)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${typeof v === 'number' ? num(v) : esc(String(v))}</td></tr>`)
    .join('');
  return `<table>${rows}</table>`;
}

function num(value: number | undefined): string {
  if (value === undefined) return '—';
  if (Number.isInteger(value)) return String(value);
  return Number(value.toPrecision(4)).toString();
}

function pct(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
