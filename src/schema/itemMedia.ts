import DataLoader from 'dataloader';
import type { GatewayConfig } from '../config.js';
import type { BoundSource } from '../graphql/operationSources.js';
import { itemMediaPaths, mediaPresence, type MediaPathForms, type MediaSettings } from '../notes/index.js';
import { mediaPathFields, servedRelativePath, type MediaKind } from '../notes/mediaFile.js';
import { effectiveMediaSettings } from '../sources/mediaSettings.js';
import { builder } from './builder.js';
import { ItemRef, type ScopedItem } from './item.js';

interface MediaFileValue {
  kind: MediaKind;
  item: ScopedItem;
  forms: MediaPathForms;
}

interface ItemMediaValue {
  video: MediaFileValue;
  cover: MediaFileValue;
}

/**
 * One file check per page, not one per field: the loader gathers every path the operation asks about for a
 * source and looks them up together (`mediaPresence`, under the same confinement as the media route).
 */
const presenceLoaders = new WeakMap<BoundSource, DataLoader<string, boolean>>();

function settingsOf(scope: BoundSource, config: GatewayConfig): MediaSettings {
  return effectiveMediaSettings(scope.source.media, config.media);
}

function presenceOf(scope: BoundSource, config: GatewayConfig): DataLoader<string, boolean> {
  let loader = presenceLoaders.get(scope);
  if (!loader) {
    const settings = settingsOf(scope, config);
    loader = new DataLoader(async (paths) => {
      const present = await mediaPresence(settings, paths);
      return paths.map((relative) => present.has(relative));
    });
    presenceLoaders.set(scope, loader);
  }
  return loader;
}

const MediaFileRef = builder.objectRef<MediaFileValue>('MediaFile').implement({
  description: "One of an item's media files, in the forms the original's notes and /items/{id}/links write.",
  fields: (t) => ({
    path: t.string({
      description: 'As a note writes it: relative to the data folder, with the PathLinker group prefix when one is set',
      resolve: (file) => file.forms.written,
    }),
    relativePath: t.string({
      description: 'The stored path, else the canonical one; relative to <vault>/<dataDir>, never group-prefixed',
      resolve: (file) => file.forms.relative,
    }),
    absolutePath: t.string({
      description: 'In the source\'s path style; formatted, not checked; relative ("data/…") when no vault root is set',
      resolve: (file) => file.forms.absolute,
    }),
    sxopen: t.string({ resolve: (file) => file.forms.sxopen }),
    sxreveal: t.string({ resolve: (file) => file.forms.sxreveal }),
    exists: t.boolean({
      description: "A regular file inside the source's <vault>/<dataDir> (symlinks that leave it count as missing)",
      resolve: (file, _args, context) => presenceOf(file.item.scope, context.config).load(servedRelativePath(file.forms.relative)),
    }),
    url: t.string({
      nullable: true,
      description: 'The media route serving the file, relative to the gateway, with ?source_id=; null when the file does not exist',
      resolve: async (file, _args, context) => {
        const exists = await presenceOf(file.item.scope, context.config).load(servedRelativePath(file.forms.relative));
        if (!exists) return null;
        return `/media/${file.kind}/${encodeURIComponent(file.item.id)}?source_id=${encodeURIComponent(file.item.scope.sourceId)}`;
      },
    }),
  }),
});

const ItemMediaRef = builder.objectRef<ItemMediaValue>('ItemMedia').implement({
  fields: (t) => ({
    video: t.field({ type: MediaFileRef, resolve: (media) => media.video }),
    cover: t.field({ type: MediaFileRef, resolve: (media) => media.cover }),
  }),
});

builder.objectFields(ItemRef, (t) => ({
  media: t.field({
    type: ItemMediaRef,
    description: "The item's video and cover: paths, sxopen:/sxreveal: links, whether each file is there, and its URL",
    resolve: (item, _args, context): ItemMediaValue => {
      const paths = itemMediaPaths(mediaPathFields(item), settingsOf(item.scope, context.config));
      return {
        video: { kind: 'video', item, forms: paths.video },
        cover: { kind: 'cover', item, forms: paths.cover },
      };
    },
  }),
}));
