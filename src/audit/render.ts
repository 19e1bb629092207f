/**
 * Audit reports (src/audit/report.ts) printed as text for a terminal, CSV, JSON, Markdown or one
 * self-contained HTML page whose inline script draws the charts as SVG. Every format is a pure
 * function of the reports: the same reports give the same bytes.
 */
import type { AuditChart, AuditQueryRun, AuditReport, AuditTable, Cell } from './report.js';

export type AuditFormat = 'table' | 'csv' | 'json' | 'md' | 'html';

/** Series colours of the html charts, in series order (Tableau 10); more series get generated hues. */
export const SERIES_COLOURS: readonly string[] = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** The id of the element holding the reports as JSON in the html page (the charts are drawn from it). */
export const HTML_DATA_ELEMENT_ID = 'runwatch-audit-data';

export function renderReports(reports: readonly AuditReport[], format: AuditFormat): string {
  switch (format) {
    case 'table':
      return renderText(reports);
    case 'csv':
      return renderCsv(reports);
    case 'json':
      return renderJson(reports);
    case 'md':
      return renderMarkdown(reports);
    case 'html':
      return renderHtml(reports);
  }
}

// ---------------------------------------------------------------------------------------------
// Shared

/** Parameters sorted by name, so that the order the builder inserted them in never shows. */
function sortedParams(params: AuditQueryRun['params']): Array<[string, string | number]> {
  return Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function cellText(cell: Cell): string {
  return cell === null ? '' : String(cell);
}

/** A column is right-aligned when every value in it is a number. */
function numericColumns(table: AuditTable): boolean[] {
  return table.columns.map((_, index) => {
    const cells = table.rows.map((row) => row[index] ?? null).filter((cell) => cell !== null);
    return cells.length > 0 && cells.every((cell) => typeof cell === 'number');
  });
}

function periodText(report: AuditReport): string {
  return `${report.from} to ${report.to} ([from, to), UTC)`;
}

function replaysText(report: AuditReport): string {
  return report.includeReplays ? 'included (--include-replays)' : 'excluded (live evidence only)';
}

function outcomeLabel(report: AuditReport): string {
  return report.outcome.ok ? 'OK' : 'PROBLEM';
}

// ---------------------------------------------------------------------------------------------
// table: plain text for a terminal

/** Control characters from the store would move the cursor or break the columns: shown escaped. */
function terminalSafe(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

function textWidth(text: string): number {
  return [...text].length;
}

function alignedLines(header: readonly string[], rows: ReadonlyArray<readonly string[]>, rightAligned: readonly boolean[]): string[] {
  const widths = header.map((title, index) => rows.reduce((width, row) => Math.max(width, textWidth(row[index] ?? '')), textWidth(title)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, index) => {
        const pad = ' '.repeat((widths[index] ?? 0) - textWidth(cell));
        return rightAligned[index] === true ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)];
}

/** Text parameters are quoted like a shell would need them, so `from='2026-11-01 00:00:00.000'` reads as one value. */
function textParams(params: AuditQueryRun['params']): string {
  return sortedParams(params)
    .map(([name, value]) => {
      const text = terminalSafe(String(value));
      return `${name}=${/^[A-Za-z0-9_.:+\-/@]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`}`;
    })
    .join(' ');
}

function renderTextReport(report: AuditReport): string {
  const heading = terminalSafe(`${report.report}: ${report.title}`);
  const lines: string[] = [heading, '='.repeat(textWidth(heading))];
  lines.push(`  period     ${terminalSafe(periodText(report))}`);
  lines.push(`  replays    ${replaysText(report)}`);
  lines.push(`  build      ${terminalSafe(report.build)}`);
  lines.push(`  generated  ${terminalSafe(report.generatedAt)}`);
  lines.push('', `${outcomeLabel(report)}: ${terminalSafe(report.outcome.text)}`);
  for (const table of report.tables) {
    lines.push('', terminalSafe(table.title));
    if (table.columns.length === 0) {
      lines.push('(no columns)');
      continue;
    }
    const rows = table.rows.map((row) => table.columns.map((_, index) => terminalSafe(cellText(row[index] ?? null))));
    lines.push(...alignedLines(table.columns.map(terminalSafe), rows, numericColumns(table)));
    if (rows.length === 0) lines.push('(no rows)');
  }
  for (const chart of report.charts) {
    lines.push('', `Chart "${terminalSafe(chart.title)}" (${chart.kind}, ${chart.categories.length} categories x ${chart.series.length} series): drawn in --format html`);
  }
  lines.push('', 'Queries (each re-runs as is from its file with these server-side parameters)');
  const queryRows = report.queries.map((query) => [terminalSafe(query.name), terminalSafe(query.file), textParams(query.params), String(query.rowCount), query.resultHash]);
  lines.push(...alignedLines(['name', 'file', 'params', 'rows', 'result sha256'], queryRows, [false, false, false, true, false]));
  return lines.join('\n');
}

function renderText(reports: readonly AuditReport[]): string {
  if (reports.length === 0) return 'no reports\n';
  return `${reports.map(renderTextReport).join('\n\n\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// csv: RFC 4180, CRLF line ends

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}

function sameColumns(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((column, index) => column === b[index]);
}

/**
 * Every line is a CSV record: each table row is prefixed with its report and table title. Tables
 * follow one another in one block while their columns are the same; other columns start a new
 * block (a blank line, then its own header row). The queries come last, in a block of their own.
 */
function renderCsv(reports: readonly AuditReport[]): string {
  const blocks: string[] = [];
  let current: { columns: readonly string[]; text: string } | undefined;
  for (const report of reports) {
    for (const table of report.tables) {
      if (current === undefined || !sameColumns(current.columns, table.columns)) {
        if (current !== undefined) blocks.push(current.text);
        current = { columns: table.columns, text: csvLine(['report', 'table', ...table.columns]) };
      }
      for (const row of table.rows) current.text += csvLine([report.report, table.title, ...table.columns.map((_, index) => cellText(row[index] ?? null))]);
    }
  }
  if (current !== undefined) blocks.push(current.text);
  let queries = csvLine(['report', 'query', 'file', 'params', 'row_count', 'result_sha256']);
  for (const report of reports) {
    for (const query of report.queries) {
      const params = sortedParams(query.params)
        .map(([name, value]) => `${name}=${value}`)
        .join(';');
      queries += csvLine([report.report, query.name, query.file, params, String(query.rowCount), query.resultHash]);
    }
  }
  blocks.push(queries);
  return blocks.join('\r\n');
}

// ---------------------------------------------------------------------------------------------
// json

/**
 * The report with its keys in the order of the AuditReport interface and parameters sorted by
 * name: reports equal in content give the same bytes whatever order their objects were built in.
 */
function canonicalReport(report: AuditReport): AuditReport {
  return {
    report: report.report,
    title: report.title,
    from: report.from,
    to: report.to,
    includeReplays: report.includeReplays,
    generatedAt: report.generatedAt,
    build: report.build,
    outcome: { ok: report.outcome.ok, text: report.outcome.text },
    queries: report.queries.map((query) => ({ name: query.name, file: query.file, params: Object.fromEntries(sortedParams(query.params)), rowCount: query.rowCount, resultHash: query.resultHash })),
    tables: report.tables.map((table) => ({ title: table.title, columns: [...table.columns], rows: table.rows.map((row) => [...row]) })),
    charts: report.charts.map((chart) => ({
      id: chart.id,
      kind: chart.kind,
      title: chart.title,
      unit: chart.unit,
      categories: [...chart.categories],
      series: chart.series.map((series) => ({ name: series.name, values: [...series.values] })),
    })),
  };
}

function renderJson(reports: readonly AuditReport[]): string {
  return `${JSON.stringify({ reports: reports.map(canonicalReport) }, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// md: GitHub-flavoured Markdown

/**
 * Text that Markdown shows as written: its punctuation escaped (an underscore only where it could
 * start or end emphasis, so snake_case names stay readable), line breaks as <br> (a cell is one line).
 */
function mdText(text: string): string {
  const wordCharacter = (c: string): boolean => /[A-Za-z0-9]/.test(c);
  return text.replace(/\r\n|\r|\n|[\\|`*[\]<>#_]/g, (c: string, offset: number) => {
    if (c === '_') return wordCharacter(text.charAt(offset - 1)) && wordCharacter(text.charAt(offset + 1)) ? c : '\\_';
    return c.endsWith('\n') || c === '\r' ? '<br>' : `\\${c}`;
  });
}

function mdTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>, rightAligned: readonly boolean[]): string[] {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, index) => (rightAligned[index] === true ? '---:' : '---'))), ...rows.map(line)];
}

function renderMarkdownReport(report: AuditReport): string {
  const lines: string[] = [`## ${mdText(report.title)}`, ''];
  lines.push(`Report \`${report.report.replace(/`/g, '')}\` · period ${mdText(periodText(report))} · replays ${mdText(replaysText(report))} · build ${mdText(report.build)} · generated ${mdText(report.generatedAt)}`);
  lines.push('', `**${outcomeLabel(report)}: ${mdText(report.outcome.text)}**`);
  for (const table of report.tables) {
    lines.push('', `### ${mdText(table.title)}`, '');
    if (table.columns.length === 0) {
      lines.push('_(no columns)_');
      continue;
    }
    const rows = table.rows.map((row) => table.columns.map((_, index) => mdText(cellText(row[index] ?? null))));
    lines.push(...mdTable(table.columns.map(mdText), rows, numericColumns(table)));
    if (rows.length === 0) lines.push('', '_(no rows)_');
  }
  for (const chart of report.charts) lines.push('', `_Chart “${mdText(chart.title)}” (${chart.kind}): drawn in the html format._`);
  lines.push('', '### Queries', '');
  const queryRows = report.queries.map((query) => [
    mdText(query.name),
    mdText(query.file),
    mdText(
      sortedParams(query.params)
        .map(([name, value]) => `${name}=${value}`)
        .join('; '),
    ),
    String(query.rowCount),
    `\`${query.resultHash.replace(/`/g, '')}\``,
  ]);
  lines.push(...mdTable(['query', 'file', 'params', 'rows', 'result sha256'], queryRows, [false, false, false, true, false]));
  lines.push('', 'Each query re-runs as is from its file with these parameters as server-side query parameters; the sha256 is of its result in JSONEachRow, rows in the query’s order.');
  return lines.join('\n');
}

function renderMarkdown(reports: readonly AuditReport[]): string {
  if (reports.length === 0) return '_No reports._\n';
  return `${reports.map(renderMarkdownReport).join('\n\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// html: one self-contained page

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

/** JSON inside <script>: `<` escaped so that no string in the data can close the element or open a comment. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const PAGE_STYLE = `
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --rule: #d1d9e0; --ok: #1a7f37; --problem: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 24px 32px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 8px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
header.page { border-bottom: 2px solid var(--ink); margin-bottom: 20px; padding-bottom: 8px; }
header.page p { margin: 0; color: var(--muted); }
nav.contents ul { margin: 6px 0 0; padding-left: 20px; }
section.report { border-top: 1px solid var(--rule); padding-top: 20px; margin-top: 28px; }
section.report:first-of-type { border-top: 0; margin-top: 0; padding-top: 0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0 0 12px; color: var(--muted); }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
.outcome { border-left: 6px solid; padding: 8px 12px; margin: 8px 0 16px; font-weight: 600; }
.outcome.ok { border-color: var(--ok); background: #dafbe1; }
.outcome.problem { border-color: var(--problem); background: #ffebe9; }
.badge { display: inline-block; min-width: 5.5em; font-weight: 700; }
.outcome.ok .badge, .status.ok { color: var(--ok); }
.outcome.problem .badge, .status.problem { color: var(--problem); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: 4px 0 8px; font-size: 13px; }
th, td { border: 1px solid var(--rule); padding: 3px 8px; text-align: left; vertical-align: top; white-space: pre-wrap; }
th { background: #f6f8fa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.null { color: var(--muted); }
td.hash, td.code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
p.empty, p.note { color: var(--muted); margin: 4px 0 8px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px 24px; }
figure.chart { margin: 8px 0; flex: 1 1 560px; max-width: 780px; }
figure.chart figcaption { font-weight: 600; margin-bottom: 4px; }
svg.plot { width: 100%; height: auto; display: block; }
svg.plot text { font-size: 11px; fill: var(--muted); font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
svg.plot text.legend-label { fill: var(--ink); font-size: 12px; }
svg.plot text.no-data { font-size: 14px; }
svg.plot line.grid { stroke: #eaeef2; }
svg.plot line.axis { stroke: var(--muted); }
svg.plot polyline.line { fill: none; stroke-width: 2; }
figure.chart.failed .plot-area { color: var(--problem); }
@page { margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section.report { break-before: page; border-top: 0; margin-top: 0; padding-top: 0; }
  section.report:first-of-type { break-before: auto; }
  figure.chart, .outcome, tr, dl.meta { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  thead { display: table-header-group; }
  .table-wrap { overflow: visible; }
  table { font-size: 8.5pt; }
  figure.chart { flex-basis: 100%; }
}
`;

/**
 * The page's one script: reads the reports from the data element and draws every chart into its
 * figure as SVG markup (parsed by the HTML parser, so no namespace URL is needed). Every bar,
 * segment and point is an element with class "mark" and its series, category and value as data
 * attributes, so a test reading the DOM can check the drawing against the data. Plain ES2017,
 * no template literals: it is itself embedded in a template literal here.
 */
function chartScript(): string {
  return `
(function () {
  'use strict';
  var COLOURS = ${scriptJson(SERIES_COLOURS)};
  var WIDTH = 760;
  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;';
    });
  }
  function colour(index) {
    // Past the palette: hues a golden angle apart, lightness alternating so neighbours differ.
    return index < COLOURS.length ? COLOURS[index] : 'hsl(' + Math.round((40 + index * 137.508) % 360) + ',60%,' + (index % 2 === 0 ? 38 : 58) + '%)';
  }
  function round2(x) { return Math.round(x * 100) / 100; }
  function niceMax(max) {
    if (!(max > 0)) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(max)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= max) return steps[i] * power;
    return 10 * power;
  }
  function fmt(value) { return String(Number(value.toPrecision(4))); }
  function withUnit(value, unit) { return unit === '%' ? fmt(value) + '%' : fmt(value) + (unit ? ' ' + unit : ''); }
  function valueAt(series, index) {
    var value = series.values[index];
    return typeof value === 'number' && isFinite(value) ? value : null;
  }
  function textWidth(text, size) { return String(text).length * size * 0.6; }
  function shorten(text, max) { return text.length > max ? text.slice(0, max - 1) + '\\u2026' : text; }

  function draw(chart) {
    var categories = chart.categories, series = chart.series;
    if (categories.length === 0 || series.length === 0) {
      return '<svg class="plot" viewBox="0 0 ' + WIDTH + ' 120" width="' + WIDTH + '" height="120" role="img" aria-label="' + esc(chart.title) + ': no data">' +
        '<text class="no-data" x="' + WIDTH / 2 + '" y="64" text-anchor="middle">no data</text></svg>';
    }
    var out = [];
    // Legend first: its rows decide the top margin.
    var legend = [], legendX = 64, legendRow = 0;
    for (var s = 0; s < series.length; s++) {
      var itemWidth = 18 + textWidth(series[s].name, 12) + 18;
      if (legendX + itemWidth > WIDTH - 8 && legendX > 64) { legendRow++; legendX = 64; }
      legend.push('<g class="legend-item" data-series="' + esc(series[s].name) + '"><rect x="' + round2(legendX) + '" y="' + (6 + legendRow * 18) + '" width="12" height="12" fill="' + colour(s) + '"></rect>' +
        '<text class="legend-label" x="' + round2(legendX + 17) + '" y="' + (16 + legendRow * 18) + '">' + esc(series[s].name) + '</text></g>');
      legendX += itemWidth;
    }
    var n = categories.length;
    var longest = 0;
    for (var c = 0; c < n; c++) longest = Math.max(longest, Math.min(String(categories[c]).length, 24));
    var top = 6 + (legendRow + 1) * 18 + 22, left = 64, right = 16;
    var band = (WIDTH - left - right) / n;
    var horizontal = textWidth('x'.repeat(longest), 11) + 6 <= band;
    var bottom = horizontal ? 30 : Math.min(140, 20 + longest * 5);
    var plotHeight = 240, height = top + plotHeight + bottom, baseline = top + plotHeight;
    var stacked = chart.kind === 'stacked-bar';
    var max = 0;
    for (c = 0; c < n; c++) {
      var sum = 0;
      for (s = 0; s < series.length; s++) {
        var v = valueAt(series[s], c);
        if (v === null) continue;
        if (stacked) sum += Math.max(v, 0); else max = Math.max(max, v);
      }
      if (stacked) max = Math.max(max, sum);
    }
    var yMax = niceMax(max);
    // Values below zero are drawn at the baseline (audit values are counts, rates and durations).
    function y(value) { return baseline - (Math.max(value, 0) / yMax) * plotHeight; }
    out.push('<svg class="plot" viewBox="0 0 ' + WIDTH + ' ' + height + '" width="' + WIDTH + '" height="' + height + '" role="img" aria-label="' + esc(chart.title) + '">');
    out.push(legend.join(''));
    for (var t = 0; t <= 4; t++) {
      var tickValue = (yMax * t) / 4, tickY = round2(y(tickValue));
      out.push('<line class="grid" x1="' + left + '" x2="' + (WIDTH - right) + '" y1="' + tickY + '" y2="' + tickY + '"></line>');
      if (t === 4) out.push('<text class="tick y-max" x="4" y="' + (tickY - 8) + '">' + esc(withUnit(tickValue, chart.unit)) + '</text>');
      else out.push('<text class="tick" x="' + (left - 6) + '" y="' + (tickY + 4) + '" text-anchor="end">' + esc(fmt(tickValue)) + '</text>');
    }
    out.push('<line class="axis" x1="' + left + '" x2="' + left + '" y1="' + top + '" y2="' + baseline + '"></line>');
    out.push('<line class="axis" x1="' + left + '" x2="' + (WIDTH - right) + '" y1="' + baseline + '" y2="' + baseline + '"></line>');
    var labelStep = horizontal ? 1 : Math.max(1, Math.ceil(14 / band));
    for (c = 0; c < n; c += labelStep) {
      var labelX = round2(left + (c + 0.5) * band), label = String(categories[c]);
      var attributes = horizontal
        ? 'x="' + labelX + '" y="' + (baseline + 16) + '" text-anchor="middle"'
        : 'x="' + labelX + '" y="' + (baseline + 12) + '" text-anchor="end" transform="rotate(-40 ' + labelX + ' ' + (baseline + 12) + ')"';
      out.push('<text class="category" ' + attributes + '><title>' + esc(label) + '</title>' + esc(shorten(label, 24)) + '</text>');
    }
    function mark(element, s, c, value, geometry) {
      var name = series[s].name, category = String(categories[c]);
      return '<' + element + ' class="mark" data-series="' + esc(name) + '" data-category="' + esc(category) + '" data-value="' + esc(String(value)) + '" ' + geometry + ' fill="' + colour(s) + '">' +
        '<title>' + esc(name + ' \\u00b7 ' + category + ': ' + withUnit(value, chart.unit)) + '</title></' + element + '>';
    }
    if (chart.kind === 'line') {
      for (s = 0; s < series.length; s++) {
        var points = [], circles = [];
        for (c = 0; c < n; c++) {
          var value = valueAt(series[s], c);
          if (value === null) continue;
          var px = round2(left + (c + 0.5) * band), py = round2(y(value));
          points.push(px + ',' + py);
          circles.push(mark('circle', s, c, value, 'cx="' + px + '" cy="' + py + '" r="3.5"'));
        }
        out.push('<polyline class="line" data-series="' + esc(series[s].name) + '" points="' + points.join(' ') + '" stroke="' + colour(s) + '"></polyline>');
        out.push(circles.join(''));
      }
    } else if (stacked) {
      var barWidth = round2(band * 0.7);
      for (c = 0; c < n; c++) {
        var below = 0;
        for (s = 0; s < series.length; s++) {
          var segment = valueAt(series[s], c);
          if (segment === null) continue;
          var y0 = y(below), y1 = y(below + Math.max(segment, 0));
          out.push(mark('rect', s, c, segment, 'x="' + round2(left + c * band + band * 0.15) + '" y="' + round2(y1) + '" width="' + barWidth + '" height="' + round2(y0 - y1) + '"'));
          below += Math.max(segment, 0);
        }
      }
    } else {
      var slot = (band * 0.8) / series.length;
      for (c = 0; c < n; c++) {
        for (s = 0; s < series.length; s++) {
          var bar = valueAt(series[s], c);
          if (bar === null) continue;
          var barTop = y(bar);
          out.push(mark('rect', s, c, bar, 'x="' + round2(left + c * band + band * 0.1 + s * slot) + '" y="' + round2(barTop) + '" width="' + round2(series.length > 1 ? slot * 0.9 : slot) + '" height="' + round2(baseline - barTop) + '"'));
        }
      }
    }
    out.push('</svg>');
    return out.join('');
  }

  var data = JSON.parse(document.getElementById(${scriptJson(HTML_DATA_ELEMENT_ID)}).textContent);
  var figures = document.querySelectorAll('figure.chart');
  var drawn = 0;
  for (var f = 0; f < figures.length; f++) {
    var figure = figures[f];
    var area = figure.querySelector('.plot-area');
    try {
      var chart = data.reports[Number(figure.getAttribute('data-report-index'))].charts[Number(figure.getAttribute('data-chart-index'))];
      area.innerHTML = draw(chart);
      drawn++;
    } catch (error) {
      figure.classList.add('failed');
      area.textContent = 'This chart could not be drawn: ' + error;
    }
  }
  document.body.dataset.chartsDrawn = String(drawn);
})();
`;
}

function htmlTable(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<{ readonly text: string; readonly className?: string }>>, rightAligned: readonly boolean[]): string {
  const headerCells = header.map((title, index) => `<th${rightAligned[index] === true ? ' class="num"' : ''}>${escapeHtml(title)}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((cell) => `<td${cell.className === undefined ? '' : ` class="${cell.className}"`}>${escapeHtml(cell.text)}</td>`).join('')}</tr>`).join('\n');
  return `<div class="table-wrap"><table>\n<thead><tr>${headerCells}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table></div>`;
}

function htmlDataTable(table: AuditTable): string {
  const title = `<h3>${escapeHtml(table.title)}</h3>`;
  if (table.columns.length === 0) return `${title}\n<p class="empty">(no columns)</p>`;
  const numeric = numericColumns(table);
  const rows = table.rows.map((row) =>
    table.columns.map((_, index) => {
      const cell = row[index] ?? null;
      return cell === null ? { text: '', className: 'null' } : typeof cell === 'number' ? { text: String(cell), className: 'num' } : { text: cell };
    }),
  );
  return `${title}\n${htmlTable(table.columns, rows, numeric)}${rows.length === 0 ? '\n<p class="empty">(no rows)</p>' : ''}`;
}

function htmlChart(chart: AuditChart, reportIndex: number, chartIndex: number): string {
  return [
    `<figure class="chart chart-${chart.kind}" id="${escapeHtml(chart.id)}" data-report-index="${reportIndex}" data-chart-index="${chartIndex}" data-kind="${chart.kind}">`,
    `<figcaption>${escapeHtml(chart.title)}</figcaption>`,
    `<div class="plot-area"><noscript>This chart is drawn by the page's script.</noscript></div>`,
    `</figure>`,
  ].join('\n');
}

function htmlQueries(report: AuditReport): string {
  const rows = report.queries.map((query) => [
    { text: query.name, className: 'code' },
    { text: query.file, className: 'code' },
    {
      text: sortedParams(query.params)
        .map(([name, value]) => `${name}=${value}`)
        .join('\n'),
      className: 'code',
    },
    { text: String(query.rowCount), className: 'num' },
    { text: query.resultHash, className: 'hash' },
  ]);
  return [
    '<h3>Queries</h3>',
    htmlTable(['query', 'file', 'parameters', 'rows', 'result sha256'], rows, [false, false, false, true, false]),
    '<p class="note">Each query can be re-run as is from its file with these server-side parameters (clickhouse-client: <code>--param_&lt;name&gt;=&lt;value&gt;</code>); the sha256 is of its result in JSONEachRow, rows in the query’s order.</p>',
  ].join('\n');
}

function htmlReport(report: AuditReport, reportIndex: number): string {
  const outcomeClass = report.outcome.ok ? 'ok' : 'problem';
  const parts = [
    `<section class="report" id="report-${escapeHtml(report.report)}">`,
    `<h2>${escapeHtml(report.title)}</h2>`,
    '<dl class="meta">',
    `<dt>report</dt><dd>${escapeHtml(report.report)}</dd>`,
    `<dt>period</dt><dd>${escapeHtml(periodText(report))}</dd>`,
    `<dt>replays</dt><dd>${escapeHtml(replaysText(report))}</dd>`,
    `<dt>build</dt><dd>${escapeHtml(report.build)}</dd>`,
    `<dt>generated</dt><dd>${escapeHtml(report.generatedAt)}</dd>`,
    '</dl>',
    `<div class="outcome ${outcomeClass}"><span class="badge">${outcomeLabel(report)}</span> ${escapeHtml(report.outcome.text)}</div>`,
  ];
  if (report.charts.length > 0) parts.push(`<div class="charts">\n${report.charts.map((chart, chartIndex) => htmlChart(chart, reportIndex, chartIndex)).join('\n')}\n</div>`);
  for (const table of report.tables) parts.push(htmlDataTable(table));
  parts.push(htmlQueries(report), '</section>');
  return parts.join('\n');
}

function renderHtml(reports: readonly AuditReport[]): string {
  const only = reports.length === 1 ? reports[0] : undefined;
  const title = only !== undefined ? `runwatch audit: ${only.title}` : `runwatch audit: ${reports.length} reports`;
  const problems = reports.filter((report) => !report.outcome.ok).length;
  const summary = reports.length === 0 ? 'No reports.' : problems === 0 ? `${reports.length} report(s), no problem found.` : `${reports.length} report(s), ${problems} with a problem.`;
  const contents =
    reports.length > 1
      ? `<nav class="contents"><ul>\n${reports.map((report) => `<li><a href="#report-${escapeHtml(report.report)}">${escapeHtml(report.title)}</a> <span class="status ${report.outcome.ok ? 'ok' : 'problem'}">${outcomeLabel(report)}</span></li>`).join('\n')}\n</ul></nav>`
      : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>${escapeHtml(title)}</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<header class="page">
<h1>runwatch audit</h1>
<p>${escapeHtml(summary)}</p>
${contents}
</header>
${reports.map(htmlReport).join('\n')}
<script type="application/json" id="${HTML_DATA_ELEMENT_ID}">${scriptJson({ reports: reports.map(canonicalReport) })}</script>
<script>${chartScript()}</script>
</body>
</html>
`;
}
