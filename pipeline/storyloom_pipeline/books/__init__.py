"""Acquiring books: Project Gutenberg texts from a folder, from Gutendex or from a Hugging Face
dataset, cleaned into `Book`s (see `cleaning` and `gutenberg` for the rules)."""

from storyloom_pipeline.books.load import book_from_bytes, book_from_text, load_book
from storyloom_pipeline.books.model import Book, BookError, read_book, write_book

__all__ = [
    "Book",
    "BookError",
    "book_from_bytes",
    "book_from_text",
    "load_book",
    "read_book",
    "write_book",
]
