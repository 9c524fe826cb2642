"""The clinical record's pages, one file per capability; urls.py names each."""
