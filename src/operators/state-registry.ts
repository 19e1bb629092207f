import { createHash } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import { RunwatchError } from '../errors.js';

/**
 * Operator state for checkpoints (docs/architecture.md, "Checkpoints").
 *
 * A stateful operator attaches its *state root* when it is subscribed: one object holding all it
 * knows — plain data (numbers, strings, arrays, typed arrays, Maps, Sets, plain objects) and
 * instances of data-only classes (run table columns, heaps, indexes). Never a function, and never a
 * class instance inside a Map, a Set or a plain object (those come back as plain objects).
 *
 * `snapshot()` clones every root at once (node:v8 structured clone: shared references and cycles
 * survive). The pipeline calls it between two input items, when no operator is half-way through
 * one (the chain is synchronous), so the snapshot reflects exactly the records passed in so far.
 *
 * Restoring: the operators are built and subscribed exactly as at a fresh start (same classes, same
 * column order), and `attach` fills each fresh root with the snapshot's data (`rehydrate`): class
 * instances keep their prototype, everything else is replaced by the restored value. A layout
 * fingerprint of the fresh roots guards against restoring the state of a different build.
 */
export class StateRegistry {
  private readonly roots = new Map<string, object>();
  private readonly layouts = new Map<string, string>();

  /** @param restored the roots of a snapshot (from `StateRegistry.decode`), or none for a fresh start. */
  constructor(private readonly restored?: RestoredState) {}

  /** Registers an operator's state root; on a restore, fills it with the snapshot's data first. */
  attach(name: string, root: object): void {
    this.attachRoot(name, root, false);
  }

  /**
   * A root that a checkpoint of an older build may lack: restoring such a checkpoint leaves it
   * fresh (its layout is still checked when the checkpoint has it). For state whose absence only
   * means "nothing recorded yet".
   */
  attachOptional(name: string, root: object): void {
    this.attachRoot(name, root, true);
  }

  private attachRoot(name: string, root: object, optional: boolean): void {
    if (this.roots.has(name)) throw new RunwatchError('INTERNAL', `operator state "${name}" attached twice: one registry serves one subscription of the chain`);
    const layout = layoutOf(root);
    if (this.restored !== undefined) {
      const data = this.restored.roots[name];
      const expected = this.restored.layouts[name];
      if ((data === undefined || expected === undefined) && optional) {
        this.roots.set(name, root);
        this.layouts.set(name, layout);
        return;
      }
      if (data === undefined || expected === undefined) {
        throw new RunwatchError('CHECKPOINT_INCOMPATIBLE', `the checkpoint has no state for operator "${name}": it was written by a build with other operators`);
      }
      if (expected !== layout) {
        throw new RunwatchError('CHECKPOINT_INCOMPATIBLE', `the checkpoint's state of operator "${name}" has another layout (${expected} here ${layout}): it was written by a build that keeps other state`);
      }
      rehydrate(root, data, name);
    }
    this.roots.set(name, root);
    this.layouts.set(name, layout);
  }

  /** The operators attached so far. */
  get names(): readonly string[] {
    return [...this.roots.keys()];
  }

  /** Every root, cloned now (synchronously), as bytes. */
  snapshot(): Buffer {
    const state: SerializedState = { format: STATE_FORMAT, roots: Object.fromEntries(this.roots), layouts: Object.fromEntries(this.layouts) };
    return serialize(state);
  }

  /** Reads a snapshot's bytes (checks the format; the layouts are checked per operator on attach). */
  static decode(bytes: Buffer): RestoredState {
    const value: unknown = deserialize(bytes);
    if (!isSerializedState(value)) throw new RunwatchError('CHECKPOINT_INCOMPATIBLE', 'the checkpoint state is not a runwatch operator state');
    if (value.format !== STATE_FORMAT) throw new RunwatchError('CHECKPOINT_INCOMPATIBLE', `the checkpoint state has format ${value.format}; this build reads format ${STATE_FORMAT}`);
    return { roots: value.roots, layouts: value.layouts };
  }
}

export interface RestoredState {
  readonly roots: Readonly<Record<string, unknown>>;
  readonly layouts: Readonly<Record<string, string>>;
}

const STATE_FORMAT = 1;

interface SerializedState {
  readonly format: number;
  readonly roots: Record<string, unknown>;
  readonly layouts: Record<string, string>;
}

function isSerializedState(value: unknown): value is SerializedState {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v['format'] === 'number' && typeof v['roots'] === 'object' && v['roots'] !== null && typeof v['layouts'] === 'object' && v['layouts'] !== null;
}

function isPlainObject(value: unknown): value is object {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** An instance of a class of ours (not a built-in container, not a plain object): restored field by field. */
function isClassInstance(value: unknown): value is object {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value) || ArrayBuffer.isView(value) || value instanceof Map || value instanceof Set || value instanceof ArrayBuffer) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto !== Object.prototype && proto !== null;
}

/**
 * Copies a deserialized snapshot into a freshly built state root. Class instances and plain
 * objects (and arrays of class instances, such as a table's column list) are filled in place, so
 * every other reference to them (a rule holding its column or its state object) sees the restored
 * values; any other field (numbers, Maps, Sets, arrays of data) is replaced.
 */
export function rehydrate(target: object, data: unknown, path: string): void {
  if (data === null || typeof data !== 'object') throw new RunwatchError('CHECKPOINT_INCOMPATIBLE', `checkpoint state at ${path}: expected an object, found ${data === null ? 'null' : typeof data}`);
  const fields = target as Record<string, unknown>;
  for (const [key, value] of Object.entries(data)) {
    const current = fields[key];
    if ((isClassInstance(current) || isPlainObject(current)) && value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Map) && !(value instanceof Set)) {
      rehydrate(current, value, `${path}.${key}`);
    } else if (Array.isArray(current) && Array.isArray(value) && current.some(isClassInstance)) {
      if (value.length !== current.length) throw new RunwatchError('CHECKPOINT_INCOMPATIBLE', `checkpoint state at ${path}.${key}: ${value.length} entries, this build has ${current.length}`);
      value.forEach((item: unknown, i) => {
        const existing: unknown = current[i];
        if (isClassInstance(existing)) rehydrate(existing, item, `${path}.${key}[${i}]`);
        else current[i] = item;
      });
    } else {
      fields[key] = value;
    }
  }
}

/**
 * A fingerprint of a root's shape: class names and field names, recursively through class
 * instances, plain objects and arrays of class instances (so state roots keep data keyed by ids
 * in Maps, never in plain objects). Two builds with the same fingerprint keep the same state.
 */
function layoutOf(root: object): string {
  const parts: string[] = [];
  const seen = new Set<object>();
  const walk = (node: object, path: string): void => {
    if (seen.has(node)) return;
    seen.add(node);
    const fields = node as Record<string, unknown>;
    const className = (Object.getPrototypeOf(node) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'Object';
    parts.push(`${path}:${className}{${Object.keys(fields).join(',')}}`);
    for (const [key, value] of Object.entries(fields)) {
      if (typeof value === 'function') throw new RunwatchError('INTERNAL', `operator state at ${path}.${key} is a function: state roots hold data only`);
      if (isClassInstance(value) || isPlainObject(value)) walk(value, `${path}.${key}`);
      else if (Array.isArray(value) && value.some(isClassInstance)) {
        parts.push(`${path}.${key}:[${value.length}]`);
        value.forEach((item: unknown, i) => {
          if (isClassInstance(item)) walk(item, `${path}.${key}[${i}]`);
        });
      }
    }
  };
  walk(root, '');
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}
