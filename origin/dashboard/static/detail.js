// An image's detail page: facts, visibility, tags, links (plain and signed), deletion.

import { api } from './api.js';
import { copyAndAnnounce, formatLink, linkFormatSelect } from './clipboard.js';
import { displayName, formatBytes, formatDate, formatName, parseTags } from './format.js';
import { forgetPreview, previewBase, setSources } from './media.js';
import { $, announce, confirmDialog, flash, pageFailed, showError, startPage } from './ui.js';

const DETAIL_WIDTHS = [1280, 640, 1920];
const DETAIL_SIZES = '(max-width: 900px) 100vw, 58vw';

let image = null;

function imageId() {
  return decodeURIComponent(location.pathname.split('/').pop());
}

async function showPreview() {
  const img = $('preview');
  img.alt = displayName(image);
  if (image.width && image.height) {
    img.width = image.width;
    img.height = image.height;
  }
  setSources(img, await previewBase(image), image, DETAIL_WIDTHS, DETAIL_SIZES);
}

function render() {
  const name = displayName(image);
  document.title = `${name} · Picora`;
  $('filename').textContent = name;
  $('fact-size').textContent = formatBytes(image.sizeBytes);
  const format = formatName(image.url);
  $('fact-dimensions').textContent =
    image.width && image.height ? `${image.width} × ${image.height} px` : format === 'SVG' ? 'Scales to any size' : 'Not known yet';
  $('fact-format').textContent = format;
  $('fact-date').dateTime = image.createdAt;
  $('fact-date').textContent = formatDate(image.createdAt);
  $('public').checked = image.isPublic;
  $('public-hint').textContent = image.isPublic
    ? 'Anyone with the link can see it (subject to your hotlink rules).'
    : 'Only you can see it; its link answers 401 to everyone else.';
  $('tags').value = image.tags.join(', ');
  $('signed').hidden = image.isPublic;
  $('signed-result').hidden = true;
  $('signed-expiry').textContent = '';
  renderLink();
}

function renderLink() {
  $('link').value = formatLink(image.url, displayName(image));
}

async function changeVisibility() {
  const box = $('public');
  const wanted = box.checked;
  box.disabled = true;
  showError($('public-error'), '');
  try {
    image = await api(`/v1/images/${image.id}`, { method: 'PATCH', json: { isPublic: wanted } });
    forgetPreview(image.id);
    render();
    announce(wanted ? 'The image is public now.' : 'The image is private now: its link answers 401 to others.');
  } catch (error) {
    box.checked = !wanted;
    showError($('public-error'), `Visibility not changed: ${error.message}`);
  } finally {
    box.disabled = false;
  }
}

async function saveTags(event) {
  event.preventDefault();
  showError($('tags-error'), '');
  const input = $('tags');
  try {
    image = await api(`/v1/images/${image.id}`, { method: 'PATCH', json: { tags: parseTags(input.value) } });
    input.value = image.tags.join(', ');
    announce(image.tags.length ? 'Tags saved.' : 'Tags removed.');
  } catch (error) {
    input.setAttribute('aria-invalid', 'true');
    showError($('tags-error'), `Tags not saved: ${error.message}`);
    return;
  }
  input.removeAttribute('aria-invalid');
}

async function createSignedLink() {
  showError($('signed-error'), '');
  const button = $('create-signed');
  button.disabled = true;
  try {
    const json = { expiresIn: Number($('expires').value) };
    const signed = await api(`/v1/images/${image.id}/signed-url`, { method: 'POST', json });
    $('signed-url').value = signed.url;
    $('signed-result').hidden = false;
    $('signed-expiry').textContent = `Works for anyone until ${formatDate(signed.expiresAt)}.`;
    $('signed-url').focus();
    $('signed-url').select();
    announce('Signed link created.');
  } catch (error) {
    showError($('signed-error'), `No signed link: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

async function deleteImage() {
  const ok = await confirmDialog({
    title: `Delete ${displayName(image)}?`,
    body: 'Its link stops working at once, everywhere, and is never reused. This cannot be undone.',
    confirm: 'Delete image',
  });
  if (!ok) return;
  try {
    await api(`/v1/images/${image.id}`, { method: 'DELETE' });
  } catch (error) {
    if (error.status !== 404) {
      showError($('delete-error'), `Not deleted: ${error.message}`);
      return;
    }
  }
  forgetPreview(image.id);
  flash(`${displayName(image)} was deleted.`);
  location.assign('/dashboard/');
}

async function main() {
  await startPage();
  try {
    image = await api(`/v1/images/${encodeURIComponent(imageId())}`);
  } catch (error) {
    const message = error.status === 404 ? 'This image does not exist: it may have been deleted.' : error.message;
    showError($('load-error'), message);
    document.title = 'Image not found · Picora';
    return;
  }
  linkFormatSelect($('link-format'), renderLink);
  render();
  $('detail').hidden = false;
  showPreview();
  $('public').addEventListener('change', changeVisibility);
  $('tags-form').addEventListener('submit', saveTags);
  $('copy-link').addEventListener('click', () => copyAndAnnounce($('link').value));
  $('create-signed').addEventListener('click', createSignedLink);
  $('copy-signed').addEventListener('click', () => copyAndAnnounce($('signed-url').value, 'Signed link'));
  $('delete').addEventListener('click', deleteImage);
}

main().catch(pageFailed);
