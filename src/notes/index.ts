/** Notes: the original's markdown note per item (template v1.3), its media paths and links. */
export { mediaPresence, isContainedRelativePath } from './mediaPresence.js';
export {
  absoluteMediaPath,
  canonicalMediaPaths,
  itemMediaPaths,
  relativeMediaPaths,
  withGroupPrefix,
  type ItemMediaPaths,
  type MediaPathForms,
} from './mediaPaths.js';
export {
  pathlinkerGroupOverride,
  styleVaultRoot,
  windowsFormOfMountedPath,
  withGroupOverride,
  type MediaSettings,
  type PathStyle,
} from './mediaSettings.js';
export type { NoteItem } from './noteItem.js';
export { NOTE_TEMPLATE_VERSION, renderNote, type MediaPresent, type RenderedNote } from './noteTemplate.js';
export { renderHash, type RenderHashInput } from './renderHash.js';
