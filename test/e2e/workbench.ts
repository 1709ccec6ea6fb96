// Page helpers for driving VS Code's workbench (1.100, web) like a user. Selectors are VS Code's
// own DOM classes; they are the fragile part, so they live here and nowhere else.
import type { Locator, Page } from 'playwright-core';

const quickInput = '.quick-input-widget';
const quickInputBox = `${quickInput} .quick-input-box input`;
const quickInputRows = `${quickInput} .quick-input-list .monaco-list-row`;
const editorLines = '.part.editor .monaco-editor .view-lines';

/** Polls `probe` until it returns a value other than undefined; the last error explains a timeout. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) {
        return value;
      }
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function waitForWorkbench(page: Page): Promise<void> {
  await page.locator('.monaco-workbench .part.statusbar').waitFor({ state: 'visible', timeout: 60_000 });
  // The explorer shows the folder once the remote file system is connected.
  await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ state: 'visible', timeout: 60_000 });
}

/** Closes whatever quick input, hover or suggestion is open. */
export async function dismiss(page: Page): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await page.keyboard.press('Escape');
  }
}

async function openQuickInput(page: Page, text: string): Promise<void> {
  await dismiss(page);
  await page.keyboard.press('F1');
  const box = page.locator(quickInputBox);
  await box.waitFor({ state: 'visible' });
  // F1 opens the command palette with ">"; without it the same box is quick open (files).
  await box.fill(text);
}

/** Labels of the rows the quick input shows now (the list is virtual: only visible rows exist). */
export async function quickInputLabels(page: Page): Promise<string[]> {
  return page.locator(`${quickInputRows} .label-name`).allTextContents();
}

function quickInputRow(page: Page, label: string): Locator {
  return page.locator(quickInputRows).filter({ has: page.locator('.label-name', { hasText: label }) });
}

/** Command palette entries that match `query` (e.g. "LM Lens: "). Leaves the palette open. */
export async function paletteEntries(page: Page, query: string): Promise<string[]> {
  await openQuickInput(page, `>${query}`);
  // The list filters asynchronously: wait until it has settled on the same rows twice.
  let previous = '';
  return waitFor(`the command palette to list "${query}"`, async () => {
    const labels = await quickInputLabels(page);
    const current = labels.join('\n');
    const settled = current === previous && labels.length > 0;
    previous = current;
    return settled ? labels : undefined;
  });
}

/** Runs a command by its palette label, e.g. "LM Lens: Show next-token probabilities". */
export async function runCommand(page: Page, label: string): Promise<void> {
  await openQuickInput(page, `>${label}`);
  const row = quickInputRow(page, label).first();
  await row.waitFor({ state: 'visible' });
  await row.click();
}

/** Picks a row in an open quick pick (a command's follow-up list). */
export async function pickQuickInput(page: Page, label: string, timeoutMs = 20_000): Promise<void> {
  const row = quickInputRow(page, label).first();
  await row.waitFor({ state: 'visible', timeout: timeoutMs });
  await row.click();
}

/** Opens a workspace file through quick open and waits for its editor. */
export async function openFile(page: Page, fileName: string): Promise<void> {
  await openQuickInput(page, fileName);
  await pickQuickInput(page, fileName);
  await page.locator(`.tabs-container .tab[aria-label*="${fileName}"]`).waitFor({ state: 'visible' });
  await page.locator(editorLines).first().waitFor({ state: 'visible' });
}

/**
 * The visible lines of an editor, top to bottom. Monaco positions lines absolutely (DOM order is
 * not line order) and renders spaces as U+00A0. `scope` picks the editor (default: the editor area).
 */
export async function editorText(page: Page, scope = '.part.editor'): Promise<string> {
  return page.evaluate((selector) => {
    const lines = Array.from(document.querySelectorAll<HTMLElement>(`${selector} .monaco-editor .view-lines .view-line`));
    return lines
      .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
      .map((line) => (line.textContent ?? '').replace(/\u00a0/g, ' '))
      .join('\n');
  }, scope);
}

/** Focuses the active editor and types, as a user would (triggers completions, debounces…). */
export async function typeInEditor(page: Page, text: string, options: { atEnd?: boolean; delayMs?: number } = {}): Promise<void> {
  await page.locator(editorLines).first().click();
  if (options.atEnd) {
    await page.keyboard.press('Control+End');
  }
  await page.keyboard.type(text, { delay: options.delayMs ?? 20 });
}

/** Moves the mouse over the first visible occurrence of `text` in the editor and returns the hover's text. */
export async function hoverText(page: Page, text: string, timeoutMs = 20_000): Promise<string> {
  const point = await page.evaluate(
    ([selector, wanted]) => {
      for (const line of Array.from(document.querySelectorAll(`${selector} .view-line`))) {
        const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          const index = (node.textContent ?? '').replace(/\u00a0/g, ' ').indexOf(wanted);
          if (index >= 0) {
            const range = document.createRange();
            range.setStart(node, index);
            range.setEnd(node, index + wanted.length);
            const rect = range.getBoundingClientRect();
            return { x: rect.left + rect.width / 2, y: rect.top + rect.height / 2 };
          }
        }
      }
      return undefined;
    },
    [editorLines, text] as const,
  );
  if (!point) {
    throw new Error(`"${text}" is not visible in the editor (text within one line and one span only)`);
  }
  await page.mouse.move(point.x, point.y);
  const hover = page.locator('.monaco-hover:not(.hidden)').first();
  await hover.waitFor({ state: 'visible', timeout: timeoutMs });
  return (await hover.innerText()).replace(/\u00a0/g, ' ');
}

/** Text that decorations render after text (`after: { contentText }`): a CSS ::after, not in innerText. */
export async function afterDecorationTexts(page: Page): Promise<string[]> {
  return page.evaluate((selector) => {
    const texts: string[] = [];
    for (const span of Array.from(document.querySelectorAll(`${selector} .view-line span`))) {
      const content = getComputedStyle(span, '::after').content;
      if (content && content !== 'none' && content !== 'normal') {
        texts.push(JSON.parse(content.replace(/^'|'$/g, '"')) as string);
      }
    }
    return texts;
  }, editorLines);
}

/** The visible lines of the Output panel. */
export async function outputText(page: Page): Promise<string> {
  return editorText(page, '.part.panel');
}
