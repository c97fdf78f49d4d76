// How numbers, dates and links are written for people.

const MB = 1024 * 1024;

export function megabytes(bytes) {
  const value = bytes / MB;
  const digits = !value || value >= 10 ? 0 : value < 0.1 ? 2 : 1;
  return `${value.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits })} MB`;
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < MB) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / MB).toFixed(bytes < 10 * MB ? 1 : 0)} MB`;
}

export function formatDate(iso, withTime = true) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: withTime ? 'short' : undefined }).format(date);
}

const FORMAT_NAMES = { jpg: 'JPEG', jpeg: 'JPEG', png: 'PNG', webp: 'WebP', gif: 'GIF', svg: 'SVG', avif: 'AVIF' };

export function formatName(url) {
  const ext = new URL(url).pathname.split('.').pop().toLowerCase();
  return FORMAT_NAMES[ext] || ext.toUpperCase();
}

export function displayName(image) {
  return image.filename || image.id;
}

/** Comma-separated text to a list of tags (the API normalises them further). */
export function parseTags(text) {
  return text.split(',').map((tag) => tag.trim()).filter(Boolean);
}

export function plural(count, one) {
  return `${count} ${one}${count === 1 ? '' : 's'}`;
}
