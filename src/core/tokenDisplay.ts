/**
 * Token text with its whitespace made visible: GPT-2 tokens usually carry their leading
 * space, and a user must see it to understand token boundaries. Pure: the webview uses it too.
 */
export function showWhitespace(text: string): string {
  return text.replace(/ /g, '␣').replace(/\r\n|\n|\r/g, '↵').replace(/\t/g, '⇥');
}
