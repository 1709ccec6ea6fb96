// Page helpers for driving VS Code's workbench (1.100, web) like a user. Selectors are VS Code's
// own DOM classes; they are the fragile part, so they live here and nowhere else.
import type { FrameLocator, Locator, Page } from 'playwright-core';

const quickInput = '.quick-input-widget';
const quickInputBox = `${quickInput} .quick-input-box input`;
const quickInputRows = `${quickInput} .quick-input-list .monaco-list-row`;
const editorLines = '.part.editor .monaco-editor .view-lines';
/** The editor area's focused group: where quick open opens files and the keyboard types. */
const activeGroup = '.part.editor .editor-group-container.active';

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

/**
 * Runs a command by its palette label, e.g. "LM Lens: Show next-token probabilities". A palette
 * opened before the extensions' contributions are registered never lists them: it is reopened.
 */
export async function runCommand(page: Page, label: string, timeoutMs = 20_000): Promise<void> {
  const row = quickInputRow(page, label).first();
  await waitFor(
    `"${label}" in the command palette`,
    async () => {
      await openQuickInput(page, `>${label}`);
      await row.waitFor({ state: 'visible', timeout: 5000 });
      return true;
    },
    timeoutMs,
  );
  await row.click();
}

/** Replaces the text of the open quick input (a filter, a path in the file dialog). */
export async function fillQuickInput(page: Page, text: string): Promise<void> {
  const box = page.locator(quickInputBox);
  await box.waitFor({ state: 'visible' });
  await box.fill(text);
}

/** Types `value` into the input box titled with `title` (each of a command's questions reuses the widget) and accepts it. */
export async function answerInputBox(page: Page, title: string, value: string): Promise<void> {
  const heading = page.locator(`${quickInput} .quick-input-title`);
  await waitFor(`the "${title}" question`, async () => ((await heading.innerText().catch(() => '')).includes(title) ? true : undefined), 20_000);
  await fillQuickInput(page, value);
  await page.keyboard.press('Enter');
}

/**
 * Accepts `folder` in VS Code's own (simple) file dialog, a quick input that takes a path: types
 * it, waits until the dialog lists the folder's entries, and accepts with Enter. Enter before the
 * listing, or a second one, would open a subfolder instead.
 */
export async function chooseFolderInDialog(page: Page, folder: string, anEntry = 'onnx'): Promise<void> {
  const path = `${folder.replace(/\/+$/, '')}/`;
  const box = page.locator(quickInputBox);
  // The dialog fills in its start folder asynchronously and can overwrite a path typed too early:
  // type again until the path stays and the folder's entries are listed.
  for (let attempt = 0; ; attempt++) {
    await fillQuickInput(page, path);
    const listed = await quickInputRow(page, anEntry)
      .first()
      .waitFor({ state: 'visible', timeout: 5000 })
      .then(() => true, () => false);
    if (listed && (await box.inputValue()) === path) break;
    if (attempt >= 5) throw new Error(`the folder dialog did not keep the path ${path}`);
  }
  const dialogLabel = await box.getAttribute('aria-label');
  await page.keyboard.press('Enter');
  // The command's next question can reuse the widget at once, so the box need not ever hide:
  // the dialog is gone once the box is hidden or asks something else.
  await waitFor('the folder dialog to close', async () => {
    if (!(await box.isVisible())) return true;
    return (await box.getAttribute('aria-label')) !== dialogLabel ? true : undefined;
  }, 30_000);
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
  await page.locator(`${activeGroup} .tab.active[data-resource-name="${fileName}"]`).waitFor({ state: 'visible' });
  await page.locator(`${activeGroup} .monaco-editor .view-lines`).first().waitFor({ state: 'visible' });
}

/** Inline ghost text (the suggestion on the cursor's line) renders inside the line as these spans. */
const ghostInline = '.ghost-text-decoration, .ghost-text-decoration-preview';

/**
 * The visible lines of the editors in `scope` (default: the active editor group), top to bottom.
 * Monaco positions lines absolutely (DOM order is not line order), renders spaces as U+00A0 and
 * splits a wrapped line into several rows: rows without a line number continue the line above
 * (in editors without line numbers, such as the Output view, each row counts as a line). Ghost
 * text is not part of the document and is left out.
 */
export async function editorText(page: Page, scope = activeGroup): Promise<string> {
  return page.evaluate(
    // No named helpers in here: tsx would wrap them in a __name() call the page does not have.
    ([selector, ghost]) =>
      Array.from(document.querySelectorAll<HTMLElement>(`${selector} .monaco-editor`))
        .map((editor) => {
          const numbers = Array.from(editor.querySelectorAll<HTMLElement>('.margin-view-overlays .line-numbers'));
          const numbered = new Set(numbers.filter((number) => (number.textContent ?? '').trim() !== '').map((number) => number.parentElement?.style.top));
          const lines: string[] = [];
          for (const row of Array.from(editor.querySelectorAll<HTMLElement>('.view-lines .view-line')).sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))) {
            const copy = row.cloneNode(true) as HTMLElement;
            copy.querySelectorAll(ghost).forEach((span) => span.remove());
            const text = (copy.textContent ?? '').replace(/\u00a0/g, ' ');
            if (numbered.size > 0 && !numbered.has(row.style.top) && lines.length > 0) lines[lines.length - 1] += text;
            else lines.push(text);
          }
          return lines.join('\n');
        })
        .join('\n'),
    [scope, ghostInline] as const,
  );
}

/**
 * The ghost text the editor shows now: the part on the cursor's line plus the further lines VS
 * Code renders in a view zone below it. Undefined when there is none.
 */
export async function ghostText(page: Page): Promise<string | undefined> {
  return page.evaluate(
    ([selector, ghost]) => {
      const inline = Array.from(document.querySelectorAll(`${selector} .view-lines .view-line`))
        .flatMap((line) => Array.from(line.querySelectorAll(ghost)))
        .map((span) => span.textContent ?? '')
        .join('');
      const below = Array.from(document.querySelectorAll(`${selector} .suggest-preview-text .view-line`)).map((line) => line.textContent ?? '');
      const text = [inline, ...below].join('\n').replace(/\u00a0/g, ' ');
      return text.trim() === '' ? undefined : text;
    },
    [`${activeGroup} .monaco-editor`, ghostInline] as const,
  );
}

/**
 * Moves the cursor to the end of a 1-based line of the active editor that is not the last one:
 * Go to Line to the start of the next line, then Left. (End stops at the end of a wrapped row.)
 */
export async function cursorToLineEnd(page: Page, line: number): Promise<void> {
  await openQuickInput(page, `:${line + 1}`);
  await page.keyboard.press('Enter');
  await page.keyboard.press('ArrowLeft');
}

/** Switches the colour theme through "Preferences: Color Theme" (no-op when it is already on). */
export async function setColorTheme(page: Page, label: string, kind: 'vs' | 'vs-dark' | 'hc-black'): Promise<void> {
  const workbench = page.locator(`.monaco-workbench.${kind}`);
  if ((await workbench.count()) > 0) {
    return;
  }
  await runCommand(page, 'Preferences: Color Theme');
  await fillQuickInput(page, label);
  await pickQuickInput(page, label);
  await workbench.waitFor({ state: 'attached' });
}

/** The content of the visible webview (VS Code nests it: the webview host iframe, then its active frame). */
export function webviewContent(page: Page): FrameLocator {
  return page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
}

/**
 * Ranges decorated with a background or border in the editor: decoration types' class names are
 * generated (`ced-…`), so this reads computed styles of the overlay elements VS Code draws.
 */
export async function styledDecorationCount(page: Page): Promise<number> {
  return page.evaluate((selector) => {
    let count = 0;
    for (const element of Array.from(document.querySelectorAll<HTMLElement>(`${selector} .view-overlays [class*="ced-"], ${selector} .view-line [class*="ced-"]`))) {
      const style = getComputedStyle(element);
      const background = style.backgroundColor !== 'rgba(0, 0, 0, 0)' && style.backgroundColor !== 'transparent';
      if (background || parseFloat(style.borderBottomWidth) > 0) {
        count++;
      }
    }
    return count;
  }, '.part.editor .monaco-editor');
}

/** Focuses the active group's editor and types, as a user would (triggers completions, debounces…). */
export async function typeInEditor(page: Page, text: string, options: { atEnd?: boolean; delayMs?: number } = {}): Promise<void> {
  await page.locator(`${activeGroup} .monaco-editor .view-lines`).first().click();
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
