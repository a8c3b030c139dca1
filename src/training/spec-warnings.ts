import { type TrainingRequest, usesBatchStatistics } from '../schemas/training-request.schema';

const BN_NAMES: Record<string, string> = {
  batch: 'batch normalization',
  'sync-batch': 'synchronized batch normalization',
  'ghost-batch': 'ghost batch normalization',
};

/**
 * Settings that are legal but known to hurt, reported with the job's result. Dropout feeding a
 * batch-statistics layer (batch, sync-batch, ghost-batch) is the classic one ("variance shift",
 * concepts.md).
 *
 * A hidden layer is … → activation → dropout, so dropout always comes after its own layer's
 * normalization, whatever the placement; it feeds the next batch-statistics layer further on,
 * through any layers between (a dense layer passes the shifted variance on). Each inverted dropout
 * is reported once, against the nearest such layer. Gaussian dropout is one of the remedies the
 * concepts page names, so it is not reported.
 */
export function specWarnings(request: TrainingRequest): string[] {
  const warnings: string[] = [];
  const hidden = request.model.hidden;
  hidden.forEach((layer, i) => {
    if (layer.dropout.rate === 0 || layer.dropout.kind !== 'inverted') return;
    const j = hidden.findIndex((later, index) => index > i && usesBatchStatistics(later.normalization));
    if (j < 0) return;
    warnings.push(
      `hidden layer ${i} applies dropout whose output feeds the ${BN_NAMES[hidden[j].normalization.type]} ` +
        `of hidden layer ${j}: dropout changes the activations' variance between training and ` +
        `inference, so the running variance learned in training no longer holds at inference ` +
        `("variance shift"). Remedies: move dropout after the last batch-norm layer, or use ` +
        `Gaussian dropout.`,
    );
  });
  return warnings;
}
