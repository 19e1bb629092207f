/**
 * The audit report's HTML page as a reader sees it: Debian's headless browser loads the page from
 * a file, its inline script draws the charts, and the DOM it dumps must hold every bar, segment and
 * point of the data, with the value it stands for and a height that grows with the value. A
 * screenshot must be a real picture (a PNG, not one colour) with the first series' colour in it.
 * No browser is a failure, not a skip: CI installs it (.ci/run).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpDom, findChromium, INSTALL_HINT, screenshot } from '../../src/audit/chromium.js';
import { renderReports, SERIES_COLOURS } from '../../src/audit/render.js';
import type { AuditChart, AuditReport } from '../../src/audit/report.js';

const DAYS5 = ['2026-10-01', '2026-10-02', '2026-10-03', '2026-10-04', '2026-10-05'];
const DAYS4 = DAYS5.slice(0, 4);

const CHARTS: readonly AuditChart[] = [
  {
    id: 'latency-p99',
    kind: 'line',
    title: 'latency p99 by day',
    unit: 'ms',
    categories: DAYS5,
    series: [
      { name: 'agent-alpha', values: [812.5, 640, 1210.25, 980, 455] },
      { name: 'agent-beta', values: [300, 720.75, 515, 1500, 610] },
    ],
  },
  { id: 'grade-distribution', kind: 'bar', title: 'grade distribution', unit: 'runs', categories: ['A', 'B', 'C', 'D', 'F'], series: [{ name: 'runs', values: [140, 62, 23, 7, 2] }] },
  {
    id: 'violations-by-rule',
    kind: 'stacked-bar',
    title: 'violations by rule over time',
    unit: 'violations',
    categories: DAYS4,
    series: [
      { name: 'gap', values: [12, 0, 7, 3] },
      { name: 'out_of_order', values: [5, 9, 0, 14] },
      { name: 'latency <critical>', values: [1, 2, 3, 4] },
    ],
  },
  { id: 'nothing-yet', kind: 'bar', title: 'a chart with no data', unit: 'runs', categories: [], series: [{ name: 'runs', values: [] }] },
];

const REPORT: AuditReport = {
  report: 'grades',
  title: 'Grades and </script> latency',
  from: '2026-10-01T00:00:00.000Z',
  to: '2026-10-06T00:00:00.000Z',
  includeReplays: false,
  generatedAt: '2026-10-06T08:00:00.000Z',
  build: '0.1.0+abcdef0',
  outcome: { ok: false, text: 'one day <b>over</b> the SLO' },
  queries: [{ name: 'grade_distribution', file: 'schemas/audit/grade_distribution.sql', params: { database: 'runwatch', from: '2026-10-01 00:00:00.000', to: '2026-10-06 00:00:00.000', include_replays: 0 }, rowCount: 5, resultHash: 'a'.repeat(64) }],
  tables: [{ title: 'Runs per grade', columns: ['grade', 'runs', 'note'], rows: [['A', 140, '<b>best</b>'], ['F', 2, null]] }],
  charts: CHARTS,
};

interface Mark {
  readonly element: string;
  readonly attributes: ReadonlyMap<string, string>;
}

function decodeEntities(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[name] ?? '');
}

function attributesOf(tag: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const match of tag.matchAll(/([\w:-]+)="([^"]*)"/g)) attributes.set(match[1] ?? '', decodeEntities(match[2] ?? ''));
  return attributes;
}

/** The serialized <figure> of a chart, by its id. */
function figureOf(dom: string, id: string): string {
  const start = dom.search(new RegExp(`<figure[^>]*\\bid="${id}"`));
  expect(start, `figure #${id} in the DOM`).toBeGreaterThanOrEqual(0);
  const end = dom.indexOf('</figure>', start);
  return dom.slice(start, end);
}

function marksOf(figure: string): Mark[] {
  return [...figure.matchAll(/<(rect|circle)\b[^>]*>/g)]
    .map((match) => ({ element: match[1] ?? '', attributes: attributesOf(match[0]) }))
    .filter((mark) => (mark.attributes.get('class') ?? '').split(/\s+/).includes('mark'));
}

function numberAttribute(mark: Mark, name: string): number {
  const text = mark.attributes.get(name);
  expect(text, `${mark.element} has ${name}`).toBeDefined();
  return Number(text);
}

/** Pixels of an 8-bit RGB or RGBA PNG, unfiltered (all five filter types), as [r, g, b] triples. */
function pngPixels(png: Buffer): { width: number; height: number; rgb: Uint8Array } {
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect(data[8], 'bit depth').toBe(8);
      const colourType = data[9];
      expect([2, 6], 'colour type RGB or RGBA').toContain(colourType);
      channels = colourType === 6 ? 4 : 3;
      expect(data[12], 'not interlaced').toBe(0);
    } else if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? (pixels[y * stride + x - channels] ?? 0) : 0;
      const b = y > 0 ? (pixels[(y - 1) * stride + x] ?? 0) : 0;
      const c = x >= channels && y > 0 ? (pixels[(y - 1) * stride + x - channels] ?? 0) : 0;
      const p = a + b - c;
      const predictor = [0, a, b, (a + b) >> 1, Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c][filter ?? 0];
      if (predictor === undefined) throw new Error(`PNG filter type ${filter} unknown`);
      pixels[y * stride + x] = ((line[x] ?? 0) + predictor) & 0xff;
    }
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) rgb.set(pixels.subarray(i * channels, i * channels + 3), i * 3);
  return { width, height, rgb };
}

describe('the audit report as html, in a headless browser', () => {
  const dir = mkdtempSync(join(tmpdir(), 'runwatch-audit-html-'));
  const htmlFile = join(dir, 'audit.html');
  const chromium = findChromium();
  let dom = '';

  beforeAll(async () => {
    // Every test fails with this message rather than being skipped: CI installs the browser.
    if (chromium === undefined) throw new Error(`no headless browser found: ${INSTALL_HINT}`);
    writeFileSync(htmlFile, renderReports([REPORT], 'html'));
    dom = await dumpDom(htmlFile, { chromium });
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has a headless browser to check with', () => {
    expect(chromium, `no headless browser found: ${INSTALL_HINT}`).toBeDefined();
    expect(dom).toContain('<body');
  });

  it('draws all four charts, the empty one as "no data"', () => {
    expect(dom).toMatch(/<body[^>]*\bdata-charts-drawn="4"/);
    const empty = figureOf(dom, 'nothing-yet');
    expect(empty).toContain('no data');
    expect(marksOf(empty)).toHaveLength(0);
    // The data's own "</script>" did not end the data early, and the table cell stayed text.
    expect(dom).toContain('&lt;b&gt;best&lt;/b&gt;');
  });

  it.each(CHARTS.filter((chart) => chart.categories.length > 0).map((chart) => [chart.title, chart] as const))('%s: one mark per category and series, with its value', (_title, chart) => {
    const figure = figureOf(dom, chart.id);
    const marks = marksOf(figure);
    expect(marks).toHaveLength(chart.categories.length * chart.series.length);
    const expected = new Map<string, number>();
    for (const series of chart.series) series.values.forEach((value, index) => expected.set(`${series.name}|${chart.categories[index]}`, value));
    const seen = new Set<string>();
    for (const mark of marks) {
      expect(mark.element).toBe(chart.kind === 'line' ? 'circle' : 'rect');
      const key = `${mark.attributes.get('data-series')}|${mark.attributes.get('data-category')}`;
      expect(expected.has(key), `mark ${key} is in the data`).toBe(true);
      expect(numberAttribute(mark, 'data-value'), key).toBe(expected.get(key));
      seen.add(key);
    }
    expect(seen.size).toBe(expected.size);
    // A legend entry per series, and the y axis says its maximum with the unit.
    const legend = [...figure.matchAll(/<g\b[^>]*class="legend-item"[^>]*>/g)].map((match) => attributesOf(match[0]).get('data-series'));
    expect(legend).toEqual(chart.series.map((series) => series.name));
    expect(figure).toMatch(new RegExp(`class="tick y-max"[^>]*>[0-9.]+ ${chart.unit}<`));
  });

  it.each([['grade distribution'], ['violations by rule over time']])('%s: a larger value is a taller bar, zero has no height, heights are proportional', (title) => {
    const chart = CHARTS.find((c) => c.title === title);
    if (chart === undefined) throw new Error(title);
    const bars = marksOf(figureOf(dom, chart.id)).map((mark) => ({ value: numberAttribute(mark, 'data-value'), height: numberAttribute(mark, 'height') }));
    for (const a of bars) {
      if (a.value === 0) expect(a.height).toBe(0);
      for (const b of bars) if (a.value > b.value) expect(a.height, `${a.value} taller than ${b.value}`).toBeGreaterThan(b.height);
    }
    const largest = bars.reduce((top, bar) => (bar.value > top.value ? bar : top));
    for (const bar of bars) expect(bar.height).toBeCloseTo((largest.height * bar.value) / largest.value, 0);
    if (chart.kind === 'stacked-bar') expect(bars.some((bar) => bar.value === 0)).toBe(true);
  });

  it('latency p99 by day: a point per day and series, higher for larger values, one line per series', () => {
    const chart = CHARTS[0];
    if (chart?.kind !== 'line') throw new Error('the first chart is the line chart');
    const figure = figureOf(dom, chart.id);
    expect([...figure.matchAll(/<polyline\b[^>]*class="line"/g)]).toHaveLength(chart.series.length);
    const points = marksOf(figure).map((mark) => ({ value: numberAttribute(mark, 'data-value'), y: numberAttribute(mark, 'cy') }));
    for (const a of points) for (const b of points) if (a.value > b.value) expect(a.y, `${a.value} above ${b.value}`).toBeLessThan(b.y);
  });

  it('takes a screenshot: a PNG that is a picture, with the first series colour in it', async () => {
    expect(chromium, `no headless browser found: ${INSTALL_HINT}`).toBeDefined();
    const pngFile = join(dir, 'audit.png');
    await screenshot(htmlFile, pngFile, { width: 1280, height: 1600, ...(chromium === undefined ? {} : { chromium }) });
    const png = readFileSync(pngFile);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(statSync(pngFile).size).toBeGreaterThan(8_000);
    const { width, height, rgb } = pngPixels(png);
    expect([width, height]).toEqual([1280, 1600]);
    const colours = new Set<number>();
    for (let i = 0; i < rgb.length; i += 3) colours.add(((rgb[i] ?? 0) << 16) | ((rgb[i + 1] ?? 0) << 8) | (rgb[i + 2] ?? 0));
    expect(colours.size, 'distinct colours in the screenshot').toBeGreaterThan(50);
    const first = Number.parseInt((SERIES_COLOURS[0] ?? '').slice(1), 16);
    expect(colours.has(first), `${SERIES_COLOURS[0]} (the first series) is drawn`).toBe(true);
  }, 120_000);
});
