// The webviews' HTML document (next-token panel, document report): its Content-Security-Policy, the stylesheet and the one script by
// nonce. The webview's script (media/main.ts) builds the markup itself. Free of `vscode` so a unit
// test can check the policy.
import { escapeHtml } from '../shared/format';

export interface PanelHtmlOptions {
  /** `webview.cspSource`. */
  cspSource: string;
  /** Per-load random value; the only script allowed to run carries it. */
  nonce: string;
  /** `webview.asWebviewUri` of dist/webview.js and media/panel.css. */
  scriptUri: string;
  styleUri: string;
  /** The document's title and the markup its script starts from (the report's page draws into `#app`). */
  title?: string;
  body?: string;
}

export function buildPanelHtml(options: PanelHtmlOptions): string {
  // Left unescaped: its quotes are part of the policy, and none of its parts can hold a `"`.
  const csp = [
    "default-src 'none'",
    `style-src ${options.cspSource}`,
    `script-src 'nonce-${options.nonce}'`,
    `font-src ${options.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeHtml(options.styleUri)}">
<title>${escapeHtml(options.title ?? 'Next token')}</title>
</head>
<body>
${options.body ?? ''}<script nonce="${escapeHtml(options.nonce)}" src="${escapeHtml(options.scriptUri)}"></script>
</body>
</html>
`;
}
