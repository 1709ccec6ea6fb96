// The exported report page: self-contained (no URL of any kind to fetch), and it draws its
// charts in a real browser with the network cut off.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchBrowser } from '../integration/codeServer';
import { ensureTestModel, repoRoot } from '../support/testModel';

const cliBundle = path.join(repoRoot(), 'dist', 'cli.js');
const DOCUMENT = `# Notes

Alice was beginning to get very tired of sitting by her sister on the bank. Once or twice she had peeped into the book her sister was reading!

It had no pictures or conversations in it. </script><script>window.injected = 1</script> "And what is the use of a book," thought Alice.
`;

describe('report export: self-contained HTML', function () {
  let scratch: string;
  let page: string;
  let html: string;

  before(async function () {
    assert.ok(existsSync(cliBundle), 'dist/cli.js is missing: run `npm run build` first');
    const model = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    scratch = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-report-'));
    const input = path.join(scratch, 'notes.md');
    writeFileSync(input, DOCUMENT);
    page = path.join(scratch, 'report.html');
    const result = spawnSync(process.execPath, [cliBundle, 'report', input, '--model', model, '--html', page], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(result.status, 0, result.stderr);
    html = readFileSync(page, 'utf8');
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('names no URL and loads nothing from outside the file', () => {
    const absent = (pattern: RegExp, what: string): void => {
      const found = pattern.exec(html);
      assert.equal(found, null, `${what}: …${found ? html.slice(Math.max(0, found.index - 60), found.index + 60) : ''}…`);
    };
    absent(/(https?|wss?|ftp):\/\//iu, 'a URL');
    absent(/<(link|img|iframe|object|embed)\b/iu, 'an element that loads a resource');
    absent(/<script[^>]*\ssrc=/iu, 'a script from elsewhere');
    const styles = html.match(/<style>([\s\S]*?)<\/style>/u)?.[1] ?? '';
    assert.ok(styles.length > 500, 'the styles are inline');
    assert.doesNotMatch(styles, /url\(|@import/iu);
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/u);
    assert.equal(html.match(/<\/script>/giu)?.length, 2, 'the document text cannot end a script early');
  });

  it('opens offline and draws every chart', async function () {
    const browser = await launchBrowser();
    try {
      const context = await browser.newContext({ offline: true });
      const tab = await context.newPage();
      const requests: string[] = [];
      const errors: string[] = [];
      tab.on('request', (request) => requests.push(request.url()));
      tab.on('pageerror', (error) => errors.push(error.message));
      await tab.goto(pathToFileURL(page).href);
      await tab.waitForFunction(() => document.querySelectorAll('canvas').length === 5);
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [pathToFileURL(page).href], 'the page is the only thing loaded');
      const inked = await tab.evaluate(() =>
        Array.from(document.querySelectorAll('canvas')).map((canvas) => {
          const context = canvas.getContext('2d');
          if (!context || canvas.width === 0) return 0;
          const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
          let drawn = 0;
          for (let i = 3; i < pixels.length; i += 4) if ((pixels[i] as number) > 0) drawn++;
          return drawn;
        }),
      );
      assert.ok(inked.every((drawn) => drawn > 100), `pixels drawn per chart: ${inked}`);
      const text = await tab.evaluate(() => document.body.innerText);
      assert.match(text, /perplexity/u);
      assert.match(text, /Most surprising sentences/u);
      assert.equal(await tab.evaluate(() => (window as { injected?: number }).injected), undefined);
    } finally {
      await browser.close();
    }
  });

  it('with settled layers (--layers): draws their histogram and the per-sentence mean on a second axis', async function () {
    const model = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    const layered = path.join(scratch, 'layers.html');
    const result = spawnSync(process.execPath, [cliBundle, 'report', path.join(scratch, 'notes.md'), '--model', model, '--layers', '--html', layered], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(result.status, 0, result.stderr);
    const browser = await launchBrowser();
    try {
      const tab = await (await browser.newContext({ offline: true })).newPage();
      const errors: string[] = [];
      tab.on('pageerror', (error) => errors.push(error.message));
      await tab.goto(pathToFileURL(layered).href);
      await tab.waitForFunction(() => document.querySelectorAll('canvas').length === 6);
      assert.deepEqual(errors, []);
      const drawn = await tab.evaluate(() => {
        const canvas = document.getElementById('chart-settled-layers') as HTMLCanvasElement;
        const pixels = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? [];
        let inked = 0;
        for (let i = 3; i < pixels.length; i += 4) if ((pixels[i] as number) > 0) inked++;
        return inked;
      });
      assert.ok(drawn > 100, `${drawn} pixels`);
      const text = await tab.evaluate(() => document.body.innerText);
      assert.match(text, /Settled at layer/u);
      assert.match(text, /mean settled layer/u);
    } finally {
      await browser.close();
    }
  });
});
