import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** dist/test/architecture → the repository. */
const repo = join(__dirname, '..', '..', '..');
const script = join(repo, 'scripts', 'check-architecture.js');

function check(root?: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, root ? [script, '--root', root] : [script], { encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

/** A throw-away tree of the given files (path → source), checked by the script, then removed. */
function checkTree(files: Record<string, string>): { status: number | null; output: string } {
  const root = mkdtempSync(join(tmpdir(), 'fitwell-architecture-'));
  try {
    for (const [path, source] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), source);
    }
    return check(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe('scripts/check-architecture.js', () => {
  test('the repository holds the layer rule', () => {
    const { status, output } = check();
    assert.equal(status, 0, output);
    assert.match(output, /layer rule holds, no circles/);
  });

  test('ml/ importing the wire schema fails, type-only imports included, though src/schemas/ is a lower layer', () => {
    const { status, output } = checkTree({
      'src/schemas/training-request.schema.ts': 'export type Activation = "relu";\n',
      'src/ml/spec.ts': 'export type Activation = "relu";\n',
      'src/ml/ops/activation.ts': "import type {\n  Activation,\n} from '../../schemas/training-request.schema';\n",
    });
    assert.equal(status, 1, output);
    assert.match(
      output,
      /src\/ml\/ops\/activation imports src\/schemas\/training-request\.schema: ml\/ is typed by its own spec/,
    );
    assert.match(output, /1 problem\(s\)/);
  });

  test('ml/ importing src/training/ fails twice: a higher layer and the ml/ rule', () => {
    const { status, output } = checkTree({
      'src/training/ml-types.ts': 'export type X = 1;\n',
      'src/ml/trainer.ts': "export type { X } from '../training/ml-types';\n",
    });
    assert.equal(status, 1, output);
    assert.match(output, /src\/ml\/trainer \(data-ml\) imports src\/training\/ml-types \(domain\), a higher layer/);
    assert.match(output, /src\/ml\/trainer imports src\/training\/ml-types: ml\/ is typed by its own spec/);
  });

  test('src/training/ importing the schema and ml/ is allowed: that is where the request is mapped', () => {
    const { status, output } = checkTree({
      'src/schemas/training-request.schema.ts': 'export type Activation = "relu";\n',
      'src/ml/spec.ts': 'export type Activation = "relu";\n',
      'src/training/ml-types.ts':
        "import type { Activation } from '../ml/spec';\nimport type { Activation as A } from '../schemas/training-request.schema';\nexport type X = [Activation, A];\n",
    });
    assert.equal(status, 0, output);
  });
});
