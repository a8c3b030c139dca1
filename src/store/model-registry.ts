import type { Redis } from 'ioredis';
import { AppError } from '../errors';
import { modelIndexKey, modelKey } from './model-store';

/**
 * Named models: a name holds numbered versions (1, 2, …, never reused), each a trained model,
 * and aliases (`production`, `staging`, …) that each point to one version. A model is addressed
 * as `name@alias`, `name@3` or `name` (its `production` alias when set, else its latest version).
 *
 * Every change is one Lua script, so it is atomic on Redis: registering draws the next number and
 * writes the version together; moving an alias writes the alias and its history entry together;
 * deleting a model checks that no alias points to it, removes it and its versions, and publishes
 * the deletion (MODEL_EVENTS) so every API replica drops its cached copy.
 *
 * Keys (the scripts build the per-name keys from the prefix, so this needs a single Redis, not a
 * cluster, like the rest of fitwell):
 *   {prefix}:model-names              ZSET  name → creation time (ms)
 *   {prefix}:model-name:{name}        HASH  next (latest version), createdAt, v:{n} → version JSON, a:{alias} → n
 *   {prefix}:model-name:{name}:history LIST alias moves, oldest first (the last MAX_HISTORY kept)
 *   {prefix}:model:{id}:versions      SET   "name@n" for every version that is this model
 *   {prefix}:model:{id}:deleted       STRING when it was deleted, kept DELETED_MARK_SECONDS: lets a
 *                                     replica that missed the message tell a deletion from a Redis
 *                                     that came back without its data (where cached copies keep serving)
 */

/** Names: letters, digits, `.`, `_`, `-`, starting with a letter or digit; at most 63, so `name@alias` fits an id (128). */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** An alias is a name that is not all digits (those are version numbers). */
export const ALIAS_PATTERN = /^(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** The alias a bare name resolves to when it is set. */
export const DEFAULT_ALIAS = 'production';
/** How long a deleted model's mark is kept: longer than any replica stays disconnected. */
export const DELETED_MARK_SECONDS = 30 * 24 * 3600;
/** Alias moves kept per name. */
export const MAX_HISTORY = 1000;

export interface ModelVersion {
  version: number;
  modelId: string;
  registeredAt: string;
}

export interface AliasMove {
  alias: string;
  /** The version it pointed to before; absent when the alias is new. */
  from?: number;
  /** The version it points to now; absent when the alias was removed. */
  to?: number;
  at: string;
}

export interface ModelName {
  name: string;
  createdAt: string;
  latestVersion: number;
  versions: ModelVersion[];
  aliases: Record<string, number>;
}

/** What a reference resolved to. */
export interface ResolvedModel {
  name: string;
  version: number;
  modelId: string;
}

export const modelNamesKey = (prefix: string) => `${prefix}:model-names`;
export const modelNameKey = (prefix: string, name: string) => `${prefix}:model-name:${name}`;
export const modelHistoryKey = (prefix: string, name: string) => `${prefix}:model-name:${name}:history`;
export const modelVersionsKey = (prefix: string, id: string) => `${prefix}:model:${id}:versions`;
export const modelDeletedKey = (prefix: string, id: string) => `${prefix}:model:${id}:deleted`;
/** Pub/sub channel of model changes every API replica follows: `deleted <id>`, `warm <id>`. */
export const modelEventsChannel = (prefix: string) => `${prefix}:model-events`;

// KEYS: names index, name hash, model hash, model's versions set. ARGV: name, modelId, now ISO, now ms.
const REGISTER = `
if redis.call('EXISTS', KEYS[3]) == 0 then return redis.error_reply('MODEL_NOT_FOUND') end
local v = redis.call('HINCRBY', KEYS[2], 'next', 1)
if v == 1 then
  redis.call('HSET', KEYS[2], 'createdAt', ARGV[3])
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
end
redis.call('HSET', KEYS[2], 'v:' .. v, cjson.encode({version = v, modelId = ARGV[2], registeredAt = ARGV[3]}))
redis.call('SADD', KEYS[4], ARGV[1] .. '@' .. v)
return v
`;

// KEYS: name hash, history. ARGV: alias, version, now ISO, max history.
const MOVE_ALIAS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('MODEL_NAME_NOT_FOUND') end
if redis.call('HEXISTS', KEYS[1], 'v:' .. ARGV[2]) == 0 then return redis.error_reply('MODEL_VERSION_NOT_FOUND') end
local from = redis.call('HGET', KEYS[1], 'a:' .. ARGV[1])
redis.call('HSET', KEYS[1], 'a:' .. ARGV[1], ARGV[2])
local move = {alias = ARGV[1], to = tonumber(ARGV[2]), at = ARGV[3]}
if from then move.from = tonumber(from) end
redis.call('RPUSH', KEYS[2], cjson.encode(move))
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
return from or ''
`;

// KEYS: name hash, history. ARGV: alias, now ISO, max history.
const REMOVE_ALIAS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('MODEL_NAME_NOT_FOUND') end
local from = redis.call('HGET', KEYS[1], 'a:' .. ARGV[1])
if not from then return redis.error_reply('ALIAS_NOT_FOUND') end
redis.call('HDEL', KEYS[1], 'a:' .. ARGV[1])
redis.call('RPUSH', KEYS[2], cjson.encode({alias = ARGV[1], from = tonumber(from), at = ARGV[2]}))
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
return from
`;

// KEYS: name hash. ARGV: version or alias ('' for the default policy), default alias.
// Returns {version, modelId} or an error naming what is missing.
const RESOLVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('MODEL_NAME_NOT_FOUND') end
local v = ARGV[1]
if v == '' then
  v = redis.call('HGET', KEYS[1], 'a:' .. ARGV[2])
  if not v then
    -- The latest version still there (a deleted model's versions are gone).
    local n = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
    while n > 0 and redis.call('HEXISTS', KEYS[1], 'v:' .. n) == 0 do n = n - 1 end
    v = tostring(n)
  end
elseif not string.match(v, '^[0-9]+$') then
  v = redis.call('HGET', KEYS[1], 'a:' .. v)
  if not v then return redis.error_reply('ALIAS_NOT_FOUND') end
end
local raw = redis.call('HGET', KEYS[1], 'v:' .. v)
if not raw then return redis.error_reply('MODEL_VERSION_NOT_FOUND') end
return {tonumber(v), cjson.decode(raw).modelId}
`;

// KEYS: model hash, models index, model's versions set, deleted mark.
// ARGV: prefix, modelId, events channel, now ISO, mark seconds.
// Refused (IN_USE with the aliases) while an alias points to one of the model's versions.
const DELETE_MODEL = `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('MODEL_NOT_FOUND') end
local refs = redis.call('SMEMBERS', KEYS[3])
local blocking = {}
for _, ref in ipairs(refs) do
  local at = string.find(ref, '@', 1, true)
  local name, v = string.sub(ref, 1, at - 1), string.sub(ref, at + 1)
  local fields = redis.call('HGETALL', ARGV[1] .. ':model-name:' .. name)
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'a:' and fields[i + 1] == v then
      table.insert(blocking, name .. '@' .. string.sub(fields[i], 3))
    end
  end
end
if #blocking > 0 then return redis.error_reply('IN_USE ' .. table.concat(blocking, ',')) end
for _, ref in ipairs(refs) do
  local at = string.find(ref, '@', 1, true)
  redis.call('HDEL', ARGV[1] .. ':model-name:' .. string.sub(ref, 1, at - 1), 'v:' .. string.sub(ref, at + 1))
end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('SET', KEYS[4], ARGV[4], 'EX', tonumber(ARGV[5]))
redis.call('PUBLISH', ARGV[3], 'deleted ' .. ARGV[2])
return #refs
`;

interface RegistryRedis extends Redis {
  fitwellRegister(...args: (string | number)[]): Promise<number>;
  fitwellMoveAlias(...args: (string | number)[]): Promise<string>;
  fitwellRemoveAlias(...args: (string | number)[]): Promise<string>;
  fitwellResolve(...args: (string | number)[]): Promise<[number, string]>;
  fitwellDeleteModel(...args: (string | number)[]): Promise<number>;
}

/** A script's error reply as the API's error (the scripts reply with a code and details). */
function scriptError(error: unknown, params: Record<string, unknown>): never {
  const message = error instanceof Error ? error.message : '';
  const [code, details = ''] = message.replace(/^ERR /, '').split(' ', 2);
  switch (code) {
    case 'MODEL_NOT_FOUND':
      throw new AppError('MODEL_NOT_FOUND', { id: params.modelId });
    case 'MODEL_NAME_NOT_FOUND':
      throw new AppError('MODEL_NAME_NOT_FOUND', params);
    case 'MODEL_VERSION_NOT_FOUND':
      throw new AppError('MODEL_VERSION_NOT_FOUND', params);
    case 'ALIAS_NOT_FOUND':
      throw new AppError('ALIAS_NOT_FOUND', params);
    case 'IN_USE':
      throw new AppError('MODEL_IN_USE', { id: params.modelId, aliases: details.split(',').join(', ') });
    default:
      throw error;
  }
}

export class ModelRegistry {
  private readonly redis: RegistryRedis;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    this.redis = redis as RegistryRedis;
    // defineCommand is per connection and idempotent enough: ioredis keeps the last definition.
    if (!('fitwellRegister' in redis)) {
      redis.defineCommand('fitwellRegister', { numberOfKeys: 4, lua: REGISTER });
      redis.defineCommand('fitwellMoveAlias', { numberOfKeys: 2, lua: MOVE_ALIAS });
      redis.defineCommand('fitwellRemoveAlias', { numberOfKeys: 2, lua: REMOVE_ALIAS });
      redis.defineCommand('fitwellResolve', { numberOfKeys: 1, lua: RESOLVE });
      redis.defineCommand('fitwellDeleteModel', { numberOfKeys: 4, lua: DELETE_MODEL });
    }
  }

  /** Registers a trained model as the name's next version (creating the name); returns the version. */
  async register(name: string, modelId: string, now = new Date()): Promise<ModelVersion> {
    const p = this.prefix;
    try {
      const version = await this.redis.fitwellRegister(
        modelNamesKey(p),
        modelNameKey(p, name),
        modelKey(p, modelId),
        modelVersionsKey(p, modelId),
        name,
        modelId,
        now.toISOString(),
        now.getTime(),
      );
      return { version, modelId, registeredAt: now.toISOString() };
    } catch (error) {
      scriptError(error, { modelId, name });
    }
  }

  /** Points `alias` at `version`; returns the version it pointed to before (if any). */
  async moveAlias(name: string, alias: string, version: number, now = new Date()): Promise<number | undefined> {
    try {
      const from = await this.redis.fitwellMoveAlias(
        modelNameKey(this.prefix, name),
        modelHistoryKey(this.prefix, name),
        alias,
        version,
        now.toISOString(),
        MAX_HISTORY,
      );
      return from === '' ? undefined : Number(from);
    } catch (error) {
      scriptError(error, { name, version, alias });
    }
  }

  /** Removes an alias; returns the version it pointed to. */
  async removeAlias(name: string, alias: string, now = new Date()): Promise<number> {
    try {
      return Number(
        await this.redis.fitwellRemoveAlias(
          modelNameKey(this.prefix, name),
          modelHistoryKey(this.prefix, name),
          alias,
          now.toISOString(),
          MAX_HISTORY,
        ),
      );
    } catch (error) {
      scriptError(error, { name, alias });
    }
  }

  /**
   * `version`: a number, an alias, or undefined for the default policy (the `production` alias
   * when set, else the latest version). One round trip.
   */
  async resolve(name: string, version?: string): Promise<ResolvedModel> {
    try {
      const [v, modelId] = await this.redis.fitwellResolve(
        modelNameKey(this.prefix, name),
        version ?? '',
        DEFAULT_ALIAS,
      );
      return { name, version: v, modelId };
    } catch (error) {
      // No version asked and none left: every version's model was deleted.
      scriptError(error, { name, version: version ?? 'left (every version was deleted)', alias: version });
    }
  }

  async get(name: string): Promise<ModelName> {
    const fields = await this.redis.hgetall(modelNameKey(this.prefix, name));
    if (!fields.createdAt) throw new AppError('MODEL_NAME_NOT_FOUND', { name });
    return readName(name, fields);
  }

  /** Names, oldest first, `limit` from `offset`, and how many there are. */
  async list(offset: number, limit: number): Promise<{ names: ModelName[]; total: number }> {
    const [names, total] = await Promise.all([
      this.redis.zrange(modelNamesKey(this.prefix), String(offset), String(offset + limit - 1)),
      this.redis.zcard(modelNamesKey(this.prefix)),
    ]);
    const pipeline = this.redis.pipeline();
    for (const name of names) pipeline.hgetall(modelNameKey(this.prefix, name));
    const rows = (await pipeline.exec()) ?? [];
    return {
      names: rows.flatMap(([error, fields], i) =>
        error || !(fields as Record<string, string>).createdAt
          ? []
          : [readName(names[i], fields as Record<string, string>)],
      ),
      total,
    };
  }

  /** Alias moves, newest first. */
  async history(name: string, offset: number, limit: number): Promise<AliasMove[]> {
    if (!(await this.redis.exists(modelNameKey(this.prefix, name))))
      throw new AppError('MODEL_NAME_NOT_FOUND', { name });
    const raw = await this.redis.lrange(modelHistoryKey(this.prefix, name), -(offset + limit), -(offset + 1));
    return raw.reverse().map((entry) => JSON.parse(entry) as AliasMove);
  }

  /** Deletes a model (refused while an alias points to it) and publishes the deletion to every replica. */
  async deleteModel(modelId: string, now = new Date()): Promise<void> {
    const p = this.prefix;
    try {
      await this.redis.fitwellDeleteModel(
        modelKey(p, modelId),
        modelIndexKey(p),
        modelVersionsKey(p, modelId),
        modelDeletedKey(p, modelId),
        p,
        modelId,
        modelEventsChannel(p),
        now.toISOString(),
        DELETED_MARK_SECONDS,
      );
    } catch (error) {
      scriptError(error, { modelId });
    }
  }

  /** Whether the model was deleted (within DELETED_MARK_SECONDS), as opposed to never written or lost with Redis's data. */
  async wasDeleted(modelId: string): Promise<boolean> {
    return (await this.redis.exists(modelDeletedKey(this.prefix, modelId))) === 1;
  }

  /** Asks every replica to load a model into its cache (before an alias is moved to it). */
  async announceWarm(modelId: string): Promise<void> {
    await this.redis.publish(modelEventsChannel(this.prefix), `warm ${modelId}`);
  }
}

function readName(name: string, fields: Record<string, string>): ModelName {
  const versions: ModelVersion[] = [];
  const aliases: Record<string, number> = {};
  for (const [field, value] of Object.entries(fields)) {
    if (field.startsWith('v:')) versions.push(JSON.parse(value) as ModelVersion);
    else if (field.startsWith('a:')) aliases[field.slice(2)] = Number(value);
  }
  versions.sort((a, b) => a.version - b.version);
  return { name, createdAt: fields.createdAt, latestVersion: Number(fields.next ?? 0), versions, aliases };
}

/** `churn@production` → { name: 'churn', version: 'production' }; undefined when `ref` has no `@`. */
export function parseModelRef(ref: string): { name: string; version: string } | undefined {
  const at = ref.indexOf('@');
  if (at < 0) return undefined;
  return { name: ref.slice(0, at), version: ref.slice(at + 1) };
}
