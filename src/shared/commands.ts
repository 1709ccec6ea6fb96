// Every command id LM Lens registers or runs, once. package.json's `contributes.commands` must
// list exactly these (a unit test checks it); code refers to them only through this table.

export const COMMANDS = {
  showNextTokenProbabilities: 'lmLens.showNextTokenProbabilities',
  sampleContinuations: 'lmLens.sampleContinuations',
  scoreSelection: 'lmLens.scoreSelection',
  scoreDocument: 'lmLens.scoreDocument',
  toggleSentenceLoss: 'lmLens.toggleSentenceLoss',
  toggleInlineCompletions: 'lmLens.toggleInlineCompletions',
  selectModel: 'lmLens.selectModel',
  setServerApiKey: 'lmLens.setServerApiKey',
  restartModel: 'lmLens.restartModel',
  clearModelCache: 'lmLens.clearModelCache',
  revealModelCache: 'lmLens.revealModelCache',
  showOutput: 'lmLens.showOutput',
  statusMenu: 'lmLens.statusMenu',
  showDocumentReport: 'lmLens.showDocumentReport',
  /** Hover and panel links: an alternative token replaces the one in the document. */
  replaceToken: 'lmLens.replaceToken',
  /** The same, then ghost text continues from after it. */
  replaceTokenAndContinue: 'lmLens.replaceTokenAndContinue',
} as const;

export type CommandId = (typeof COMMANDS)[keyof typeof COMMANDS];

/** Ids of the status bar items, which VS Code remembers (hidden or not) per id. */
export const STATUS_ITEMS = {
  model: 'lmLens.model',
  inline: 'lmLens.inline',
  documentLoss: 'lmLens.documentLoss',
  lossProgress: 'lmLens.lossProgress',
} as const;
