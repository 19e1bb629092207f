import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENTS_SCHEMA_DIR, REPO_ROOT, generateSchemaFiles } from '../../scripts/gen-schemas.js';
import { LIFECYCLE_TYPES } from '../../src/contract/event.js';

const generated = generateSchemaFiles();

describe('schemas/ (generated JSON Schema)', () => {
  it('is up to date with src/contract/wire.ts', () => {
    const problems: string[] = [];
    for (const [path, content] of generated) {
      const file = join(REPO_ROOT, path);
      if (!existsSync(file)) problems.push(`missing ${path}`);
      else if (readFileSync(file, 'utf8') !== content) problems.push(`outdated ${path}`);
    }
    const dir = join(REPO_ROOT, EVENTS_SCHEMA_DIR);
    const onDisk = existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.json')) : [];
    for (const name of onDisk) {
      if (!generated.has(`${EVENTS_SCHEMA_DIR}/${name}`)) problems.push(`not generated ${EVENTS_SCHEMA_DIR}/${name}`);
    }
    expect(problems, 'schemas/ is stale: run npm run gen:schemas').toEqual([]);
  });

  it('has one schema per lifecycle type, and is deterministic', () => {
    for (const type of LIFECYCLE_TYPES) expect(generated.has(`${EVENTS_SCHEMA_DIR}/${type}.schema.json`)).toBe(true);
    expect(generateSchemaFiles()).toEqual(generated);
    for (const content of generated.values()) expect(content.endsWith('}\n')).toBe(true);
  });

  it('has no dangling $ref (zod-to-json-schema can point into a flattened allOf)', () => {
    for (const [path, content] of generated) {
      const root: unknown = JSON.parse(content);
      const refs = [...content.matchAll(/"\$ref": "#\/([^"]*)"/g)].map((m) => m[1] ?? '');
      for (const ref of refs) {
        let node: unknown = root;
        for (const part of ref.split('/')) {
          node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[part] : undefined;
        }
        expect(node, `${path}: #/${ref}`).toBeDefined();
      }
    }
  });
});
