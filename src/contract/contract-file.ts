/**
 * The run contract as a file (YAML or JSON): what a correct run is, the thresholds and the grade
 * policy, named and versioned. `--contract FILE` judges with it (monitor, replay);
 * `runwatch contract check` validates one and says how it differs from another. The reference
 * contract is contracts/reference.yaml (a unit test holds it equal to REFERENCE_RUN_CONTRACT).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { RunwatchError } from '../errors.js';
import { REFERENCE_RUN_CONTRACT, compileRunContract, runContractSchema, type RunContract } from './run-contract.js';

export const CONTRACT_FILE_VERSION = 1;

export const contractFileSchema = z
  .object({
    /** The file format's version (this build reads 1). */
    version: z.literal(CONTRACT_FILE_VERSION),
    name: z.string().min(1),
    description: z.string().optional(),
    ...runContractSchema.shape,
  })
  .strict();

export interface LoadedContract {
  readonly name: string;
  readonly version: number;
  readonly contract: RunContract;
  /** sha256 of the contract's canonical JSON (name and version included): what a replay records. */
  readonly hash: string;
  /** Where it came from: a path, or "built-in reference". */
  readonly origin: string;
}

export const REFERENCE_CONTRACT: LoadedContract = described({ version: CONTRACT_FILE_VERSION, name: 'reference', ...REFERENCE_RUN_CONTRACT }, 'built-in reference');

/**
 * The contract a run without --contract judges with: the reference one, or (threshold flags set)
 * the reference with those thresholds, named so and hashed as it is.
 */
export function builtInContract(thresholds: RunContract['thresholds'], suspiciousSkewMs: number): LoadedContract {
  const contract = { ...REFERENCE_RUN_CONTRACT, thresholds, suspiciousSkewMs };
  const same = canonicalJson(contract) === canonicalJson(REFERENCE_RUN_CONTRACT);
  return same ? REFERENCE_CONTRACT : described({ version: CONTRACT_FILE_VERSION, name: 'reference+flags', ...contract }, 'built-in reference with threshold flags');
}

/** Reads, validates (zod, then the contract's own rules) and hashes a contract file. Errors name the key. */
export async function loadContractFile(path: string, label: string = path): Promise<LoadedContract> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RunwatchError('CONFIG_INVALID', `invalid contract ${label}: cannot read it (${err instanceof Error ? err.message : String(err)})`);
  }
  return { ...parseContract(text, label), origin: path };
}

/** `label` names the contract in errors (a path, or the flag that gave it). */
export function parseContract(text: string, origin: string): LoadedContract {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new RunwatchError('CONFIG_INVALID', `invalid contract ${origin}: not YAML or JSON (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})`);
  }
  const parsed = contractFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new RunwatchError('CONFIG_INVALID', `invalid contract ${origin}: ${problems.join('; ')}`, { context: { problems } });
  }
  try {
    compileRunContract(contractOf(parsed.data));
  } catch (err) {
    throw new RunwatchError('CONFIG_INVALID', `invalid contract ${origin}: ${(err instanceof Error ? err.message : String(err)).replace(/^invalid run contract: /, '')}`);
  }
  return described(parsed.data, origin);
}

function contractOf(file: z.infer<typeof contractFileSchema>): RunContract {
  const { version: _version, name: _name, description: _description, ...contract } = file;
  return contract;
}

function described(file: z.infer<typeof contractFileSchema>, origin: string): LoadedContract {
  return { name: file.name, version: file.version, contract: contractOf(file), hash: sha256(canonicalJson({ ...contractOf(file), name: file.name, version: file.version })), origin };
}

/** JSON with object keys sorted at every level: the same contract always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** What differs between two contracts, one line per leaf path: `thresholds.gapMs.critical: 5000 -> 4000`. */
export function contractDifferences(base: LoadedContract, other: LoadedContract): string[] {
  const leaves = (value: unknown, prefix: string, out: Map<string, string>): Map<string, string> => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [key, child] of Object.entries(value)) leaves(child, prefix === '' ? key : `${prefix}.${key}`, out);
    } else {
      out.set(prefix, JSON.stringify(value));
    }
    return out;
  };
  const a = leaves({ name: base.name, ...base.contract }, '', new Map());
  const b = leaves({ name: other.name, ...other.contract }, '', new Map());
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  return paths.filter((path) => a.get(path) !== b.get(path)).map((path) => `${path}: ${a.get(path) ?? '(absent)'} -> ${b.get(path) ?? '(absent)'}`);
}
