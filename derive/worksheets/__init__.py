"""Worksheets: randomized variants, blanks and keys, and the files a teacher hands out."""
