import type { TrainingRequest } from '../schemas/training-request.schema';

/**
 * Settings that are legal but known to hurt, reported with the job's result. Dropout feeding a
 * batch-norm layer is the classic one ("variance shift", concepts.md).
 */
export function specWarnings(request: TrainingRequest): string[] {
  const warnings: string[] = [];
  const hidden = request.model.hidden;
  for (let i = 0; i + 1 < hidden.length; i++) {
    if (hidden[i].dropout.rate > 0 && hidden[i + 1].normalization.type === 'batch') {
      warnings.push(
        `hidden layer ${i} applies dropout whose output feeds the batch normalization of hidden ` +
          `layer ${i + 1}: dropout changes the activations' variance between training and ` +
          `inference, so the running variance learned in training no longer holds at inference ` +
          `("variance shift"). Remedies: move dropout after the last batch-norm layer, or use ` +
          `Gaussian dropout.`,
      );
    }
  }
  return warnings;
}
