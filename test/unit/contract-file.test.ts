import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REFERENCE_CONTRACT, builtInContract, contractDifferences, loadContractFile, parseContract } from '../../src/contract/contract-file.js';
import { REFERENCE_RUN_CONTRACT } from '../../src/contract/run-contract.js';

const REFERENCE_FILE = join(import.meta.dirname, '../../contracts/reference.yaml');

describe('contract files', () => {
  it('contracts/reference.yaml is the built-in reference contract, to the hash', async () => {
    const loaded = await loadContractFile(REFERENCE_FILE);
    expect(loaded.contract).toEqual(REFERENCE_RUN_CONTRACT);
    expect(loaded.hash).toBe(REFERENCE_CONTRACT.hash);
    expect(contractDifferences(REFERENCE_CONTRACT, loaded)).toEqual([]);
  });

  it('reads JSON too, and lists exactly what a changed copy changes', async () => {
    const { hash: _hash, origin: _origin, ...ref } = REFERENCE_CONTRACT;
    const json = JSON.stringify({ version: ref.version, name: 'stricter', ...ref.contract, thresholds: { ...ref.contract.thresholds, gapMs: { warning: 1000, critical: 4000 } } });
    const changed = parseContract(json, 'stricter.json');
    expect(changed.hash).not.toBe(REFERENCE_CONTRACT.hash);
    expect(contractDifferences(REFERENCE_CONTRACT, changed)).toEqual(['name: "reference" -> "stricter"', 'thresholds.gapMs.critical: 5000 -> 4000']);
  });

  it('without a file: the reference contract, or "reference+flags" hashed as judged when threshold flags changed it', () => {
    expect(builtInContract(REFERENCE_RUN_CONTRACT.thresholds, REFERENCE_RUN_CONTRACT.suspiciousSkewMs)).toBe(REFERENCE_CONTRACT);
    const flagged = builtInContract({ ...REFERENCE_RUN_CONTRACT.thresholds, gapMs: { warning: 1000, critical: 4000 } }, REFERENCE_RUN_CONTRACT.suspiciousSkewMs);
    expect(flagged.name).toBe('reference+flags');
    expect(flagged.hash).not.toBe(REFERENCE_CONTRACT.hash);
  });

  it.each([
    ['thresholds.gapMs.warning: Expected number, received string', (t: string) => t.replace('gapMs: { warning: 1000', 'gapMs: { warning: "soon"')],
    ['thresholds.gapMs: warning must not exceed critical', (t: string) => t.replace('gapMs: { warning: 1000', 'gapMs: { warning: 9000')],
    ['grades.security: the bands must not decrease', (t: string) => t.replace('security: { A: 0, B: 2, C: 5 }', 'security: { A: 0, B: 6, C: 5 }')],
    ['version: Invalid literal value, expected 1', (t: string) => t.replace('version: 1', 'version: 2')],
    ["(root): Unrecognized key(s) in object: 'thresholdz'", (t: string) => t.replace('thresholds:', 'thresholdz:')],
    ['content.agent_started.0', (t: string) => t.replace('{ field: agent_name, require: text }', '{ field: agent_name, require: maybe }')],
    ['nothing may follow the terminal type agent_completed', (t: string) => t.replace('agent_completed: []', 'agent_completed: [agent_thinking]')],
  ])('an error names the key: %s', async (message, edit) => {
    const { readFileSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'runwatch-contract-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, edit(readFileSync(REFERENCE_FILE, 'utf8')));
    await expect(loadContractFile(file)).rejects.toThrow(`invalid contract ${file}: `);
    await expect(loadContractFile(file)).rejects.toThrow(message);
  });
});
