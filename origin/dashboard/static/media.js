// Where images load from. The session cookie does not reach another media host, so private images
// there are shown through one-hour signed URLs, kept in sessionStorage until ten minutes before expiry.

import { api, eachLimited } from './api.js';

export const GRID_WIDTHS = [320, 640];
const STORE = 'picora.previews';
const MARGIN_MS = 10 * 60 * 1000;
const PREVIEW_SECONDS = 3600;

function withWidth(url, width) {
  const parsed = new URL(url);
  parsed.searchParams.set('w', width);
  return parsed.href;
}

function readStore() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) || '{}');
  } catch {
    return {};
  }
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
export const previewBase = async (image) => (image.isPublic || new URL(image.url).origin === location.origin ? image.url : signedBase(image));

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

// A variant is never wider than its original: each candidate gets its real width; none unknown.
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
