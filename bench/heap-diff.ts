/**
 * `npm run bench:heap-diff -- <before.heapsnapshot> <after.heapsnapshot> [type:name ...]`: what a
 * process's JS heap gained between two V8 heap snapshots of it (taken with
 * `node --heapsnapshot-signal=SIGUSR2`, then `kill -USR2 <pid>` twice, some work apart).
 *
 * Prints, largest first: the change per (node type, name) between the two snapshots; the objects
 * new in the second (V8 keeps an object's id across snapshots of one process); and, for each
 * `type:name` given (e.g. `object:Object`), the chain of retainers of a few new objects of that
 * kind, up to a GC root: what keeps them alive. Used to tell a leak from a bounded queue
 * (docs/performance.md, "Where a long replay's heap goes").
 *
 * Reads the snapshot's JSON by hand: a snapshot of a few hundred MB is a string longer than
 * `JSON.parse` takes.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  readonly nodeFields: readonly string[];
  readonly nodeTypes: readonly string[];
  readonly edgeFields: readonly string[];
  readonly edgeTypes: readonly string[];
  readonly nodes: Float64Array;
  readonly edges: Float64Array;
  readonly strings: readonly string[];
}

const [beforePath, afterPath, ...retainerKinds] = process.argv.slice(2);
if (beforePath === undefined || afterPath === undefined || beforePath === '--help') {
  process.stderr.write('usage: npm run bench:heap-diff -- <before.heapsnapshot> <after.heapsnapshot> [type:name ...]\n');
  process.exit(beforePath === '--help' ? 0 : 2);
}

/** The non-negative integers of the JSON array that follows `key`. */
function integersAfter(buf: Buffer, key: string): Float64Array {
  const start = buf.indexOf(key);
  if (start < 0) throw new Error(`not a heap snapshot: no ${key}`);
  const out: number[] = [];
  let value = 0;
  let inNumber = false;
  for (let i = start + key.length; i < buf.length; i += 1) {
    const c = buf[i] as number;
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      inNumber = true;
    } else {
      if (inNumber) out.push(value);
      value = 0;
      inNumber = false;
      if (c === 93) break; // ]
    }
  }
  return Float64Array.from(out);
}

/** The strings of the JSON array that follows `key`, one `JSON.parse` each. */
function stringsAfter(buf: Buffer, key: string): string[] {
  let i = buf.indexOf(key) + key.length;
  const out: string[] = [];
  for (;;) {
    while (buf[i] !== 34 && buf[i] !== 93) i += 1; // " or ]
    if (buf[i] === 93) return out;
    const start = i;
    i += 1;
    while (buf[i] !== 34) i += buf[i] === 92 ? 2 : 1; // skip escapes
    i += 1;
    out.push(JSON.parse(buf.toString('utf8', start, i)) as string);
  }
}

function load(path: string): Snapshot {
  const buf = readFileSync(path);
  const head = `${buf.toString('utf8', 0, buf.indexOf('"nodes":')).replace(/,\s*$/, '')}}`;
  const meta = (JSON.parse(head) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } } }).snapshot.meta;
  return {
    nodeFields: meta.node_fields,
    nodeTypes: meta.node_types[0],
    edgeFields: meta.edge_fields,
    edgeTypes: meta.edge_types[0],
    nodes: integersAfter(buf, '"nodes":['),
    edges: integersAfter(buf, '"edges":['),
    strings: stringsAfter(buf, '"strings":['),
  };
}

/** Node field accessors of one snapshot. */
function fieldsOf(s: Snapshot) {
  const width = s.nodeFields.length;
  const at = (name: string): number => s.nodeFields.indexOf(name);
  const [type, name, id, size] = [at('type'), at('name'), at('id'), at('self_size')];
  const typeOf = (n: number): string => s.nodeTypes[s.nodes[n * width + type] as number] ?? '?';
  return {
    count: s.nodes.length / width,
    typeOf,
    idOf: (n: number): number => s.nodes[n * width + id] as number,
    sizeOf: (n: number): number => s.nodes[n * width + size] as number,
    /** Strings are grouped by type alone; other names are cut to 60 characters. */
    kindOf: (n: number): string => {
      const t = typeOf(n);
      return t.includes('string') ? `${t}:` : `${t}:${(s.strings[s.nodes[n * width + name] as number] ?? '').slice(0, 60)}`;
    },
  };
}

function totals(s: Snapshot, include: (n: number) => boolean = () => true): Map<string, { count: number; bytes: number }> {
  const f = fieldsOf(s);
  const byKind = new Map<string, { count: number; bytes: number }>();
  for (let n = 0; n < f.count; n += 1) {
    if (!include(n)) continue;
    const entry = byKind.get(f.kindOf(n)) ?? { count: 0, bytes: 0 };
    entry.count += 1;
    entry.bytes += f.sizeOf(n);
    byKind.set(f.kindOf(n), entry);
  }
  return byKind;
}

/** One retainer chain (first strong retainer at each step) for a few new nodes of `kind`. */
function retainerChains(s: Snapshot, kind: string, isNew: (n: number) => boolean, samples = 4, depth = 14): string[] {
  const f = fieldsOf(s);
  const width = s.nodeFields.length;
  const edgeWidth = s.edgeFields.length;
  const [edgeType, edgeName, edgeTo] = [s.edgeFields.indexOf('type'), s.edgeFields.indexOf('name_or_index'), s.edgeFields.indexOf('to_node')];
  const edgeCount = s.nodeFields.indexOf('edge_count');
  const retainer = new Int32Array(f.count).fill(-1);
  const viaEdge = new Int32Array(f.count).fill(-1);
  for (let n = 0, e = 0; n < f.count; n += 1) {
    const end = e + (s.nodes[n * width + edgeCount] as number) * edgeWidth;
    for (; e < end; e += edgeWidth) {
      const type = s.edgeTypes[s.edges[e + edgeType] as number];
      if (type === 'weak' || type === 'shortcut') continue;
      const to = (s.edges[e + edgeTo] as number) / width;
      if (retainer[to] === -1) {
        retainer[to] = n;
        viaEdge[to] = e;
      }
    }
  }
  const edgeLabel = (e: number): string => {
    const type = s.edgeTypes[s.edges[e + edgeType] as number];
    const value = s.edges[e + edgeName] as number;
    return type === 'element' || type === 'hidden' ? `[${value}]` : `.${s.strings[value] ?? '?'}`;
  };
  const chains: string[] = [];
  for (let n = 0; n < f.count && chains.length < samples; n += 1) {
    if (f.kindOf(n) !== kind || !isNew(n) || n % 97 !== 0) continue; // spread the samples
    const steps = [f.kindOf(n)];
    for (let at = n, d = 0; d < depth && retainer[at] !== -1; d += 1, at = retainer[at] as number) steps.push(`${edgeLabel(viaEdge[at] as number)} of ${f.kindOf(retainer[at] as number)}`);
    chains.push(steps.join('\n    '));
  }
  return chains;
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;
const before = load(beforePath);
const after = load(afterPath);
const beforeIds = new Set<number>();
{
  const f = fieldsOf(before);
  for (let n = 0; n < f.count; n += 1) beforeIds.add(f.idOf(n));
}
const afterFields = fieldsOf(after);
const isNew = (n: number): boolean => !beforeIds.has(afterFields.idOf(n));

const [totalsBefore, totalsAfter] = [totals(before), totals(after)];
console.log(`objects: ${fieldsOf(before).count} -> ${afterFields.count}\n\nchange by kind (bytes, count; total after):`);
const kinds = [...new Set([...totalsBefore.keys(), ...totalsAfter.keys()])].map((kind) => {
  const [b, a] = [totalsBefore.get(kind) ?? { count: 0, bytes: 0 }, totalsAfter.get(kind) ?? { count: 0, bytes: 0 }];
  return { kind, bytes: a.bytes - b.bytes, count: a.count - b.count, total: a.bytes };
});
for (const k of kinds.sort((x, y) => y.bytes - x.bytes).slice(0, 25)) console.log(`${mb(k.bytes).padStart(10)} ${String(k.count).padStart(9)}  (${mb(k.total)})  ${k.kind}`);
console.log('\nnew in the second snapshot:');
for (const [kind, t] of [...totals(after, isNew)].sort((x, y) => y[1].bytes - x[1].bytes).slice(0, 20)) console.log(`${mb(t.bytes).padStart(10)} ${String(t.count).padStart(9)}  ${kind}`);
for (const kind of retainerKinds) {
  console.log(`\nwhat keeps new ${kind} alive:`);
  for (const chain of retainerChains(after, kind, isNew)) console.log(`  ${chain}`);
}
