"""weixi (维系): tiered customer retention for telecom operators."""

__version__ = "0.1.0"
