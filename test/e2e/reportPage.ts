// The document report's page as the UI scenarios read it: which charts are drawn, and how
// legibly against the theme's background.
import type { Page } from 'playwright-core';
import { waitFor, webviewContent } from './workbench';

/** The charts the issue asks to see drawn: GLTR's three histograms and the loss per sentence. */
export const REPORT_CHARTS = ['rank-buckets', 'frac', 'top10-entropy', 'sentence-loss'];

/**
 * Pixels each chart drew; `minContrast`: only those that, over the page's background, stand out
 * from it by at least that WCAG contrast ratio (what a chart needs to be readable in a theme).
 */
export async function inkedCanvases(page: Page, minContrast = 1): Promise<Record<string, number>> {
  return webviewContent(page)
    .locator('canvas')
    .evaluateAll((canvases, min) => {
      // No named inner functions: the test runner's compiler would wrap them in a helper the page lacks.
      const background = (getComputedStyle(document.body).backgroundColor.match(/\d+(\.\d+)?/gu) ?? ['0', '0', '0']).map(Number).slice(0, 3);
      // WCAG relative luminance of an sRGB colour, 0–255 per channel.
      const toLuminance = [0.2126, 0.7152, 0.0722];
      const linear = Array.from({ length: 256 }, (_, c) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4));
      const backgroundLuminance = background.reduce((sum, c, i) => sum + (toLuminance[i] as number) * (linear[Math.round(c)] as number), 0);
      return Object.fromEntries(
        (canvases as HTMLCanvasElement[]).map((canvas) => {
          const context = canvas.getContext('2d');
          let drawn = 0;
          if (context && canvas.width > 0 && canvas.height > 0) {
            const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 0; i < pixels.length; i += 4) {
              const alpha = (pixels[i + 3] as number) / 255;
              if (alpha === 0) continue;
              if (min > 1) {
                let l = 0;
                for (let k = 0; k < 3; k++) l += (toLuminance[k] as number) * (linear[Math.round((pixels[i + k] as number) * alpha + (background[k] as number) * (1 - alpha))] as number);
                if ((Math.max(l, backgroundLuminance) + 0.05) / (Math.min(l, backgroundLuminance) + 0.05) < min) continue;
              }
              drawn++;
            }
          }
          return [canvas.id.replace(/^chart-/u, ''), drawn];
        }),
      );
    }, minContrast);
}

export async function waitForCharts(page: Page): Promise<Record<string, number>> {
  return waitFor('the report charts to be drawn', async () => {
    const counts = await inkedCanvases(page);
    return REPORT_CHARTS.every((chart) => (counts[chart] ?? 0) > 0) ? counts : undefined;
  });
}

/** The report scrolled so that its charts start at the top (for the screenshots). */
export async function scrollToCharts(page: Page): Promise<void> {
  await webviewContent(page).locator('.charts').evaluate((charts) => charts.scrollIntoView({ block: 'start' }));
}

export async function reportTokens(page: Page): Promise<number> {
  return Number(await webviewContent(page).locator('body').getAttribute('data-tokens', { timeout: 5000 }).catch(() => 0));
}
