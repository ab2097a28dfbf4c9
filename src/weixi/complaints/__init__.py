"""Complaints (客户投诉): received, classified, investigated, handled, answered, archived."""
