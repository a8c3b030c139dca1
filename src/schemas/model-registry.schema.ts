import { z } from 'zod';
import { timestampSchema } from './api.schema';

/** Named models, versions and aliases (src/store/model-registry.ts) as the API shows them. */

/** Same as MODEL_NAME_PATTERN / ALIAS_PATTERN in the registry (schemas sit below the store). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const ALIAS = /^(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const modelNameParams = z.object({
  name: z
    .string()
    .regex(NAME, { error: 'a model name is 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit' }),
});

export const aliasParams = modelNameParams.extend({
  alias: z.string().regex(ALIAS, {
    error: 'an alias is 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit, not all digits',
  }),
});

export const registerVersionSchema = z
  .union([
    z.object({ modelId: z.string().min(1).max(128) }).strict(),
    z.object({ jobId: z.string().min(1).max(128) }).strict(),
  ])
  .meta({ description: 'The trained model to register: by its id, or by the completed training job that made it.' });

export const modelVersionSchema = z.object({
  name: z.string(),
  version: z.number().int().min(1),
  modelId: z.string(),
  registeredAt: timestampSchema,
});

export const modelNameSchema = z.object({
  name: z.string(),
  createdAt: timestampSchema,
  latestVersion: z
    .number()
    .int()
    .min(1)
    .meta({ description: 'The highest version number given so far (numbers are never reused).' }),
  versions: z
    .array(modelVersionSchema.omit({ name: true }))
    .meta({ description: 'Versions whose model still exists, oldest first.' }),
  aliases: z.record(z.string(), z.number().int().min(1)).meta({ description: 'Alias → the version it points to.' }),
});

export const modelNameListSchema = z.object({
  names: z.array(modelNameSchema),
  total: z.number().int().min(0),
});

export const pageQuerySchema = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const moveAliasSchema = z
  .object({ version: z.number().int().min(1) })
  .strict()
  .meta({ description: 'The version the alias is to point to.' });

export const aliasSchema = z.object({
  name: z.string(),
  alias: z.string(),
  version: z.number().int().min(1),
  modelId: z.string(),
  previousVersion: z
    .number()
    .int()
    .min(1)
    .optional()
    .meta({ description: 'Where the alias pointed before; absent when it is new.' }),
});

export const aliasMoveSchema = z.object({
  alias: z.string(),
  from: z
    .number()
    .int()
    .min(1)
    .optional()
    .meta({ description: 'The version before; absent when the alias was created.' }),
  to: z.number().int().min(1).optional().meta({ description: 'The version after; absent when the alias was removed.' }),
  at: timestampSchema,
});

export const aliasHistorySchema = z.object({ moves: z.array(aliasMoveSchema).meta({ description: 'Newest first.' }) });
