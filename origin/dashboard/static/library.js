// Library → Images: uploads, the grid with infinite scroll, the tag filter in the URL, the storage
// meter, and actions on a selection.

import { api, eachLimited } from './api.js';
import { copyAndAnnounce, linkFormatSelect } from './clipboard.js';
import { displayName, megabytes, parseTags, plural } from './format.js';
import { GRID_WIDTHS, forgetPreview, previewBases, setSources } from './media.js';
import { $, announce, confirmDialog, el, pageFailed, showError, startPage } from './ui.js';
import { UploadQueue } from './uploads.js';

const PAGE_SIZE = 20;
const GRID_SIZES = '(max-width: 520px) 50vw, 240px';

// images: id -> {image, row}; generation: bumped when the filter changes, to drop stale pages.
const state = { tag: '', cursor: null, done: false, loading: false, generation: 0, images: new Map(), selected: new Set() };

async function refreshUsage() {
  try {
    state.usage = await api('/v1/usage');
  } catch (error) {
    $('storage-text').textContent = `Storage unknown: ${error.message}`;
    return;
  }
  const { usedBytes, limitBytes } = state.usage.img_storage;
  const percent = limitBytes ? Math.min(100, (usedBytes / limitBytes) * 100) : 0;
  const text = `${megabytes(usedBytes)} of ${megabytes(limitBytes)} used`;
  const meter = $('storage');
  meter.setAttribute('aria-valuenow', percent.toFixed(1));
  meter.setAttribute('aria-valuetext', text);
  meter.classList.toggle('full', percent >= 90);
  $('storage-fill').style.width = `${percent}%`;
  $('storage-text').textContent = text;
  $('limit-hint').textContent =
    `JPEG, PNG, WebP, GIF, SVG, AVIF and HEIC, up to ${megabytes(state.usage.maxFileBytes)} each.`;
}

const tagLink = (tag) =>
  el('a', { href: `/dashboard/?tag=${encodeURIComponent(tag)}`, class: 'tag', onclick: (e) => followTag(e, tag) }, tag);

function card(image) {
  const name = displayName(image);
  const img = el('img', { alt: '', loading: 'lazy', decoding: 'async' });
  if (image.width && image.height) {
    img.width = image.width;
    img.height = image.height;
  }
  const checkbox = el('input', { type: 'checkbox', checked: state.selected.has(image.id), onchange: (e) => select(image.id, e.target.checked) });
  const row = el(
    'li',
    { class: 'card', 'data-id': image.id },
    el(
      'a',
      { class: 'card-link', href: `/dashboard/images/${image.id}` },
      el('span', { class: 'thumb' }, img),
      el('span', { class: 'card-name' }, name),
    ),
    el('label', { class: 'select' }, checkbox, el('span', { class: 'visually-hidden' }, `Select ${name}`)),
    image.isPublic ? null : el('span', { class: 'badge' }, 'Private'),
    image.tags.length ? el('ul', { class: 'tags', 'aria-label': `Tags of ${name}` }, image.tags.map((t) => el('li', {}, tagLink(t)))) : null,
  );
  return { row, img };
}

async function showImages(images, { prepend = false } = {}) {
  const list = $('images');
  const cards = images.map(card);
  cards.forEach((built, i) => state.images.set(images[i].id, { image: images[i], row: built.row }));
  list[prepend ? 'prepend' : 'append'](...cards.map((built) => built.row));
  updateEmpty();
  await showThumbs(cards, images);
}

async function showThumbs(cards, images) {
  const bases = await previewBases(images);
  cards.forEach((built, i) => setSources(built.img, bases[i], images[i], GRID_WIDTHS, GRID_SIZES));
}

function updateEmpty() {
  const empty = state.done && state.images.size === 0;
  $('empty').hidden = !empty;
  if (empty) {
    $('empty-title').textContent = state.tag ? `No images tagged “${state.tag}”` : 'No images yet';
    $('empty-text').hidden = Boolean(state.tag);
  }
}

async function loadMore() {
  if (state.loading || state.done) return;
  state.loading = true;
  const generation = state.generation;
  const list = $('images');
  list.setAttribute('aria-busy', 'true');
  $('load-more').disabled = true;
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (state.tag) query.set('tag', state.tag);
  if (state.cursor) query.set('cursor', state.cursor);
  try {
    const page = await api(`/v1/images?${query}`);
    if (generation !== state.generation) return;
    state.cursor = page.nextCursor;
    state.done = !page.nextCursor;
    await showImages(page.items.filter((image) => !state.images.has(image.id)));
  } catch (error) {
    if (generation === state.generation) showError($('bulk-report'), `Images not loaded: ${error.message}`);
  } finally {
    if (generation === state.generation) {
      state.loading = false;
      list.setAttribute('aria-busy', 'false');
      $('load-more').disabled = false;
      $('load-more').hidden = state.done;
      // The sentinel may still be on screen (a tall window): keep going until it is not.
      if (!state.done && sentinelVisible) requestAnimationFrame(loadMore);
    }
  }
}

let sentinelVisible = false;

function watchSentinel() {
  if (!('IntersectionObserver' in window)) return;
  const observer = new IntersectionObserver(
    (entries) => {
      sentinelVisible = entries.some((entry) => entry.isIntersecting);
      if (sentinelVisible) loadMore();
    },
    { rootMargin: '800px 0px' },
  );
  observer.observe($('sentinel'));
}

function reset() {
  state.generation += 1;
  state.cursor = null;
  state.done = false;
  state.loading = false;
  state.images.clear();
  state.selected.clear();
  $('images').replaceChildren();
  $('empty').hidden = true;
  showError($('bulk-report'), '');
  updateSelection();
  loadMore();
}

function tagFromUrl() {
  return (new URLSearchParams(location.search).get('tag') || '').trim();
}

function applyTag(tag) {
  state.tag = tag;
  $('tag-filter').value = tag;
  $('clear-filter').hidden = !tag;
  document.title = tag ? `Images tagged ${tag} · Picora` : 'Images · Picora';
  reset();
}

function navigateTag(tag) {
  if (tag === state.tag) return;
  history.pushState({ tag }, '', tag ? `/dashboard/?tag=${encodeURIComponent(tag)}` : '/dashboard/');
  applyTag(tag);
  announce(tag ? `Showing images tagged ${tag}.` : 'Showing all images.');
}

function followTag(event, tag) {
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigateTag(tag);
  $('tag-filter').focus();
}

function select(id, on) {
  if (on) state.selected.add(id);
  else state.selected.delete(id);
  updateSelection();
}

function updateSelection() {
  const count = state.selected.size;
  $('selected-count').textContent = count ? `${plural(count, 'image')} selected` : 'None selected';
  for (const id of ['make-public', 'make-private', 'delete-selected']) $(id).disabled = count === 0;
}

function report(action, results, targets) {
  const failed = targets.flatMap((image, i) => (results[i].ok ? [] : `${displayName(image)} (${results[i].error.message})`));
  const done = results.length - failed.length;
  showError($('bulk-report'), failed.length ? `${done} of ${results.length} ${action}. Failed: ${failed.join('; ')}.` : '');
  if (!failed.length) announce(`${plural(done, 'image')} ${action}.`);
}

const selectedImages = () => [...state.selected].map((id) => state.images.get(id)?.image).filter(Boolean);

async function setVisibility(isPublic) {
  const targets = selectedImages();
  const results = await eachLimited(targets, 4, (image) => api(`/v1/images/${image.id}`, { method: 'PATCH', json: { isPublic } }));
  results.forEach((result, index) => {
    if (!result.ok) return;
    const entry = state.images.get(targets[index].id);
    if (!entry) return;
    forgetPreview(entry.image.id);
    entry.image = result.value;
    const fresh = card(result.value);
    entry.row.replaceWith(fresh.row);
    entry.row = fresh.row;
    showThumbs([fresh], [result.value]);
  });
  report(isPublic ? 'made public' : 'made private', results, targets);
}

async function deleteSelected() {
  const targets = selectedImages();
  const ok = await confirmDialog({
    title: `Delete ${plural(targets.length, 'image')}?`,
    body: 'Their links stop working at once, everywhere. This cannot be undone.',
    confirm: 'Delete images',
  });
  if (!ok) return;
  const results = await eachLimited(targets, 4, (image) => api(`/v1/images/${image.id}`, { method: 'DELETE' }));
  results.forEach((result, index) => {
    const id = targets[index].id;
    if (!result.ok && result.error.status !== 404) return;
    state.images.get(id)?.row.remove();
    state.images.delete(id);
    state.selected.delete(id);
    forgetPreview(id);
  });
  updateSelection();
  updateEmpty();
  report('deleted', results, targets);
  refreshUsage();
}

function setUpUploads() {
  const queue = new UploadQueue({
    list: $('queue'),
    limit: () => state.usage && state.usage.maxFileBytes,
    refreshLimit: refreshUsage,
    uploaded: (image) => {
      refreshUsage();
      if (!state.tag || image.tags.includes(state.tag)) showImages([image], { prepend: true });
    },
    changed: (summary, total) => {
      $('queue-panel').hidden = total === 0;
      $('queue-summary').textContent = summary;
    },
    say: (message) => ($('queue-live').textContent = message),
  });
  const add = (files) => {
    if (!files.length) return;
    queue.add(files, { isPublic: $('upload-public').checked, tags: parseTags($('upload-tags').value) });
  };

  $('file-input').addEventListener('change', (event) => {
    add(event.target.files);
    event.target.value = '';
  });

  // Drop anywhere: the whole page is the drop zone while files are dragged over it.
  let depth = 0;
  const hasFiles = (event) => [...(event.dataTransfer?.types || [])].includes('Files');
  document.addEventListener('dragenter', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) document.body.classList.remove('dragging');
  });
  document.addEventListener('drop', (event) => {
    depth = 0;
    document.body.classList.remove('dragging');
    if (!event.dataTransfer?.files?.length) return;
    event.preventDefault();
    add(event.dataTransfer.files);
  });

  // Paste: files on the clipboard (a screenshot, a copied file) are uploaded; text pastes as usual.
  document.addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (!files.length) return;
    event.preventDefault();
    add(files);
  });

  linkFormatSelect($('link-format'), () => queue.reformat());
  $('copy-all').addEventListener('click', () => {
    const links = queue.links();
    if (!links.length) {
      announce('No finished uploads to copy yet.');
      return;
    }
    copyAndAnnounce(links.join('\n'), links.length === 1 ? 'Link' : `${links.length} links`);
  });
}

async function main() {
  await startPage();
  setUpUploads();
  $('filter-form').addEventListener('submit', (event) => {
    event.preventDefault();
    navigateTag($('tag-filter').value.trim());
  });
  $('clear-filter').addEventListener('click', () => navigateTag(''));
  $('load-more').addEventListener('click', loadMore);
  $('make-public').addEventListener('click', () => setVisibility(true));
  $('make-private').addEventListener('click', () => setVisibility(false));
  $('delete-selected').addEventListener('click', deleteSelected);
  window.addEventListener('popstate', () => applyTag(tagFromUrl()));
  refreshUsage();
  applyTag(tagFromUrl());
  watchSentinel();
}

main().catch(pageFailed);
