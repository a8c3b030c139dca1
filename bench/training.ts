import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import * as tf from '@tensorflow/tfjs';
import { Trainer } from '../src/ml/trainer';
import { trainingRequestSchema } from '../src/schemas/training-request.schema';
import { randomRows, REFERENCE_CLASSES, REFERENCE_INPUTS, referenceRequest } from './environment';
import type { BenchOptions } from './options';
import { median, moveWarning, spread, type Spread } from './stats';

/**
 * The training peers in alternating turns within one run: fitwell's Trainer (its step, and the
 * same epochs with their metrics pass), the stock tfjs Layers `model.fit`, and PyTorch on the CPU
 * (bench/torch_reference.py kept running as a subprocess). Every peer keeps its model between
 * turns; after one untimed warm-up epoch each, every turn runs `epochsPerTurn` epochs of every
 * peer at every batch size, the peers in a rotating order. A disturbance of the machine then
 * hits every peer alike, and each ratio is the median of the turns' ratios.
 */

export type PeerKey = 'fitwell' | 'fitwellEpoch' | 'layersFit' | `torch${number}`;

export interface PeerResult {
  label: string;
  /** By batch size: samples/s of each turn (from the turn's median epoch), and their spread. */
  byBatchSize: Record<string, { turns: number[]; spread: Spread; epochMs: number[] }>;
}

/**
 * What one step costs, from tf.profile over PROFILED_STEPS steps of the warm Trainer. Per-step
 * figures are medians over the profiled steps.
 */
export interface StepProfile {
  batchSize: number;
  /** tf kernels dispatched per step, reshapes included: each costs its dispatch. */
  opsPerStep: number;
  /** Op wrappers per step (tf.customGrad's `…__op` entries around a kernel): not counted in opsPerStep. */
  wrappersPerStep: number;
  /** Kernels per step by name, most frequent first (wrappers included, by their names). */
  kernels: Record<string, number>;
  /** Wall time of one step without the profiler: the turns' median epoch step time ÷ batches. */
  stepMs: number;
  /** The step's matrix products (BatchMatMul, _FusedMatMul) per step. */
  gemmsPerStep: number;
  /** Each product of the step: kernel, input shapes, its time in the step (profiled) and alone. */
  gemms: { kernel: string; shapes: string; profiledMs: number; aloneMs: number }[];
  /** The matrix products' kernel time in the profiled steps, ms per step. */
  gemmMs: number;
  /** gemmMs ÷ stepMs: the share of the step that is matrix products. */
  gemmShare: number;
  /** The same products alone at the same shapes on fresh operands (packing included), ms per step. */
  gemmAloneMs: number;
  /** Under the profiler: all kernels' own time per step, and the step's wall time (slowed by it). */
  profiledKernelMs: number;
  profiledStepMs: number;
}

export interface TorchInfo {
  available: boolean;
  note?: string;
  version?: string;
  python?: string;
}

export interface TrainingResults {
  rows: number;
  turns: number;
  epochsPerTurn: number;
  batchSizes: number[];
  peers: Partial<Record<PeerKey, PeerResult>>;
  profiles: StepProfile[];
  torch: TorchInfo;
  warnings: string[];
}

const TORCH_SCRIPT = join(__dirname, '..', '..', 'bench', 'torch_reference.py');
/** Steps profiled per batch size. */
const PROFILED_STEPS = 12;
/** Repetitions of the step's matrix products alone. */
const GEMM_REPS = 20;

interface EpochTimes {
  /** Per epoch: the step time (to the epoch's last batch), in ms. */
  stepMs: number[];
  /** Per epoch: the whole epoch with its metrics pass (fitwell only). */
  withMetricsMs?: number[];
}

interface Peer {
  keys: PeerKey[];
  run(batchSize: number, epochs: number): Promise<EpochTimes>;
  close(): Promise<void>;
}

/**
 * fitwell's Trainer, with the spec built through the real schema, one per batch size, kept
 * between turns. The step time runs from runEpoch's start to its last per-batch `shouldStop`
 * call (shuffle, every batch's forward, backward, optimizer step, running-statistics update and
 * the loss read back); the end of runEpoch adds the epoch's metrics pass (inference-mode loss
 * over all rows, norms, zero counts).
 */
export class FitwellPeer implements Peer {
  readonly keys: PeerKey[] = ['fitwell', 'fitwellEpoch'];
  readonly trainers = new Map<number, Trainer>();

  constructor(private readonly rows: number) {}

  trainer(batchSize: number): Trainer {
    let trainer = this.trainers.get(batchSize);
    if (!trainer) {
      const { x, labels } = randomRows(this.rows);
      const epochs = 1_000_000; // never done: the bench decides how many epochs run
      const request = trainingRequestSchema.parse(referenceRequest('bench', batchSize, 1));
      trainer = new Trainer(
        {
          task: 'classification',
          x,
          y: Float32Array.from(labels),
          inputSize: REFERENCE_INPUTS,
          outputSize: REFERENCE_CLASSES,
          trainRows: Int32Array.from({ length: this.rows }, (_, i) => i),
          validationRows: new Int32Array(0),
        },
        {
          hidden: request.model.hidden,
          regularization: request.regularization,
          epochs,
          batchSize,
          optimizer: request.training.optimizer,
          learningRate: request.training.learningRate,
          seed: 1,
        },
      );
      this.trainers.set(batchSize, trainer);
    }
    return trainer;
  }

  async run(batchSize: number, epochs: number): Promise<EpochTimes> {
    const trainer = this.trainer(batchSize);
    const times: Required<EpochTimes> = { stepMs: [], withMetricsMs: [] };
    for (let epoch = 0; epoch < epochs; epoch++) {
      const started = performance.now();
      let lastBatch = started;
      const metrics = await trainer.runEpoch(() => {
        lastBatch = performance.now();
        return false;
      });
      const ended = performance.now();
      if (!metrics) throw new Error('the epoch did not finish');
      times.stepMs.push(lastBatch - started);
      times.withMetricsMs.push(ended - started);
    }
    return times;
  }

  async close(): Promise<void> {
    for (const trainer of this.trainers.values()) trainer.dispose();
    this.trainers.clear();
  }
}

/** The same network with the stock tfjs Layers API and model.fit, on the same backend. */
class LayersFitPeer implements Peer {
  readonly keys: PeerKey[] = ['layersFit'];
  private readonly models = new Map<number, tf.LayersModel>();
  private readonly xs: tf.Tensor2D;
  private readonly ys: tf.Tensor;

  constructor(private readonly rows: number) {
    const { x, labels } = randomRows(rows);
    this.xs = tf.tensor2d(x, [rows, REFERENCE_INPUTS]);
    this.ys = tf.oneHot(tf.tensor1d(labels, 'int32'), REFERENCE_CLASSES);
  }

  private model(batchSize: number): tf.LayersModel {
    let model = this.models.get(batchSize);
    if (!model) {
      model = tf.sequential({
        layers: [
          tf.layers.dense({
            inputShape: [REFERENCE_INPUTS],
            units: 256,
            useBias: false,
            kernelInitializer: 'heUniform',
            kernelRegularizer: tf.regularizers.l2({ l2: 1e-4 }),
          }),
          tf.layers.batchNormalization({ momentum: 0.99, epsilon: 1e-3 }),
          tf.layers.activation({ activation: 'relu' }),
          tf.layers.dropout({ rate: 0.3 }),
          tf.layers.dense({ units: 256, kernelInitializer: 'heUniform' }),
          tf.layers.layerNormalization({ epsilon: 1e-3 }),
          tf.layers.activation({ activation: 'relu' }),
          tf.layers.dropout({ rate: 0.3 }),
          tf.layers.dense({ units: REFERENCE_CLASSES, activation: 'softmax' }),
        ],
      });
      model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
      this.models.set(batchSize, model);
    }
    return model;
  }

  async run(batchSize: number, epochs: number): Promise<EpochTimes> {
    const model = this.model(batchSize);
    const stepMs: number[] = [];
    for (let epoch = 0; epoch < epochs; epoch++) {
      const started = performance.now();
      // tfjs does not export its ModelLoggingVerbosity enum; 0 is SILENT.
      // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
      await model.fit(this.xs, this.ys, { batchSize, epochs: 1, shuffle: true, verbose: 0 });
      stepMs.push(performance.now() - started);
    }
    return { stepMs };
  }

  async close(): Promise<void> {
    for (const model of this.models.values()) model.dispose();
    tf.dispose([this.xs, this.ys]);
  }
}

/**
 * The first Python that imports torch: BENCH_PYTHON, then Debian's /usr/bin/python3 (where
 * python3-torch installs), then python3 on the PATH (a pyenv or venv python3 may come first on
 * the PATH without torch).
 */
function findTorchPython(): { python: string; version: string } | { reason: string } {
  const candidates = [process.env.BENCH_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c);
  const reasons: string[] = [];
  for (const python of [...new Set(candidates)]) {
    const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (probe.status === 0) return { python, version: probe.stdout.trim() };
    reasons.push(`${python}: ${probe.error ? 'not found' : 'cannot import torch'}`);
  }
  return { reason: reasons.join('; ') };
}

/** bench/torch_reference.py --serve: one command a line in, one JSON answer a line out. */
class TorchProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly pending: ((line: string) => void)[] = [];
  private stderr = '';
  private readonly exited: Promise<void>;

  constructor(python: string, rows: number) {
    this.child = spawn(python, [TORCH_SCRIPT, '--serve', `--rows=${rows}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (line) => this.pending.shift()?.(line));
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  private next(): Promise<string> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error(`torch_reference.py exited: ${this.stderr.slice(-2000)}`));
      this.child.once('exit', onExit);
      this.pending.push((line) => {
        this.child.off('exit', onExit);
        resolve(line);
      });
    });
  }

  async ready(): Promise<void> {
    await this.next();
  }

  async epochs(batchSize: number, threads: number, epochs: number): Promise<number[]> {
    const answer = this.next();
    this.child.stdin.write(`${JSON.stringify({ batchSize, threads, epochs })}\n`);
    return (JSON.parse(await answer) as { epochMs: number[] }).epochMs;
  }

  async close(): Promise<void> {
    this.child.stdin.end('\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

class TorchPeer implements Peer {
  readonly keys: PeerKey[];

  constructor(
    private readonly process: TorchProcess,
    private readonly threads: number,
  ) {
    this.keys = [`torch${threads}`];
  }

  async run(batchSize: number, epochs: number): Promise<EpochTimes> {
    return { stepMs: await this.process.epochs(batchSize, this.threads, epochs) };
  }

  async close(): Promise<void> {
    // the process is shared by the thread counts: closed once by benchTraining
  }
}

function peerLabel(key: PeerKey): string {
  if (key === 'fitwell') return 'fitwell Trainer (step)';
  if (key === 'fitwellEpoch') return 'fitwell Trainer (epoch incl. metrics)';
  if (key === 'layersFit') return 'tfjs Layers model.fit';
  const threads = Number(key.slice('torch'.length));
  return `PyTorch CPU, ${threads} thread${threads === 1 ? '' : 's'}`;
}

/** The turns' order: every peer first once in a while, so none always follows the same one. */
function rotated<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

const GEMM_KERNELS = new Set(['BatchMatMul', '_FusedMatMul']);

/**
 * Op count and GEMM share of one step: tf.profile over PROFILED_STEPS steps of the warm Trainer
 * (runEpoch abandoned after them). wasm runs every kernel synchronously, so the profiler's kernel
 * times are the kernels' own; the share is the matrix products' kernel time against the step's
 * time without the profiler. As a cross-check the products also run alone at the recorded
 * shapes, GEMM_REPS times on fresh operands (XNNPACK packs a right operand once per tensor).
 */
async function profileStep(trainer: Trainer, batchSize: number, stepMs: number): Promise<StepProfile> {
  const stepEnds: number[] = [];
  const info = await tf.profile(async () => {
    stepEnds.push(performance.now());
    await trainer.runEpoch(() => {
      stepEnds.push(performance.now());
      return stepEnds.length > PROFILED_STEPS;
    });
  });
  const steps = stepEnds.length - 1;
  const perStep = info.kernels.length / steps;
  if (!Number.isInteger(perStep))
    throw new Error(`profiled steps differ: ${info.kernels.length} kernels in ${steps} steps`);
  const isWrapper = (name: string) => name.endsWith('__op');
  const kernels: Record<string, number> = {};
  const stepKernelMs: number[] = [];
  const stepGemmMs: number[] = [];
  const gemmMs: number[][] = [];
  let first: typeof info.kernels = [];
  for (let step = 0; step < steps; step++) {
    const list = info.kernels.slice(step * perStep, (step + 1) * perStep);
    if (step === 0) first = list;
    let kernelMs = 0;
    let gemm = 0;
    list
      .filter((k) => GEMM_KERNELS.has(k.name))
      .forEach((k, i) => {
        (gemmMs[i] ??= []).push(k.kernelTimeMs as number);
      });
    for (const k of list) {
      if (step === 0) kernels[k.name] = (kernels[k.name] ?? 0) + 1;
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      if (isWrapper(k.name)) continue; // its kernel is listed (and timed) on its own
      kernelMs += ms;
      if (GEMM_KERNELS.has(k.name)) gemm += ms;
    }
    stepKernelMs.push(kernelMs);
    stepGemmMs.push(gemm);
  }
  const gemms = first.filter((k) => GEMM_KERNELS.has(k.name)).map((k) => ({ name: k.name, shapes: k.inputShapes }));
  const alone = replayGemms(gemms);
  const wrappers = first.filter((k) => isWrapper(k.name)).length;
  const profiledGemmMs = median(stepGemmMs);
  return {
    batchSize,
    opsPerStep: perStep - wrappers,
    wrappersPerStep: wrappers,
    kernels: Object.fromEntries(Object.entries(kernels).sort((a, b) => b[1] - a[1])),
    stepMs,
    gemmsPerStep: gemms.length,
    gemms: gemms.map((g, i) => ({
      kernel: g.name,
      shapes: g.shapes
        .filter((shape) => !!shape)
        .map((shape) => `[${shape.join(',')}]`)
        .join(' · '),
      profiledMs: median(gemmMs[i]),
      aloneMs: alone.eachMs[i],
    })),
    gemmMs: profiledGemmMs,
    gemmShare: profiledGemmMs / stepMs,
    gemmAloneMs: alone.totalMs,
    profiledKernelMs: median(stepKernelMs),
    profiledStepMs: median(stepEnds.slice(1).map((t, i) => t - stepEnds[i])),
  };
}

/**
 * The matrix products of one step alone, at their shapes, each timed (wasm runs them
 * synchronously): ms per product and per step, medians of GEMM_REPS repetitions.
 */
function replayGemms(gemms: { name: string; shapes: (number[] | null)[] }[]): { totalMs: number; eachMs: number[] } {
  // An absent optional input (a fused product without bias) has no shape.
  const random = (shape: number[] | null) => (shape ? tf.randomUniform(shape, -1, 1) : undefined);
  const totals: number[] = [];
  const each: number[][] = gemms.map(() => []);
  for (let rep = 0; rep < GEMM_REPS; rep++) {
    // Fresh operands every repetition, made before the clock starts.
    const operands = gemms.map((g) => g.shapes.slice(0, 3).map(random));
    operands.forEach((o) => o.forEach((t) => t?.dataSync()));
    const outputs: tf.Tensor[] = [];
    let total = 0;
    gemms.forEach((g, i) => {
      const [a, b, bias] = operands[i] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor | undefined];
      const started = performance.now();
      outputs.push(g.name === '_FusedMatMul' ? tf.fused.matMul({ a, b, bias }) : tf.matMul(a, b));
      const took = performance.now() - started;
      each[i].push(took);
      total += took;
    });
    totals.push(total);
    tf.dispose([...operands.flat().filter((t): t is tf.Tensor => !!t), ...outputs]);
  }
  return { totalMs: median(totals), eachMs: each.map(median) };
}

export async function benchTraining(options: BenchOptions, log: (line: string) => void): Promise<TrainingResults> {
  const { rows, batchSizes, trainingTurns: turns, timedEpochs: epochsPerTurn, warmupEpochs } = options;
  const results: TrainingResults = {
    rows,
    turns,
    epochsPerTurn,
    batchSizes,
    peers: {},
    profiles: [],
    torch: { available: false },
    warnings: [],
  };
  const fitwell = new FitwellPeer(rows);
  const peers: Peer[] = [fitwell];
  if (options.layersFit) peers.push(new LayersFitPeer(rows));
  let torch: TorchProcess | undefined;
  const found = options.torchThreads.length ? findTorchPython() : { reason: 'no --torch-threads given' };
  if ('reason' in found) {
    results.torch = {
      available: false,
      note: `PyTorch row skipped: ${found.reason} (Debian: apt-get install python3-torch)`,
    };
  } else {
    torch = new TorchProcess(found.python, rows);
    await torch.ready();
    results.torch = { available: true, version: found.version, python: found.python };
    for (const threads of options.torchThreads) peers.push(new TorchPeer(torch, threads));
  }
  const record = (key: PeerKey, batchSize: number, epochMs: number[], turnRate: number) => {
    const peer = (results.peers[key] ??= { label: peerLabel(key), byBatchSize: {} });
    const entry = (peer.byBatchSize[batchSize] ??= { turns: [], spread: spread([]), epochMs: [] });
    entry.turns.push(turnRate);
    entry.epochMs.push(...epochMs);
  };
  const rate = (ms: number[]) => rows / (median(ms) / 1000);
  try {
    if (warmupEpochs > 0) {
      log(`training: warm-up, ${warmupEpochs} epoch(s) of every peer at batch ${batchSizes.join(', ')}`);
      for (const batchSize of batchSizes) for (const peer of peers) await peer.run(batchSize, warmupEpochs);
    }
    for (let turn = 0; turn < turns; turn++) {
      log(`training: turn ${turn + 1} of ${turns}`);
      for (const batchSize of batchSizes) {
        for (const peer of rotated(peers, turn)) {
          const times = await peer.run(batchSize, epochsPerTurn);
          record(peer.keys[0], batchSize, times.stepMs, rate(times.stepMs));
          if (times.withMetricsMs) record(peer.keys[1], batchSize, times.withMetricsMs, rate(times.withMetricsMs));
        }
      }
    }
    for (const [key, peer] of Object.entries(results.peers)) {
      for (const [size, entry] of Object.entries(peer!.byBatchSize)) {
        entry.spread = spread(entry.turns);
        const warning = moveWarning(`${peerLabel(key as PeerKey)}, batch ${size}`, entry.spread);
        if (warning) results.warnings.push(warning);
      }
    }
    for (const batchSize of batchSizes) {
      log(`training: profiling fitwell's step at batch ${batchSize}`);
      const batches = Math.ceil(rows / batchSize);
      const stepMs = median(results.peers.fitwell!.byBatchSize[batchSize].epochMs) / batches;
      results.profiles.push(await profileStep(fitwell.trainer(batchSize), batchSize, stepMs));
    }
  } finally {
    for (const peer of peers) await peer.close();
    await torch?.close();
  }
  return results;
}
