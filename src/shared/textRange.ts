// Offsets into a document (UTF-16 code units), as the model process sends them and the editor
// and the sentence splitter use them.

export interface TextRange {
  start: number;
  end: number;
}

/** Index of the range holding `offset` (start ≤ offset < end) in sorted, disjoint ranges, by binary search; -1 if none. */
export function sentenceIndexAt(sentences: readonly TextRange[], offset: number): number {
  let low = 0;
  let high = sentences.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const sentence = sentences[mid] as TextRange;
    if (offset < sentence.start) high = mid - 1;
    else if (offset >= sentence.end) low = mid + 1;
    else return mid;
  }
  return -1;
}
