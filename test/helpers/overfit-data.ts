/**
 * A dataset built to overfit: few rows, two informative features and many pure-noise ones.
 * The label is "yes" when x0 + x1 + ε > 0 (ε ~ N(0, labelNoise²), so even the best model errs
 * sometimes); noise0 … noiseK are standard normal and unrelated to anything. A wide network
 * memorizes the training rows through the noise columns and does worse on held-out rows.
 */
export function overfitCsv(
  options: { rows?: number; noiseFeatures?: number; labelNoise?: number; seed?: number } = {},
): string {
  const { rows = 120, noiseFeatures = 40, labelNoise = 0.5, seed = 7 } = options;
  let state = seed >>> 0 || 1;
  // mulberry32: small, seedable, good enough for test data.
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const noiseNames = Array.from({ length: noiseFeatures }, (_, i) => `noise${i}`);
  const lines = [['x0', 'x1', ...noiseNames, 'label'].join(',')];
  for (let r = 0; r < rows; r++) {
    const x0 = normal();
    const x1 = normal();
    const noise = noiseNames.map(() => normal().toFixed(3));
    const label = x0 + x1 + labelNoise * normal() > 0 ? 'yes' : 'no';
    lines.push([x0.toFixed(3), x1.toFixed(3), ...noise, label].join(','));
  }
  return lines.join('\n') + '\n';
}
