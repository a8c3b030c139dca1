import { z } from 'zod';
import { columnSchema, datasetSchema } from './api.schema';

/** Shapes of the dataset routes beyond upload and read (listing, schema, upload parameters). */

export const datasetListQuerySchema = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const datasetListSchema = z.object({
  datasets: z.array(datasetSchema),
  total: z.number().int().meta({ description: 'Datasets stored, for paging' }),
});

export const datasetUploadQuerySchema = z.object({
  delimiter: z
    .enum(['comma', 'semicolon', 'tab', 'pipe'])
    .optional()
    .meta({
      description:
        'CSV only: the field delimiter. Absent: the one of the four that occurs most often in the header line ' +
        '(tab for text/tab-separated-values).',
    }),
});

export const datasetSchemaViewSchema = z.object({
  id: z.string(),
  rows: z.number().int(),
  columns: z.array(
    columnSchema.extend({
      missing: z.number().int().meta({ description: 'Rows where the cell is missing' }),
      categories: z
        .array(z.string())
        .optional()
        .meta({ description: 'Categorical columns: every distinct value, in first-seen order' }),
    }),
  ),
});
