// Where the dashboard loads image bytes from. When the media host is this page's own origin, the
// session cookie goes with every <img> request, so private images load as they are. When it is
// another host (PICORA_MEDIA_BASE_URL elsewhere), the cookie does not reach it: private images
// (and, with hotlink protection on, public ones) are shown through short-lived signed URLs the
// page asks the API for, kept in sessionStorage until shortly before they expire.

import { api, eachLimited } from './api.js';

export const GRID_WIDTHS = [320, 640];
const STORE = 'picora.previews';
const MARGIN_MS = 10 * 60 * 1000;
const PREVIEW_SECONDS = 3600;

let hotlinkProtected = null;

export function withWidth(url, width) {
  const parsed = new URL(url);
  if (width) parsed.searchParams.set('w', String(width));
  return parsed.toString();
}

export function sameOrigin(url) {
  return new URL(url).origin === location.origin;
}

function readStore() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) || '{}');
  } catch {
    return {};
  }
}

async function needsSigning(image) {
  if (sameOrigin(image.url)) return false;
  if (!image.isPublic) return true;
  if (hotlinkProtected === null) {
    try {
      hotlinkProtected = (await api('/v1/settings/hotlink')).enabled;
    } catch {
      hotlinkProtected = false;
    }
  }
  return hotlinkProtected;
}

async function signedBase(image) {
  const store = readStore();
  const cached = store[image.id];
  if (cached && cached.expires - MARGIN_MS > Date.now()) return cached.url;
  const signed = await api(`/v1/images/${image.id}/signed-url`, { method: 'POST', json: { expiresIn: PREVIEW_SECONDS } });
  const fresh = readStore();
  fresh[image.id] = { url: signed.url, expires: Date.parse(signed.expiresAt) };
  sessionStorage.setItem(STORE, JSON.stringify(fresh));
  return signed.url;
}

/** The base URL to show ``image`` from (its own URL, or a signed one); widths are added later. */
export async function previewBase(image) {
  return (await needsSigning(image)) ? signedBase(image) : image.url;
}

/** Base URLs for many images, asking for at most four signatures at once. */
export async function previewBases(images) {
  const results = await eachLimited(images, 4, previewBase);
  return results.map((result, index) => (result.ok ? result.value : images[index].url));
}

/** Forget what was signed for an image whose visibility changed or that was deleted. */
export function forgetPreview(id) {
  const store = readStore();
  delete store[id];
  sessionStorage.setItem(STORE, JSON.stringify(store));
}

/**
 * Point an <img> at variants of an image. A variant is never wider than its original, so each
 * candidate is described by the width it will really have; without a known width, no srcset.
 */
export function setSources(img, base, image, widths, sizes) {
  const known = image.width || 0;
  const candidates = new Map();
  for (const width of widths) {
    const real = known ? Math.min(width, known) : 0;
    if (real && !candidates.has(real)) candidates.set(real, withWidth(base, width));
  }
  if (candidates.size) {
    img.srcset = [...candidates].map(([real, url]) => `${url} ${real}w`).join(', ');
    img.sizes = sizes;
  }
  img.src = withWidth(base, widths[0]);
}
