import type { EpochMetrics } from '../ml/trainer';
import type {
  Activation,
  AugmentationSpec,
  BATCH_STATISTICS_NORMALIZATIONS,
  DEFAULT_INITIALIZER,
  DropoutSpec,
  EarlyStoppingSpec,
  GradientClippingSpec,
  HiddenLayerSpec,
  Initializer,
  LayerRegularizationSpec,
  LearningRateScheduleSpec,
  NormalizationSpec,
  RegularizationSpec,
  Task,
} from '../ml/spec';
import type { EpochMetrics as WireEpochMetrics } from '../schemas/api.schema';
import type {
  Activation as RequestActivation,
  AugmentationSpec as RequestAugmentation,
  BATCH_STATISTICS_NORMALIZATIONS as REQUEST_BATCH_STATISTICS_NORMALIZATIONS,
  DEFAULT_INITIALIZER as REQUEST_DEFAULT_INITIALIZER,
  DropoutSpec as RequestDropout,
  EarlyStoppingSpec as RequestEarlyStopping,
  GradientClippingSpec as RequestGradientClipping,
  HiddenLayerSpec as RequestHiddenLayer,
  Initializer as RequestInitializer,
  LayerRegularizationSpec as RequestLayerRegularization,
  LearningRateScheduleSpec as RequestLearningRateSchedule,
  NormalizationSpec as RequestNormalization,
  RegularizationSpec as RequestRegularization,
  TrainingRequest,
} from '../schemas/training-request.schema';

/**
 * Compile-time checks between ml/'s own types (src/ml/spec.ts, EpochMetrics) and the wire
 * schema's inferred types: training/ maps the request onto ml/, so this is where they must
 * agree. Types only: nothing here runs, and a mismatch fails `tsc`.
 */

/** True when A is assignable to B. */
type Assignable<A, B> = [A] extends [B] ? true : false;
/** Both ways: the same shape written on two sides of a boundary. */
type Same<A, B> = Assignable<A, B> extends true ? Assignable<B, A> : false;
/** A type error unless T is true. */
type Holds<T extends true> = T;

export type MlTypeChecks = [
  // The request's task is ml's Task.
  Holds<Same<TrainingRequest['task'], Task>>,
  // What the trainer reports each epoch is what the API's epoch-metrics schema reads and writes.
  Holds<Same<EpochMetrics, WireEpochMetrics>>,
  // The request's parts that ml/ is given: each is what ml's own spec type accepts, and the
  // value sets (activations, initializers, normalizations, schedules) are the same on both sides.
  Holds<Same<RequestActivation, Activation>>,
  Holds<Same<RequestInitializer, Initializer>>,
  Holds<Same<typeof REQUEST_DEFAULT_INITIALIZER, typeof DEFAULT_INITIALIZER>>,
  Holds<Same<RequestNormalization, NormalizationSpec>>,
  Holds<
    Same<(typeof REQUEST_BATCH_STATISTICS_NORMALIZATIONS)[number], (typeof BATCH_STATISTICS_NORMALIZATIONS)[number]>
  >,
  Holds<Same<RequestDropout, DropoutSpec>>,
  Holds<Same<RequestLayerRegularization, LayerRegularizationSpec>>,
  Holds<Same<RequestHiddenLayer, HiddenLayerSpec>>,
  Holds<Same<RequestRegularization, RegularizationSpec>>,
  Holds<Same<RequestLearningRateSchedule, LearningRateScheduleSpec>>,
  Holds<Assignable<RequestEarlyStopping, EarlyStoppingSpec>>,
  Holds<Assignable<RequestGradientClipping, GradientClippingSpec>>,
  Holds<Assignable<RequestAugmentation, AugmentationSpec>>,
];
