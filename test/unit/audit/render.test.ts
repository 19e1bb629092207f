/**
 * The audit report formats keep what they print intact: JSON gives the same bytes for the same
 * reports, CSV fields with commas, quotes and line breaks come back as written, Markdown and HTML
 * escape what would otherwise become markup, the HTML page references nothing outside itself, and
 * the text for a terminal names every query's result hash. The charts' drawing is checked in a
 * real browser by test/integration/auditHtml.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { HTML_DATA_ELEMENT_ID, renderReports } from '../../../src/audit/render.js';
import type { AuditReport } from '../../../src/audit/report.js';

const HASH_A = '0f'.repeat(32);
const HASH_B = 'e1'.repeat(32);

const TRICKY_CELLS = ['plain', 'a,b', 'say "hi"', 'two\nlines', 'crlf\r\nline', ' padded ', '', 'a|b', '<b>bold</b>', '</script><script>alert(1)</script>'];

function reportFixture(): AuditReport {
  return {
    report: 'isolation',
    title: 'Isolation: no run </script> crossed tenants',
    from: '2026-10-01T00:00:00.000Z',
    to: '2026-11-01T00:00:00.000Z',
    includeReplays: false,
    generatedAt: '2026-11-01T08:00:00.000Z',
    build: '0.1.0+abcdef0',
    outcome: { ok: false, text: '2 runs crossed tenants' },
    queries: [
      { name: 'isolation_violations', file: 'schemas/audit/isolation_violations.sql', params: { to: '2026-11-01 00:00:00.000', database: 'runwatch', from: '2026-10-01 00:00:00.000', include_replays: 0 }, rowCount: 2, resultHash: HASH_A },
      { name: 'isolation_coverage', file: 'schemas/audit/isolation_coverage.sql', params: { database: 'runwatch' }, rowCount: 1, resultHash: HASH_B },
    ],
    tables: [
      { title: 'Violations, with "quotes"', columns: ['run_id', 'tenant', 'events'], rows: TRICKY_CELLS.map((cell, index) => [`run-${index}`, cell, index * 10]) },
      { title: 'Coverage', columns: ['runs', 'tenants'], rows: [[1200, 3]] },
      { title: 'Unmatched', columns: ['run_id', 'tenant', 'events'], rows: [['run-x', null, 7]] },
    ],
    charts: [{ id: 'by-tenant', kind: 'bar', title: 'Runs by tenant', unit: 'runs', categories: ['t1', 't2'], series: [{ name: 'runs', values: [1000, 200] }] }],
  };
}

/** RFC 4180 records: quoted fields may hold commas, doubled quotes and line breaks; records end in CRLF. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"' && field === '') {
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new Error('unterminated quoted field');
        field += text.slice(i, q);
        if (text[q + 1] === '"') {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      if (i < text.length && text[i] !== ',' && text[i] !== '\r') throw new Error(`text after a closing quote at ${i}`);
    } else if (c === ',') {
      record.push(field);
      field = '';
      i++;
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 2;
    } else {
      if (c === '"' || c === '\n' || c === '\r') throw new Error(`bare ${JSON.stringify(c)} in an unquoted field at ${i}`);
      field += c;
      i++;
    }
  }
  if (field !== '' || record.length > 0) throw new Error('the last record has no CRLF');
  return records;
}

describe('renderReports', () => {
  it('json: the same reports give the same bytes, whatever order their keys were built in', () => {
    const report = reportFixture();
    const json = renderReports([report], 'json');
    expect(json.endsWith('}\n')).toBe(true);
    expect(renderReports([reportFixture()], 'json')).toBe(json);
    // The same content built in another key order (a builder's refactoring) must not change a byte.
    const [violations, coverage] = report.queries;
    if (violations === undefined || coverage === undefined) throw new Error('fixture');
    const reordered = Object.fromEntries(Object.entries(report).reverse()) as unknown as AuditReport;
    const reshuffled: AuditReport = { ...reordered, queries: [{ resultHash: violations.resultHash, rowCount: violations.rowCount, params: Object.fromEntries(Object.entries(violations.params).reverse()), file: violations.file, name: violations.name }, coverage] };
    expect(renderReports([reshuffled], 'json')).toBe(json);
    expect(JSON.parse(json)).toEqual({ reports: [report] });
  });

  it('csv: every line is a record, fields come back as written, tables with other columns start a new block', () => {
    const report = reportFixture();
    const csv = renderReports([report], 'csv');
    const records = parseCsv(csv);
    const blocks: string[][][] = [[]];
    for (const record of records) {
      if (record.length === 1 && record[0] === '') blocks.push([]);
      else blocks.at(-1)?.push(record);
    }
    expect(blocks).toHaveLength(4);
    const [violations, coverage, unmatched, queries] = blocks;
    expect(violations?.[0]).toEqual(['report', 'table', 'run_id', 'tenant', 'events']);
    expect(violations?.slice(1).map((record) => record[3])).toEqual(TRICKY_CELLS);
    expect(violations?.[1]).toEqual(['isolation', 'Violations, with "quotes"', 'run-0', 'plain', '0']);
    expect(coverage).toEqual([
      ['report', 'table', 'runs', 'tenants'],
      ['isolation', 'Coverage', '1200', '3'],
    ]);
    // The same columns as the first table, but not as the one just before it: a block of its own.
    expect(unmatched).toEqual([
      ['report', 'table', 'run_id', 'tenant', 'events'],
      ['isolation', 'Unmatched', 'run-x', '', '7'],
    ]);
    expect(queries).toEqual([
      ['report', 'query', 'file', 'params', 'row_count', 'result_sha256'],
      ['isolation', 'isolation_violations', 'schemas/audit/isolation_violations.sql', 'database=runwatch;from=2026-10-01 00:00:00.000;include_replays=0;to=2026-11-01 00:00:00.000', '2', HASH_A],
      ['isolation', 'isolation_coverage', 'schemas/audit/isolation_coverage.sql', 'database=runwatch', '1', HASH_B],
    ]);
  });

  it('csv: tables with the same columns share a block, one header row for all', () => {
    const report = reportFixture();
    const coverage = report.tables[1];
    if (coverage === undefined) throw new Error('fixture');
    const csv = renderReports([{ ...report, tables: [coverage] }, { ...report, report: 'isolation-2', tables: [coverage] }], 'csv');
    const records = parseCsv(csv);
    expect(records.slice(0, 5)).toEqual([
      ['report', 'table', 'runs', 'tenants'],
      ['isolation', 'Coverage', '1200', '3'],
      ['isolation-2', 'Coverage', '1200', '3'],
      [''],
      ['report', 'query', 'file', 'params', 'row_count', 'result_sha256'],
    ]);
    expect(records.slice(5).map((record) => record[0])).toEqual(['isolation', 'isolation', 'isolation-2', 'isolation-2']);
  });


  it('md: a | in a cell is escaped, so every row has as many cells as the header; markup is shown as text', () => {
    const md = renderReports([reportFixture()], 'md');
    expect(md).toContain('## Isolation: no run \\</script\\> crossed tenants');
    expect(md).toContain('**PROBLEM: 2 runs crossed tenants**');
    expect(md).toContain('| run-7 | a\\|b | 70 |');
    expect(md).toContain('\\<b\\>bold\\</b\\>');
    expect(md).toContain('two<br>lines');
    const unescapedPipes = (line: string): number => (line.match(/(?<!\\)\|/g) ?? []).length;
    const violationRows = md.split('\n').filter((line) => line.startsWith('| run-'));
    expect(violationRows).toHaveLength(TRICKY_CELLS.length + 1);
    for (const line of violationRows) expect(unescapedPipes(line), line).toBe(4);
    expect(md).toContain('| run_id | tenant | events |\n| --- | --- | ---: |');
    expect(md).toContain(`\`${HASH_A}\``);
  });

  it('html: one page that references nothing outside itself', () => {
    const html = renderReports([reportFixture()], 'html');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/<link\b|<img\b|<iframe\b|\bsrc=|@import|url\(/i);
    expect(html.match(/<script\b/g)).toHaveLength(2);
    expect(html).toContain(`<script type="application/json" id="${HTML_DATA_ELEMENT_ID}">`);
    expect(html).toContain("default-src 'none'");
  });

  it('html: data cannot close its <script>, and a table cell cannot add markup', () => {
    const report = reportFixture();
    const html = renderReports([report], 'html');
    // Only the two script elements' own closing tags: none from the data.
    expect(html.match(/<\/script/gi)).toHaveLength(2);
    const data = html.match(new RegExp(`<script type="application/json" id="${HTML_DATA_ELEMENT_ID}">([^<]*)</script>`))?.[1];
    expect(data).toBeDefined();
    expect(JSON.parse(data ?? '')).toEqual({ reports: [report] });
    expect(html).toContain('<td>&lt;b&gt;bold&lt;/b&gt;</td>');
    expect(html).toContain('<td>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</td>');
    expect(html).toContain('<td>say &quot;hi&quot;</td>');
    expect(html).toContain('<h2>Isolation: no run &lt;/script&gt; crossed tenants</h2>');
    expect(html).not.toContain('<b>bold');
  });

  it('html: the chart script parses, and each chart has its figure for the script to draw into', () => {
    const html = renderReports([reportFixture()], 'html');
    const script = html.match(/<script>([\s\S]*?)<\/script>/)?.[1] ?? '';
    expect(script).toContain('chartsDrawn');
    expect(() => new Function(script)).not.toThrow();
    expect(html).toContain('<figure class="chart chart-bar" id="by-tenant" data-report-index="0" data-chart-index="0" data-kind="bar">');
    expect(html).toContain('<td class="hash">' + HASH_A + '</td>');
    expect(html).toContain('re-run as is from its file with these server-side parameters');
  });

  it('html: rendering twice gives the same page', () => {
    expect(renderReports([reportFixture()], 'html')).toBe(renderReports([reportFixture()], 'html'));
  });

  it('table: heading, outcome, aligned columns and every query with its result hash', () => {
    const report = reportFixture();
    const text = renderReports([report, { ...report, report: 'grades', outcome: { ok: true, text: 'all graded' }, queries: [] }], 'table');
    for (const query of report.queries) expect(text).toContain(query.resultHash);
    expect(text).toContain('isolation: Isolation: no run </script> crossed tenants\n==');
    expect(text).toContain('  period     2026-10-01T00:00:00.000Z to 2026-11-01T00:00:00.000Z');
    expect(text).toContain('  replays    excluded (live evidence only)');
    expect(text).toContain('  build      0.1.0+abcdef0');
    expect(text).toMatch(/^PROBLEM: 2 runs crossed tenants$/m);
    expect(text).toMatch(/^OK: all graded$/m);
    // Numbers right-aligned under their header; a line break in a cell is shown, not printed.
    expect(text).toContain('runs  tenants\n----  -------\n1200        3');
    expect(text).toContain('run-3   two\\nlines');
    expect(text).toContain("database=runwatch from='2026-10-01 00:00:00.000' include_replays=0 to='2026-11-01 00:00:00.000'");
    expect(text).toContain('Chart "Runs by tenant" (bar, 2 categories x 1 series): drawn in --format html');
  });

  it('every format handles no reports', () => {
    for (const format of ['table', 'csv', 'json', 'md', 'html'] as const) expect(renderReports([], format).length).toBeGreaterThan(0);
    expect(renderReports([], 'json')).toBe('{\n  "reports": []\n}\n');
  });
});
