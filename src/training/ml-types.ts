import type { EpochMetrics } from '../ml/trainer';
import type { Activation, AugmentationSpec, EarlyStoppingSpec, GradientClippingSpec, Task } from '../ml/spec';
import type { StoredEpochMetrics } from '../schemas/api.schema';
import type {
  Activation as RequestActivation,
  AugmentationSpec as RequestAugmentation,
  EarlyStoppingSpec as RequestEarlyStopping,
  GradientClippingSpec as RequestGradientClipping,
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
  Holds<Same<EpochMetrics, StoredEpochMetrics>>,
  // The request's parts that ml/ is given: each is what ml's own spec type accepts.
  Holds<Same<RequestActivation, Activation>>,
  Holds<Assignable<RequestEarlyStopping, EarlyStoppingSpec>>,
  Holds<Assignable<RequestGradientClipping, GradientClippingSpec>>,
  Holds<Assignable<RequestAugmentation, AugmentationSpec>>,
];
