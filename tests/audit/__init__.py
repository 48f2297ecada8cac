"""The truth audit's helpers: which column is which (columns.py), what each surface must show
for a row (expect.py), reading the surfaces (readers.py) and counting differences (tally.py).
"""
