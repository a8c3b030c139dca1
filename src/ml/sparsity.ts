import type { Network } from './network';

export interface SparsityReport {
  /** Share of kernel weights that are exactly zero, over all kernels. */
  zeroShare: number;
  layers: { name: string; weights: number; zeros: number; zeroShare: number }[];
  /** Input features (encoded, e.g. "color=red") whose outgoing weights are all exactly zero. */
  eliminatedInputs: string[];
}

/** Exact zeros only: plain (sub)gradient L1 leaves weights near zero, not at it. */
export function sparsityReport(network: Network, inputNames: string[]): SparsityReport {
  const layers = network.kernels.map((param) => {
    const values = param.variable.dataSync();
    let zeros = 0;
    for (const v of values) if (v === 0) zeros++;
    return { name: param.name, weights: values.length, zeros, zeroShare: zeros / values.length };
  });
  const total = layers.reduce((sum, l) => sum + l.weights, 0);
  const zeros = layers.reduce((sum, l) => sum + l.zeros, 0);
  const eliminatedInputs: string[] = [];
  const first = network.kernels[0];
  if (first) {
    const [inputs, units] = first.variable.shape;
    const values = first.variable.dataSync();
    for (let i = 0; i < inputs; i++) {
      let allZero = true;
      for (let j = 0; j < units && allZero; j++) allZero = values[i * units + j] === 0;
      if (allZero) eliminatedInputs.push(inputNames[i] ?? `input${i}`);
    }
  }
  return { zeroShare: total ? zeros / total : 0, layers, eliminatedInputs };
}
