// LM Lens loads text models only. transformers.js requires an image library at load time and
// refuses a missing one, so bundles get this stand-in instead of sharp's native binaries.
module.exports = function sharp() {
  throw new Error('Image processing (sharp) is not part of LM Lens.');
};
