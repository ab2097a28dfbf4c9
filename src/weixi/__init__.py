"""weixi (维系): tiered customer retention for telecom operators."""

from weixi.memory import arrow_small_pages, numpy_small_pages

__version__ = "0.1.0"

# Batch steps allocate gigabytes through numpy and Arrow: fault it in as small pages (see the
# two functions). Arrow reads its setting once, when it is first imported: before that, here.
arrow_small_pages()
numpy_small_pages()
