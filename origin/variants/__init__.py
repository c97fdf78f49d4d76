"""Image variants: the original scaled to a few fixed widths as WebP, rendered once, served like it."""
