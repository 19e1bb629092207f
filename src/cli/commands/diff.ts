import { Command, Option } from 'commander';
import { createClickHouseClient } from '../../sinks/clickhouse-client.js';
import { differenceCount, diffReplays, type VerdictDiff, type VerdictRef } from '../../sinks/diff.js';
import { migrate } from '../../sinks/migrations.js';
import { addClickHouseOptions, clickHouseConfigFrom, parsers, type RawOptions } from '../options.js';

/**
 * `runwatch diff`: what a candidate replay changes against the live results or another replay.
 * Exit 1 when the differences exceed the budget (default: any), so it can gate a change in CI.
 */
export function diffCommand(): Command {
  const command = new Command('diff')
    .description('verdicts a candidate replay adds, removes and changes against a baseline (live or another replay), by rule and severity, with grade changes and examples; exit 1 above the budget')
    .addOption(new Option('--baseline <live|replay-id>', 'what the candidate is compared with').default('live').argParser(parsers.nonEmpty))
    .addOption(new Option('--candidate <replay-id>', 'the replay to judge').makeOptionMandatory().argParser(parsers.nonEmpty))
    .addOption(new Option('--format <format>', 'table (a terminal), md (a pull-request comment) or json').choices(['table', 'md', 'json']).default('table'))
    .addOption(new Option('--max-differences <n>', 'budget: exit 1 when more verdicts and grades differ than this').argParser(parsers.int).default(0))
    .addOption(new Option('--examples <n>', 'examples shown per kind of difference').argParser(parsers.int).default(5));
  addClickHouseOptions(command);
  return command.action(async (raw: RawOptions) => {
    const config = clickHouseConfigFrom(raw);
    const client = createClickHouseClient(config);
    let diff: VerdictDiff;
    try {
      // Reads only: the store must be migrated already (a diff never changes the schema).
      await migrate(client, config.database, { checkOnly: true });
      diff = await diffReplays(client, config.database, String(raw.baseline), String(raw.candidate));
    } finally {
      await client.close();
    }
    const budget = Number(raw.maxDifferences);
    const examples = Math.max(0, Number(raw.examples));
    const total = differenceCount(diff);
    const format = String(raw.format);
    process.stdout.write(format === 'json' ? `${JSON.stringify({ ...jsonOf(diff), differences: total, budget, withinBudget: total <= budget })}\n` : `${render(diff, total, budget, examples, format === 'md')}\n`);
    if (total > budget) process.exitCode = 1;
  });
}

function jsonOf(diff: VerdictDiff): object {
  const { candidateReplay, ...rest } = diff;
  return { ...rest, range: { from: candidateReplay.range_from, to: candidateReplay.range_to }, contract: { name: candidateReplay.contract_name, hash: candidateReplay.contract_hash }, byRule: byRule(diff) };
}

interface RuleCounts {
  rule: string;
  severity: string;
  added: number;
  removed: number;
  changedFrom: number;
  changedTo: number;
}

/** Counts per rule and severity: a changed verdict counts under its old severity (from) and its new one (to). */
function byRule(diff: VerdictDiff): RuleCounts[] {
  const rows = new Map<string, RuleCounts>();
  const row = (v: VerdictRef): RuleCounts => {
    const key = `${v.rule}\u0000${v.severity}`;
    let r = rows.get(key);
    if (r === undefined) {
      r = { rule: v.rule, severity: v.severity, added: 0, removed: 0, changedFrom: 0, changedTo: 0 };
      rows.set(key, r);
    }
    return r;
  };
  for (const v of diff.added) row(v).added += 1;
  for (const v of diff.removed) row(v).removed += 1;
  for (const c of diff.changed) {
    row(c.before).changedFrom += 1;
    row(c.after).changedTo += 1;
  }
  return [...rows.values()].sort((a, b) => a.rule.localeCompare(b.rule) || a.severity.localeCompare(b.severity));
}

function render(diff: VerdictDiff, total: number, budget: number, examples: number, md: boolean): string {
  const r = diff.candidateReplay;
  const lines: string[] = [];
  const heading = (text: string): void => void lines.push(md ? `\n### ${text}` : `\n${text}`);
  const verdict = (v: VerdictRef): string => `${v.runId}  ${v.rule} ${v.severity}  ${v.subject}`;
  lines.push(md ? `## runwatch diff: ${diff.candidate} vs ${diff.baseline}` : `runwatch diff: candidate ${diff.candidate} vs baseline ${diff.baseline}`);
  lines.push(`${md ? '' : '  '}runs starting in [${r.range_from}, ${r.range_to}); contract ${r.contract_name} (sha256 ${r.contract_hash.slice(0, 12)}); runs compared: ${diff.runs.baseline} baseline, ${diff.runs.candidate} candidate`);
  lines.push(`${md ? '**' : '  '}${total === 0 ? 'no difference' : `${total} difference(s)`}${md ? '**' : ''} (budget ${budget}: ${total <= budget ? 'within' : 'EXCEEDED'})`);
  const counts = byRule(diff);
  if (counts.length > 0) {
    heading('Verdicts by rule and severity');
    const header = ['rule', 'severity', 'added', 'removed', 'changed from', 'changed to'];
    const body = counts.map((c) => [c.rule, c.severity, String(c.added), String(c.removed), String(c.changedFrom), String(c.changedTo)]);
    lines.push(...table(header, body, md));
  }
  const section = <T>(title: string, items: readonly T[], show: (item: T) => string): void => {
    if (items.length === 0) return;
    heading(`${title} (${items.length})`);
    for (const item of items.slice(0, examples)) lines.push(`${md ? '- `' : '  '}${show(item)}${md ? '`' : ''}`);
    if (items.length > examples) lines.push(`${md ? '- ' : '  '}… ${items.length - examples} more (--format json lists all)`);
  };
  section('Added', diff.added, verdict);
  section('Removed', diff.removed, verdict);
  section('Changed', diff.changed, (c) => `${c.after.runId}  ${c.after.rule}  ${c.before.severity} -> ${c.after.severity}  ${c.after.subject}`);
  section('Run grades changed', diff.runGrades, (g) => `${g.runId}  ${g.before} -> ${g.after}`);
  section('Runs only in the baseline', diff.runsOnlyIn.baseline, (id) => id);
  section('Runs only in the candidate', diff.runsOnlyIn.candidate, (id) => id);
  section('User grade windows changed', diff.userGrades, (g) => `${g.userId} ${new Date(g.windowStartMs).toISOString()}  ${g.before} -> ${g.after}`);
  return lines.join('\n');
}

function table(header: readonly string[], rows: readonly (readonly string[])[], md: boolean): string[] {
  if (md) return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `  ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')}`;
  return [line(header), ...rows.map(line)];
}
