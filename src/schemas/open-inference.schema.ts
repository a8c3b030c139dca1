import { z } from 'zod';

/**
 * The Open Inference Protocol (KServe v2 / Triton) REST shapes, field by field as the protocol
 * publishes them (kserve/open-inference-protocol, specification/protocol/inference_rest.md).
 * `$parameter` values are strings, numbers or booleans.
 */

export const V2_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

const parameters = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
  .meta({ description: 'Protocol $parameters: strings, numbers or booleans' });

/** The protocol's error body, on every v2 error. */
export const v2ErrorSchema = z.object({ error: z.string() });

export const v2ServerMetadataSchema = z.object({
  name: z.string(),
  version: z.string(),
  extensions: z.array(z.string()),
});

export const v2MetadataTensorSchema = z.object({
  name: z.string(),
  datatype: z.enum(V2_DATATYPES),
  shape: z.array(z.number().int()).meta({ description: '-1 for a dimension of any size (the rows)' }),
});

export const v2ModelMetadataSchema = z.object({
  name: z.string(),
  versions: z.array(z.string()).optional(),
  platform: z.string(),
  inputs: z.array(v2MetadataTensorSchema),
  outputs: z.array(v2MetadataTensorSchema),
});

const tensorData = z
  .array(z.unknown())
  .meta({ description: 'The elements in row-major order, flattened or nested as the shape says' });

export const v2RequestInputSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().min(0)),
  datatype: z.enum(V2_DATATYPES),
  parameters: parameters.nullish(),
  data: tensorData,
});

export const v2InferRequestSchema = z.object({
  id: z
    .string()
    .nullish()
    .meta({ description: "Echoed in the response (KServe's Python client sends null when unset)" }),
  parameters: parameters.nullish(),
  inputs: z.array(v2RequestInputSchema).min(1),
  outputs: z.array(z.object({ name: z.string(), parameters: parameters.nullish() })).optional(),
});

export const v2ResponseOutputSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int()),
  datatype: z.enum(V2_DATATYPES),
  parameters: parameters.optional(),
  data: z.array(z.union([z.number(), z.string()])),
});

export const v2InferResponseSchema = z.object({
  model_name: z.string(),
  model_version: z.string().optional(),
  id: z.string(),
  parameters: parameters.optional(),
  outputs: z.array(v2ResponseOutputSchema),
});

export const v2ModelParams = z.object({ name: z.string().min(1).max(128) });
export const v2VersionParams = v2ModelParams.extend({ version: z.string().min(1).max(64) });

export type V2InferRequest = z.infer<typeof v2InferRequestSchema>;
export type V2InferResponse = z.infer<typeof v2InferResponseSchema>;
export type V2ModelMetadata = z.infer<typeof v2ModelMetadataSchema>;
